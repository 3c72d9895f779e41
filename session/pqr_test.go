package session

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"samizdat/session/spqr"
)

func withPQ(t *testing.T, r pqRatchet) {
	t.Helper()
	old := pqr
	pqr = r
	t.Cleanup(func() { pqr = old })
}

// TestSPQREstablishesKeys runs a long conversation and checks that SPQR
// messages ride along and that the post-quantum ratchet reaches the point
// where it yields message keys (which then salt every message key).
func TestSPQREstablishesKeys(t *testing.T) {
	alice, bob := establish(t, true)
	keyed := false
	for turn := 0; turn < 120 && !keyed; turn++ {
		from, to := alice, bob
		if turn%2 == 1 {
			from, to = bob, alice
		}
		msg := fmt.Sprint("turn ", turn)
		ct := from.encrypt(t, to, msg)
		if len(ct.(*SignalMessage).PQRatchet()) == 0 {
			t.Fatalf("turn %d: no SPQR message", turn)
		}
		to.mustDecrypt(t, from, ct, msg)
		rec, _ := from.store.LoadSession(context.Background(), to.addr)
		_, _, key, err := spqr.Send(rec.PQRatchetState(), testRand(uint64(turn)))
		if err != nil {
			t.Fatal(err)
		}
		keyed = key != nil
	}
	if !keyed {
		t.Fatal("SPQR never produced a message key")
	}
	// Out of order after keys are established.
	var cts []CiphertextMessage
	for i := 0; i < 5; i++ {
		cts = append(cts, alice.encrypt(t, bob, fmt.Sprint("ooo ", i)))
	}
	for _, i := range []int{3, 0, 4, 1, 2} {
		bob.mustDecrypt(t, alice, cts[i], fmt.Sprint("ooo ", i))
	}
	if _, err := bob.decrypt(alice, cts[2]); !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("duplicate: %v", err)
	}
}

// TestPeerWithoutSPQRIsRefused: a peer whose session has no SPQR (V0)
// cannot talk to us, since we require V1 as libsignal 0.103 does.
func TestPeerWithoutSPQRIsRefused(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	b := bob.bundle(t, true, false)
	withPQ(t, pqDisabled{})
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	ct := alice.encrypt(t, bob, "hi")
	if len(ct.(*PreKeySignalMessage).Message().PQRatchet()) != 0 {
		t.Fatal("V0 sender attached an SPQR message")
	}
	pqr = spqrV1{}
	_, err := bob.decrypt(alice, ct)
	if !errors.Is(err, ErrPQRatchet) || !errors.Is(err, spqr.ErrMinimumVersion) {
		t.Fatalf("got %v", err)
	}
	if bob.sessionBytes(t, alice) != nil {
		t.Fatal("failed decrypt stored a session")
	}
	if _, err := bob.store.PreKey(context.Background(), b.PreKeyID); err != nil {
		t.Fatalf("failed decrypt consumed the one-time prekey: %v", err)
	}
}

// TestDoubleRatchetWithoutSPQR runs the conversation tests with SPQR off,
// so the Double Ratchet alone is checked too.
func TestDoubleRatchetWithoutSPQR(t *testing.T) {
	withPQ(t, pqDisabled{})
	t.Run("conversation", TestSessionSetupAndConversation)
	t.Run("out of order", TestOutOfOrderDropsAndDuplicates)
	t.Run("reset", TestSessionResetArchivedSessionStillDecrypts)
}

// TestDuplicateOnTrimmedChain: once the Double Ratchet has dropped the
// receiving chain of an old message (MaxReceiverChains), a duplicate of it
// is refused by SPQR instead, as an invalid message (as libsignal does: SPQR
// cannot tell it from a message of another session, see
// TestSimultaneousInitiation). Nothing is stored.
func TestDuplicateOnTrimmedChain(t *testing.T) {
	alice, bob := establish(t, true)
	old := alice.encrypt(t, bob, "old")
	bob.mustDecrypt(t, alice, old, "old")
	for turn := 0; turn < 2*(MaxReceiverChains+1); turn++ {
		from, to := bob, alice
		if turn%2 == 1 {
			from, to = alice, bob
		}
		to.mustDecrypt(t, from, from.encrypt(t, to, "turn"), "turn")
	}
	rec, _ := bob.store.LoadSession(context.Background(), alice.addr)
	if receiverChain(rec.current, old.(*SignalMessage).RatchetKey()) != nil {
		t.Fatal("old chain not trimmed; test needs more turns")
	}
	before := bob.sessionBytes(t, alice)
	_, err := bob.decrypt(alice, old)
	if !errors.Is(err, ErrInvalidMessage) || errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("got %v, want ErrInvalidMessage", err)
	}
	if string(before) != string(bob.sessionBytes(t, alice)) {
		t.Fatal("failed decrypt changed the stored session")
	}
}
