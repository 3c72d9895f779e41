// Package bucket implements the token-bucket arithmetic of relay.RateLimits
// and an in-memory, sharded table of buckets that the store implementations
// share. Buckets are not persisted: a restart refills them all, which only
// ever errs on the side of letting a client through.
package bucket

import (
	"errors"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// ErrInvalid is returned for a negative, infinite or NaN cost, burst or rate.
var ErrInvalid = errors.New("bucket: invalid rate limit parameters")

// Forever is the retryAfter of a bucket that can never hold the cost.
const Forever = time.Duration(math.MaxInt64)

// State is one bucket: how many tokens it held at Last.
type State struct {
	Tokens float64
	Last   time.Time
}

// Check validates the parameters of a spend.
func Check(cost, burst, rate float64) error {
	for _, v := range [...]float64{cost, burst, rate} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return ErrInvalid
		}
	}
	return nil
}

// Spend refills s at rate tokens per second up to burst, then takes cost
// tokens if it holds them. It returns the new state (which the caller stores
// even when ok is false, as it records the refill) and, when refused, how long
// until the bucket would hold cost tokens. fresh says s is a bucket never seen
// before, which starts full. A now before s.Last refills nothing.
func Spend(s State, fresh bool, cost, burst, rate float64, now time.Time) (State, bool, time.Duration) {
	if fresh {
		s = State{Tokens: burst, Last: now}
	} else if d := now.Sub(s.Last); d > 0 {
		s.Tokens = math.Min(burst, s.Tokens+d.Seconds()*rate)
		s.Last = now
	}
	if s.Tokens > burst { // burst lowered since the last call
		s.Tokens = burst
	}
	if s.Tokens >= cost {
		s.Tokens -= cost
		return s, true, 0
	}
	if cost > burst || rate == 0 {
		return s, false, Forever
	}
	secs := (cost - s.Tokens) / rate
	if secs >= Forever.Seconds() {
		return s, false, Forever
	}
	d := time.Duration(math.Ceil(secs * float64(time.Second)))
	if d <= 0 {
		d = 1
	}
	return s, false, d
}

const shards = 32

type entry struct {
	State
	burst, rate float64
}

type shard struct {
	mu sync.Mutex
	m  map[string]*entry // guarded by mu
	n  int               // calls since the last sweep; guarded by mu
}

// Table is a set of buckets in memory, safe for concurrent use. Buckets that
// have refilled completely are forgotten from time to time, since a fresh
// bucket is full anyway.
type Table struct {
	seed   maphash.Seed
	shards [shards]shard
}

// NewTable returns an empty table.
func NewTable() *Table {
	t := &Table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*entry)
	}
	return t
}

// Allow implements relay.RateLimits.Allow on the table.
func (t *Table) Allow(key string, cost, burst, rate float64, now time.Time) (bool, time.Duration, error) {
	if err := Check(cost, burst, rate); err != nil {
		return false, 0, err
	}
	sh := &t.shards[maphash.String(t.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok {
		e = &entry{}
		sh.m[key] = e
	}
	var allowed bool
	var retry time.Duration
	e.State, allowed, retry = Spend(e.State, !ok, cost, burst, rate, now)
	e.burst, e.rate = burst, rate
	sh.n++
	if sh.n >= max(256, len(sh.m)/2) { // amortized O(1): a sweep per len(m)/2 calls
		sh.sweep(now)
	}
	return allowed, retry, nil
}

// sweep forgets the buckets that would be full at now.
func (sh *shard) sweep(now time.Time) {
	sh.n = 0
	for k, e := range sh.m {
		d := now.Sub(e.Last)
		if d < 0 {
			continue
		}
		if e.Tokens+d.Seconds()*e.rate >= e.burst {
			delete(sh.m, k)
		}
	}
}

// Len returns how many buckets the table remembers.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		t.shards[i].mu.Lock()
		n += len(t.shards[i].m)
		t.shards[i].mu.Unlock()
	}
	return n
}
