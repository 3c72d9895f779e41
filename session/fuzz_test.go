package session

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz seed corpora from fresh sessions")

func FuzzParseSignalMessage(f *testing.F) {
	f.Add([]byte{0x44})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseSignalMessage(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Bytes(), b) {
			t.Fatal("Bytes differs from the parsed input")
		}
		again, err := ParseCiphertextMessage(TypeWhisper, m.Bytes())
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		m2 := again.(*SignalMessage)
		if m2.Counter() != m.Counter() || !m2.RatchetKey().Equal(m.RatchetKey()) {
			t.Fatal("reparse differs")
		}
	})
}

func FuzzParsePreKeySignalMessage(f *testing.F) {
	f.Add([]byte{0x44})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParsePreKeySignalMessage(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Bytes(), b) {
			t.Fatal("Bytes differs from the parsed input")
		}
		// Re-encoding the parsed fields yields a message that parses to the
		// same fields.
		re, err := newPreKeySignalMessage(m.version, m.registrationID, m.preKeyID, m.signedPreKeyID,
			m.kyberPreKeyID, m.kyberCiphertext, m.baseKey, m.identityKey, m.message)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParsePreKeySignalMessage(re.Bytes())
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if m2.SignedPreKeyID() != m.SignedPreKeyID() || !m2.BaseKey().Equal(m.BaseKey()) ||
			!bytes.Equal(m2.Message().Bytes(), m.Message().Bytes()) {
			t.Fatal("reparse differs")
		}
	})
}

// FuzzSessionRecord parses a record, checks that encoding is stable, and
// runs encryption and decryption on it: corrupt state must give errors,
// never panics.
func FuzzSessionRecord(f *testing.F) {
	alice, bob := establish(f, true)
	msg := alice.encrypt(f, bob, "fuzz").(*SignalMessage)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := UnmarshalSessionRecord(b)
		if err != nil {
			return
		}
		enc, err := rec.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		rec2, err := UnmarshalSessionRecord(enc)
		if err != nil {
			t.Fatalf("re-unmarshal: %v", err)
		}
		enc2, err := rec2.Marshal()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatal("encoding is not stable")
		}
		store := NewMemoryStore(bob.store.identity, 1)
		ctx := context.Background()
		if err := store.StoreSession(ctx, alice.addr, rec); err != nil {
			t.Fatal(err)
		}
		_, _ = DecryptSignalMessage(ctx, store.Stores(), bob.addr, alice.addr, msg, testRand(1))
		_, _ = Encrypt(ctx, store.Stores(), bob.addr, alice.addr, []byte("x"), testNow, testRand(2))
	})
}

// TestWriteFuzzSeeds regenerates the seed corpora with -update-fuzz-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-fuzz-seeds to regenerate")
	}
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, bob.bundle(t, true, false), testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	pre := alice.encrypt(t, bob, "seed prekey").(*PreKeySignalMessage)
	bob.mustDecrypt(t, alice, pre, "seed prekey")
	reply := bob.encrypt(t, alice, "seed reply").(*SignalMessage)
	alice.mustDecrypt(t, bob, reply, "seed reply")
	whisper := alice.encrypt(t, bob, "seed whisper").(*SignalMessage)
	bob.mustDecrypt(t, alice, whisper, "seed whisper")

	write := func(target, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FuzzParseSignalMessage", "whisper", whisper.Bytes())
	write("FuzzParseSignalMessage", "reply", reply.Bytes())
	write("FuzzParseSignalMessage", "inner-of-prekey", pre.Message().Bytes())
	write("FuzzParsePreKeySignalMessage", "prekey", pre.Bytes())
	write("FuzzParsePreKeySignalMessage", "bad-version", append([]byte{0x33}, pre.Bytes()[1:]...))
	write("FuzzSessionRecord", "bob", bob.sessionBytes(t, alice))
	write("FuzzSessionRecord", "alice", alice.sessionBytes(t, bob))
	fresh := alice.sessionBytes(t, bob)
	write("FuzzSessionRecord", "truncated", fresh[:len(fresh)/2])
}
