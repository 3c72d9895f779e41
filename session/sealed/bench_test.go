package sealed

import (
	"bytes"
	"crypto/rand"
	"testing"
)

// BenchmarkV1 seals and opens one 1 KiB content with sealed sender v1.
func BenchmarkV1(b *testing.B) {
	f := newFixture(b)
	c, _ := NewContent(TypeWhisper, f.cert, bytes.Repeat([]byte{'x'}, 1024), HintDefault, nil)
	for b.Loop() {
		ct, err := EncryptV1(rand.Reader, c, f.alice, f.bob.Public)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecryptToContent(ct, f.bob); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkV2Open opens one recipient's copy of a 1 KiB v2 message.
func BenchmarkV2Open(b *testing.B) {
	f := newFixture(b)
	c, _ := NewContent(TypeSenderKey, f.cert, bytes.Repeat([]byte{'x'}, 1024), HintDefault, nil)
	id, _ := ParseServiceID("796abedb-ca4e-4f18-8803-1fde5b921f9f")
	sent, err := EncryptV2(rand.Reader, []Destination{{ServiceID: id, DeviceID: 1, RegistrationID: 1, IdentityKey: f.bob.Public}}, nil, c, f.alice)
	if err != nil {
		b.Fatal(err)
	}
	m, _ := ParseSentMessage(sent)
	recv := m.ReceivedMessage(&m.Recipients[0])
	for b.Loop() {
		if _, err := DecryptToContent(recv, f.bob); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGCMSIV seals 16 KiB with AES-256-GCM-SIV.
func BenchmarkGCMSIV(b *testing.B) {
	key, nonce, pt := make([]byte, 32), make([]byte, 12), make([]byte, 16<<10)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := sivSeal(key, nonce, pt); err != nil {
			b.Fatal(err)
		}
	}
}
