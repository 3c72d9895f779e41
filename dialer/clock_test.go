package dialer

import (
	"context"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/transport/memnet"
)

// TestDialOnSimClock: the race's stagger and the attempt timeout run on
// the injected clock. Were either on the wall clock, the second attempt
// would not start exactly one stagger in, or the stalled attempt would
// not give up exactly at its timeout (a wall-clock timer does not fire
// while the simulated world is quiescent, and the simulated clock jumps
// over it).
func TestDialOnSimClock(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t.Cleanup(s.Start())
	n := memnet.New(s)
	r := newTestRelay(t)
	stall, err := n.Listen("stall:443") // accepts into its backlog, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	good, err := n.Listen("good:443")
	if err != nil {
		t.Fatal(err)
	}
	r.serve(good)

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
