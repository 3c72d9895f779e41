package client_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/clock"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/store/memstore"
	"samizdat/transport/memnet"
	"samizdat/transport/selfsigned"
	"samizdat/transport/wss"
)

// simWorld is one relay and two clients on a simulated clock and an
// in-memory network; it logs what the clients see at simulated times.
type simWorld struct {
	s  *clock.Sim
	t0 time.Time

	mu   sync.Mutex
	log  []string
	wake chan struct{}
}

func (w *simWorld) note(who string, e client.Event) {
	var kind string
	switch e.Kind {
	case client.EventConnected:
		kind = "connected"
	case client.EventDisconnected:
		kind = "disconnected"
	case client.EventMessage:
		kind = "message " + e.Text
	case client.EventSent:
		kind = "sent"
	case client.EventDelivered:
		kind = "delivered"
	case client.EventQueueEmpty:
		kind = "queue empty"
	default:
		kind = fmt.Sprintf("kind %d %v", e.Kind, e.Err)
	}
	w.mu.Lock()
	w.log = append(w.log, fmt.Sprintf("%v %s %s", w.s.Since(w.t0), who, kind))
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// waitLog waits (on the wall clock, generously) until the log holds
// line and returns a copy.
func (w *simWorld) waitLog(t *testing.T, line string) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		w.mu.Lock()
		has := slices.Contains(w.log, line)
		all := slices.Clone(w.log)
		w.mu.Unlock()
		if has {
			return
		}
		select {
		case <-w.wake:
		case <-deadline:
			t.Fatalf("no %q in %q (clock at +%v, %d timers)", line, all, w.s.Since(w.t0), w.s.Pending())
		}
	}
}

// simListen listens on n for the relay over transport tr ("tcp" or
// "wss", on the clock s) and returns the listener and the endpoint that
// reaches it.
func simListen(t *testing.T, n *memnet.Network, s *clock.Sim, tr string) (net.Listener, manifest.Endpoint) {
	const addr = "relay.example:443"
	l, err := n.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	if tr == "tcp" {
		return l, manifest.Endpoint{Transport: "tcp", Address: addr}
	}
	// The certificate is minted on the world's clock.
	id, err := selfsigned.Load(filepath.Join(t.TempDir(), "tls.key"), nil, s.Now)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	wl, err := wss.Serve(l, wss.ServerConfig{TLS: id.Config("relay.example"), Path: "/ws", Secret: secret, Clock: s})
	if err != nil {
		t.Fatal(err)
	}
	return wl, manifest.Endpoint{Transport: "wss", Address: addr, SNI: "relay.example", Path: "/ws",
		Secret: secret, TLSPin: id.Pin()}
}

// runSimWorld runs one world whose relay listens over transport tr and
// returns its sorted log: both clients register at once, alice writes to
// bob ten simulated seconds later, and the world then idles for five
// simulated minutes.
func runSimWorld(t *testing.T, tr string) []string {
	s := clock.NewSim(time.Time{})
	// The clock stands still while the world is built, as the lab's does:
	// the test's own goroutine builds it and is no part of the simulated
	// world, so whatever it waits on outside the clock (a disk, a busy
	// machine) must not let simulated time run on meanwhile. It runs from
	// when both clients are up, and stops last: closing the clients and
	// the relay waits on it.
	var stopClock func()
	t.Cleanup(func() {
		if stopClock != nil {
			stopClock()
		}
	})
	w := &simWorld{s: s, t0: s.Now(), wake: make(chan struct{}, 1)}
	n := memnet.New(s)

	ctx, cancel := context.WithCancel(context.Background())
	keys, err := relay.GenerateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The store stamps and expires envelopes on the world's clock too. It
	// is the in-memory one, as in the lab: SQLite waits out a locked
	// database on the wall clock (modernc's busy handler sleeps), which
	// the simulated clock takes for a quiet world and jumps over, so on a
	// loaded machine a relay's reader waiting on its writer moved the
	// first connections seconds later.
	st := memstore.New(memstore.Options{Now: s.Now})
	srv, err := relay.New(relay.Config{Store: st, NoiseKey: keys.Noise, ServerCertificate: keys.ServerCertificate,
		ServerCertificateKey: keys.ServerCertificateKey, Clock: s})
	if err != nil {
		t.Fatal(err)
	}
	l, ep := simListen(t, n, s, tr)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done; st.Close() })
	inv, err := keys.Invite("test", []manifest.Endpoint{ep}, s.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	users := map[string]*client.Client{}
	for _, name := range []string{"alice", "bob"} {
		cfg := client.Config{Home: t.TempDir(), NetDial: n.Dial, Clock: s,
			OnEvent: func(e client.Event) { w.note(name, e) }}
		c, err := client.Init(ctx, cfg, inv, name)
		if err != nil {
			t.Fatalf("init %s: %v", name, err)
		}
		users[name] = c
		rctx, rcancel := context.WithCancel(ctx)
		rdone := make(chan struct{})
		go func() { defer close(rdone); c.Receive(rctx) }()
		t.Cleanup(func() { rcancel(); <-rdone; c.Close() })
	}
	stopClock = s.Start()
	w.waitLog(t, "0s alice connected")
	w.waitLog(t, "0s bob connected")

	// Bob accepted Alice (a stranger gets no delivery receipt).
	if err := users["bob"].Accept(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	s.Sleep(10 * time.Second)
	if _, err := users["alice"].Send(ctx, "bob", "hello"); err != nil {
		t.Fatal(err)
	}
	w.waitLog(t, "10s bob message hello")
	s.Sleep(5 * time.Minute)

	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(w.log)
	slices.Sort(out) // events of one instant may be logged in any order
	return out
}

// TestSimWorldDeterministic: a small world on the simulated clock gives
// the same events at the same simulated times on every run, whatever the
// machine's load, over tcp and over wss. The expected log pins the times
// down: a component timing itself on the wall clock breaks it — keepalive
// pings that do not come in simulated time let the relay's read timeout
// (on the simulated clock) cut both clients after a minute, and a relay or
// dialer waiting on the wall clock moves "connected" or the message off
// their instants; a wss end that made or checked its token on the wall
// clock (years after the simulated epoch) would never connect.
func TestSimWorldDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("registers two clients twice")
	}
	want := []string{
		"0s alice connected",
		"0s alice queue empty",
		"0s bob connected",
		"0s bob queue empty",
		"10s alice delivered",
		"10s alice sent",
		"10s bob message hello",
	}
	for _, tr := range []string{"tcp", "wss"} {
		t.Run(tr, func(t *testing.T) {
			for run := range 2 {
				got := runSimWorld(t, tr)
				if !slices.Equal(got, want) {
					t.Fatalf("run %d: log\n%q\nwant\n%q", run, got, want)
				}
			}
		})
	}
}
