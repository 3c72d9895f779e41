package clock

import (
	"context"
	"sync"
	"time"
)

// simCtx is a context whose deadline runs on a Sim. Value is answered by
// inner, a cancel context of the parent that simCtx cancels with its own
// error, so that context.Cause works; Done is simCtx's own channel, so
// that children created by package context register through AfterFunc
// and inherit simCtx's Err (context.DeadlineExceeded), not inner's.
type simCtx struct {
	inner       context.Context
	cancelInner context.CancelCauseFunc
	deadline    time.Time
	done        chan struct{}

	mu     sync.Mutex
	err    error           // guarded by mu; set once, when done is closed
	timer  Timer           // guarded by mu
	stop   func() bool     // guarded by mu; unhooks from inner
	afters map[*int]func() // guarded by mu; AfterFunc callbacks
}

func newSimCtx(s *Sim, parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if cur, ok := parent.Deadline(); ok && !cur.After(deadline) {
		return context.WithCancel(parent) // the parent's deadline comes first
	}
	inner, cancelInner := context.WithCancelCause(parent)
	c := &simCtx{inner: inner, cancelInner: cancelInner, deadline: deadline, done: make(chan struct{}),
		afters: map[*int]func(){}}
	c.mu.Lock()
	c.stop = context.AfterFunc(inner, func() { c.cancel(inner.Err()) })
	if d := deadline.Sub(s.Now()); d <= 0 {
		c.mu.Unlock()
		c.cancel(context.DeadlineExceeded)
	} else {
		c.timer = s.AfterFunc(d, func() { c.cancel(context.DeadlineExceeded) })
		c.mu.Unlock()
	}
	return c, func() { c.cancel(context.Canceled) }
}

func (c *simCtx) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.done)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.stop()
	afters := c.afters
	c.afters = nil
	c.mu.Unlock()
	c.cancelInner(err)
	for _, f := range afters {
		go f()
	}
}

func (c *simCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *simCtx) Done() <-chan struct{}       { return c.done }
func (c *simCtx) Value(key any) any           { return c.inner.Value(key) }

func (c *simCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc lets package context attach children and context.AfterFunc
// callbacks without a goroutine each: f runs in its own goroutine once c
// is done; stop unregisters it and reports whether it did.
func (c *simCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	key := new(int)
	c.afters[key] = f
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.afters[key]; !ok {
			return false
		}
		delete(c.afters, key)
		return true
	}
}

func (c *simCtx) String() string { return "clock.Sim.WithDeadline(" + c.deadline.String() + ")" }
