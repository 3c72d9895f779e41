// Package curve implements the Curve25519 keys that the Signal protocol uses
// for identities, prekeys and ratchets: X25519 key agreement and XEdDSA
// signatures, with keys serialized exactly as libsignal serializes them.
//
// A public key travels as 33 bytes: the type byte [KeyTypeDJB] followed by
// the 32-byte Montgomery u-coordinate. A private key is 32 bytes, clamped on
// the way in. Signatures are 64-byte XEdDSA signatures in libsignal's
// variant, which carries the sign of the Edwards public key in the top bit of
// the signature; they are randomized with 64 bytes read from the caller's
// random source.
//
// Security properties: key agreement rejects the all-zero shared secret that
// low-order public keys produce; private keys never print (String, GoString
// and Format are redacted) and cannot be compared with ==; comparison of
// private keys is constant time. All group arithmetic comes from crypto/ecdh
// and filippo.io/edwards25519.
package curve

import (
	"crypto/ecdh"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"sync"
)

// KeyTypeDJB is the type byte that prefixes a serialized Curve25519 public key.
const KeyTypeDJB = 0x05

const (
	keySize       = 32
	signatureSize = 64
)

// Errors returned when decoding keys or agreeing on a secret.
var (
	// ErrBadKeyType means the serialized key does not start with KeyTypeDJB
	// (or is empty).
	ErrBadKeyType = errors.New("curve: bad key type")
	// ErrBadKeyLength means the key has the wrong number of bytes.
	ErrBadKeyLength = errors.New("curve: bad key length")
	// ErrInvalidKeyAgreement means X25519 produced the all-zero shared
	// secret, which happens only for low-order public keys.
	ErrInvalidKeyAgreement = errors.New("curve: invalid key agreement (all-zero shared secret)")
)

// PublicKey is a Curve25519 public key: a Montgomery u-coordinate. The zero
// value is the (invalid, low-order) point u = 0.
type PublicKey struct {
	u [keySize]byte
}

// NewPublicKey returns the public key with the 32-byte u-coordinate raw.
func NewPublicKey(raw []byte) (PublicKey, error) {
	var k PublicKey
	if len(raw) != keySize {
		return k, fmt.Errorf("%w: %d bytes, want %d", ErrBadKeyLength, len(raw), keySize)
	}
	copy(k.u[:], raw)
	return k, nil
}

// DecodePublicKey parses a serialized public key as libsignal does: the type
// byte KeyTypeDJB and 32 bytes of key. Like libsignal, it tolerates (and
// ignores) trailing bytes after the key, so Bytes may return a prefix of b.
func DecodePublicKey(b []byte) (PublicKey, error) {
	var k PublicKey
	if len(b) == 0 {
		return k, fmt.Errorf("%w: no key type identifier", ErrBadKeyType)
	}
	if b[0] != KeyTypeDJB {
		return k, fmt.Errorf("%w: %#02x", ErrBadKeyType, b[0])
	}
	if len(b) < 1+keySize {
		return k, fmt.Errorf("%w: %d bytes, want %d", ErrBadKeyLength, len(b), 1+keySize)
	}
	copy(k.u[:], b[1:1+keySize])
	return k, nil
}

// Bytes returns the 33-byte serialization: KeyTypeDJB followed by Raw.
func (k PublicKey) Bytes() []byte {
	out := make([]byte, 1+keySize)
	out[0] = KeyTypeDJB
	copy(out[1:], k.u[:])
	return out
}

// Raw returns the 32-byte u-coordinate.
func (k PublicKey) Raw() []byte {
	out := make([]byte, keySize)
	copy(out, k.u[:])
	return out
}

// Equal reports whether k and o are the same key, in constant time.
func (k PublicKey) Equal(o PublicKey) bool {
	return subtle.ConstantTimeCompare(k.u[:], o.u[:]) == 1
}

// IsZero reports whether k is the zero value (u = 0), which is never a
// usable key.
func (k PublicKey) IsZero() bool {
	return k.u == [keySize]byte{}
}

// String returns the key in hex with its type byte, as it travels.
func (k PublicKey) String() string {
	return fmt.Sprintf("curve.PublicKey(%x)", k.Bytes())
}

// PrivateKey is a clamped Curve25519 scalar. It never prints its value and
// cannot be compared with ==; use Equal. The zero value behaves as the
// all-zero key, which no constructor returns.
type PrivateKey struct {
	// k returns the key, which is never modified once set. It lives in a
	// closure rather than a field because fmt cannot call Format on a
	// PrivateKey held in an unexported field and would print a field's
	// contents (even through a pointer, for verbs it rejects), but always
	// prints a func as an address. The func field also makes PrivateKey
	// incomparable.
	k func() *secret
}

// secret is a private key's clamped bytes and, parsed on first use, its
// crypto/ecdh form, so a long-lived key (identity, signed prekey, ratchet
// key) pays for the base-point multiplication once rather than per use.
type secret struct {
	raw  [keySize]byte
	once sync.Once
	dh   *ecdh.PrivateKey
}

// ecdh returns the parsed X25519 key.
func (s *secret) ecdh() *ecdh.PrivateKey {
	s.once.Do(func() {
		k, err := ecdh.X25519().NewPrivateKey(s.raw[:])
		if err != nil {
			panic("curve: unreachable: " + err.Error()) // 32 bytes always parse
		}
		s.dh = k
	})
	return s.dh
}

var zeroSecret = new(secret)

// key returns the key bytes, all zeros for the zero value.
func (k PrivateKey) key() *[keySize]byte {
	return &k.secret().raw
}

func (k PrivateKey) secret() *secret {
	if k.k == nil {
		return zeroSecret
	}
	return k.k()
}

// NewPrivateKey returns the private key with the 32 bytes raw, clamped as
// libsignal clamps on deserialization.
func NewPrivateKey(raw []byte) (PrivateKey, error) {
	if len(raw) != keySize {
		return PrivateKey{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadKeyLength, len(raw), keySize)
	}
	sec := new(secret)
	copy(sec.raw[:], raw)
	clamp(&sec.raw)
	return PrivateKey{k: func() *secret { return sec }}, nil
}

func clamp(k *[keySize]byte) {
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
}

// Bytes returns the 32-byte (clamped) private key.
func (k PrivateKey) Bytes() []byte {
	out := make([]byte, keySize)
	copy(out, k.key()[:])
	return out
}

// IsZero reports whether k is the zero value, which no constructor returns.
func (k PrivateKey) IsZero() bool {
	return subtle.ConstantTimeCompare(k.key()[:], zeroSecret.raw[:]) == 1
}

// Equal reports whether k and o are the same key, in constant time.
func (k PrivateKey) Equal(o PrivateKey) bool {
	return subtle.ConstantTimeCompare(k.key()[:], o.key()[:]) == 1
}

// PublicKey returns the public key of k: the Montgomery form of the
// Edwards point k·B, which is the X25519 public key k·9.
func (k PrivateKey) PublicKey() PublicKey {
	var pub PublicKey
	copy(pub.u[:], k.secret().ecdh().PublicKey().Bytes())
	return pub
}

// Agree performs X25519 with pub and returns the 32-byte shared secret. It
// returns ErrInvalidKeyAgreement if the result is all zeros.
func (k PrivateKey) Agree(pub PublicKey) ([]byte, error) {
	remote, err := ecdh.X25519().NewPublicKey(pub.u[:])
	if err != nil {
		return nil, fmt.Errorf("curve: %w", err)
	}
	out, err := k.secret().ecdh().ECDH(remote)
	if err != nil {
		return nil, ErrInvalidKeyAgreement
	}
	return out, nil
}

const redacted = "curve.PrivateKey(redacted)"

// String returns a placeholder; private keys never print.
func (PrivateKey) String() string { return redacted }

// GoString returns a placeholder; private keys never print.
func (PrivateKey) GoString() string { return redacted }

// Format writes a placeholder for every verb; private keys never print.
func (PrivateKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// KeyPair is a private key and its public key.
type KeyPair struct {
	Private PrivateKey
	Public  PublicKey
}

// IdentityKeyPair is an identity key pair; identity keys are ordinary DJB
// keys.
type IdentityKeyPair = KeyPair

// GenerateKeyPair reads 32 bytes from rand and returns the clamped key pair.
func GenerateKeyPair(rand io.Reader) (KeyPair, error) {
	var raw [keySize]byte
	if _, err := io.ReadFull(rand, raw[:]); err != nil {
		return KeyPair{}, fmt.Errorf("curve: reading randomness: %w", err)
	}
	priv, err := NewPrivateKey(raw[:])
	clear(raw[:])
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Private: priv, Public: priv.PublicKey()}, nil
}
