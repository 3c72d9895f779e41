// Package kem implements the Kyber-1024 key encapsulation that PQXDH uses for
// its post-quantum prekeys, with keys and ciphertexts serialized exactly as
// libsignal serializes them.
//
// This is Kyber-1024 as submitted to round 3 of the NIST process (what
// libsignal calls KeyType::Kyber1024), not the final ML-KEM-1024 of FIPS 203;
// the two differ in how the shared secret is derived and do not interoperate.
//
// Public keys, secret keys and ciphertexts all travel with a leading type byte
// [KeyTypeKyber1024] followed by the raw Kyber encoding (1568, 3168 and 1568
// bytes). Decoding requires the exact length, as libsignal does. Keys keep the
// bytes they were decoded from, so Bytes returns exactly what was decoded.
//
// Security properties: Kyber-1024 is IND-CCA2 secure; decapsulation of a
// forged or corrupted ciphertext does not fail but yields an unrelated
// pseudorandom secret (implicit rejection), so callers learn nothing from it
// and must rely on a later MAC or AEAD check. Secret keys never print and
// cannot be compared with ==. The implementation is
// github.com/cloudflare/circl/kem/kyber/kyber1024.
package kem

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/kem/kyber/kyber1024"
)

// KeyTypeKyber1024 is the type byte that prefixes serialized Kyber-1024 keys
// and ciphertexts.
const KeyTypeKyber1024 = 0x08

// Sizes of the serialized forms, including the type byte.
const (
	PublicKeySize    = 1 + kyber1024.PublicKeySize  // 1569
	SecretKeySize    = 1 + kyber1024.PrivateKeySize // 3169
	CiphertextSize   = 1 + kyber1024.CiphertextSize // 1569
	SharedSecretSize = kyber1024.SharedKeySize      // 32
)

// Errors returned when decoding keys and ciphertexts.
var (
	// ErrBadKeyType means the input is empty or its type byte is not
	// KeyTypeKyber1024 (other KEMs, such as ML-KEM-1024 with type 0x0A,
	// are not supported).
	ErrBadKeyType = errors.New("kem: bad key type")
	// ErrBadKeyLength means a key has the wrong length for its type.
	ErrBadKeyLength = errors.New("kem: bad key length")
	// ErrBadCiphertext means a ciphertext has the wrong type byte or length.
	ErrBadCiphertext = errors.New("kem: bad ciphertext")
)

func checkType(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: no key type identifier", ErrBadKeyType)
	}
	if b[0] != KeyTypeKyber1024 {
		return fmt.Errorf("%w: %#02x", ErrBadKeyType, b[0])
	}
	return nil
}

// PublicKey is a Kyber-1024 public key. The zero value is not a usable key.
type PublicKey struct {
	raw []byte // serialized form with type byte; never modified
}

// DecodePublicKey parses a public key serialized with its type byte.
func DecodePublicKey(b []byte) (PublicKey, error) {
	if err := checkType(b); err != nil {
		return PublicKey{}, err
	}
	if len(b) != PublicKeySize {
		return PublicKey{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadKeyLength, len(b), PublicKeySize)
	}
	return PublicKey{raw: clone(b)}, nil
}

// Bytes returns the serialized key with its type byte.
func (k PublicKey) Bytes() []byte { return clone(k.raw) }

// Equal reports whether k and o are the same key, in constant time.
func (k PublicKey) Equal(o PublicKey) bool {
	return subtle.ConstantTimeCompare(k.raw, o.raw) == 1
}

// IsZero reports whether k is the zero value.
func (k PublicKey) IsZero() bool { return k.raw == nil }

// String describes the key without printing it in full.
func (k PublicKey) String() string {
	if k.raw == nil {
		return "kem.PublicKey(zero)"
	}
	return fmt.Sprintf("kem.PublicKey(Kyber1024, %x…)", k.raw[1:9])
}

// Encapsulate creates a fresh shared secret for the holder of the secret key,
// using 32 bytes read from rand, and returns the ciphertext (serialized with
// its type byte, as libsignal sends it) and the 32-byte shared secret.
func (k PublicKey) Encapsulate(rand io.Reader) (ciphertext, sharedSecret []byte, err error) {
	if len(k.raw) != PublicKeySize {
		return nil, nil, fmt.Errorf("%w: zero public key", ErrBadKeyLength)
	}
	var seed [kyber1024.EncapsulationSeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, nil, fmt.Errorf("kem: reading randomness: %w", err)
	}
	defer clear(seed[:])
	var pk kyber1024.PublicKey
	pk.Unpack(k.raw[1:])
	ct := make([]byte, CiphertextSize)
	ct[0] = KeyTypeKyber1024
	ss := make([]byte, SharedSecretSize)
	pk.EncapsulateTo(ct[1:], ss, seed[:])
	return ct, ss, nil
}

// SecretKey is a Kyber-1024 secret key. It never prints and cannot be
// compared with ==.
type SecretKey struct {
	// raw returns the serialized key with its type byte, never modified
	// once set. It lives in a closure rather than a field because fmt
	// cannot call Format on a SecretKey held in an unexported field and
	// would print a field's contents, but always prints a func as an
	// address. The func field also makes SecretKey incomparable.
	raw func() []byte
}

// bytes returns the serialized key, nil for the zero value.
func (k SecretKey) bytes() []byte {
	if k.raw == nil {
		return nil
	}
	return k.raw()
}

func newSecretKey(b []byte) SecretKey {
	return SecretKey{raw: func() []byte { return b }}
}

// DecodeSecretKey parses a secret key serialized with its type byte.
func DecodeSecretKey(b []byte) (SecretKey, error) {
	if err := checkType(b); err != nil {
		return SecretKey{}, err
	}
	if len(b) != SecretKeySize {
		return SecretKey{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadKeyLength, len(b), SecretKeySize)
	}
	return newSecretKey(clone(b)), nil
}

// Bytes returns the serialized key with its type byte.
func (k SecretKey) Bytes() []byte { return clone(k.bytes()) }

// Equal reports whether k and o are the same key, in constant time.
func (k SecretKey) Equal(o SecretKey) bool {
	return subtle.ConstantTimeCompare(k.bytes(), o.bytes()) == 1
}

// IsZero reports whether k is the zero value.
func (k SecretKey) IsZero() bool { return k.raw == nil }

// Decapsulate returns the shared secret encapsulated in ciphertext, which
// must carry the type byte. A well-formed but forged ciphertext is not an
// error: it yields an unrelated secret (implicit rejection).
func (k SecretKey) Decapsulate(ciphertext []byte) ([]byte, error) {
	raw := k.bytes()
	if len(raw) != SecretKeySize {
		return nil, fmt.Errorf("%w: zero secret key", ErrBadKeyLength)
	}
	if len(ciphertext) == 0 {
		return nil, fmt.Errorf("%w: no key type identifier", ErrBadCiphertext)
	}
	if ciphertext[0] != KeyTypeKyber1024 {
		return nil, fmt.Errorf("%w: type %#02x", ErrBadCiphertext, ciphertext[0])
	}
	if len(ciphertext) != CiphertextSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadCiphertext, len(ciphertext), CiphertextSize)
	}
	var sk kyber1024.PrivateKey
	sk.Unpack(raw[1:])
	ss := make([]byte, SharedSecretSize)
	sk.DecapsulateTo(ss, ciphertext[1:])
	return ss, nil
}

const redacted = "kem.SecretKey(redacted)"

// String returns a placeholder; secret keys never print.
func (SecretKey) String() string { return redacted }

// GoString returns a placeholder; secret keys never print.
func (SecretKey) GoString() string { return redacted }

// Format writes a placeholder for every verb; secret keys never print.
func (SecretKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// KeyPair is a Kyber-1024 public key and its secret key.
type KeyPair struct {
	Public PublicKey
	Secret SecretKey
}

// GenerateKeyPair generates a key pair from 64 bytes read from rand.
func GenerateKeyPair(rand io.Reader) (KeyPair, error) {
	pk, sk, err := kyber1024.GenerateKeyPair(rand)
	if err != nil {
		return KeyPair{}, fmt.Errorf("kem: reading randomness: %w", err)
	}
	pub := make([]byte, PublicKeySize)
	pub[0] = KeyTypeKyber1024
	pk.Pack(pub[1:])
	sec := make([]byte, SecretKeySize)
	sec[0] = KeyTypeKyber1024
	sk.Pack(sec[1:])
	return KeyPair{Public: PublicKey{raw: pub}, Secret: newSecretKey(sec)}, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
