// Package invitation places accounts in cohorts for the relay, along
// invitation trees, and seals the tokens of personal invites.
//
// A Key is derived from a relay secret. Key.RootSlot places a device that
// joins through the relay's own (root) invite: a keyed hash of its Noise
// key, which nobody without the secret can predict, so drawing device keys
// offline no longer picks a cohort (manifest.Slot says what this buys).
// Key.Seal makes the token a user's personal invite carries: the inviting
// account and device (or, for an operator's invite, a slot) and an expiry,
// encrypted and authenticated with AES-256-GCM, so that the token names
// its inviter to the relay alone and cannot be forged or altered; the
// relay gives whoever registers with it the inviter's slot. Key.Open
// checks a token and says why it refuses one.
//
// Relays that share a store must share the secret: a token sealed by one
// is opened by the others, and root placements agree.
package invitation

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors of Open. Each says why a token is refused; callers branch on
// them to tell the user.
var (
	// ErrMalformed: the token is not one this package makes (wrong
	// length or version).
	ErrMalformed = errors.New("invitation: malformed inviter token")
	// ErrForged: the token does not authenticate under this key: forged,
	// altered, or sealed by another network's relay.
	ErrForged = errors.New("invitation: inviter token forged or from another relay")
	// ErrExpired: the token's expiry has passed.
	ErrExpired = errors.New("invitation: inviter token expired")
)

// version is the first byte of every token.
const version = 1

// Sizes of a token: version, nonce, then the sealed body (account,
// device, slot, expiry) and its tag.
const (
	nonceSize = 12
	bodySize  = 16 + 4 + 8 + 8
	tagSize   = 16
	// Size is the length of every token Seal makes.
	Size = 1 + nonceSize + bodySize + tagSize
)

// Token is what an inviter token says. A user's token names the inviting
// Account and Device; an operator's names no account (the zero Account)
// and places the invitee in Slot.
type Token struct {
	Account [16]byte
	Device  uint32
	Slot    uint64 // only when Account is zero
	Expires time.Time
}

// Operator reports whether t is an operator's token (it names no account).
func (t Token) Operator() bool { return t.Account == [16]byte{} }

// Key seals and opens tokens and places root invitees. It is safe for
// concurrent use.
type Key struct {
	aead cipher.AEAD
	root []byte // HMAC key for RootSlot
}

// NewKey derives a Key from secret (at least 16 bytes).
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < 16 {
		return nil, errors.New("invitation: the secret must have at least 16 bytes")
	}
	seal, err := hkdf.Key(sha256.New, secret, nil, "samizdat invitation token v1", 32)
	if err != nil {
		return nil, err
	}
	root, err := hkdf.Key(sha256.New, secret, nil, "samizdat root placement v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(seal)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{aead: aead, root: root}, nil
}

// RootSlot is the slot of a device with Noise key deviceKey that joins
// through a root invite: the first 8 bytes of HMAC-SHA256 under the key,
// big-endian. It is never 0 (0 means "no slot stored").
func (k *Key) RootSlot(deviceKey [32]byte) uint64 {
	m := hmac.New(sha256.New, k.root)
	m.Write(deviceKey[:])
	s := binary.BigEndian.Uint64(m.Sum(nil)[:8])
	if s == 0 {
		s = 1
	}
	return s
}

// Seal returns the token for t, with a fresh nonce from rand.
func (k *Key) Seal(t Token, rand io.Reader) ([]byte, error) {
	out := make([]byte, 1+nonceSize, Size)
	out[0] = version
	if _, err := io.ReadFull(rand, out[1:]); err != nil {
		return nil, fmt.Errorf("invitation: %w", err)
	}
	body := make([]byte, bodySize)
	copy(body, t.Account[:])
	binary.BigEndian.PutUint32(body[16:], t.Device)
	binary.BigEndian.PutUint64(body[20:], t.Slot)
	binary.BigEndian.PutUint64(body[28:], uint64(t.Expires.Unix()))
	return k.aead.Seal(out, out[1:1+nonceSize], body, out[:1]), nil
}

// Open checks tok and returns what it says: ErrMalformed, ErrForged or
// ErrExpired (at now) when it refuses it.
func (k *Key) Open(tok []byte, now time.Time) (Token, error) {
	if len(tok) != Size || tok[0] != version {
		return Token{}, ErrMalformed
	}
	body, err := k.aead.Open(nil, tok[1:1+nonceSize], tok[1+nonceSize:], tok[:1])
	if err != nil {
		return Token{}, ErrForged
	}
	var t Token
	copy(t.Account[:], body)
	t.Device = binary.BigEndian.Uint32(body[16:])
	t.Slot = binary.BigEndian.Uint64(body[20:])
	t.Expires = time.Unix(int64(binary.BigEndian.Uint64(body[28:])), 0).UTC()
	if !now.Before(t.Expires) {
		return Token{}, fmt.Errorf("%w on %s", ErrExpired, t.Expires.UTC().Format(time.DateOnly))
	}
	return t, nil
}
