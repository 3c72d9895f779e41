package relay

import (
	"math"
	"sync"
	"time"

	"samizdat/relay/regwork"
)

// Registrations through shared proxies carry a proof of work instead of
// being rate-limited by address (which is every fronted user's): see
// Limits.RegistrationWork. The work asked grows with their recent rate.
const (
	// workHalfLife is how fast the count of recent registrations through
	// shared proxies decays.
	workHalfLife = time.Minute
	// maxExtraWork bounds the bits added under load: at most 2^8 times
	// the base work.
	maxExtraWork = 8
)

// workLoad is the decaying count of recent registrations through shared
// proxies that carried their proof of work. It is per relay process:
// relays sharing a store each count their own.
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

// registrationWork is the proof of work, in bits, that a registration
// through a shared proxy must carry now (0: none).
func (s *Server) registrationWork() int {
	base := s.lim.RegistrationWork
	if base <= 0 {
		return 0
	}
	s.work.mu.Lock()
	load := s.work.decayed(s.clk.Now())
	s.work.mu.Unlock()
	extra := 0
	if free := s.lim.Registrations.Burst; free > 0 && load >= free {
		extra = min(int(math.Log2(load/free)), maxExtraWork)
	}
	return min(base+extra, regwork.MaxBits)
}

// workDone counts a registration that carried its proof of work.
func (s *Server) workDone() {
	s.work.mu.Lock()
	defer s.work.mu.Unlock()
	s.work.decayed(s.clk.Now())
	s.work.load++
}
