package session

import (
	"bytes"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/pb"
)

// MaxUnacknowledgedSessionAge is how long a session we opened may go
// without an answer before we stop sending on it (libsignal: 30 days).
const MaxUnacknowledgedSessionAge = 30 * 24 * time.Hour

// SessionRecord is everything stored for one remote device: the current
// session and up to ArchivedStatesMaxLength previous ones (newest first),
// kept so that late messages for an older session still decrypt. It is
// serialized as libsignal's RecordStructure. It holds secret keys and never
// prints them.
type SessionRecord struct {
	current  *pb.SessionStructure
	previous [][]byte // serialized SessionStructure, newest first
}

// Format prints only whether there is a current session and how many are
// archived; the record's keys never print.
func (r SessionRecord) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "session.SessionRecord{current:%t previous:%d}", r.current != nil, len(r.previous))
}

// NewSessionRecord returns an empty record.
func NewSessionRecord() *SessionRecord { return &SessionRecord{} }

// Marshal encodes the record as libsignal's RecordStructure.
func (r *SessionRecord) Marshal() ([]byte, error) {
	b, err := proto.Marshal(&pb.RecordStructure{CurrentSession: r.current, PreviousSessions: r.previous})
	if err != nil {
		return nil, fmt.Errorf("session: encode record: %w", err)
	}
	return b, nil
}

// UnmarshalSessionRecord decodes a RecordStructure. Fields of the sessions
// are checked when they are used, as libsignal does.
func UnmarshalSessionRecord(b []byte) (*SessionRecord, error) {
	var rs pb.RecordStructure
	if err := proto.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%w: session record", ErrInvalidState)
	}
	return &SessionRecord{current: rs.CurrentSession, previous: rs.PreviousSessions}, nil
}

// Clone returns a deep copy.
func (r *SessionRecord) Clone() *SessionRecord {
	c := &SessionRecord{previous: make([][]byte, len(r.previous))}
	if r.current != nil {
		c.current = proto.Clone(r.current).(*pb.SessionStructure)
	}
	for i, p := range r.previous {
		c.previous[i] = append([]byte(nil), p...)
	}
	return c
}

// HasCurrentSession reports whether the record holds a current session.
func (r *SessionRecord) HasCurrentSession() bool { return r.current != nil }

// SessionVersion returns the current session's version.
func (r *SessionRecord) SessionVersion() (uint32, error) {
	if r.current == nil {
		return 0, ErrNoSession
	}
	return sessionVersion(r.current), nil
}

// RemoteRegistrationID returns the current session's remote registration id.
func (r *SessionRecord) RemoteRegistrationID() (uint32, error) {
	if r.current == nil {
		return 0, ErrNoSession
	}
	return r.current.RemoteRegistrationId, nil
}

// LocalRegistrationID returns the current session's local registration id.
func (r *SessionRecord) LocalRegistrationID() (uint32, error) {
	if r.current == nil {
		return 0, ErrNoSession
	}
	return r.current.LocalRegistrationId, nil
}

// RemoteIdentityKey returns the current session's remote identity.
func (r *SessionRecord) RemoteIdentityKey() (curve.PublicKey, error) {
	if r.current == nil {
		return curve.PublicKey{}, ErrNoSession
	}
	return remoteIdentity(r.current)
}

// PQRatchetState returns a copy of the current session's SPQR state (empty
// when the session has no post-quantum ratchet). It holds secret keys.
func (r *SessionRecord) PQRatchetState() []byte {
	if r.current == nil {
		return nil
	}
	return bytes.Clone(r.current.PqRatchetState)
}

// HasUsableSenderChain reports whether Encrypt would use the current
// session at time now: it exists, has a sending chain and, if it was
// opened by us and never answered, is not older than
// MaxUnacknowledgedSessionAge.
func (r *SessionRecord) HasUsableSenderChain(now time.Time) bool {
	s := r.current
	if s == nil || s.SenderChain == nil {
		return false
	}
	if p := s.PendingPreKey; p != nil {
		created := time.Unix(int64(p.Timestamp), 0)
		if created.Add(MaxUnacknowledgedSessionAge).Before(now) {
			return false
		}
	}
	return true
}

// ArchiveCurrentState moves the current session to the archive, so that the
// next message opens a new session (after a new bundle is processed).
func (r *SessionRecord) ArchiveCurrentState() {
	r.archiveCurrent()
}

func (r *SessionRecord) archiveCurrent() {
	if r.current == nil {
		return
	}
	cur := r.current
	r.current = nil
	cur.PendingPreKey = nil
	cur.PendingKyberPreKey = nil
	if len(r.previous) >= ArchivedStatesMaxLength {
		r.previous = r.previous[:len(r.previous)-1]
	}
	b, err := proto.Marshal(cur)
	if err != nil {
		return // cannot happen for a message we built; drop it rather than panic
	}
	r.previous = append([][]byte{b}, r.previous...)
}

// promoteState makes s current, archiving the old current session.
func (r *SessionRecord) promoteState(s *pb.SessionStructure) {
	r.archiveCurrent()
	r.current = s
}

// promoteOldSession removes archived session i and makes updated current.
func (r *SessionRecord) promoteOldSession(i int, updated *pb.SessionStructure) {
	r.previous = append(r.previous[:i:i], r.previous[i+1:]...)
	r.promoteState(updated)
}

// previousState decodes archived session i.
func (r *SessionRecord) previousState(i int) (*pb.SessionStructure, error) {
	var s pb.SessionStructure
	if err := proto.Unmarshal(r.previous[i], &s); err != nil {
		return nil, fmt.Errorf("%w: previous session %d", ErrInvalidState, i)
	}
	return &s, nil
}

// promoteMatchingSession looks for a session opened with this base key (a
// repeated PreKeySignalMessage) and makes it current. It reports whether
// one was found.
func (r *SessionRecord) promoteMatchingSession(version uint32, baseKey []byte) (bool, error) {
	if r.current != nil && sessionVersion(r.current) == version && constantTimeEqual(baseKey, r.current.AliceBaseKey) {
		return true, nil
	}
	for i := range r.previous {
		s, err := r.previousState(i)
		if err != nil {
			return false, err
		}
		if sessionVersion(s) == version && constantTimeEqual(baseKey, s.AliceBaseKey) {
			r.promoteOldSession(i, s)
			return true, nil
		}
	}
	return false, nil
}

func sessionVersion(s *pb.SessionStructure) uint32 {
	if s.SessionVersion == 0 {
		return 2
	}
	return s.SessionVersion
}

func remoteIdentity(s *pb.SessionStructure) (curve.PublicKey, error) {
	if len(s.RemoteIdentityPublic) == 0 {
		return curve.PublicKey{}, fmt.Errorf("%w: missing remote identity", ErrInvalidState)
	}
	k, err := curve.DecodePublicKey(s.RemoteIdentityPublic)
	if err != nil {
		return curve.PublicKey{}, fmt.Errorf("%w: remote identity", ErrInvalidState)
	}
	return k, nil
}

func localIdentity(s *pb.SessionStructure) (curve.PublicKey, error) {
	k, err := curve.DecodePublicKey(s.LocalIdentityPublic)
	if err != nil {
		return curve.PublicKey{}, fmt.Errorf("%w: local identity", ErrInvalidState)
	}
	return k, nil
}
