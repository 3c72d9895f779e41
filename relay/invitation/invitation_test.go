package invitation_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"samizdat/relay/invitation"
)

func key(t testing.TB, b byte) *invitation.Key {
	t.Helper()
	k, err := invitation.NewKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func TestSealOpen(t *testing.T) {
	k := key(t, 1)
	for _, want := range []invitation.Token{
		{Account: [16]byte{1, 2, 3}, Device: 4, Expires: now.Add(time.Hour)},
		{Slot: 1<<64 - 1, Expires: now.Add(time.Hour)},
	} {
		tok, err := k.Seal(want, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != invitation.Size {
			t.Fatalf("token of %d bytes, want %d", len(tok), invitation.Size)
		}
		got, err := k.Open(tok, now)
		if err != nil || got != want {
			t.Fatalf("Open = %+v, %v; want %+v", got, err, want)
		}
		if got.Operator() != (want.Account == [16]byte{}) {
			t.Fatalf("Operator() = %v", got.Operator())
		}
		if _, err := k.Open(tok, now.Add(time.Hour)); !errors.Is(err, invitation.ErrExpired) {
			t.Fatalf("at expiry: %v", err)
		}
		if _, err := key(t, 2).Open(tok, now); !errors.Is(err, invitation.ErrForged) {
			t.Fatalf("another key: %v", err)
		}
		for i := range tok {
			bad := bytes.Clone(tok)
			bad[i] ^= 0x40
			if _, err := k.Open(bad, now); err == nil {
				t.Fatalf("byte %d altered: accepted", i)
			}
		}
		if _, err := k.Open(tok[:len(tok)-1], now); !errors.Is(err, invitation.ErrMalformed) {
			t.Fatalf("short: %v", err)
		}
	}
	if _, err := invitation.NewKey(make([]byte, 15)); err == nil {
		t.Fatal("a 15-byte secret accepted")
	}
}

// RootSlot is a function of the key and the device key: stable for one
// relay, unrelated across relays, never 0.
func TestRootSlot(t *testing.T) {
	a, b := key(t, 1), key(t, 2)
	var dk [32]byte
	seen := map[uint64]bool{}
	for i := range 64 {
		dk[0] = byte(i)
		s := a.RootSlot(dk)
		if s == 0 || s != a.RootSlot(dk) || s == b.RootSlot(dk) {
			t.Fatalf("device %d: slot %d, again %d, other key %d", i, s, a.RootSlot(dk), b.RootSlot(dk))
		}
		seen[s] = true
	}
	if len(seen) != 64 {
		t.Fatalf("%d distinct slots for 64 devices", len(seen))
	}
}

// Open refuses anything it did not seal, without panicking.
func FuzzOpen(f *testing.F) {
	k := key(f, 1)
	// A fixed nonce, so that every fuzzing process seals the same token.
	tok, err := k.Seal(invitation.Token{Device: 1, Account: [16]byte{9}, Expires: now.Add(time.Hour)}, bytes.NewReader(make([]byte, 12)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := k.Open(b, now); err == nil && !bytes.Equal(b, tok) {
			t.Fatalf("accepted a token it did not seal: %x", b)
		}
	})
}
