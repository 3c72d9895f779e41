// Package fingerprint computes safety numbers: the numeric fingerprint two
// users read to each other and the scannable (QR) fingerprint one user's
// phone scans from the other's, exactly as libsignal computes them.
//
// Each side's fingerprint is an iterated SHA-512 over a version prefix, the
// serialized identity key and a stable identifier (phone number or service
// id). The displayable form concatenates 30 digits for each side, lower one
// first, so both users see the same 60 digits. The scannable form is a
// CombinedFingerprints protobuf holding the first 32 bytes of each side's
// hash, "local" being the side that shows it; a scan matches when the other
// side's local equals our remote and vice versa.
//
// Security properties: a changed identity key (for example, a relay
// operator substituting its own) changes the safety number; comparison of
// scanned fingerprints is constant time; parsing rejects malformed input
// with typed errors instead of reporting a match.
package fingerprint

import (
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/pb"
)

// Iteration limits accepted by New, as in libsignal.
const (
	MinIterations = 2
	MaxIterations = 1_000_000
)

// Errors callers may branch on.
var (
	// ErrVersionMismatch means the scanned fingerprint has another
	// version than ours; errors.As to *VersionMismatchError for details.
	ErrVersionMismatch = errors.New("fingerprint: version mismatch")
	// ErrParse means a scannable fingerprint could not be parsed or lacks
	// a required field.
	ErrParse = errors.New("fingerprint: malformed scannable fingerprint")
	// ErrInvalidIterations means the iteration count is outside
	// [MinIterations, MaxIterations].
	ErrInvalidIterations = errors.New("fingerprint: invalid iteration count")
)

// VersionMismatchError reports the versions of a failed comparison. It
// matches ErrVersionMismatch with errors.Is.
type VersionMismatchError struct {
	Theirs, Ours uint32
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("fingerprint: version mismatch: theirs %d, ours %d", e.Theirs, e.Ours)
}

// Is reports whether target is ErrVersionMismatch.
func (e *VersionMismatchError) Is(target error) bool { return target == ErrVersionMismatch }

// Fingerprint is the safety number of one conversation, seen from the local
// side.
type Fingerprint struct {
	display   string
	scannable []byte
}

// New computes the fingerprint of the conversation between the local user
// (localID, localKey) and the remote user, with the given scannable-format
// version (libsignal uses 2 for service ids, 1 for phone numbers) and
// iteration count (5200 in Signal's apps).
func New(version uint32, iterations int, localID []byte, localKey curve.PublicKey, remoteID []byte, remoteKey curve.PublicKey) (*Fingerprint, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return nil, fmt.Errorf("%w: %d", ErrInvalidIterations, iterations)
	}
	local := hashIdentity(iterations, localID, localKey)
	remote := hashIdentity(iterations, remoteID, remoteKey)

	ld, rd := digits(local), digits(remote)
	display := ld + rd
	if rd <= ld {
		display = rd + ld
	}

	scannable, err := encodeScannable(version, local[:32], remote[:32])
	if err != nil {
		return nil, err
	}
	return &Fingerprint{display: display, scannable: scannable}, nil
}

// encodeScannable serializes the scannable form of the two fingerprints.
func encodeScannable(version uint32, local, remote []byte) ([]byte, error) {
	b, err := proto.Marshal(&pb.CombinedFingerprints{
		Version:           proto.Uint32(version),
		LocalFingerprint:  &pb.LogicalFingerprint{Content: local},
		RemoteFingerprint: &pb.LogicalFingerprint{Content: remote},
	})
	if err != nil {
		return nil, fmt.Errorf("fingerprint: encoding scannable form: %w", err)
	}
	return b, nil
}

// hashIdentity computes
//
//	h_0 = SHA-512(0x0000 ‖ key ‖ id ‖ key), h_i = SHA-512(h_{i-1} ‖ key)
//
// and returns h_{iterations-1}, with key the 33-byte serialized public key.
func hashIdentity(iterations int, id []byte, key curve.PublicKey) []byte {
	keyBytes := key.Bytes()
	h := sha512.New()
	h.Write([]byte{0, 0})
	h.Write(keyBytes)
	h.Write(id)
	h.Write(keyBytes)
	buf := h.Sum(nil)
	for i := 1; i < iterations; i++ {
		h.Reset()
		h.Write(buf)
		h.Write(keyBytes)
		buf = h.Sum(buf[:0])
	}
	return buf
}

// digits encodes the first 30 bytes of fp as six groups of five digits, each
// a 40-bit big-endian integer modulo 100000.
func digits(fp []byte) string {
	var b strings.Builder
	for i := range 6 {
		var x uint64
		for _, c := range fp[5*i : 5*i+5] {
			x = x<<8 | uint64(c)
		}
		fmt.Fprintf(&b, "%05d", x%100000)
	}
	return b.String()
}

// Displayable returns the 60-digit safety number.
func (f *Fingerprint) Displayable() string { return f.display }

// Scannable returns the serialized CombinedFingerprints to show as a QR code.
func (f *Fingerprint) Scannable() []byte { return append([]byte(nil), f.scannable...) }

// Compare reports whether theirs, scanned from the other user's device,
// matches this fingerprint. See CompareScannable.
func (f *Fingerprint) Compare(theirs []byte) (bool, error) {
	return CompareScannable(f.scannable, theirs)
}

// scannable is a parsed CombinedFingerprints.
type scannable struct {
	version             uint32
	hasVersion          bool
	local, remote       []byte
	hasLocal, hasRemote bool
}

// CompareScannable reports whether theirs, the scannable fingerprint scanned
// from the other user's device, matches ours, our own scannable fingerprint,
// with libsignal's semantics: ours must carry a version and both
// fingerprints (else ErrParse); theirs must parse and carry both
// fingerprints (else ErrParse) and the same version as ours, a missing
// version counting as 0 (else a *VersionMismatchError). It then returns true
// exactly when their local fingerprint equals our remote one and their
// remote equals our local. Fingerprints over different identifiers or keys
// do not match; that is false, not an error.
func CompareScannable(ours, theirs []byte) (bool, error) {
	o, err := parse(ours)
	if err != nil {
		return false, err
	}
	if !o.hasVersion {
		return false, fmt.Errorf("%w: missing version", ErrParse)
	}
	if !o.hasLocal {
		return false, fmt.Errorf("%w: missing local fingerprint", ErrParse)
	}
	if !o.hasRemote {
		return false, fmt.Errorf("%w: missing remote fingerprint", ErrParse)
	}

	t, err := parse(theirs)
	if err != nil {
		return false, fmt.Errorf("%w (theirs)", err)
	}
	if t.version != o.version {
		return false, &VersionMismatchError{Theirs: t.version, Ours: o.version}
	}
	if !t.hasLocal {
		return false, fmt.Errorf("%w: missing their local fingerprint", ErrParse)
	}
	if !t.hasRemote {
		return false, fmt.Errorf("%w: missing their remote fingerprint", ErrParse)
	}
	same1 := subtle.ConstantTimeCompare(t.local, o.remote)
	same2 := subtle.ConstantTimeCompare(t.remote, o.local)
	return same1&same2 == 1, nil
}

// parse decodes a CombinedFingerprints, checking wire types as strictly as
// libsignal's decoder does: a comparison must fail the same way on both
// sides.
func parse(b []byte) (scannable, error) {
	var m pb.CombinedFingerprints
	if err := pb.UnmarshalStrict(b, &m); err != nil {
		return scannable{}, fmt.Errorf("%w: %v", ErrParse, err)
	}
	s := scannable{version: m.GetVersion(), hasVersion: m.Version != nil}
	if m.LocalFingerprint != nil && m.LocalFingerprint.Content != nil {
		s.local, s.hasLocal = m.LocalFingerprint.Content, true
	}
	if m.RemoteFingerprint != nil && m.RemoteFingerprint.Content != nil {
		s.remote, s.hasRemote = m.RemoteFingerprint.Content, true
	}
	return s, nil
}
