package interop

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"samizdat/session/senderkey"
)

// Sender-key group messages between the Go library and libsignal, both ways,
// delivered out of order with a duplicate that must be rejected.

const groupMessages = 30

func TestSenderKeyGoToLibsignal(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	_, goName := newUUID(t)
	goAddr := senderkey.SenderAddress{Name: goName, DeviceID: 3}
	goPeer := Peer{Name: goName, Device: 3}
	dist, _ := newUUID(t)
	store := &senderkey.MemoryStore{}

	bob := newLsParty(t, ctx, d, "sk-bob", PartyOptions{})
	dm, err := senderkey.Create(ctx, store, goAddr, dist, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SenderKeyProcess(ctx, goPeer, dm.Bytes()); err != nil {
		t.Fatalf("libsignal rejects Go's distribution message: %v", err)
	}
	cts := make([][]byte, groupMessages)
	for i := range cts {
		cts[i], err = senderkey.Encrypt(ctx, store, goAddr, dist, payload("go-group", i, 100+i*7), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
	}
	rng := seeded(t)
	order := rng.Perm(groupMessages)
	for _, i := range order {
		got, err := bob.GroupDecrypt(ctx, goPeer, cts[i])
		if err != nil {
			t.Fatalf("message %d: libsignal: %v", i, err)
		}
		if want := payload("go-group", i, 100+i*7); !bytes.Equal(got, want) {
			t.Fatalf("message %d: libsignal decrypted %q", i, got)
		}
	}
	if _, err := bob.GroupDecrypt(ctx, goPeer, cts[order[3]]); err == nil {
		t.Fatal("libsignal accepted a duplicate group message")
	}
	// A rotated chain reaches libsignal too.
	dm2, err := senderkey.Rotate(ctx, store, goAddr, dist, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SenderKeyProcess(ctx, goPeer, dm2.Bytes()); err != nil {
		t.Fatal(err)
	}
	ct, err := senderkey.Encrypt(ctx, store, goAddr, dist, []byte("after rotate"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bob.GroupDecrypt(ctx, goPeer, ct); err != nil || string(got) != "after rotate" {
		t.Fatalf("after rotate: %q, %v", got, err)
	}
}

func TestSenderKeyLibsignalToGo(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	alice := newLsParty(t, ctx, d, "sk-alice", PartyOptions{DeviceID: 2})
	aliceAddr := senderkey.SenderAddress{Name: alice.Address, DeviceID: alice.DeviceID}
	dist, distStr := newUUID(t)
	store := &senderkey.MemoryStore{}

	skdm, err := alice.SenderKeyCreate(ctx, distStr)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := senderkey.ParseDistributionMessage(skdm)
	if err != nil {
		t.Fatalf("Go rejects libsignal's distribution message: %v", err)
	}
	if dm.DistributionID() != dist {
		t.Fatalf("distribution id %s, want %s", uuidString(dm.DistributionID()), distStr)
	}
	if !bytes.Equal(dm.Bytes(), skdm) {
		t.Error("parsed distribution message does not keep libsignal's bytes")
	}
	if err := senderkey.Process(ctx, store, aliceAddr, dm); err != nil {
		t.Fatal(err)
	}
	cts := make([][]byte, groupMessages)
	for i := range cts {
		cts[i], err = alice.GroupEncrypt(ctx, distStr, payload("ls-group", i, 100+i*7))
		if err != nil {
			t.Fatal(err)
		}
	}
	rng := seeded(t)
	order := rng.Perm(groupMessages)
	for _, i := range order {
		got, err := senderkey.Decrypt(ctx, store, aliceAddr, cts[i])
		if err != nil {
			t.Fatalf("message %d: Go: %v", i, err)
		}
		if want := payload("ls-group", i, 100+i*7); !bytes.Equal(got, want) {
			t.Fatalf("message %d: Go decrypted %q", i, got)
		}
	}
	if _, err := senderkey.Decrypt(ctx, store, aliceAddr, cts[order[5]]); !errors.Is(err, senderkey.ErrDuplicateMessage) {
		t.Fatalf("duplicate: got %v, want ErrDuplicateMessage", err)
	}
}

// TestSenderKeyJumps: a member who joins late (a distribution message at a
// later iteration), forward jumps within the limit (the skipped keys kept
// for late messages) and beyond it (refused), both ways.
func TestSenderKeyJumps(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)

	t.Run("libsignal-to-go", func(t *testing.T) {
		ls := newLsParty(t, ctx, d, "sk-jump", PartyOptions{})
		lsSK := senderkey.SenderAddress{Name: ls.Address, DeviceID: ls.DeviceID}
		_, dist := newUUID(t)
		if _, err := ls.SenderKeyCreate(ctx, dist); err != nil {
			t.Fatal(err)
		}
		early, err := ls.GroupEncrypt(ctx, dist, []byte("before go joined"))
		if err != nil {
			t.Fatal(err)
		}
		if err := ls.GroupSkip(ctx, dist, 40); err != nil {
			t.Fatal(err)
		}
		skdm, err := ls.SenderKeyCreate(ctx, dist) // same chain, now at iteration 41
		if err != nil {
			t.Fatal(err)
		}
		dm, err := senderkey.ParseDistributionMessage(skdm)
		if err != nil {
			t.Fatal(err)
		}
		if dm.Iteration() != 41 {
			t.Errorf("late distribution message at iteration %d, want 41", dm.Iteration())
		}
		store := &senderkey.MemoryStore{}
		if err := senderkey.Process(ctx, store, lsSK, dm); err != nil {
			t.Fatal(err)
		}
		if _, err := senderkey.Decrypt(ctx, store, lsSK, early); err == nil {
			t.Error("Go decrypted a message from before its distribution message")
		}
		late, err := ls.GroupEncrypt(ctx, dist, []byte("after go joined"))
		if err != nil {
			t.Fatal(err)
		}
		if err := ls.GroupSkip(ctx, dist, 1500); err != nil {
			t.Fatal(err)
		}
		far, err := ls.GroupEncrypt(ctx, dist, []byte("1500 later"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := senderkey.Decrypt(ctx, store, lsSK, far); err != nil || string(pt) != "1500 later" {
			t.Fatalf("jump of 1501: %q, %v", pt, err)
		}
		if pt, err := senderkey.Decrypt(ctx, store, lsSK, late); err != nil || string(pt) != "after go joined" {
			t.Fatalf("late message behind the jump: %q, %v", pt, err)
		}
		if err := ls.GroupSkip(ctx, dist, senderkey.MaxForwardJumps+1); err != nil {
			t.Fatal(err)
		}
		tooFar, err := ls.GroupEncrypt(ctx, dist, []byte("too far"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := senderkey.Decrypt(ctx, store, lsSK, tooFar); !errors.Is(err, senderkey.ErrTooFarInFuture) {
			t.Errorf("jump beyond %d: %v, want ErrTooFarInFuture", senderkey.MaxForwardJumps, err)
		}
	})

	t.Run("go-to-libsignal", func(t *testing.T) {
		ls := newLsParty(t, ctx, d, "sk-jump", PartyOptions{})
		_, goName := newUUID(t)
		goSK := senderkey.SenderAddress{Name: goName, DeviceID: 1}
		goPeer := Peer{Name: goName, Device: 1}
		dist, _ := newUUID(t)
		store := &senderkey.MemoryStore{}
		enc := func(s string) []byte {
			t.Helper()
			ct, err := senderkey.Encrypt(ctx, store, goSK, dist, []byte(s), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return ct
		}
		if _, err := senderkey.Create(ctx, store, goSK, dist, rand.Reader); err != nil {
			t.Fatal(err)
		}
		early := enc("before libsignal joined")
		for range 40 {
			enc("x")
		}
		dm, err := senderkey.Create(ctx, store, goSK, dist, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := ls.SenderKeyProcess(ctx, goPeer, dm.Bytes()); err != nil {
			t.Fatal(err)
		}
		if _, err := ls.GroupDecrypt(ctx, goPeer, early); err == nil {
			t.Error("libsignal decrypted a message from before its distribution message")
		}
		late := enc("after libsignal joined")
		for range 1500 {
			enc("x")
		}
		if pt, err := ls.GroupDecrypt(ctx, goPeer, enc("1500 later")); err != nil || string(pt) != "1500 later" {
			t.Fatalf("jump of 1501: %q, %v", pt, err)
		}
		if pt, err := ls.GroupDecrypt(ctx, goPeer, late); err != nil || string(pt) != "after libsignal joined" {
			t.Fatalf("late message behind the jump: %q, %v", pt, err)
		}
		for range senderkey.MaxForwardJumps + 1 {
			enc("x")
		}
		if _, err := ls.GroupDecrypt(ctx, goPeer, enc("too far")); err == nil {
			t.Errorf("libsignal accepted a jump beyond %d", senderkey.MaxForwardJumps)
		}
	})
}
