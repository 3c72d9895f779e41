package loadgen

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// timeline says which window of a scenario each moment (since epoch)
// belongs to: windows begin one after another, each with a phase that
// the tracker files the messages meant for it under, until the timeline
// ends. A message belongs to the window its intended send time falls in,
// not the one it was sent or delivered in, so a sender running late does
// not move its messages into the next window.
type timeline struct {
	mu     sync.Mutex
	starts []time.Duration // when each window began; guarded by mu
	phases []byte          // each window's phase; guarded by mu
	end    time.Duration   // no window at or after it, once ended; guarded by mu
	ended  bool            // guarded by mu
}

// begin ends the current window and begins one of phase now, and returns
// when. The time is taken under the lock, so a caller of at that saw the
// old window for a moment cannot see the new one begin before it.
func (t *timeline) begin(phase byte) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := sinceEpoch()
	t.starts = append(t.starts, now)
	t.phases = append(t.phases, phase)
	return now
}

// close ends the timeline after from now (at once for 0) and returns the
// end: nothing is meant for that moment or later.
func (t *timeline) close(after time.Duration) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.end, t.ended = sinceEpoch()+after, true
	return t.end
}

// at returns the phase of the window that moment d falls in (0 before the
// first), and false at or after the end.
func (t *timeline) at(d time.Duration) (phase byte, open bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended && d >= t.end {
		return 0, false
	}
	i := sort.Search(len(t.starts), func(j int) bool { return t.starts[j] > d }) - 1 // the last window begun by d
	if i < 0 {
		return 0, true
	}
	return t.phases[i], true
}

// phasesOf returns the phases of the windows keep is true for, in order,
// each once.
func (t *timeline) phasesOf(keep func(phase byte) bool) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ps []byte
	for _, p := range t.phases {
		if keep(p) && !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// chats has n senders send at rate per second each until tl ends, open
// loop: sender i's message k is meant for start+(k+i/n)/rate (the senders'
// first sends spread over one interval), and send gets it at that time, or
// at once when the sender is behind, with the phase of the window that
// time falls in. It returns when every sender has stopped.
func chats(n int, rate float64, tl *timeline, send func(i int, phase byte, at time.Duration)) {
	if !(rate > 0) {
		panic(fmt.Sprintf("loadgen: chats at %v messages per second", rate)) // a caller's bug: the interval would never end
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := sinceEpoch()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			first := start + interval*time.Duration(i)/time.Duration(n)
			for k := 0; ; k++ {
				at := first + time.Duration(k)*interval
				if _, open := tl.at(at); !open {
					return // known ended before at: no need to wait for it
				}
				if wait := at - sinceEpoch(); wait > 0 {
					time.Sleep(wait)
				}
				phase, open := tl.at(at)
				if !open {
					return
				}
				send(i, phase, at)
			}
		})
	}
	wg.Wait()
}
