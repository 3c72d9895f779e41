// Package token makes and checks the short-lived bearer tokens with which
// the wss and front clients prove, inside TLS, that they hold an endpoint's
// secret. A token is
//
//	base64url( time (8, big-endian Unix seconds) || nonce (16) || tag (16) )
//
// where tag is HMAC-SHA256(secret, label || path || 0 || time || nonce)
// truncated to 16 bytes. The server accepts a token only within a short
// window around its own clock and only once (a replay cache remembers the
// nonces it has seen until they expire), so a token copied from one
// connection — by a compromised CDN, say, or from logs — cannot be replayed
// to confirm that an address is a tunnel endpoint. A passive observer on
// the wire sees only TLS and never the token.
//
// The replay cache is bounded in memory and cannot be filled by one
// source: see replayCache for what it keeps, what it refuses and what it
// forgets under a flood of valid tokens (which only holders of the secret
// can make).
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sizes of a token's parts and of its text form.
const (
	nonceSize = 16
	tagSize   = 16
	rawSize   = 8 + nonceSize + tagSize
	// Len is the length of a token's text form.
	Len = (rawSize*8 + 5) / 6
)

// Window is how far a token's time may be from the verifier's clock.
const Window = 2 * time.Minute

const label = "tunnel token v1\x00"

// Errors returned by Verify. They are for logs and tests: the server
// answers every rejected token with the same decoy.
var (
	ErrMalformed = errors.New("token: malformed")
	ErrBadTag    = errors.New("token: bad tag")
	ErrExpired   = errors.New("token: outside the time window")
	ErrReplayed  = errors.New("token: replayed")
	ErrQuota     = errors.New("token: its source holds its quota of fresh tokens")
	ErrNoSecret  = errors.New("token: empty secret")
)

var enc = base64.RawURLEncoding

// New makes a token for path, valid around now.
func New(secret []byte, path string, now time.Time, rand io.Reader) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	var raw [rawSize]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.Unix()))
	if _, err := io.ReadFull(rand, raw[8:8+nonceSize]); err != nil {
		return "", fmt.Errorf("token: nonce: %w", err)
	}
	copy(raw[8+nonceSize:], tag(secret, path, raw[:8+nonceSize]))
	return enc.EncodeToString(raw[:]), nil
}

func tag(secret []byte, path string, timeNonce []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write([]byte(path))
	m.Write([]byte{0})
	m.Write(timeNonce)
	return m.Sum(nil)[:tagSize]
}

// Parsed is a decoded, not yet verified token.
type Parsed struct {
	Time  int64
	Nonce [nonceSize]byte
	Tag   [tagSize]byte
}

// Parse decodes a token's text form without checking it.
func Parse(s string) (Parsed, error) {
	var p Parsed
	if len(s) != Len {
		return p, ErrMalformed
	}
	raw, err := enc.Strict().DecodeString(s)
	if err != nil || len(raw) != rawSize {
		return p, ErrMalformed
	}
	p.Time = int64(binary.BigEndian.Uint64(raw[:8]))
	copy(p.Nonce[:], raw[8:])
	copy(p.Tag[:], raw[8+nonceSize:])
	return p, nil
}

// String encodes p back to text.
func (p Parsed) String() string {
	var raw [rawSize]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(p.Time))
	copy(raw[8:], p.Nonce[:])
	copy(raw[8+nonceSize:], p.Tag[:])
	return enc.EncodeToString(raw[:])
}

// Verifier checks tokens for one secret and path, and remembers the ones
// it accepted (see replay.go) so that none is accepted twice. It is safe
// for concurrent use.
type Verifier struct {
	secret []byte
	path   string
	seen   *replayCache
}

// ReplayCache is the cache a Verifier keeps (see replayCache), for other
// one-time values that carry a time within Window of the receiver's clock:
// transport/tcp's first handshake messages. It is safe for concurrent use.
type ReplayCache struct{ c *replayCache }

// NewReplayCache returns an empty cache of the Verifier's shape.
func NewReplayCache() *ReplayCache {
	return &ReplayCache{newReplayCache(defaultCapacity, defaultPerSource)}
}

// Add records nonce, of a value with time t (Unix seconds, which the
// caller has checked is within Window of its clock) that src presented:
// ErrReplayed if it holds the nonce already, ErrQuota if src holds its
// share of t's slot.
func (r *ReplayCache) Add(t int64, nonce [nonceSize]byte, src Source) error {
	return r.c.add(t, nonce, src)
}

// NewVerifier returns a verifier for tokens made with secret for path.
func NewVerifier(secret []byte, path string) (*Verifier, error) {
	if len(secret) == 0 {
		return nil, ErrNoSecret
	}
	return &Verifier{
		secret: append([]byte(nil), secret...),
		path:   path,
		seen:   newReplayCache(defaultCapacity, defaultPerSource),
	}, nil
}

// Verify checks s, presented by src, at time now and, if it is good,
// records it so it is never accepted again. A good token from a source
// that holds its quota of the token's time slot already is refused with
// ErrQuota.
func (v *Verifier) Verify(s string, now time.Time, src Source) error {
	p, err := Parse(s)
	if err != nil {
		return err
	}
	var tn [8 + nonceSize]byte
	binary.BigEndian.PutUint64(tn[:8], uint64(p.Time))
	copy(tn[8:], p.Nonce[:])
	if !hmac.Equal(tag(v.secret, v.path, tn[:]), p.Tag[:]) {
		return ErrBadTag
	}
	t := now.Unix()
	w := int64(Window / time.Second)
	if p.Time < t-w || p.Time > t+w {
		return ErrExpired
	}
	return v.seen.add(p.Time, p.Nonce, src)
}
