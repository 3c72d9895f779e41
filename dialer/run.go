package dialer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"samizdat/noisechan"
)

// Run keeps the device connected until ctx ends or onConn returns an
// error. Each round it takes the current candidates from source, races
// them (Dial) and hands the winning channel to onConn, which runs the
// session and returns when the connection is gone: nil to have Run dial
// again at once, an error to stop Run with that error. Run closes the
// channel after onConn returns, and when ctx ends (which makes onConn's
// reads fail).
//
// When every candidate fails, or none has connected after RefreshAfter
// (blackholed addresses only fail at AttemptTimeout), Run calls refresh
// (nil: none), which should fetch manifests from every channel at once and
// make source return the newest; if the candidates changed, Run abandons
// the race and races the new ones at once. Only when
// the candidates and the channels have all failed does Run wait, a random
// time up to BackoffBase·2ⁿ capped at BackoffMax (full jitter), before the
// next round. After more than maxShortLived connections in a row that
// each lasted less than MinUptime, each such connection counts as a
// failed round too, so a peer that hangs up at once is not hammered.
//
// Run returns ctx's error when ctx ends.
func Run(ctx context.Context, cfg Config, source func() []Candidate, refresh func(ctx context.Context) error, onConn func(*noisechan.Conn) error) error {
	return RunHedged(ctx, cfg, source, refresh, func(nc *noisechan.Conn, _ *Link) error { return onConn(nc) })
}

// RunHedged is Run for sessions that watch their connection's liveness
// (see Liveness): onConn also gets the connection's Link, and when it
// calls Link.Suspect, Run races a replacement beside the connection,
// trying the suspect's candidate last. The suspect stays open until the
// replacement completes its handshake; then Run closes Link.Replaced and
// the suspect, waits for onConn to return and hands it the replacement.
// If the session calls Link.Healthy first, the race is cancelled. A race
// that fails is retried on the next Suspect, after a jittered backoff.
func RunHedged(ctx context.Context, cfg Config, source func() []Candidate, refresh func(ctx context.Context) error, onConn func(*noisechan.Conn, *Link) error) error {
	cfg = cfg.defaults()
	if ev := cfg.Events; ev != nil {
		// A refresh runs beside the race; keep calls one at a time.
		var mu sync.Mutex
		cfg.Events = func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			ev(e)
		}
	}
	failedRounds, shortLived := 0, 0
	var (
		nc   *noisechan.Conn // the next connection to serve, if a hedge made it
		cand Candidate
	)
	for {
		if err := ctx.Err(); err != nil {
			if nc != nil {
				nc.Close()
			}
			return err
		}
		if nc == nil {
			var restart bool
			var err error
			nc, cand, restart, err = cfg.round(ctx, source, refresh)
			if ctx.Err() != nil {
				if nc != nil {
					nc.Close()
				}
				return ctx.Err()
			}
			if restart {
				continue
			}
			if err != nil {
				if err := cfg.backoff(ctx, failedRounds); err != nil {
					return err
				}
				failedRounds++
				continue
			}
		}

		t0 := cfg.Now()
		next, nextCand, err := cfg.serve(ctx, nc, cand, source, refresh, onConn)
		up := cfg.Now().Sub(t0)
		cfg.emit(Event{Kind: EventDropped, Candidate: cand, Class: ClassDropped, Elapsed: up, Err: err})
		if err != nil || ctx.Err() != nil {
			if next != nil {
				next.Close()
			}
			if err != nil {
				return err
			}
			return ctx.Err()
		}
		if cfg.Memory != nil {
			cfg.Memory.Failure(cand, ClassDropped)
		}
		nc, cand = next, nextCand
		if up >= cfg.MinUptime || nc != nil {
			// A replacement raced because the connection went quiet is
			// not a peer hanging up at once.
			failedRounds, shortLived = 0, 0
			continue
		}
		// A block right after connecting is a block like any other:
		// redial at once. Only a run of connections that all end at once
		// looks like a peer that hangs up, and earns a backoff.
		if shortLived++; shortLived > maxShortLived {
			if err := cfg.backoff(ctx, failedRounds); err != nil {
				return err
			}
			failedRounds++
		}
	}
}

// Link is a session's line to RunHedged about the connection it serves.
// Its methods are safe for concurrent use.
type Link struct {
	suspect  chan struct{}
	healthy  chan struct{}
	replaced chan struct{}
}

func newLink() *Link {
	return &Link{suspect: make(chan struct{}, 1), healthy: make(chan struct{}, 1), replaced: make(chan struct{})}
}

// Suspect asks Run to race a replacement for the connection, which stays
// open meanwhile. Calling it while a race runs does nothing.
func (l *Link) Suspect() { signal(l.suspect) }

// Healthy tells Run that the connection answered after all: a
// replacement race still running is cancelled.
func (l *Link) Healthy() { signal(l.healthy) }

// Replaced is closed when a replacement connected, just before Run closes
// the connection; the session should then end.
func (l *Link) Replaced() <-chan struct{} { return l.replaced }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// hedge is the outcome of a replacement race.
type hedge struct {
	nc   *noisechan.Conn
	cand Candidate
	err  error
}

// serve runs onConn on nc (reached through cand) until it returns, racing
// a replacement whenever the session suspects nc. It returns onConn's
// error and the replacement, if one connected.
func (cfg *Config) serve(ctx context.Context, nc *noisechan.Conn, cand Candidate, source func() []Candidate, refresh func(context.Context) error, onConn func(*noisechan.Conn, *Link) error) (*noisechan.Conn, Candidate, error) {
	link := newLink()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	done := make(chan error, 1)
	go func() { done <- onConn(nc, link) }()

	hcfg := *cfg
	hcfg.last = cand.Key()
	var (
		cancel  context.CancelFunc = func() {}
		results chan hedge         // nil while no race runs
		failed  int                // races that failed for this connection
		retryAt time.Time          // no race before this, after a failed one
	)
	defer func() { cancel() }()
	start := func() {
		hctx, c := context.WithCancel(ctx)
		cancel = c
		ch := make(chan hedge, 1)
		results = ch
		cfg.emit(Event{Kind: EventSuspect, Candidate: cand})
		go func() {
			for {
				nc, c, restart, err := hcfg.round(hctx, source, refresh)
				if !restart || hctx.Err() != nil {
					ch <- hedge{nc, c, err}
					return
				}
			}
		}()
	}
	abandon := func() {
		if results == nil {
			return
		}
		cancel()
		if h := <-results; h.nc != nil {
			h.nc.Close()
		}
		results = nil
	}
	for {
		select {
		case err := <-done:
			nc.Close()
			if results != nil && err == nil && ctx.Err() == nil {
				// The connection ended while its replacement was being
				// raced: that race is the next round.
				h := <-results
				return h.nc, h.cand, nil
			}
			abandon()
			return nil, Candidate{}, err
		case <-link.suspect:
			if results == nil && !cfg.Now().Before(retryAt) {
				start()
			}
		case <-link.healthy:
			abandon()
		case h := <-results:
			cancel()
			results = nil
			if h.nc == nil {
				retryAt = cfg.Now().Add(cfg.backoffDelay(failed))
				failed++
				continue
			}
			close(link.replaced)
			nc.Close()
			return h.nc, h.cand, <-done
		}
	}
}

// errRefreshed cancels a race that a refresh made stale.
var errRefreshed = errors.New("dialer: newer candidates arrived")

// round takes the candidates from source and races them. If the race has
// not connected after RefreshAfter, or every candidate failed, it calls
// refresh; when that changes the candidates it abandons the race and asks
// for a restart. Without a connection or a restart, err says why.
func (cfg *Config) round(ctx context.Context, source func() []Candidate, refresh func(context.Context) error) (nc *noisechan.Conn, cand Candidate, restart bool, err error) {
	cands := source()
	if refresh == nil {
		nc, cand, err = Dial(ctx, *cfg, cands)
		return nc, cand, false, err
	}
	dctx, dcancel := context.WithCancelCause(ctx)
	defer dcancel(nil)
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	type outcome struct {
		err     error
		changed bool
	}
	rdone := make(chan outcome, 1)
	launch := func() {
		go func() {
			rerr := refresh(rctx)
			cfg.emit(Event{Kind: EventRefresh, Err: rerr})
			o := outcome{err: rerr, changed: rerr == nil && changed(cands, source())}
			if o.changed {
				dcancel(errRefreshed)
			}
			rdone <- o
		}()
	}
	var mu sync.Mutex
	launched, raceOver := false, false // guarded by mu
	timer := cfg.Clock.AfterFunc(cfg.RefreshAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		if !raceOver {
			launched = true
			launch()
		}
	})
	nc, cand, err = Dial(dctx, *cfg, cands)
	timer.Stop()
	mu.Lock()
	raceOver = true
	early := launched
	mu.Unlock()
	if err == nil || ctx.Err() != nil {
		if early {
			rcancel()
			<-rdone
		}
		return nc, cand, false, err
	}
	if !early {
		launch()
	}
	o := <-rdone
	if o.changed {
		return nil, Candidate{}, true, nil
	}
	if o.err != nil {
		err = fmt.Errorf("%w; refresh: %w", err, o.err)
	}
	return nil, Candidate{}, false, err
}

// maxShortLived is how many connections in a row may end within
// MinUptime before Run backs off between them.
const maxShortLived = 3

// backoffDelay is a random time in [0, min(BackoffMax, BackoffBase·2ⁿ)).
func (cfg *Config) backoffDelay(n int) time.Duration {
	limit := cfg.BackoffMax
	if n < 30 {
		if d := cfg.BackoffBase << n; d > 0 && d < limit {
			limit = d
		}
	}
	if cfg.Rand != nil {
		return time.Duration(cfg.Rand.Int64N(int64(limit)))
	}
	return rand.N(limit)
}

// backoff sleeps backoffDelay(n).
func (cfg *Config) backoff(ctx context.Context, n int) error {
	d := cfg.backoffDelay(n)
	cfg.emit(Event{Kind: EventBackoff, Elapsed: d})
	t := cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// changed reports whether b holds a candidate that a does not.
func changed(a, b []Candidate) bool {
	seen := make(map[string]bool, len(a))
	for _, c := range a {
		seen[c.Key()+string(c.RelayKey[:])+string(c.Endpoint.Secret)] = true
	}
	for _, c := range b {
		if !seen[c.Key()+string(c.RelayKey[:])+string(c.Endpoint.Secret)] {
			return true
		}
	}
	return false
}
