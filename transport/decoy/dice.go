package decoy

import (
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"time"
)

// dice draws everything a deployment's decoy is made of, from a seed read
// once from a random source: the same seed makes the same decoy.
type dice struct{ r *mrand.Rand }

// newDice seeds dice from r (nil: crypto/rand). A failing source yields
// the zero seed: never a panic, and never silently crypto/rand.
func newDice(r io.Reader) *dice {
	if r == nil {
		r = rand.Reader
	}
	var seed [32]byte
	io.ReadFull(r, seed[:])
	return &dice{mrand.New(mrand.NewChaCha8(seed))}
}

// intn returns a number in [0, n).
func (d *dice) intn(n int) int { return d.r.IntN(n) }

// between returns a number in [lo, hi].
func (d *dice) between(lo, hi int) int { return lo + d.r.IntN(hi-lo+1) }

// chance reports true with probability p.
func (d *dice) chance(p float64) bool { return d.r.Float64() < p }

// pick returns one of xs.
func pick[T any](d *dice, xs []T) T { return xs[d.r.IntN(len(xs))] }

// some returns between lo and hi of xs, distinct, in a random order.
func some[T any](d *dice, xs []T, lo, hi int) []T {
	n := min(d.between(lo, hi), len(xs))
	out := make([]T, 0, n)
	for _, i := range d.r.Perm(len(xs))[:n] {
		out = append(out, xs[i])
	}
	return out
}

// duration returns a duration in [lo, hi], to the second.
func (d *dice) duration(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(d.r.Int64N(int64((hi-lo)/time.Second)+1))*time.Second
}
