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
// is what testing/synctest decides inside a bubble, for the whole process.
//
// It reads the scheduler's counts (runtime/metrics: goroutines running,
// runnable, and outside Go in a system call), which the runtime computes
// under the scheduler's lock: a P moves between idle and running only
// under that lock, and only a running goroutine (or the outside world:
// a real timer, a socket, a returning system call) can make another
// runnable, so "the caller is the only one running, none is runnable and
// none is in a system call" is exact. When goroutines are in system calls
// it confirms with one goroutine dump (which stops the world): a
// goroutine that waits in a system call for the life of the process
// (os/signal's loop) counts as blocked, and later checks accept as many
// goroutines in system calls as the last quiescent dump found of those.
// The zero value is ready; a Quiet keeps its dump buffer and is not safe
// for concurrent use.
type Quiet struct {
	buf      []byte
	samples  []metrics.Sample
	baseline uint64 // goroutines in system calls for good (os/signal's), as of the last quiescent dump
}

// Now reports whether the process is quiescent at this instant.
func (q *Quiet) Now() bool {
	if q.samples == nil {
		q.samples = []metrics.Sample{
			{Name: "/sched/goroutines/running:goroutines"},
			{Name: "/sched/goroutines/runnable:goroutines"},
			{Name: "/sched/goroutines/not-in-go:goroutines"},
		}
	}
	// The counts are read under the scheduler's lock but not all at one
	// instant (a goroutine may be caught between its P and a run queue):
	// the world must look quiescent several times over, yielding
	// between reads so that anything runnable runs.
	calm := true
	for i := range confirmReads {
		if i > 0 {
			runtime.Gosched()
		}
		metrics.Read(q.samples)
		// The caller is the one running goroutine.
		if q.samples[0].Value.Uint64() > 1 || q.samples[1].Value.Uint64() > 0 {
			return false
		}
		if q.samples[2].Value.Uint64() > q.baseline {
			calm = false
			break
		}
	}
	if calm {
		return true
	}
	if q.buf == nil {
		q.buf = make([]byte, 64<<10)
	}
	for {
		n := runtime.Stack(q.buf, true)
		if n < len(q.buf) {
			quiet, forever := allBlocked(q.buf[:n])
			if quiet {
				q.baseline = forever
			}
			return quiet
		}
		q.buf = make([]byte, 2*len(q.buf))
	}
}

// confirmReads is how many reads of the scheduler's counts in a row must
// find the world quiescent.
const confirmReads = 3

// spinChecks is how many checks Wait makes, yielding between them,
// before it sleeps between checks.
const spinChecks = 200

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
		// Yield while the world settles (most events take microseconds:
		// a sleep, even a short one, costs tens of them); sleep once it
		// has taken long (a disk write, a big computation).
		if i < spinChecks {
			runtime.Gosched()
		} else {
			time.Sleep(min(time.Duration(i-spinChecks+1)*20*time.Microsecond, time.Millisecond))
		}
	}
}

// allBlocked reports whether every goroutine in dump (runtime.Stack's,
// the caller's first) is blocked, and how many of them wait in a system
// call for the life of the process.
func allBlocked(dump []byte) (quiet bool, forever uint64) {
	first := true
	for len(dump) > 0 {
		var g []byte
		g, dump, _ = bytes.Cut(dump, []byte("\n\ngoroutine "))
		if first { // the caller: running
			first = false
			continue
		}
		ok, sys := blocked(g)
		if !ok {
			return false, 0
		}
		if sys {
			forever++
		}
	}
	return true, forever
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
// is blocked, and whether it is blocked in a system call for good.
func blocked(g []byte) (ok, syscall bool) {
	open := bytes.IndexByte(g, '[')
	end := bytes.IndexByte(g, ']')
	if open < 0 || end < open {
		return false, false
	}
	state, _, _ := bytes.Cut(g[open+1:end], []byte(","))
	if blockedStates[string(state)] {
		return true, false
	}
	// os/signal's loop waits in a system call for the life of the
	// process.
	if string(state) == "syscall" && bytes.Contains(g[end:], []byte("\nos/signal.signal_recv(")) {
		return true, true
	}
	return false, false
}
