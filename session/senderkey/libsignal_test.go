package senderkey

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// libsignalGroup is testdata/libsignal_group.json: a distribution message,
// group messages and sender-key records produced by libsignal 0.103
// (generator: ../sealed/testdata/gen_libsignal_vectors.mjs).
type libsignalGroup struct {
	Sender              string
	SenderDevice        uint32
	SKDM                string
	Messages            []struct{ Plaintext, Ciphertext string }
	DecryptOrder        []int
	RecordAfterProcess  string
	RecordAfterDecrypts string
	SenderRecord        string
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLibsignalVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/libsignal_group.json")
	if err != nil {
		t.Fatal(err)
	}
	var v libsignalGroup
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sender := SenderAddress{Name: v.Sender, DeviceID: v.SenderDevice}
	skdm, err := ParseDistributionMessage(unhex(t, v.SKDM))
	if err != nil {
		t.Fatal(err)
	}
	store := &MemoryStore{}
	if err := Process(ctx, store, sender, skdm); err != nil {
		t.Fatal(err)
	}
	recordIs := func(want string) {
		t.Helper()
		r, err := store.LoadSenderKey(ctx, sender, skdm.DistributionID())
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, unhex(t, want)) {
			t.Fatalf("record bytes differ from libsignal's\n got %x\nwant %s", got, want)
		}
	}
	recordIs(v.RecordAfterProcess)
	done := map[int]bool{}
	for _, i := range v.DecryptOrder {
		mustDecryptAs(t, ctx, store, sender, unhex(t, v.Messages[i].Ciphertext), unhex(t, v.Messages[i].Plaintext))
		done[i] = true
	}
	recordIs(v.RecordAfterDecrypts)
	for i, m := range v.Messages {
		if !done[i] {
			mustDecryptAs(t, ctx, store, sender, unhex(t, m.Ciphertext), unhex(t, m.Plaintext))
		}
	}

	// libsignal's own sending record works for us: encrypt with it and
	// decrypt with the chain we got from its distribution message.
	own, err := ParseRecord(unhex(t, v.SenderRecord))
	if err != nil {
		t.Fatal(err)
	}
	senderStore := &MemoryStore{}
	if err := senderStore.StoreSenderKey(ctx, sender, skdm.DistributionID(), own); err != nil {
		t.Fatal(err)
	}
	ct, err := Encrypt(ctx, senderStore, sender, skdm.DistributionID(), []byte("from go, on libsignal's chain"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mustDecryptAs(t, ctx, store, sender, ct, []byte("from go, on libsignal's chain"))
}

func mustDecryptAs(t *testing.T, ctx context.Context, s Store, sender SenderAddress, ct, want []byte) {
	t.Helper()
	pt, err := Decrypt(ctx, s, sender, ct)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if !bytes.Equal(pt, want) {
		t.Fatalf("decrypt = %q, want %q", pt, want)
	}
}
