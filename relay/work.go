package relay

import (
	"context"
	"math"
	"sync"
	"time"

	"samizdat/relay/regwork"
)

// Registrations through shared proxies carry a proof of work instead of
// being rate-limited by address (which is every fronted user's): see
// Limits.RegistrationWork. The work asked grows with their recent rate,
// counted over every node that shares the store where the store can
// (SharedCounters), so that a censor who spreads its registrations over N
// nodes does not face a Nth of the work.
const (
	// workHalfLife is how fast the count of recent registrations through
	// shared proxies decays.
	workHalfLife = time.Minute
	// maxExtraWork bounds the bits added under load: at most 2^8 times
	// the base work.
	maxExtraWork = 8
	// workCounter is the SharedCounters key of the count.
	workCounter = "regwork"
)

// workLoad is this process's decaying count of recent registrations
// through shared proxies that carried their proof of work: the whole count
// when the store shares none, and what the relay falls back on when the
// shared one cannot be read.
type workLoad struct {
	mu   sync.Mutex
	load float64   // guarded by mu
	at   time.Time // when load was last brought up to date; guarded by mu
}

// decayed brings load up to now; mu is held.
func (w *workLoad) decayed(now time.Time) float64 {
	if el := now.Sub(w.at); el > 0 {
		w.load *= math.Exp2(-el.Seconds() / workHalfLife.Seconds())
		w.at = now
	}
	return w.load
}

// add brings load up to now, adds delta and returns the result.
func (w *workLoad) add(now time.Time, delta float64) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.load = w.decayed(now) + delta
	return w.load
}

// countWork adds delta (0: none, only read) to the recent registrations
// through shared proxies and returns their count: the store's, shared by
// every node, where it keeps one, or else (and should the store fail)
// this process's.
func (s *Server) countWork(ctx context.Context, delta float64) float64 {
	now := s.clk.Now()
	local := s.work.add(now, delta)
	sc, ok := s.store.(SharedCounters)
	if !ok {
		return local
	}
	shared, err := sc.AddDecaying(ctx, workCounter, delta, workHalfLife, now)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("reading the shared registration count; using this node's", "err", err)
		}
		return local
	}
	// The shared count holds this node's too, unless it was lost (an
	// unlogged table after a crash): never ask less than this node saw.
	return max(shared, local)
}

// registrationWork is the proof of work, in bits, that a registration
// through a shared proxy must carry now (0: none).
func (s *Server) registrationWork(ctx context.Context) int {
	base := s.lim.RegistrationWork
	if base <= 0 {
		return 0
	}
	load := s.countWork(ctx, 0)
	extra := 0
	if free := s.lim.Registrations.Burst; free > 0 && load >= free {
		extra = min(int(math.Log2(load/free)), maxExtraWork)
	}
	return min(base+extra, regwork.MaxBits)
}

// workDone counts a registration that carried its proof of work.
func (s *Server) workDone(ctx context.Context) {
	s.countWork(ctx, 1)
}
