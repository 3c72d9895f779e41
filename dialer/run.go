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
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		nc, cand, restart, err := cfg.round(ctx, source, refresh)
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

		t0 := cfg.Now()
		stop := context.AfterFunc(ctx, func() { nc.Close() })
		err = onConn(nc)
		stop()
		nc.Close()
		up := cfg.Now().Sub(t0)
		cfg.emit(Event{Kind: EventDropped, Candidate: cand, Class: ClassDropped, Elapsed: up, Err: err})
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cfg.Memory != nil {
			cfg.Memory.Failure(cand, ClassDropped)
		}
		if up >= cfg.MinUptime {
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
	timer := time.AfterFunc(cfg.RefreshAfter, func() {
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

// backoff sleeps a random time in [0, min(BackoffMax, BackoffBase·2ⁿ)).
func (cfg *Config) backoff(ctx context.Context, n int) error {
	limit := cfg.BackoffMax
	if n < 30 {
		if d := cfg.BackoffBase << n; d > 0 && d < limit {
			limit = d
		}
	}
	d := rand.N(limit)
	cfg.emit(Event{Kind: EventBackoff, Elapsed: d})
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
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
