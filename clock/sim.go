package clock

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Epoch is the time a simulated clock starts at when NewSim is given the
// zero time: 2018-04-16, the day the Telegram blocking began. A deadline
// computed from the wall clock by code not on the clock is then years in
// the simulated future and never fires within a run, and the "abort now"
// deadline time.Unix(1, 0) is in the past and fires at once.
var Epoch = time.Date(2018, time.April, 16, 0, 0, 0, 0, time.UTC)

// Sim is a simulated clock. Its time moves only when told: Advance,
// AdvanceTo and Step fire the timers due in order of their deadlines
// (timers due at the same instant in the order they were set), setting
// Now to each one's deadline as it fires; Run does the same on its own
// whenever the process is quiescent. A Sim is safe for concurrent use.
type Sim struct {
	mu     sync.Mutex
	now    time.Time     // guarded by mu
	seq    uint64        // guarded by mu; order of arming, the tie-break
	timers timerHeap     // guarded by mu; the armed timers
	fired  uint64        // guarded by mu; timers fired so far
	armed  chan struct{} // guarded by mu; closed and replaced when a timer is armed
}

var _ Clock = (*Sim)(nil)

// NewSim returns a simulated clock reading start (Epoch if zero).
func NewSim(start time.Time) *Sim {
	if start.IsZero() {
		start = Epoch
	}
	return &Sim{now: start, armed: make(chan struct{})}
}

// Now returns the simulated time.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Since returns Now().Sub(t).
func (s *Sim) Since(t time.Time) time.Duration { return s.Now().Sub(t) }

// Until returns t.Sub(Now()).
func (s *Sim) Until(t time.Time) time.Duration { return t.Sub(s.Now()) }

// NewTimer returns a timer that fires once the simulated clock has moved
// on by d.
func (s *Sim) NewTimer(d time.Duration) Timer {
	t := &simTimer{s: s, idx: -1, c: make(chan time.Time, 1)}
	s.arm(t, d)
	return t
}

// NewTicker returns a ticker with period d on the simulated clock.
func (s *Sim) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	t := &simTimer{s: s, idx: -1, c: make(chan time.Time, 1), period: d}
	s.arm(t, d)
	return simTicker{t}
}

// After is NewTimer(d).C().
func (s *Sim) After(d time.Duration) <-chan time.Time { return s.NewTimer(d).C() }

// AfterFunc calls f in its own goroutine once the simulated clock has
// moved on by d.
func (s *Sim) AfterFunc(d time.Duration, f func()) Timer {
	t := &simTimer{s: s, idx: -1, f: f}
	s.arm(t, d)
	return t
}

// Sleep blocks until the simulated clock has moved on by d.
func (s *Sim) Sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	<-s.NewTimer(d).C()
}

// Pending returns the number of armed timers.
func (s *Sim) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.timers)
}

// Fired returns the number of timers fired so far (a ticker counts once
// per tick).
func (s *Sim) Fired() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// Next returns the deadline of the earliest armed timer, if any.
func (s *Sim) Next() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.timers) == 0 {
		return time.Time{}, false
	}
	return s.timers[0].when, true
}

// Step fires the earliest armed timer, moving Now to its deadline (never
// backwards: a timer armed with a past deadline fires at Now). It reports
// false, doing nothing, if no timer is armed.
func (s *Sim) Step() bool {
	s.mu.Lock()
	if len(s.timers) == 0 {
		s.mu.Unlock()
		return false
	}
	s.fireLocked()
	s.mu.Unlock()
	return true
}

// Advance moves the clock on by d, firing in order every timer due by
// then (see AdvanceTo).
func (s *Sim) Advance(d time.Duration) {
	s.AdvanceTo(s.Now().Add(d))
}

// AdvanceTo moves the clock to t, firing in order every timer due by
// then; Now reads each timer's deadline while it fires. Timers armed by
// the fired ones (an AfterFunc's f runs in its own goroutine and may arm
// later) fire too if they are due by t and armed before the clock gets
// there. It does nothing if t is not after Now.
func (s *Sim) AdvanceTo(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.timers) > 0 && !s.timers[0].when.After(t) {
		s.fireLocked()
	}
	if t.After(s.now) {
		s.now = t
	}
}

// fireLocked fires the earliest timer; s.mu is held.
func (s *Sim) fireLocked() {
	t := heap.Pop(&s.timers).(*simTimer)
	if t.when.After(s.now) {
		s.now = t.when
	}
	s.fired++
	if t.period > 0 {
		t.when = t.when.Add(t.period)
		if !t.when.After(s.now) {
			t.when = s.now.Add(t.period)
		}
		s.push(t)
	}
	if t.f != nil {
		go t.f()
		return
	}
	select {
	case t.c <- s.now:
	default: // a ticker whose receiver is slow drops the tick
	}
}

// arm (re)arms t to fire d from now.
func (s *Sim) arm(t *simTimer, d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	active := t.idx >= 0
	if active {
		heap.Remove(&s.timers, t.idx)
	}
	t.drain()
	t.when = s.now.Add(max(d, 0))
	s.push(t)
	return active
}

// push adds t to the heap with a new sequence number; s.mu is held.
func (s *Sim) push(t *simTimer) {
	s.seq++
	t.seq = s.seq
	heap.Push(&s.timers, t)
	close(s.armed)
	s.armed = make(chan struct{})
}

// armedChan returns a channel closed when a timer is next armed.
func (s *Sim) armedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.armed
}

type simTimer struct {
	s      *Sim
	when   time.Time      // guarded by s.mu
	seq    uint64         // guarded by s.mu
	idx    int            // guarded by s.mu; index in s.timers, -1 when not armed
	c      chan time.Time // nil for AfterFunc
	f      func()         // nil for channel timers
	period time.Duration  // > 0 for tickers
}

func (t *simTimer) C() <-chan time.Time { return t.c }

func (t *simTimer) Stop() bool {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	active := t.idx >= 0
	if active {
		heap.Remove(&t.s.timers, t.idx)
	}
	t.drain()
	return active
}

func (t *simTimer) Reset(d time.Duration) bool { return t.s.arm(t, d) }

// drain empties the channel, so that a stopped or reset timer delivers no
// stale value (Go 1.23 semantics); t.s.mu is held.
func (t *simTimer) drain() {
	if t.c == nil {
		return
	}
	select {
	case <-t.c:
	default:
	}
}

type simTicker struct{ t *simTimer }

func (k simTicker) C() <-chan time.Time { return k.t.c }
func (k simTicker) Stop()               { k.t.Stop() }
func (k simTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	k.t.s.mu.Lock()
	k.t.period = d
	k.t.s.mu.Unlock()
	k.t.s.arm(k.t, d)
}

// timerHeap orders timers by deadline, then by arming order.
type timerHeap []*simTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*simTimer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// WithTimeout returns a context whose Err becomes
// context.DeadlineExceeded once the simulated clock has moved on by d.
func (s *Sim) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return s.WithDeadline(parent, s.Now().Add(d))
}

// WithDeadline returns a context whose Err becomes
// context.DeadlineExceeded once the simulated clock reads t.
func (s *Sim) WithDeadline(parent context.Context, t time.Time) (context.Context, context.CancelFunc) {
	return newSimCtx(s, parent, t)
}
