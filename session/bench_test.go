package session

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkEncryptDecrypt1KiB is one 1 KiB message encrypted by Alice and
// decrypted by Bob in an established session, stores included.
func BenchmarkEncryptDecrypt1KiB(b *testing.B) {
	alice, bob := establish(b, true)
	msg := bytes.Repeat([]byte{'x'}, 1024)
	ctx := context.Background()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		ct, err := Encrypt(ctx, alice.stores(), alice.addr, bob.addr, msg, testNow, alice.rand)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecryptSignalMessage(ctx, bob.stores(), bob.addr, alice.addr, ct.(*SignalMessage), bob.rand); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionSetup is a bundle processed by Alice and her first
// message decrypted by Bob (PQXDH on both sides).
func BenchmarkSessionSetup(b *testing.B) {
	ctx := context.Background()
	alice, bob := newParty(b, aliceACI, 1), newParty(b, bobACI, 2)
	bundle := bob.bundle(b, false, true)
	msg := []byte("hello")
	b.ReportAllocs()
	for b.Loop() {
		alice.store = NewMemoryStore(alice.store.identity, 1)
		bob.store.sessions = make(map[Address][]byte)
		if err := ProcessPreKeyBundle(ctx, alice.stores(), alice.addr, bob.addr, bundle, testNow, alice.rand); err != nil {
			b.Fatal(err)
		}
		ct, err := Encrypt(ctx, alice.stores(), alice.addr, bob.addr, msg, testNow, alice.rand)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecryptPreKeyMessage(ctx, bob.stores(), bob.addr, alice.addr, ct.(*PreKeySignalMessage), bob.rand); err != nil {
			b.Fatal(err)
		}
	}
}
