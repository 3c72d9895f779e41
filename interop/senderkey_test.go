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

	bob, err := d.NewParty(ctx, uniq("sk-bob"), PartyOptions{})
	if err != nil {
		t.Fatal(err)
	}
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
	alice, err := d.NewParty(ctx, uniq("sk-alice"), PartyOptions{DeviceID: 2})
	if err != nil {
		t.Fatal(err)
	}
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
