package front

import (
	"bytes"
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/internal/poll"
	"samizdat/transport/decoy/decoytest"
	"samizdat/transport/internal/token"
	"samizdat/transport/transporttest"
)

// TestTokenFloodThroughEdge: a holder of the secret sends more valid,
// distinct tokens through the CDN than the replay cache could hold (it
// used to refuse every token once 65,536 were remembered), from the
// address every fronted user shares: the edge's. A real client behind the
// same edge still opens its tunnel.
func TestTokenFloodThroughEdge(t *testing.T) {
	e := setup(t, false, Auto)
	done, cancel := context.WithCancel(context.Background())
	cancel() // the probes return at once
	probe := request{op: opProbe}.marshal()
	nonces := mrand.NewChaCha8([32]byte{1}) // cheaper than crypto/rand for a flood
	const n = 70000
	opened := 0
	for i := range n {
		now := time.Now()
		tok, err := token.New(secret, tunnelPath, now.Add(-token.Window+2*token.Window*time.Duration(i)/n), nonces)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequestWithContext(done, http.MethodPost, tunnelPath, bytes.NewReader(probe))
		req.RemoteAddr = "127.0.0.1:40000" // the test CDN's edge
		req.Header.Set("Cookie", cookieName+"="+tok)
		w := httptest.NewRecorder()
		e.origin.ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			opened++
		}
	}
	if opened != n {
		t.Errorf("through the edge %d of %d valid tokens were let in; want every one", opened, n)
	}
	transporttest.Opens(t, e.origin, Dialer{Config: e.cfg}, e.cfg.Address)
}

// openSessions opens n sessions on o (with tokens of clk's time) and
// returns the relay's side of each; it fails the test if one is refused.
func openSessions(t *testing.T, o *Origin, clk clock.Clock, first, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for i := range n {
		accepted := acceptOne(o)
		tok, _ := token.New(secret, tunnelPath, clk.Now(), rand.Reader)
		sid := [sidSize]byte{byte(first + i), 0xee}
		if w := post(o, request{op: opOpen, sid: sid}.marshal(), tok); w.Code != http.StatusOK {
			t.Fatalf("open %d: %d", first+i, w.Code)
		}
		conns = append(conns, <-accepted)
	}
	return conns
}

func (o *Origin) held() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.sessions)
}

// TestClosedSessionsForgotten: sessions the relay closed (a flood of
// silent tunnels shed by its handshake slots, say) leave the table soon
// after, whether or not their client comes back to read the end; they
// used to stay until the idle timeout, a minute, so a flood of opens held
// a minute's worth of them.
func TestClosedSessionsForgotten(t *testing.T) {
	s := clock.NewSim(time.Time{})
	o := NewOrigin(OriginConfig{Path: tunnelPath, Secret: secret, Clock: s})
	defer o.Close()
	conns := openSessions(t, o, s, 0, 50)
	for _, c := range conns {
		c.Close()
	}
	if got := o.held(); got != 50 {
		t.Fatalf("%d sessions held right after the close, want 50 (their clients may still read the end)", got)
	}
	s.Advance(closedGrace)
	if !poll.Until(10*time.Second, func() bool { return o.held() == 0 }) {
		t.Fatalf("%d sessions still held %v after the relay closed them (the idle timeout is %v)", o.held(), closedGrace, o.idle)
	}
}

// TestMaxSessions: the table holds at most MaxSessions; an open beyond
// gets the decoy, and a slot freed by a closed session opens again.
func TestMaxSessions(t *testing.T) {
	s := clock.NewSim(time.Time{})
	o := NewOrigin(OriginConfig{Path: tunnelPath, Secret: secret, Clock: s, MaxSessions: 3, Decoy: decoytest.Handler()})
	defer o.Close()
	conns := openSessions(t, o, s, 0, 3)
	tok, _ := token.New(secret, tunnelPath, s.Now(), rand.Reader)
	w := post(o, request{op: opOpen, sid: [sidSize]byte{9}}.marshal(), tok)
	if w.Code == http.StatusOK || w.Header().Get("Server") != decoytest.Profile.Server {
		t.Fatalf("an open beyond MaxSessions: %d %v, want the decoy", w.Code, w.Header())
	}
	conns[0].Close()
	s.Advance(closedGrace)
	if !poll.Until(10*time.Second, func() bool { return o.held() == 2 }) {
		t.Fatalf("%d sessions held, want 2", o.held())
	}
	for _, c := range append(conns[1:], openSessions(t, o, s, 10, 1)...) {
		c.Close()
	}
}

// heldProbes is how many probes the origin holds open.
func (o *Origin) heldProbes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.nprobes
}

// TestProbesBounded: probes (valid tokens, each answered and then held
// open for probeHold) are bounded per source and in all; one beyond gets
// the decoy at once, and a place freed by a probe that ended is taken
// again.
func TestProbesBounded(t *testing.T) {
	s := clock.NewSim(time.Time{})
	o := NewOrigin(OriginConfig{Path: tunnelPath, Secret: secret, Clock: s, MaxProbes: 3, MaxProbesPerSource: 2, Decoy: decoytest.Handler()})
	defer o.Close()
	probeFrom := func(ctx context.Context, addr string) *httptest.ResponseRecorder {
		tok, err := token.New(secret, tunnelPath, s.Now(), rand.Reader)
		if err != nil {
			t.Error(err)
		}
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, tunnelPath, bytes.NewReader(request{op: opProbe}.marshal()))
		req.RemoteAddr = addr
		req.Header.Set("Cookie", cookieName+"="+tok)
		w := httptest.NewRecorder()
		o.ServeHTTP(w, req)
		return w
	}
	const edgeA, edgeB, edgeC = "192.0.2.1:443", "198.51.100.2:443", "203.0.113.3:443"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan *httptest.ResponseRecorder, 4)
	hold := func(ctx context.Context, addr string, want int) {
		t.Helper()
		go func() { held <- probeFrom(ctx, addr) }()
		if !poll.Until(time.Minute, func() bool { return o.heldProbes() == want }) {
			t.Fatalf("%d probes held, want %d", o.heldProbes(), want)
		}
	}
	// beyond sends a probe that must get the decoy at once; a probe held
	// instead ends when its context does, and fails the test.
	beyond := func(name, addr string) {
		t.Helper()
		bctx, bcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer bcancel()
		if w := probeFrom(bctx, addr); w.Code == http.StatusOK || w.Header().Get("Server") != decoytest.Profile.Server {
			t.Errorf("a probe beyond %s: %d %v, want the decoy", name, w.Code, w.Header())
		}
	}
	hold(ctx, edgeA, 1)
	hold(ctx, edgeA, 2)
	beyond("its source's share", edgeA)
	hold(ctx, edgeB, 3)
	beyond("the total", edgeC)

	cancel()
	for range 3 {
		if w := <-held; w.Code != http.StatusOK {
			t.Errorf("a held probe: %d, want 200", w.Code)
		}
	}
	if !poll.Until(time.Minute, func() bool { return o.heldProbes() == 0 }) {
		t.Fatalf("%d probes held after they ended, want 0", o.heldProbes())
	}
	again, cancelAgain := context.WithCancel(context.Background())
	hold(again, edgeA, 1)
	cancelAgain()
	if w := <-held; w.Code != http.StatusOK {
		t.Errorf("a probe after the others ended: %d, want 200", w.Code)
	}
}
