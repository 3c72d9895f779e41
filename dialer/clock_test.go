package dialer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/noisechan"
	"samizdat/transport/memnet"
)

// stallAndGood returns a network on s with two endpoints: stall:443,
// which accepts into its backlog and never answers, and good:443, served
// by r.
func stallAndGood(t *testing.T, s *clock.Sim, r *testRelay) *memnet.Network {
	n := memnet.New(s)
	stall, err := n.Listen("stall:443")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stall.Close() })
	good, err := n.Listen("good:443")
	if err != nil {
		t.Fatal(err)
	}
	r.serve(good)
	return n
}

// TestDialOnSimClock: the race's stagger and the attempt timeout run on
// the injected clock. Were either on the wall clock, the second attempt
// would not start exactly one stagger in, or the stalled attempt would
// not give up exactly at its timeout (a wall-clock timer does not fire
// while the simulated world is quiescent, and the simulated clock jumps
// over it).
func TestDialOnSimClock(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t.Cleanup(s.Start())
	r := newTestRelay(t)
	n := stallAndGood(t, s, r)

	var log eventLog
	cfg := Config{Local: clientKey(t), NetDial: n.Dial, Clock: s, Events: log.add,
		Stagger: 2 * time.Second, AttemptTimeout: 10 * time.Second}
	t0 := s.Now()
	nc, c, err := Dial(context.Background(), cfg, []Candidate{r.candidate("r1", "stall:443"), r.candidate("r1", "good:443")})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if c.Endpoint.Address != "good:443" {
		t.Fatalf("won by %s", c.Endpoint.Address)
	}
	type at struct {
		kind, addr string
		d          time.Duration
	}
	var got []at
	for _, e := range log.all() {
		got = append(got, at{e.Kind, e.Candidate.Endpoint.Address, e.Time.Sub(t0)})
	}
	want := []at{
		{EventAttempt, "stall:443", 0},
		{EventAttempt, "good:443", 2 * time.Second},
		{EventFailure, "stall:443", 2 * time.Second}, // lost the race
		{EventConnected, "good:443", 2 * time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d = %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}

	// Alone, the stalled endpoint times out at AttemptTimeout exactly.
	t1 := s.Now()
	if _, _, err := Dial(context.Background(), cfg, []Candidate{r.candidate("r1", "stall:443")}); err == nil {
		t.Fatal("dial to a silent endpoint succeeded")
	}
	if d := s.Since(t1); d != 10*time.Second {
		t.Fatalf("gave up after %v, want 10s", d)
	}
	if f := log.failures("stall:443"); len(f) != 2 || f[1] != ClassTimeout {
		t.Fatalf("failures %v, want a timeout last", f)
	}
}

// backoffs runs Run against a refused endpoint on a simulated clock, with
// the backoff jitter drawn from a source seeded with seed, and returns
// the first n backoffs: each one's simulated start and delay.
func backoffs(t *testing.T, seed uint64, n int) []string {
	s := clock.NewSim(time.Time{})
	stop := s.Start()
	defer stop()
	r := newTestRelay(t)
	var log eventLog
	got := make(chan struct{})
	count := 0
	cfg := Config{Local: clientKey(t), NetDial: memnet.New(s).Dial, Clock: s, Rand: rand.New(rand.NewPCG(seed, 0)),
		Events: func(e Event) {
			log.add(e)
			if e.Kind == EventBackoff {
				if count++; count == n {
					close(got)
				}
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t0 := s.Now()
	go func() {
		done <- Run(ctx, cfg, func() []Candidate { return []Candidate{r.candidate("r1", "refused:443")} }, nil,
			func(*noisechan.Conn) error { return nil })
	}()
	<-got
	cancel()
	<-done
	var out []string
	for _, e := range log.all() {
		if e.Kind == EventBackoff && len(out) < n {
			out = append(out, fmt.Sprintf("%v backoff %v", e.Time.Sub(t0), e.Elapsed))
		}
	}
	return out
}

// TestBackoffSeeded: with a seeded source the backoffs after failed
// rounds, and so the simulated times of the rounds, repeat for a seed;
// another seed gives other delays.
func TestBackoffSeeded(t *testing.T) {
	a, b := backoffs(t, 7, 6), backoffs(t, 7, 6)
	if !slices.Equal(a, b) {
		t.Fatalf("seed 7 gave\n%q\nthen\n%q", a, b)
	}
	if c := backoffs(t, 8, 6); slices.Equal(a, c) {
		t.Fatalf("seeds 7 and 8 both gave %q", a)
	}
}
