// Package clock is the time source that relays, clients, dialers and
// transports take instead of package time, so that the censor lab can run
// them all on one simulated clock (see docs/lab-clock.md).
//
// Real is package time and the default everywhere: a nil Clock in a
// configuration means Real. Sim is a simulated clock whose time moves only
// when told (Advance, AdvanceTo, Step) or, discrete-event style, when
// every goroutine of the process is blocked (Run): then it jumps to the
// earliest timer and fires it.
//
// Code on a Clock must take every reading and every wait from it: Now and
// Since for readings, NewTimer, NewTicker, After, AfterFunc and Sleep for
// waits, WithTimeout and WithDeadline for contexts, and deadlines on
// net.Conns computed from Now (a conn whose deadlines run on the same
// clock, such as transport/memnet's, is then needed under Sim).
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits on it.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Since returns the time elapsed since t (Now().Sub(t)).
	Since(t time.Time) time.Duration
	// Until returns the duration until t (t.Sub(Now())).
	Until(t time.Time) time.Duration
	// NewTimer returns a timer that sends the time on its channel once d
	// has passed. Stop and Reset leave no stale value in the channel.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that sends the time every d (d > 0); like
	// time.Ticker it drops ticks for a slow receiver.
	NewTicker(d time.Duration) Ticker
	// After is NewTimer(d).C().
	After(d time.Duration) <-chan time.Time
	// AfterFunc calls f in its own goroutine once d has passed. The
	// timer's C is nil.
	AfterFunc(d time.Duration, f func()) Timer
	// Sleep blocks until d has passed.
	Sleep(d time.Duration)
	// WithTimeout is context.WithTimeout on this clock: the context's Err
	// is context.DeadlineExceeded once d has passed.
	WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc)
	// WithDeadline is context.WithDeadline on this clock.
	WithDeadline(parent context.Context, t time.Time) (context.Context, context.CancelFunc)
}

// Timer is a single event, as time.Timer.
type Timer interface {
	// C returns the channel the time is sent on (nil for AfterFunc).
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it stopped
	// the timer (false: it had fired or been stopped).
	Stop() bool
	// Reset changes the timer to fire once d has passed from now; it
	// reports whether the timer was active.
	Reset(d time.Duration) bool
}

// Ticker delivers ticks at intervals, as time.Ticker.
type Ticker interface {
	// C returns the channel the ticks are sent on.
	C() <-chan time.Time
	// Stop turns the ticker off.
	Stop()
	// Reset stops the ticker and restarts it with period d (d > 0).
	Reset(d time.Duration)
}

// Or returns c, or Real if c is nil: the idiom for an optional Clock in a
// configuration.
func Or(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}

// Real is the wall clock: package time.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) Since(t time.Time) time.Duration        { return time.Since(t) }
func (realClock) Until(t time.Time) time.Duration        { return time.Until(t) }
func (realClock) NewTimer(d time.Duration) Timer         { return realTimer{time.NewTimer(d)} }
func (realClock) NewTicker(d time.Duration) Ticker       { return realTicker{time.NewTicker(d)} }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}
func (realClock) Sleep(d time.Duration) { time.Sleep(d) }
func (realClock) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, d)
}
func (realClock) WithDeadline(parent context.Context, t time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(parent, t)
}

type realTimer struct{ *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.Timer.C }

type realTicker struct{ *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.Ticker.C }
