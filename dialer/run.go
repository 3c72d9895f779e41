package dialer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/clock"
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
//
// Make-before-break: when the session calls Link.CandidatesChanged and
// source no longer lists the connection's candidate (a new manifest
// retired its endpoint), Run races a replacement the same way, but the
// connection is healthy, so Healthy does not cancel that race, and one
// that fails is retried after a jittered backoff by itself, up to
// maxMoveRaces races, after which the working connection is kept until
// the candidates change again; the connection stays in use until the
// replacement connected.
//
// The connection a replacement took over is closed in the background
// (RunHedged waits for that before it returns): a transport's graceful
// close (front and wss say goodbye to the other side) over a path the
// censor blackholed waits for its own timeouts, seconds in which the
// replacement would otherwise sit unused.
func RunHedged(ctx context.Context, cfg Config, source func() []Candidate, refresh func(ctx context.Context) error, onConn func(*noisechan.Conn, *Link) error) error {
	cfg = cfg.defaults()
	var closing sync.WaitGroup // closes of connections a replacement took over
	defer closing.Wait()
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
		next, nextCand, err := cfg.serve(ctx, nc, cand, source, refresh, onConn, &closing)
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
	changed  chan struct{}
	replaced chan struct{}
	racing   atomic.Bool // a replacement race runs, or its winner took over
	moving   atomic.Bool // the candidate is no longer listed: a move, not a suspicion
}

func newLink() *Link {
	return &Link{suspect: make(chan struct{}, 1), healthy: make(chan struct{}, 1), changed: make(chan struct{}, 1),
		replaced: make(chan struct{})}
}

// Suspect asks Run to race a replacement for the connection, which stays
// open meanwhile. Calling it while a race runs does nothing.
func (l *Link) Suspect() { signal(l.suspect) }

// Healthy tells Run that the connection answered after all: a
// replacement race still running is cancelled, unless it was started
// because the connection's candidate is no longer listed.
func (l *Link) Healthy() { signal(l.healthy) }

// CandidatesChanged tells Run that source may return other candidates
// now (a new manifest was adopted). If the connection's own candidate is
// no longer among them, Run moves the session to a replacement before it
// drops the connection (see RunHedged).
func (l *Link) CandidatesChanged() { signal(l.changed) }

// Replaced is closed when a replacement connected, just before Run closes
// the connection (in the background); the session should then end at
// once.
func (l *Link) Replaced() <-chan struct{} { return l.replaced }

// Racing reports whether a replacement is being raced for the connection
// or has taken over: the relay may then end the connection because the
// same device connected again, which is no reason to wait.
func (l *Link) Racing() bool { return l.racing.Load() }

// Moving reports whether the replacement is (or was) raced because the
// connection's candidate is no longer listed: a planned move, not a
// suspected block.
func (l *Link) Moving() bool { return l.moving.Load() }

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
func (cfg *Config) serve(ctx context.Context, nc *noisechan.Conn, cand Candidate, source func() []Candidate, refresh func(context.Context) error, onConn func(*noisechan.Conn, *Link) error, closing *sync.WaitGroup) (*noisechan.Conn, Candidate, error) {
	link := newLink()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	done := make(chan error, 1)
	go func() { done <- onConn(nc, link) }()

	hcfg := *cfg
	hcfg.last = cand.Key()
	var (
		cancel    context.CancelFunc = func() {}
		results   chan hedge         // nil while no race runs
		failed    int                // races that failed for this connection
		retryAt   time.Time          // no race before this, after a failed one
		moving    bool               // cand is no longer listed: replace it, healthy or not
		moveRaces int                // races run for the current move
		retry     clock.Timer        // while moving, the next race after a failed one
		retryC    <-chan time.Time
	)
	defer func() {
		cancel()
		if retry != nil {
			retry.Stop()
		}
	}()
	start := func() {
		hctx, c := context.WithCancel(ctx)
		cancel = c
		ch := make(chan hedge, 1)
		results = ch
		kind := EventSuspect
		if moving {
			kind = EventMove
			moveRaces++
		}
		link.racing.Store(true)
		cfg.emit(Event{Kind: kind, Candidate: cand})
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
		link.racing.Store(false)
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
		case <-link.changed:
			if !moving && !listed(cand, source()) {
				moving = true
				link.moving.Store(true)
				if results == nil {
					start()
				}
			}
		case <-retryC:
			retryC = nil
			if results == nil {
				start()
			}
		case <-link.healthy:
			if !moving {
				abandon()
			}
		case h := <-results:
			cancel()
			results = nil
			if h.nc == nil {
				link.racing.Store(false)
				d := cfg.backoffDelay(failed)
				retryAt = cfg.Now().Add(d)
				failed++
				switch {
				case moving && moveRaces < maxMoveRaces:
					if retry == nil {
						retry = cfg.Clock.NewTimer(d)
					} else {
						retry.Reset(d)
					}
					retryC = retry.C()
				case moving:
					// The connection works and nothing listed answers: keep
					// it rather than dial in the background for as long as
					// it lasts. The next change of candidates tries again.
					moving, moveRaces = false, 0
					link.moving.Store(false)
				}
				continue
			}
			close(link.replaced)
			closing.Add(1)
			go func() {
				defer closing.Done()
				nc.Close()
			}()
			return h.nc, h.cand, <-done
		}
	}
}

// maxMoveRaces is how many replacement races RunHedged runs for a
// connection whose candidate is no longer listed before it keeps the
// connection until the candidates change again.
const maxMoveRaces = 3

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
		seen[identity(c)] = true
	}
	for _, c := range b {
		if !seen[identity(c)] {
			return true
		}
	}
	return false
}

// listed reports whether cands hold c, secrets and relay key included.
func listed(c Candidate, cands []Candidate) bool {
	id := identity(c)
	return slices.ContainsFunc(cands, func(x Candidate) bool { return identity(x) == id })
}

// identity tells candidates apart by what a connection depends on: the
// key (transport, address, front names), the relay's key and the
// endpoint's secret.
func identity(c Candidate) string {
	return c.Key() + string(c.RelayKey[:]) + string(c.Endpoint.Secret)
}
