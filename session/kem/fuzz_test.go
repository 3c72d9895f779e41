package kem

import (
	"bytes"
	"testing"
)

func FuzzDecodePublicKey(f *testing.F) {
	f.Add([]byte{KeyTypeKyber1024})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := DecodePublicKey(b)
		if err != nil {
			return
		}
		if !bytes.Equal(k.Bytes(), b) {
			t.Fatal("round trip changed the bytes")
		}
		if _, _, err := k.Encapsulate(bytes.NewReader(make([]byte, 32))); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeSecretKey(f *testing.F) {
	f.Add([]byte{KeyTypeKyber1024})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := DecodeSecretKey(b)
		if err != nil {
			return
		}
		if !bytes.Equal(k.Bytes(), b) {
			t.Fatal("round trip changed the bytes")
		}
	})
}

func FuzzDecapsulate(f *testing.F) {
	f.Add([]byte{KeyTypeKyber1024})
	f.Add(append([]byte{KeyTypeKyber1024}, make([]byte, CiphertextSize-1)...))
	_, secBytes := libsignalKeys(f)
	sec, err := DecodeSecretKey(secBytes)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ct []byte) {
		ss, err := sec.Decapsulate(ct)
		if err == nil && len(ss) != SharedSecretSize {
			t.Fatalf("secret of %d bytes", len(ss))
		}
	})
}
