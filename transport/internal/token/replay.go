package token

import (
	"sync"
	"time"
)

// Source is where a token came from, for the replay cache's share per
// source.
type Source struct {
	// Key names the source: SourceKey of its address, or any other
	// string; "" is a source too (all the unnamed ones together).
	Key string
	// Shared says the source is a proxy that many users share (a CDN
	// edge: every fronted user behind it has its address). It is not held
	// to the quota per source, which would hold all those users to one
	// user's share; it still counts as one source when a full slot takes
	// entries back, so a flood through it costs its own entries first.
	Shared bool
}

// The replay cache's shape. A token is acceptable while the verifier's
// clock is within Window of the token's time, so accepted tokens are kept
// in slots of slotSeconds by their time, and a slot whose every time is
// more than Window in the past is forgotten whole. ringSize slots cover
// every time that can still be accepted (2·Window/slotSeconds + 1 slots)
// and one more.
const (
	slotSeconds = 15
	ringSize    = 2*int(Window/time.Second)/slotSeconds + 2

	// defaultCapacity bounds the tokens remembered in all: about 12 MiB
	// when every slot is full.
	defaultCapacity = 1 << 18
	// defaultPerSource bounds one source's tokens in one slot: a source
	// opens at most this many tunnels per slotSeconds (68 a second, for
	// the users behind one NAT address together).
	defaultPerSource = 1024
)

// replayCache remembers the nonces of the tokens a Verifier accepted, by
// the slot of their time, until every time in the slot has expired.
//
// What it keeps, refuses and forgets:
//   - A slot holds at most slotCap nonces, so memory is bounded; the ring
//     reuses the slot of an expired time for a new one (dropping it whole:
//     no sweep of entries, ever).
//   - A source (not Shared) holds at most perSource nonces of a slot. Its
//     next good token in that slot is refused (ErrQuota): a flooding
//     source is turned away, not the others.
//   - When a slot is full, a newcomer takes back the oldest entry of the
//     source that holds the most entries of the slot, if that source
//     holds more than the newcomer's own source does; a Shared source
//     that holds the most takes back its own oldest. Otherwise the
//     newcomer is refused (ErrQuota). So a source never takes back the
//     entries of one that holds as few as it does, and a newcomer holding
//     nothing in the slot — a real client — is always let in.
//
// An entry taken back early lets its token be accepted once more before
// it expires. Only someone who copied that token (a CDN, a log) could use
// that, and only holders of the secret can make the valid tokens that
// fill a slot — who can open a tunnel without replaying anything. Bad or
// expired tokens never reach the cache.
type replayCache struct {
	slotCap   int
	perSource int

	mu   sync.Mutex
	ring [ringSize]slot // guarded by mu
}

func newReplayCache(capacity, perSource int) *replayCache {
	return &replayCache{slotCap: max(capacity/ringSize, 1), perSource: perSource}
}

// slot is the accepted tokens whose time falls in one slotSeconds.
type slot struct {
	k       int64                    // the slot's number: time / slotSeconds
	used    bool                     // k is set
	nonces  map[[nonceSize]byte]bool // every nonce held
	bySrc   map[string]*fifo         // each source's nonces, oldest first
	byCount []map[string]struct{}    // byCount[n]: the sources holding n nonces (n ≥ 1)
	most    int                      // the largest n with a source in byCount[n]
}

// fifo is one source's nonces in a slot, oldest first.
type fifo struct {
	q    [][nonceSize]byte
	head int
}

func (f *fifo) len() int { return len(f.q) - f.head }

// add records nonce, of a token with time t (Unix seconds) that src
// presented, or says why it is refused.
func (c *replayCache) add(t int64, nonce [nonceSize]byte, src Source) error {
	k := floorDiv(t, slotSeconds)
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.at(k)
	if !s.used || s.k != k {
		// The slot held an expired time (or none): forget it whole.
		*s = slot{k: k, used: true, nonces: make(map[[nonceSize]byte]bool), bySrc: make(map[string]*fifo)}
	}
	if s.nonces[nonce] {
		return ErrReplayed
	}
	mine := 0
	if f := s.bySrc[src.Key]; f != nil {
		mine = f.len()
	}
	if !src.Shared && mine >= c.perSource {
		return ErrQuota
	}
	if len(s.nonces) >= c.slotCap {
		switch {
		case s.most > mine:
			s.takeBack(s.busiest())
		case src.Shared && mine > 0:
			s.takeBack(src.Key)
		default:
			return ErrQuota
		}
	}
	s.put(src.Key, nonce)
	return nil
}

// at returns the ring's place for slot number k; mu must be held.
func (c *replayCache) at(k int64) *slot {
	return &c.ring[k-floorDiv(k, int64(ringSize))*int64(ringSize)]
}

// busiest returns a source holding the most nonces of s.
func (s *slot) busiest() string {
	for src := range s.byCount[s.most] {
		return src
	}
	panic("token: replay slot's counts are inconsistent")
}

// put records src's nonce.
func (s *slot) put(src string, nonce [nonceSize]byte) {
	f := s.bySrc[src]
	if f == nil {
		f = &fifo{}
		s.bySrc[src] = f
	}
	n := f.len()
	f.q = append(f.q, nonce)
	s.nonces[nonce] = true
	s.recount(src, n, n+1)
}

// takeBack forgets src's oldest nonce.
func (s *slot) takeBack(src string) {
	f := s.bySrc[src]
	n := f.len()
	delete(s.nonces, f.q[f.head])
	f.head++
	switch {
	case f.len() == 0:
		delete(s.bySrc, src)
	case f.head > len(f.q)/2:
		// Keep the queue's memory to its entries, however many were
		// taken back.
		f.q = append(f.q[:0], f.q[f.head:]...)
		f.head = 0
	}
	s.recount(src, n, n-1)
}

// recount moves src from the sources holding from nonces to those holding
// to.
func (s *slot) recount(src string, from, to int) {
	if from > 0 {
		delete(s.byCount[from], src)
	}
	if to > 0 {
		for len(s.byCount) <= to {
			s.byCount = append(s.byCount, nil)
		}
		if s.byCount[to] == nil {
			s.byCount[to] = make(map[string]struct{})
		}
		s.byCount[to][src] = struct{}{}
	}
	s.most = max(s.most, to)
	for s.most > 0 && len(s.byCount[s.most]) == 0 {
		s.most--
	}
}

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
