package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestSimultaneousInitiation: Alice and Bob open sessions with each other
// at the same moment (each processes the other's bundle and sends
// PreKeySignalMessages before anything arrives). Each then holds the
// peer's session as current and its own, unacknowledged one archived. The
// first answers arrive on the archived session; their SPQR indexes collide
// with keys the current session already handed out, which must not stop
// the search: libsignal tries every archived session on any error but a
// Double Ratchet duplicate, and so must we. No message may be lost, and a
// message that decrypts with no session leaves the store unchanged.
func TestSimultaneousInitiation(t *testing.T) {
	for n := 1; n <= 3; n++ {
		t.Run(fmt.Sprint(n, " prekey messages each"), func(t *testing.T) {
			ctx := context.Background()
			alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
			if err := ProcessPreKeyBundle(ctx, alice.stores(), alice.addr, bob.addr, bob.bundle(t, true, false), testNow, alice.rand); err != nil {
				t.Fatal(err)
			}
			if err := ProcessPreKeyBundle(ctx, bob.stores(), bob.addr, alice.addr, alice.bundle(t, true, false), testNow, bob.rand); err != nil {
				t.Fatal(err)
			}
			var fromAlice, fromBob []CiphertextMessage
			for i := range n {
				fromAlice = append(fromAlice, alice.encrypt(t, bob, fmt.Sprint("a", i)))
				fromBob = append(fromBob, bob.encrypt(t, alice, fmt.Sprint("b", i)))
			}
			for i := range n {
				if fromAlice[i].Type() != TypePreKey || fromBob[i].Type() != TypePreKey {
					t.Fatalf("message %d is not a PreKeySignalMessage", i)
				}
				bob.mustDecrypt(t, alice, fromAlice[i], fmt.Sprint("a", i))
				alice.mustDecrypt(t, bob, fromBob[i], fmt.Sprint("b", i))
			}

			// Alice's first answer on her current session (Bob's) lands
			// on Bob's archived session, behind a current one whose SPQR
			// already handed out the same indexes. A tampered copy fails
			// on every session and leaves Bob's record as it was; the
			// genuine one then decrypts.
			answer := alice.encrypt(t, bob, "answer")
			if answer.Type() != TypeWhisper {
				t.Fatalf("answer type %d", answer.Type())
			}
			good := answer.Bytes()
			bad := append([]byte(nil), good...)
			bad[len(bad)-1] ^= 1
			before := bob.sessionBytes(t, alice)
			msg, err := ParseSignalMessage(bad)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecryptSignalMessage(ctx, bob.stores(), bob.addr, alice.addr, msg, bob.rand); !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("tampered answer: got %v, want ErrInvalidMessage", err)
			}
			if !bytes.Equal(before, bob.sessionBytes(t, alice)) {
				t.Fatal("failed decrypt changed the stored session")
			}
			bob.mustDecrypt(t, alice, answer, "answer")

			// Both sides answer on their current session (the peer's); each
			// message lands on the receiver's archived session, which is then
			// promoted. Several messages in a row reach SPQR indexes the
			// receiver's current session used for the prekey messages.
			for turn := range 4 {
				for i := range n + 1 {
					msg := fmt.Sprint("turn ", turn, " a", i)
					bob.mustDecrypt(t, alice, alice.encrypt(t, bob, msg), msg)
					msg = fmt.Sprint("turn ", turn, " b", i)
					alice.mustDecrypt(t, bob, bob.encrypt(t, alice, msg), msg)
				}
			}
			ra, _ := alice.store.LoadSession(ctx, bob.addr)
			rb, _ := bob.store.LoadSession(ctx, alice.addr)
			if string(ra.current.AliceBaseKey) != string(rb.current.AliceBaseKey) {
				t.Fatal("alice and bob did not settle on one session")
			}
		})
	}
}
