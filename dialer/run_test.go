package dialer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/clock"
	"samizdat/noisechan"
	"samizdat/transport/memnet"
)

// runInBackground starts Run and returns a channel with its result.
func runInBackground(ctx context.Context, cfg Config, source func() []Candidate, refresh func(context.Context) error, onConn func(*noisechan.Conn) error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, source, refresh, onConn) }()
	return done
}

func waitConnected(t *testing.T, ch <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(within):
		t.Fatalf("no connection within %v", within)
		return ""
	}
}

// TestRunMovesOn: a client on an endpoint that gets blocked moves to
// another by itself, for drop (noticed by the keepalive) and reset.
func TestRunMovesOn(t *testing.T) {
	for _, mode := range []blocktest.Mode{blocktest.Drop, blocktest.Reset} {
		t.Run(mode.String(), func(t *testing.T) {
			r := newTestRelay(t)
			ps, cs := blocked(t, r, 2)
			const keepalive = time.Second
			var log eventLog
			cfg := Config{Local: clientKey(t), Memory: NewMemory(), Events: log.add, Stagger: 50 * time.Millisecond, AttemptTimeout: 5 * time.Second, MinUptime: 10 * time.Millisecond}
			connected := make(chan string, 10)
			ctx, cancel := context.WithCancel(context.Background())
			done := runInBackground(ctx, cfg, func() []Candidate { return cs }, nil, keepaliveSession(keepalive, connected))

			first := waitConnected(t, connected, 10*time.Second)
			cur := 0
			if first == ps[1].Addr() { // the first attempt was slow and the second won
				cur = 1
			}
			// Stay up across several keepalive periods before the block.
			time.Sleep(2 * keepalive)
			select {
			case a := <-connected:
				t.Fatalf("reconnected via %s without a block", a)
			default:
			}
			start := time.Now()
			ps[cur].Set(mode)
			second := waitConnected(t, connected, 5*time.Second)
			took := time.Since(start)
			if second != ps[1-cur].Addr() {
				t.Fatalf("moved to %s, want %s", second, ps[1-cur].Addr())
			}
			// Generous bounds for a loaded machine; the benchmark measures.
			limit := 2 * time.Second
			if mode == blocktest.Drop {
				limit += keepalive
			}
			if took > limit {
				t.Errorf("moved after %v, want within %v", took, limit)
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v", err)
			}
			var sawDrop, sawConnected bool
			for _, e := range log.all() {
				switch {
				case e.Kind == EventDropped && e.Candidate.Endpoint.Address == ps[cur].Addr():
					sawDrop = true
				case e.Kind == EventConnected && e.Candidate.Endpoint.Address == ps[1-cur].Addr():
					sawConnected = sawDrop
				case e.Kind == EventBackoff:
					t.Errorf("backed off with a working endpoint: %v", e)
				}
			}
			if !sawConnected {
				t.Errorf("events lack dropped then connected: %v", log.all())
			}
		})
	}
}

// TestRunRefresh: with every known endpoint blocked, Run asks the refresh
// hook (the manifest channels) and carries on with the new candidates at
// once, without backing off.
func TestRunRefresh(t *testing.T) {
	r := newTestRelay(t)
	ps, cs := blocked(t, r, 3)
	ps[0].Set(blocktest.Reset)
	ps[1].Set(blocktest.Reset)
	var mu sync.Mutex
	current := cs[:2]
	source := func() []Candidate {
		mu.Lock()
		defer mu.Unlock()
		return current
	}
	refreshes := 0
	refresh := func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		refreshes++
		current = cs[1:] // the newer manifest retires the first endpoint and adds the third
		return nil
	}
	var log eventLog
	cfg := Config{Local: clientKey(t), Events: log.add, Stagger: 50 * time.Millisecond}
	connected := make(chan string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runInBackground(ctx, cfg, source, refresh, keepaliveSession(time.Second, connected))
	if got := waitConnected(t, connected, 10*time.Second); got != ps[2].Addr() {
		t.Fatalf("connected via %s, want the new endpoint %s", got, ps[2].Addr())
	}
	cancel()
	<-done
	if refreshes != 1 {
		t.Errorf("%d refreshes", refreshes)
	}
	var kinds []string
	for _, e := range log.all() {
		if e.Kind == EventBackoff {
			t.Errorf("backed off although the refresh brought new candidates")
		}
		if e.Kind == EventFailure && e.Class != ClassReset {
			t.Errorf("failure class %s, want reset", e.Class)
		}
		kinds = append(kinds, e.Kind)
	}
	t.Log(kinds)
}

// TestRunBackoff: when the candidates and the channels all fail, Run
// backs off with jitter, capped. It runs on a simulated clock, so that
// how many rounds fit in the run does not depend on how busy the machine
// is: with every backoff under 40 ms and a refused dial taking no
// simulated time, 600 ms hold at least 15 rounds.
func TestRunBackoff(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t.Cleanup(s.Start())
	r := newTestRelay(t)
	cs := []Candidate{r.candidate("r1", "refused:443")}
	var log eventLog
	cfg := Config{Local: clientKey(t), NetDial: memnet.New(s).Dial, Clock: s, Events: log.add,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond}
	errNoChannel := errors.New("no channel answered")
	ctx, cancel := s.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	err := Run(ctx, cfg, func() []Candidate { return cs }, func(context.Context) error { return errNoChannel },
		func(*noisechan.Conn) error { t.Error("connected through a reset"); return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v", err)
	}
	var backoffs, refreshes int
	for _, e := range log.all() {
		switch e.Kind {
		case EventBackoff:
			backoffs++
			if e.Elapsed < 0 || e.Elapsed >= cfg.BackoffMax {
				t.Errorf("backoff %v beyond the cap", e.Elapsed)
			}
		case EventRefresh:
			refreshes++
			if !errors.Is(e.Err, errNoChannel) {
				t.Errorf("refresh event error %v", e.Err)
			}
		}
	}
	if backoffs < 3 || refreshes < 3 {
		t.Fatalf("%d backoffs, %d refreshes", backoffs, refreshes)
	}
}

// TestRunStops: an error from onConn ends Run with it; a connection that
// ends at once is not redialled in a tight loop.
func TestRunStops(t *testing.T) {
	r := newTestRelay(t)
	_, cs := blocked(t, r, 1)
	errStop := errors.New("account gone")
	calls := 0
	cfg := Config{Local: clientKey(t), BackoffBase: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	err := Run(context.Background(), cfg, func() []Candidate { return cs }, nil, func(*noisechan.Conn) error {
		calls++
		if calls == 6 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || calls != 6 {
		t.Fatalf("Run: %v after %d calls", err, calls)
	}
}
