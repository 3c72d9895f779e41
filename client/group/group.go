// Package group keeps the membership of a samizdat private group: its
// random 32-byte id, its name, its members (username, account and identity
// key) and admins, and the revision reached by the chain of signed
// membership changes that made them.
//
// Every change (create, add, remove, leave, rename, admin) is a Change that
// names the revision it creates and the hash of the change it builds on, and
// is signed (XEdDSA, package session/curve) with the identity key of the
// member who makes it. State.Apply accepts a change only if the signature
// verifies under the key the group holds for its actor, the actor is a
// member, and an admin for anything but leaving, and the change is the next
// one (revision and previous hash); otherwise it returns an error wrapping
// ErrRefused that says why and the state is unchanged. A new member
// replays the whole chain from the creation (Replay), so it trusts nothing
// the member who added it did not sign into the chain.
//
// Security properties: the changes travel only inside end-to-end encrypted
// content; the relay never sees them, nor the name or the member list. A
// member's identity key in the group is the one the member who added it
// looked up (trust on first use, like a contact's); it is what that
// member's later changes are checked against. Two admins who change the
// group at the same revision fork it: each member keeps the first it
// receives and refuses the other (ErrRefused, "does not build on").
// Nothing here prints keys.
package group

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/proto"

	"samizdat/client/group/internal/grouppb"
	"samizdat/session/curve"
	"samizdat/username"
)

// IDSize is the size of a group id.
const IDSize = 32

// MaxMembers bounds a group's members.
const MaxMembers = 1000

// MaxName is the longest group name, in bytes.
const MaxName = username.MaxLocal

// maxChange bounds a serialized signed change: a creation with MaxMembers
// members of the longest username fits.
const maxChange = 160 * (MaxMembers + 2)

// ID identifies a group: 32 random bytes its creator drew.
type ID [IDSize]byte

// ErrRefused means a change was refused (forged, out of order, not allowed
// to its actor, malformed); the error says why.
var ErrRefused = errors.New("group: change refused")

// Action is what a change does.
type Action int

// Actions.
const (
	Create Action = Action(grouppb.Action_CREATE)
	Add    Action = Action(grouppb.Action_ADD)
	Remove Action = Action(grouppb.Action_REMOVE)
	Leave  Action = Action(grouppb.Action_LEAVE)
	Rename Action = Action(grouppb.Action_RENAME)
	Admin  Action = Action(grouppb.Action_ADMIN)
)

// Member is one member of a group.
type Member struct {
	Username string
	Account  [16]byte
	Identity curve.PublicKey
	Admin    bool
}

// Change is one membership change, as its actor signs it.
type Change struct {
	Group    ID
	Revision uint64
	Previous [32]byte // hash of the change it builds on; zero for Create
	Actor    [16]byte
	Action   Action
	Members  []Member // Create: everyone, creator first; Add: those added; Remove, Admin: whom it concerns (accounts only)
	Name     string   // Create, Rename
}

// Signed is a signed change, parsed.
type Signed struct {
	Change
	raw       []byte // the SignedChange
	body      []byte // the Change inside it
	signature []byte
}

// Bytes returns the serialized signed change. The caller must not modify
// it.
func (s *Signed) Bytes() []byte { return s.raw }

// Hash returns the hash the next change names as its previous one.
func (s *Signed) Hash() [32]byte { return sha256.Sum256(s.raw) }

// signContext separates these signatures from every other use of an
// identity key.
const signContext = "samizdat group change v1"

// ValidName reports whether name is a group name: a local name
// (username.CheckLocal).
func ValidName(name string) error { return username.CheckLocal("group", name) }

// Sign serializes ch and signs it with key, the actor's identity private
// key.
func Sign(ch Change, key curve.PrivateKey, rand io.Reader) (*Signed, error) {
	pb := &grouppb.Change{
		GroupId: ch.Group[:], Revision: ch.Revision, Actor: ch.Actor[:],
		Action: grouppb.Action(ch.Action), Name: ch.Name,
	}
	if ch.Revision > 1 {
		pb.Previous = ch.Previous[:]
	}
	for _, m := range ch.Members {
		pm := &grouppb.Member{Username: m.Username, AccountId: m.Account[:]}
		if !m.Identity.IsZero() {
			pm.IdentityKey = m.Identity.Bytes()
		}
		pb.Members = append(pb.Members, pm)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(rand, []byte(signContext), body)
	if err != nil {
		return nil, err
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&grouppb.SignedChange{Change: body, Signature: sig})
	if err != nil {
		return nil, err
	}
	return Parse(raw)
}

// Parse parses a signed change and checks its form (not its signature,
// which State.Apply checks against the actor's key in the group).
func Parse(b []byte) (*Signed, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: malformed: %s", ErrRefused, fmt.Sprintf(format, args...))
	}
	if len(b) > maxChange {
		return nil, bad("%d bytes", len(b))
	}
	var sc grouppb.SignedChange
	if err := proto.Unmarshal(b, &sc); err != nil {
		return nil, bad("not a signed change")
	}
	var pb grouppb.Change
	if err := proto.Unmarshal(sc.Change, &pb); err != nil {
		return nil, bad("not a change")
	}
	if len(sc.Signature) != 64 {
		return nil, bad("signature of %d bytes", len(sc.Signature))
	}
	s := &Signed{raw: b, body: sc.Change, signature: sc.Signature}
	if len(pb.GroupId) != IDSize {
		return nil, bad("group id of %d bytes", len(pb.GroupId))
	}
	copy(s.Group[:], pb.GroupId)
	if len(pb.Actor) != 16 {
		return nil, bad("actor of %d bytes", len(pb.Actor))
	}
	copy(s.Actor[:], pb.Actor)
	s.Revision, s.Action, s.Name = pb.Revision, Action(pb.Action), pb.Name
	switch {
	case s.Revision == 0:
		return nil, bad("revision 0")
	case s.Revision == 1 && len(pb.Previous) != 0, s.Revision > 1 && len(pb.Previous) != 32:
		return nil, bad("previous hash of %d bytes at revision %d", len(pb.Previous), s.Revision)
	}
	copy(s.Previous[:], pb.Previous)
	if len(pb.Members) > MaxMembers {
		return nil, bad("%d members", len(pb.Members))
	}
	for _, pm := range pb.Members {
		m := Member{Username: pm.Username}
		if len(pm.AccountId) != 16 {
			return nil, bad("member account of %d bytes", len(pm.AccountId))
		}
		copy(m.Account[:], pm.AccountId)
		if len(pm.IdentityKey) > 0 {
			k, err := curve.DecodePublicKey(pm.IdentityKey)
			if err != nil {
				return nil, bad("member identity key")
			}
			m.Identity = k
		}
		s.Members = append(s.Members, m)
	}
	return s, nil
}

// State is a group as a chain of changes made it.
type State struct {
	ID       ID
	Name     string
	Revision uint64
	Head     [32]byte // hash of the last change
	Members  []Member // in the order they joined
}

// Member returns the member with the account.
func (s *State) Member(account [16]byte) (Member, bool) {
	if s == nil {
		return Member{}, false
	}
	i := slices.IndexFunc(s.Members, func(m Member) bool { return m.Account == account })
	if i < 0 {
		return Member{}, false
	}
	return s.Members[i], true
}

func (s *State) clone() *State {
	c := *s
	c.Members = slices.Clone(s.Members)
	return &c
}

// Apply checks sc against s (nil for a group not known yet, which only a
// Create starts) and returns the state it makes. s is not modified. An
// error wraps ErrRefused and says why.
func (s *State) Apply(sc *Signed) (*State, error) {
	refuse := func(format string, args ...any) (*State, error) {
		return nil, fmt.Errorf("%w: revision %d: %s", ErrRefused, sc.Revision, fmt.Sprintf(format, args...))
	}
	if s == nil {
		if sc.Action != Create || sc.Revision != 1 {
			return refuse("the group is unknown and this is not its creation")
		}
		return create(sc)
	}
	if sc.Group != s.ID {
		return refuse("another group's change")
	}
	if sc.Revision != s.Revision+1 {
		return refuse("out of order: the group is at revision %d", s.Revision)
	}
	if sc.Previous != s.Head {
		return refuse("does not build on the group's revision %d", s.Revision)
	}
	actor, ok := s.Member(sc.Actor)
	if !ok {
		return refuse("signed by someone who is not a member")
	}
	if !actor.Identity.VerifySignature(sc.signature, []byte(signContext), sc.body) {
		return refuse("bad signature of %s", actor.Username)
	}
	if sc.Action != Leave && !actor.Admin {
		return refuse("%s is not an admin", actor.Username)
	}
	n := s.clone()
	n.Revision, n.Head = sc.Revision, sc.Hash()
	switch sc.Action {
	case Add:
		if len(sc.Members) == 0 {
			return refuse("adds nobody")
		}
		for _, m := range sc.Members {
			if err := checkNew(n, m); err != nil {
				return refuse("%v", err)
			}
			m.Admin = false
			n.Members = append(n.Members, m)
		}
		if len(n.Members) > MaxMembers {
			return refuse("more than %d members", MaxMembers)
		}
	case Remove:
		if len(sc.Members) == 0 {
			return refuse("removes nobody")
		}
		for _, m := range sc.Members {
			if m.Account == sc.Actor {
				return refuse("removes its actor (leave instead)")
			}
			if _, ok := n.Member(m.Account); !ok {
				return refuse("removes someone who is not a member")
			}
			n.Members = slices.DeleteFunc(n.Members, func(o Member) bool { return o.Account == m.Account })
		}
		n.keepAnAdmin()
	case Leave:
		if len(sc.Members) != 0 || sc.Name != "" {
			return refuse("a leave names nothing")
		}
		n.Members = slices.DeleteFunc(n.Members, func(o Member) bool { return o.Account == sc.Actor })
		n.keepAnAdmin()
	case Rename:
		if err := ValidName(sc.Name); err != nil {
			return refuse("%v", err)
		}
		if len(sc.Members) != 0 {
			return refuse("a rename names no member")
		}
		n.Name = sc.Name
	case Admin:
		if len(sc.Members) != 1 {
			return refuse("makes %d admins, not one", len(sc.Members))
		}
		i := slices.IndexFunc(n.Members, func(o Member) bool { return o.Account == sc.Members[0].Account })
		if i < 0 {
			return refuse("makes someone who is not a member an admin")
		}
		if n.Members[i].Admin {
			return refuse("%s is an admin already", n.Members[i].Username)
		}
		n.Members[i].Admin = true
	case Create:
		return refuse("creates the group again")
	default:
		return refuse("unknown action %d", sc.Action)
	}
	return n, nil
}

// create checks a creation and returns the group it makes: the creator
// (the first member, the actor) is its admin.
func create(sc *Signed) (*State, error) {
	refuse := func(format string, args ...any) (*State, error) {
		return nil, fmt.Errorf("%w: creation: %s", ErrRefused, fmt.Sprintf(format, args...))
	}
	if err := ValidName(sc.Name); err != nil {
		return refuse("%v", err)
	}
	if len(sc.Members) == 0 || sc.Members[0].Account != sc.Actor {
		return refuse("the creator is not the first member")
	}
	creator := sc.Members[0]
	if creator.Identity.IsZero() || !creator.Identity.VerifySignature(sc.signature, []byte(signContext), sc.body) {
		return refuse("bad signature of its creator")
	}
	n := &State{ID: sc.Group, Name: sc.Name, Revision: 1, Head: sc.Hash()}
	for i, m := range sc.Members {
		if err := checkNew(n, m); err != nil {
			return refuse("%v", err)
		}
		m.Admin = i == 0
		n.Members = append(n.Members, m)
	}
	return n, nil
}

// checkNew checks a member being added to n.
func checkNew(n *State, m Member) error {
	if m.Identity.IsZero() {
		return errors.New("a member without an identity key")
	}
	if m.Username == "" || len(m.Username) > 64 {
		return errors.New("a member without a username")
	}
	for _, o := range n.Members {
		if o.Account == m.Account {
			return fmt.Errorf("%s is a member already", m.Username)
		}
		if o.Username == m.Username {
			return fmt.Errorf("two members named %s", m.Username)
		}
	}
	return nil
}

// keepAnAdmin makes the longest-standing member an admin when the last
// admin left or was removed, so that the group can still change.
func (s *State) keepAnAdmin() {
	if len(s.Members) == 0 || slices.ContainsFunc(s.Members, func(m Member) bool { return m.Admin }) {
		return
	}
	s.Members[0].Admin = true
}

// Replay applies a chain of signed changes from the creation and returns
// the state they make; the first refused change fails it.
func Replay(chain []*Signed) (*State, error) {
	var s *State
	for _, sc := range chain {
		n, err := s.Apply(sc)
		if err != nil {
			return nil, err
		}
		s = n
	}
	if s == nil {
		return nil, fmt.Errorf("%w: no changes", ErrRefused)
	}
	return s, nil
}

// Advance applies to s (nil for a group not known yet) the changes of
// chain, oldest first, that are newer than s, and returns the new state and
// the changes it applied. A change at or below s's revision must be the
// one s was built from (known returns its hash), else the chains diverge
// and the whole chain is refused. Nothing is applied unless every newer
// change is accepted.
func Advance(s *State, known func(revision uint64) ([32]byte, bool), chain []*Signed) (*State, []*Signed, error) {
	var applied []*Signed
	for _, sc := range chain {
		if s != nil && sc.Revision <= s.Revision {
			if h, ok := known(sc.Revision); !ok || h != sc.Hash() || sc.Group != s.ID {
				return nil, nil, fmt.Errorf("%w: revision %d: not the change this group holds", ErrRefused, sc.Revision)
			}
			continue
		}
		n, err := s.Apply(sc)
		if err != nil {
			return nil, nil, err
		}
		s = n
		applied = append(applied, sc)
	}
	return s, applied, nil
}
