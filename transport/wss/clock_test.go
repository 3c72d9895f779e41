package wss

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/transport/internal/testcert"
	"samizdat/transport/memnet"
	"samizdat/transport/transporttest"
)

// serveMem serves wss on an in-memory network on clk and returns the
// listener and a client config (on clk) that reaches it.
func serveMem(t *testing.T, clk clock.Clock) (*memnet.Network, net.Listener, ClientConfig) {
	t.Helper()
	cert, err := testcert.New("www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	n := memnet.New(clk)
	ml, err := n.Listen("www.example.com:443")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Serve(ml, ServerConfig{TLS: cert.ServerConfig(), Path: path, Secret: secret, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return n, l, ClientConfig{Address: "www.example.com:443", SNI: "www.example.com", Path: path,
		Secret: secret, TLSPin: cert.Pin, NetDial: n.Dial, Clock: clk}
}

// acceptAll accepts on l until it is closed and sends the conns on the
// returned channel, which holds up to n of them.
func acceptAll(l net.Listener, n int) <-chan net.Conn {
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return accepted
}

// TestMemnetConformance: Serve works on a listener that is not TCP.
func TestMemnetConformance(t *testing.T) {
	_, l, cfg := serveMem(t, nil)
	transporttest.Run(t, l, Dialer{Config: cfg}, cfg.Address)
}

// TestSimClock: both ends take their time from the configured clock. A
// simulated clock reads 2018, years away from the wall clock, so a token
// made or checked on the wall clock is out of its window and the dial is
// refused; deadlines on the wall clock would fire at once (the simulated
// deadline is in the wall clock's past) instead of after a simulated
// minute.
func TestSimClock(t *testing.T) {
	s := clock.NewSim(time.Time{})
	_, l, cfg := serveMem(t, s)
	defer l.Close()
	accepted := acceptAll(l, 1)
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		edit func(*ClientConfig)
	}{
		{"client on the wall clock", func(c *ClientConfig) { c.Clock = nil }},
		{"token from another time", func(c *ClientConfig) { c.Clock = clock.NewSim(s.Now().Add(-time.Hour)) }},
	} {
		cfg := cfg
		tc.edit(&cfg)
		if c, err := Dial(ctx, cfg); !errors.Is(err, ErrRejected) {
			if err == nil {
				c.Close()
			}
			t.Fatalf("%s: dial: %v, want ErrRejected", tc.name, err)
		}
	}

	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial on the simulated clock: %v", err)
	}
	defer c.Close()
	sc := <-accepted
	defer sc.Close()
	// The tunnel's remote address is the conn's, as the network names
	// it, not a resolved name.
	if got, want := sc.RemoteAddr().String(), c.LocalAddr().String(); got != want || got == "" {
		t.Fatalf("tunnel from %q, client at %q", got, want)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read %q, %v", buf, err)
	}

	// A read deadline a simulated minute away fires after exactly that
	// minute of simulated time, however long the machine takes.
	t.Cleanup(s.Start())
	t0 := s.Now()
	if err := c.SetReadDeadline(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	if got := s.Since(t0); got != time.Minute {
		t.Fatalf("deadline fired after %v of simulated time, want 1m0s", got)
	}
	// The token window moves with the clock: after three simulated
	// minutes a fresh dial on the clock still succeeds.
	s.Sleep(3 * time.Minute)
	c2, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial three simulated minutes later: %v", err)
	}
	c2.Close()
	(<-accepted).Close()
}
