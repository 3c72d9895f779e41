package tcp_test

import (
	"context"
	"io"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/transport/memnet"
	"samizdat/transport/tcp"
)

// TestGuardSimClock holds a rejected connection for its drawn hold on a
// simulated clock: a hold decided on the wall clock (which lies years
// after the simulated epoch) would close it at once.
func TestGuardSimClock(t *testing.T) {
	const maxHold = 10 * time.Second
	sim := clock.NewSim(time.Date(2018, 4, 16, 0, 0, 0, 0, time.UTC))
	mn := memnet.New(sim)
	inner, err := mn.Listen("10.0.0.1:443")
	if err != nil {
		t.Fatal(err)
	}
	ln := tcp.Guard(inner, tcp.GuardConfig{Secret: []byte("sim hold"), MaxHold: maxHold, Clock: sim})
	defer ln.Close()
	stop := sim.Start()
	defer stop()

	start := sim.Now()
	held := make(chan time.Duration, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			held <- 0
			return
		}
		c.(*tcp.GuardedConn).Reject(context.Background(), start)
		held <- sim.Since(start)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a bound for a hung test
	defer cancel()
	c, err := mn.Dial(ctx, "tcp", "10.0.0.1:443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("not a handshake")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("read until close: %v", err)
	}
	got := <-held
	if got <= 0 || got >= maxHold {
		t.Errorf("held for %v of simulated time, want within (0, %v)", got, maxHold)
	}
}
