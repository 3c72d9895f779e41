package front

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/transport/internal/testcert"
	"samizdat/transport/internal/token"
	"samizdat/transport/memnet"
)

// TestSimClockIdle: the origin's session reaper runs on the origin's
// clock. On a simulated clock a session nobody polls ends once the
// simulated idle time has passed, checked every quarter of it; a reaper
// on the wall clock would not end it within the simulated ten minutes.
func TestSimClockIdle(t *testing.T) {
	s := clock.NewSim(time.Time{})
	o := NewOrigin(OriginConfig{Path: tunnelPath, Secret: secret, IdleTimeout: time.Minute, Clock: s})
	defer o.Close()
	accepted := acceptOne(o)
	tok, _ := token.New(secret, tunnelPath, s.Now(), rand.Reader)
	if w := post(o, request{op: opOpen, sid: [sidSize]byte{1}}.marshal(), tok); w.Code != http.StatusOK {
		t.Fatalf("open with a token of the simulated time: %d", w.Code)
	}
	c := <-accepted
	defer c.Close()
	t.Cleanup(s.Start())
	t0 := s.Now()
	c.SetReadDeadline(t0.Add(10 * time.Minute))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, errIdle) {
		t.Fatalf("got %v after %v of simulated time, want the idle error", err, s.Since(t0))
	}
	if d := s.Since(t0); d <= time.Minute || d > time.Minute+time.Minute/4 {
		t.Fatalf("session ended after %v of simulated time, want within a reaper tick after 1m0s", d)
	}
}

// TestSimClock: a tunnel in poll mode over an in-memory network on a
// simulated clock. The simulated clock reads 2018, years away from the
// wall clock, so a client making its token on the wall clock is refused;
// on the simulated clock the tunnel opens and carries bytes both ways,
// the poller pacing itself on that clock: bytes the origin sends to an
// idle client arrive within one slowest poll interval and one hold of
// simulated time. A poller pacing itself on the wall clock leaves the
// simulated clock to race ahead (through the reaper's ticks) while it
// sleeps.
func TestSimClock(t *testing.T) {
	s := clock.NewSim(time.Time{})
	cert, err := testcert.New(frontDomain)
	if err != nil {
		t.Fatal(err)
	}
	n := memnet.New(s)
	ml, err := n.Listen("cdn.example:443")
	if err != nil {
		t.Fatal(err)
	}
	l := ServeOrigin(ml, OriginConfig{Path: tunnelPath, Secret: secret, Clock: s}, cert.ServerConfig())
	defer l.Close()
	accepted := acceptOne(l)
	t.Cleanup(s.Start())
	cfg := ClientConfig{Address: "cdn.example:443", SNI: frontDomain, Host: hiddenHost, Path: tunnelPath,
		Secret: secret, TLSPin: cert.Pin, NetDial: n.Dial, Mode: Poll}
	ctx := context.Background()
	if c, err := Dial(ctx, cfg); !errors.Is(err, ErrRejected) {
		if err == nil {
			c.Close()
		}
		t.Fatalf("dial with a wall-clock token: %v, want ErrRejected", err)
	}
	cfg.Clock = s
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial on the simulated clock: %v", err)
	}
	defer c.Close()
	sc := <-accepted
	defer sc.Close()
	// Let the poller back off to its slowest pace before writing.
	s.Sleep(10 * time.Second)
	t0 := s.Now()
	if _, err := sc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	if d := s.Since(t0); d > maxPollInterval+pollHold {
		t.Fatalf("downstream bytes took %v of simulated time, want at most %v", d, maxPollInterval+pollHold)
	}
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("origin read %q, %v", buf, err)
	}
}
