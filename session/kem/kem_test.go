package kem

import (
	"bytes"
	"crypto/rand"
	"crypto/sha3"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// libsignalKeys returns libsignal's Kyber-1024 test keys
// (rust/protocol/src/kem/test-data/{pk,sk}.dat, which hold the raw keys
// without the type byte), serialized with the type byte as libsignal does.
func libsignalKeys(t testing.TB) (pub, sec []byte) {
	t.Helper()
	pk, err := os.ReadFile("testdata/pk.dat")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := os.ReadFile("testdata/sk.dat")
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{KeyTypeKyber1024}, pk...), append([]byte{KeyTypeKyber1024}, sk...)
}

func TestSizes(t *testing.T) {
	if PublicKeySize != 1569 || SecretKeySize != 3169 || CiphertextSize != 1569 || SharedSecretSize != 32 {
		t.Errorf("sizes %d %d %d %d", PublicKeySize, SecretKeySize, CiphertextSize, SharedSecretSize)
	}
}

func TestLibsignalTestKeys(t *testing.T) {
	pubBytes, secBytes := libsignalKeys(t)
	if len(pubBytes) != PublicKeySize || len(secBytes) != SecretKeySize {
		t.Fatalf("libsignal test keys are %d and %d bytes", len(pubBytes), len(secBytes))
	}
	pub, err := DecodePublicKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := DecodeSecretKey(secBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.Bytes(), pubBytes) || !bytes.Equal(sec.Bytes(), secBytes) {
		t.Fatal("re-serialization differs")
	}

	// Layout of a round-3 secret key: s (1536) ‖ pk (1568) ‖ H(pk) (32) ‖ z (32).
	raw := secBytes[1:]
	if !bytes.Equal(raw[1536:1536+1568], pubBytes[1:]) {
		t.Error("secret key does not embed the public key where expected")
	}
	h := sha3.Sum256(pubBytes[1:])
	if !bytes.Equal(raw[1536+1568:1536+1568+32], h[:]) {
		t.Error("secret key does not embed SHA3-256(pk) where expected")
	}

	for range 3 {
		ct, ss1, err := pub.Encapsulate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != CiphertextSize || ct[0] != KeyTypeKyber1024 || len(ss1) != SharedSecretSize {
			t.Fatalf("ciphertext %d bytes type %#x, secret %d bytes", len(ct), ct[0], len(ss1))
		}
		ss2, err := sec.Decapsulate(ct)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ss1, ss2) {
			t.Fatal("shared secrets differ")
		}
		// Implicit rejection: a corrupted ciphertext gives another secret.
		ct[100] ^= 1
		ss3, err := sec.Decapsulate(ct)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(ss3, ss1) {
			t.Fatal("corrupted ciphertext gave the same secret")
		}
	}
}

func TestGenerateKeyPair(t *testing.T) {
	kp, err := GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pb, sb := kp.Public.Bytes(), kp.Secret.Bytes()
	if len(pb) != PublicKeySize || pb[0] != KeyTypeKyber1024 || len(sb) != SecretKeySize || sb[0] != KeyTypeKyber1024 {
		t.Fatalf("generated sizes %d %d", len(pb), len(sb))
	}
	ct, ss1, err := kp.Public.Encapsulate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ss2, err := kp.Secret.Decapsulate(ct)
	if err != nil || !bytes.Equal(ss1, ss2) {
		t.Fatalf("round trip failed: %v", err)
	}
	pub2, _ := DecodePublicKey(pb)
	if !pub2.Equal(kp.Public) {
		t.Error("decoded public key not Equal")
	}
	other, _ := GenerateKeyPair(rand.Reader)
	if other.Public.Equal(kp.Public) || other.Secret.Equal(kp.Secret) {
		t.Error("distinct keys Equal")
	}
	if _, err := GenerateKeyPair(bytes.NewReader(make([]byte, 63))); err == nil {
		t.Error("short randomness accepted")
	}
	if _, _, err := kp.Public.Encapsulate(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("short randomness accepted by Encapsulate")
	}
}

func TestEncapsulateDeterministicGivenRandomness(t *testing.T) {
	pubBytes, _ := libsignalKeys(t)
	pub, _ := DecodePublicKey(pubBytes)
	seed := bytes.Repeat([]byte{0x42}, 32)
	ct1, ss1, _ := pub.Encapsulate(bytes.NewReader(seed))
	ct2, ss2, _ := pub.Encapsulate(bytes.NewReader(seed))
	if !bytes.Equal(ct1, ct2) || !bytes.Equal(ss1, ss2) {
		t.Error("encapsulation not determined by its randomness")
	}
}

func TestDecodeErrors(t *testing.T) {
	pubBytes, secBytes := libsignalKeys(t)
	withType := func(b []byte, typ byte) []byte {
		c := bytes.Clone(b)
		c[0] = typ
		return c
	}
	tests := []struct {
		name   string
		decode func([]byte) error
		in     []byte
		err    error
	}{
		{"pub empty", decodePub, nil, ErrBadKeyType},
		{"pub mlkem type", decodePub, withType(pubBytes, 0x0A), ErrBadKeyType},
		{"pub curve type", decodePub, withType(pubBytes, 0x05), ErrBadKeyType},
		{"pub short", decodePub, pubBytes[:PublicKeySize-1], ErrBadKeyLength},
		{"pub long", decodePub, append(bytes.Clone(pubBytes), 0), ErrBadKeyLength},
		{"pub without type", decodePub, pubBytes[1:], ErrBadKeyType},
		{"sec empty", decodeSec, nil, ErrBadKeyType},
		{"sec bad type", decodeSec, withType(secBytes, 0x07), ErrBadKeyType},
		{"sec short", decodeSec, secBytes[:SecretKeySize-1], ErrBadKeyLength},
		{"sec long", decodeSec, append(bytes.Clone(secBytes), 0), ErrBadKeyLength},
		{"sec given pub", decodeSec, pubBytes, ErrBadKeyLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.in); !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func decodePub(b []byte) error { _, err := DecodePublicKey(b); return err }
func decodeSec(b []byte) error { _, err := DecodeSecretKey(b); return err }

func TestDecapsulateErrors(t *testing.T) {
	pubBytes, secBytes := libsignalKeys(t)
	pub, _ := DecodePublicKey(pubBytes)
	sec, _ := DecodeSecretKey(secBytes)
	ct, _, _ := pub.Encapsulate(rand.Reader)
	bad := bytes.Clone(ct)
	bad[0] = 0x0A
	for name, in := range map[string][]byte{
		"empty":        nil,
		"type only":    ct[:1],
		"without type": ct[1:],
		"short":        ct[:len(ct)-1],
		"long":         append(bytes.Clone(ct), 0),
		"wrong type":   bad,
	} {
		if _, err := sec.Decapsulate(in); !errors.Is(err, ErrBadCiphertext) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := (SecretKey{}).Decapsulate(ct); err == nil {
		t.Error("zero secret key decapsulated")
	}
	if _, _, err := (PublicKey{}).Encapsulate(rand.Reader); err == nil {
		t.Error("zero public key encapsulated")
	}
}

func TestSecretKeyRedacted(t *testing.T) {
	kp, _ := GenerateKeyPair(rand.Reader)
	secret := fmt.Sprintf("%x", kp.Secret.Bytes()[1:17])
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		for _, v := range []any{kp.Secret, &kp.Secret, kp, &kp} {
			if out := fmt.Sprintf(f, v); strings.Contains(out, secret) {
				t.Errorf("Sprintf(%q) leaks the secret key", f)
			}
		}
	}
}
