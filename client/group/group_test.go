package group

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"samizdat/session/curve"
)

type person struct {
	Member
	key curve.PrivateKey
}

func newPerson(t testing.TB, name string) person {
	t.Helper()
	kp, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := person{Member: Member{Username: name, Identity: kp.Public}, key: kp.Private}
	rand.Read(p.Account[:])
	return p
}

// signAs signs a change of s (nil: a creation) by p with the next revision.
func signAs(t testing.TB, s *State, p person, ch Change) *Signed {
	t.Helper()
	ch.Actor = p.Account
	if s != nil {
		ch.Group, ch.Revision, ch.Previous = s.ID, s.Revision+1, s.Head
	} else {
		ch.Revision = 1
	}
	sc, err := Sign(ch, p.key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func mustApply(t testing.TB, s *State, sc *Signed) *State {
	t.Helper()
	n, err := s.Apply(sc)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func names(s *State) string {
	var out []string
	for _, m := range s.Members {
		n := m.Username
		if m.Admin {
			n += "*"
		}
		out = append(out, n)
	}
	return strings.Join(out, ",")
}

func TestChanges(t *testing.T) {
	alice, bob, carol, dave := newPerson(t, "alice"), newPerson(t, "bob"), newPerson(t, "carol"), newPerson(t, "dave")
	var id ID
	rand.Read(id[:])
	create := signAs(t, nil, alice, Change{Group: id, Action: Create, Name: "friends", Members: []Member{alice.Member, bob.Member, carol.Member}})
	s := mustApply(t, nil, create)
	if names(s) != "alice*,bob,carol" || s.Name != "friends" || s.Revision != 1 {
		t.Fatalf("created %q %q r%d", names(s), s.Name, s.Revision)
	}
	var chain = []*Signed{create}
	step := func(p person, ch Change) {
		t.Helper()
		sc := signAs(t, s, p, ch)
		s = mustApply(t, s, sc)
		chain = append(chain, sc)
	}
	step(alice, Change{Action: Add, Members: []Member{dave.Member}})
	step(alice, Change{Action: Admin, Members: []Member{{Account: bob.Account}}})
	step(bob, Change{Action: Remove, Members: []Member{{Account: carol.Account}}})
	step(dave, Change{Action: Leave})
	step(bob, Change{Action: Rename, Name: "old-friends"})
	if names(s) != "alice*,bob*" || s.Name != "old-friends" || s.Revision != 6 {
		t.Fatalf("after the changes: %q %q r%d", names(s), s.Name, s.Revision)
	}
	// A new member replays the chain from its bytes.
	var parsed []*Signed
	for _, sc := range chain {
		p, err := Parse(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, p)
	}
	r, err := Replay(parsed)
	if err != nil || names(r) != names(s) || r.Head != s.Head {
		t.Fatalf("replay: %v %q", err, names(r))
	}
	// Advance skips what is known and applies the rest.
	at3, _ := Replay(parsed[:3])
	known := func(rev uint64) ([32]byte, bool) { return parsed[rev-1].Hash(), true }
	adv, applied, err := Advance(at3, known, parsed[1:])
	if err != nil || len(applied) != 3 || adv.Head != s.Head {
		t.Fatalf("advance: %v, applied %d", err, len(applied))
	}
	// The last admin leaving makes the longest-standing member one.
	step(alice, Change{Action: Leave})
	step(bob, Change{Action: Leave})
	if names(s) != "" {
		t.Fatalf("everyone left: %q", names(s))
	}
}

func TestRefused(t *testing.T) {
	alice, bob, carol, mallory := newPerson(t, "alice"), newPerson(t, "bob"), newPerson(t, "carol"), newPerson(t, "mallory")
	var id ID
	rand.Read(id[:])
	s := mustApply(t, nil, signAs(t, nil, alice, Change{Group: id, Action: Create, Name: "g", Members: []Member{alice.Member, bob.Member}}))
	forged := func(sc *Signed, mutate func([]byte) []byte) *Signed {
		p, err := Parse(mutate(bytes.Clone(sc.Bytes())))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	addCarol := signAs(t, s, alice, Change{Action: Add, Members: []Member{carol.Member}})
	tests := []struct {
		name string
		sc   *Signed
		want string
	}{
		{"non-member", signAs(t, s, mallory, Change{Action: Add, Members: []Member{mallory.Member}}), "not a member"},
		{"non-admin add", signAs(t, s, bob, Change{Action: Add, Members: []Member{carol.Member}}), "not an admin"},
		{"non-admin rename", signAs(t, s, bob, Change{Action: Rename, Name: "x"}), "not an admin"},
		{"non-admin remove", signAs(t, s, bob, Change{Action: Remove, Members: []Member{{Account: alice.Account}}}), "not an admin"},
		{"forged actor", func() *Signed {
			// mallory signs a change that names alice as its actor.
			ch := addCarol.Change
			sc, _ := Sign(ch, mallory.key, rand.Reader)
			return sc
		}(), "bad signature of alice"},
		{"tampered", forged(addCarol, func(b []byte) []byte {
			i := bytes.Index(b, []byte("carol"))
			b[i] = 'k'
			return b
		}), "bad signature"},
		{"skips a revision", func() *Signed {
			ch := addCarol.Change
			ch.Revision = 3
			sc, _ := Sign(ch, alice.key, rand.Reader)
			return sc
		}(), "out of order"},
		{"replayed creation", signAs(t, nil, alice, Change{Group: id, Action: Create, Name: "g", Members: []Member{alice.Member}}), "out of order"},
		{"wrong previous", func() *Signed {
			ch := addCarol.Change
			ch.Previous[0] ^= 1
			sc, _ := Sign(ch, alice.key, rand.Reader)
			return sc
		}(), "does not build on"},
		{"add a member twice", signAs(t, s, alice, Change{Action: Add, Members: []Member{bob.Member}}), "member already"},
		{"bad name", signAs(t, s, alice, Change{Action: Rename, Name: "No/Slash"}), "group name"},
		{"remove self", signAs(t, s, alice, Change{Action: Remove, Members: []Member{{Account: alice.Account}}}), "leave instead"},
		{"another group", func() *Signed {
			ch := addCarol.Change
			ch.Group[0] ^= 1
			sc, _ := Sign(ch, alice.key, rand.Reader)
			return sc
		}(), "another group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := names(s)
			n, err := s.Apply(tt.sc)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) || n != nil {
				t.Fatalf("got %v, want a refusal containing %q", err, tt.want)
			}
			if names(s) != before || s.Revision != 1 {
				t.Fatal("a refused change changed the state")
			}
		})
	}
	// A chain whose old part differs from ours is refused whole.
	good := signAs(t, s, alice, Change{Action: Add, Members: []Member{carol.Member}})
	n := mustApply(t, s, good)
	other := signAs(t, s, alice, Change{Action: Rename, Name: "other"})
	known := func(uint64) ([32]byte, bool) { return good.Hash(), true }
	if _, _, err := Advance(n, known, []*Signed{other}); !errors.Is(err, ErrRefused) {
		t.Fatalf("a diverging chain: %v", err)
	}
}

func TestThousandMembers(t *testing.T) {
	alice := newPerson(t, "alice")
	members := []Member{alice.Member}
	for i := 1; i < MaxMembers; i++ {
		p := newPerson(t, fmt.Sprintf("member%d", i))
		members = append(members, p.Member)
	}
	var id ID
	rand.Read(id[:])
	sc := signAs(t, nil, alice, Change{Group: id, Action: Create, Name: "big", Members: members})
	p, err := Parse(sc.Bytes())
	if err != nil {
		t.Fatalf("a creation with %d members (%d bytes): %v", MaxMembers, len(sc.Bytes()), err)
	}
	s := mustApply(t, nil, p)
	one := newPerson(t, "one-too-many")
	if _, err := s.Apply(signAs(t, s, alice, Change{Action: Add, Members: []Member{one.Member}})); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("member %d: %v", MaxMembers+1, err)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "friends", "my-group.2024_x", strings.Repeat("z", 32)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("z", 33), "Friends", "a/b", "#news", "a b", "é"} {
		if ValidName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts signs back (through
// its fields) into a change with the same fields.
func FuzzParse(f *testing.F) {
	alice, bob := newPerson(f, "alice"), newPerson(f, "bob")
	var id ID
	s := mustApply(f, nil, signAs(f, nil, alice, Change{Group: id, Action: Create, Name: "g", Members: []Member{alice.Member, bob.Member}}))
	f.Add(signAs(f, nil, alice, Change{Group: id, Action: Create, Name: "g", Members: []Member{alice.Member, bob.Member}}).Bytes())
	f.Add(signAs(f, s, alice, Change{Action: Remove, Members: []Member{{Account: bob.Account}}}).Bytes())
	f.Add(signAs(f, s, bob, Change{Action: Leave}).Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("an error that is not a refusal: %v", err)
			}
			return
		}
		// Apply to a group must not panic, and a refusal leaves it be.
		before := names(s)
		if _, err := s.Apply(sc); err != nil && !errors.Is(err, ErrRefused) {
			t.Fatal(err)
		}
		if names(s) != before {
			t.Fatal("Apply modified its receiver")
		}
		re, err := Sign(sc.Change, alice.key, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if re.Change.Revision != sc.Revision || re.Group != sc.Group || re.Name != sc.Name || len(re.Members) != len(sc.Members) {
			t.Fatal("the fields did not survive a round trip")
		}
	})
}

// FuzzAdvance: whatever two changes a peer sends after a group's creation,
// Advance never panics, refuses with ErrRefused or applies only checked
// changes, and leaves the state it started from as it was.
func FuzzAdvance(f *testing.F) {
	alice, bob := newPerson(f, "alice"), newPerson(f, "bob")
	var id ID
	create := signAs(f, nil, alice, Change{Group: id, Action: Create, Name: "g", Members: []Member{alice.Member, bob.Member}})
	s := mustApply(f, nil, create)
	rename := signAs(f, s, alice, Change{Action: Rename, Name: "h"})
	leave := signAs(f, mustApply(f, s, rename), bob, Change{Action: Leave})
	f.Add(create.Bytes(), rename.Bytes())
	f.Add(rename.Bytes(), leave.Bytes())
	f.Add(leave.Bytes(), rename.Bytes())
	known := func(rev uint64) ([32]byte, bool) { return create.Hash(), rev == 1 }
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var chain []*Signed
		for _, raw := range [][]byte{a, b} {
			if sc, err := Parse(raw); err == nil {
				chain = append(chain, sc)
			}
		}
		before := names(s)
		n, applied, err := Advance(s, known, chain)
		if names(s) != before || s.Revision != 1 {
			t.Fatal("Advance modified the state it started from")
		}
		if err != nil {
			if !errors.Is(err, ErrRefused) || n != nil {
				t.Fatalf("%v, %v", n, err)
			}
			return
		}
		if n.Revision != 1+uint64(len(applied)) {
			t.Fatalf("revision %d after %d changes", n.Revision, len(applied))
		}
		for _, sc := range applied {
			if sc.Actor != alice.Account && sc.Actor != bob.Account {
				t.Fatal("applied a change by a stranger")
			}
		}
	})
}
