package curve

import (
	"bytes"
	"testing"
)

func FuzzDecodePublicKey(f *testing.F) {
	f.Add([]byte{})
	f.Add(append([]byte{KeyTypeDJB}, make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := DecodePublicKey(b)
		if err != nil {
			return
		}
		if !bytes.Equal(k.Bytes(), b[:33]) {
			t.Fatalf("Bytes() = %x, want prefix of %x", k.Bytes(), b)
		}
		k2, err := DecodePublicKey(k.Bytes())
		if err != nil || !k2.Equal(k) {
			t.Fatal("round trip failed")
		}
		k.VerifySignature(make([]byte, 64), b)
		k.IsCanonical()
	})
}

func FuzzVerifySignature(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 64), []byte("m"))
	f.Fuzz(func(t *testing.T, key, sig, msg []byte) {
		k, err := NewPublicKey(key)
		if err != nil {
			return
		}
		k.VerifySignature(sig, msg)
	})
}
