// Package regwork is the proof of work that a registration carries when
// the relay cannot rate-limit it by the registering user's address: when
// it comes through a shared proxy such as a CDN edge, whose address every
// fronted user has.
//
// A proof for a device's Noise static key k, registering with the relay
// whose static key is r, is a nonce w (at most MaxLen bytes) such that
//
//	SHA-256("samizdat registration work v1" || 0 || r || k || w)
//
// begins with at least the asked number of zero bits. It is bound to the
// device key, which the relay checks is the channel's own and which can
// register only once, so one proof serves one account; and to the relay,
// so a proof made for one relay is worth nothing at another. Finding one
// takes 2^bits hashes on average; checking it takes one.
package regwork

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math/bits"
)

// MaxLen bounds a proof's length.
const MaxLen = 16

// MaxBits is the most work a client agrees to do, and more than a relay
// asks for: 2^32 hashes take minutes on a phone.
const MaxBits = 32

const label = "samizdat registration work v1\x00"

// ErrTooHard is returned by Solve when asked for more than MaxBits.
var ErrTooHard = errors.New("regwork: the relay asks for more work than a client does")

// Check reports whether work proves want bits for the device key device
// registering with the relay key relay. An empty proof proves nothing.
func Check(relay, device [32]byte, work []byte, want int) bool {
	if len(work) == 0 || len(work) > MaxLen {
		return false
	}
	return zeros(sum(relay, device, work)) >= want
}

// Solve finds a proof of want bits for device registering with relay. It
// checks ctx now and then and gives up with its error.
func Solve(ctx context.Context, relay, device [32]byte, want int) ([]byte, error) {
	if want > MaxBits {
		return nil, fmt.Errorf("%w (%d bits)", ErrTooHard, want)
	}
	// A random start: two devices never walk the same nonces, and a
	// proof says nothing about when it was found.
	var w [8]byte
	if _, err := rand.Read(w[:]); err != nil {
		return nil, fmt.Errorf("regwork: %w", err)
	}
	n := binary.BigEndian.Uint64(w[:])
	// Each try hashes only its nonce, from the state the fixed part left:
	// half the work of hashing it all again.
	h := fixed(relay, device)
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("regwork: %w", err)
	}
	restore := h.(encoding.BinaryUnmarshaler)
	var s [sha256.Size]byte
	for i := 0; ; i++ {
		if i%(1<<16) == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("regwork: %w", ctx.Err())
		}
		binary.BigEndian.PutUint64(w[:], n)
		if err := restore.UnmarshalBinary(state); err != nil {
			return nil, fmt.Errorf("regwork: %w", err)
		}
		h.Write(w[:])
		if zeros([sha256.Size]byte(h.Sum(s[:0]))) >= want {
			return append([]byte(nil), w[:]...), nil
		}
		n++
	}
}

// fixed returns a SHA-256 that has hashed the part of a proof's message
// before the nonce.
func fixed(relay, device [32]byte) hash.Hash {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write(relay[:])
	h.Write(device[:])
	return h
}

func sum(relay, device [32]byte, work []byte) (s [sha256.Size]byte) {
	h := fixed(relay, device)
	h.Write(work)
	h.Sum(s[:0])
	return s
}

// zeros counts the leading zero bits of h.
func zeros(h [sha256.Size]byte) int {
	n := 0
	for _, b := range h {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}
