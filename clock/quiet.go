package clock

import (
	"bytes"
	"context"
	"runtime"
	"runtime/metrics"
	"time"
)

// Run drives s discrete-event style until ctx is done: whenever the
// process is quiescent (Quiescent), it fires the earliest armed timer,
// moving the clock to its deadline, and waits for quiescence again. Timers
// fire one at a time, so the effects of timers due at the same instant
// are not raced against each other. With no timer armed it waits for one
// (the world is then waiting on something outside the clock, or is
// deadlocked). Run returns ctx's error.
//
// Only one Run may drive a Sim, and nothing else should advance it
// meanwhile.
func (s *Sim) Run(ctx context.Context) error {
	var q Quiet
	for {
		if err := q.Wait(ctx); err != nil {
			return err
		}
		armed := s.armedChan()
		if s.Step() {
			continue
		}
		select {
		case <-armed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Start runs Run in a new goroutine; stop ends it and waits for it to
// return.
func (s *Sim) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Quiet tells whether the process is quiescent: every goroutine other
// than the caller is blocked — on a channel, select, lock, sync.Cond or
// WaitGroup, or on something only the outside world ends (a real sleep or
// timer, a socket) — so that nothing will happen until a timer fires. It
// is what testing/synctest decides inside a bubble, for the whole process:
// a cheap pre-check on runtime/metrics, confirmed by one goroutine dump
// (which stops the world, and is exact). The zero value is ready; a Quiet
// keeps its dump buffer and is not safe for concurrent use.
type Quiet struct {
	buf     []byte
	samples []metrics.Sample
}

// Now reports whether the process is quiescent at this instant.
func (q *Quiet) Now() bool {
	if q.samples == nil {
		q.samples = []metrics.Sample{
			{Name: "/sched/goroutines/running:goroutines"},
			{Name: "/sched/goroutines/runnable:goroutines"},
		}
	}
	metrics.Read(q.samples)
	// The caller is the one running goroutine; the counts are per P and
	// cheap, and the dump below decides.
	if q.samples[0].Value.Uint64() > 1 || q.samples[1].Value.Uint64() > 0 {
		return false
	}
	if q.buf == nil {
		q.buf = make([]byte, 64<<10)
	}
	for {
		n := runtime.Stack(q.buf, true)
		if n < len(q.buf) {
			return allBlocked(q.buf[:n])
		}
		q.buf = make([]byte, 2*len(q.buf))
	}
}

// Wait returns once the process is quiescent, or with ctx's error. It
// yields the processor between checks, then sleeps a little (wall time:
// how long the world takes to settle does not move the simulated clock).
func (q *Quiet) Wait(ctx context.Context) error {
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if q.Now() {
			return nil
		}
		if i < 4 {
			runtime.Gosched()
		} else {
			time.Sleep(min(time.Duration(i)*5*time.Microsecond, time.Millisecond))
		}
	}
}

// allBlocked reports whether every goroutine in dump (runtime.Stack's,
// the caller's first) is blocked.
func allBlocked(dump []byte) bool {
	first := true
	for len(dump) > 0 {
		var g []byte
		g, dump, _ = bytes.Cut(dump, []byte("\n\ngoroutine "))
		if first { // the caller: running
			first = false
			continue
		}
		if !blocked(g) {
			return false
		}
	}
	return true
}

// blockedStates are the goroutine states (the text between brackets in
// a dump, before any ", N minutes" or ", locked to thread") of a goroutine
// that waits for another goroutine or for the outside world.
var blockedStates = map[string]bool{
	"chan receive": true, "chan send": true,
	"chan receive (nil chan)": true, "chan send (nil chan)": true,
	"select": true, "select (no cases)": true,
	"sleep": true, "IO wait": true,
	"semacquire": true, "sync.Mutex.Lock": true,
	"sync.RWMutex.RLock": true, "sync.RWMutex.Lock": true,
	"sync.Cond.Wait": true, "sync.WaitGroup.Wait": true,
	"coroutine": true, "finalizer wait": true,
}

// blocked reports whether the goroutine whose dump is g (from its id on)
// is blocked.
func blocked(g []byte) bool {
	open := bytes.IndexByte(g, '[')
	end := bytes.IndexByte(g, ']')
	if open < 0 || end < open {
		return false
	}
	state, _, _ := bytes.Cut(g[open+1:end], []byte(","))
	if blockedStates[string(state)] {
		return true
	}
	// os/signal's loop waits in a system call for the life of the
	// process.
	return string(state) == "syscall" && bytes.Contains(g[end:], []byte("\nos/signal.signal_recv("))
}
