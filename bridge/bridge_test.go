package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/transport/selfsigned"
	"samizdat/transport/wss"
)

func TestOfferCheck(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	good := Offer{Network: "net", RelayID: "relay-1", Address: "127.0.0.1:7600", SNI: "www.example.com", Path: "/abc",
		Secret: make([]byte, 32), TLSPin: make([]byte, 32), Expires: now.Add(24 * time.Hour)}
	if err := good.Check("net", now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Offer)
		want string
	}{
		{"other network", func(o *Offer) { o.Network = "elsewhere" }, "for network"},
		{"expired", func(o *Offer) { o.Expires = now.Add(-time.Second) }, "expired"},
		{"too long", func(o *Offer) { o.Expires = now.Add(60 * 24 * time.Hour) }, "longer than"},
		{"no port", func(o *Offer) { o.Address = "127.0.0.1" }, "not host:port"},
		{"bad port", func(o *Offer) { o.Address = "127.0.0.1:0" }, "no valid port"},
		{"short secret", func(o *Offer) { o.Secret = o.Secret[:16] }, "secret of 16 bytes"},
		{"no pin", func(o *Offer) { o.TLSPin = nil }, "certificate pin"},
		{"bad path", func(o *Offer) { o.Path = "abc" }, "path"},
		{"bad sni", func(o *Offer) { o.SNI = "a b" }, "server name"},
		{"no relay", func(o *Offer) { o.RelayID = "" }, "relay id"},
	} {
		o := good
		o.Secret, o.TLSPin = bytes.Clone(good.Secret), bytes.Clone(good.TLSPin)
		tc.mod(&o)
		err := o.Check("net", now)
		if !errors.Is(err, ErrBadOffer) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	withdraw := Offer{Network: "net"}
	if !withdraw.Withdrawn() || withdraw.Check("net", now) != nil || withdraw.Check("other", now) == nil {
		t.Error("a withdrawal is checked for its network only")
	}
}

// echoRelay stands in for the relay: it echoes every stream.
func echoRelay(t testing.TB) string {
	t.Helper()
	addr, stop := stoppableEcho(t)
	t.Cleanup(stop)
	return addr
}

// stoppableEcho is echoRelay with a stop of its own.
func stoppableEcho(t testing.TB) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }
}

func startBridge(t *testing.T, cfg Config) *Server {
	t.Helper()
	return startBridgeTo(t, cfg, echoRelay(t))
}

// startBridgeTo starts a bridge whose upstream (unless cfg has one) is a
// tcp stream to relay.
func startBridgeTo(t testing.TB, cfg Config, relay string) *Server {
	t.Helper()
	id, err := selfsigned.Load(filepath.Join(t.TempDir(), "key.pem"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	cfg.Listen, cfg.Identity, cfg.Key = []string{"127.0.0.1:0"}, id, key
	if cfg.Upstream == nil {
		cfg.Upstream = func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", relay)
		}
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// allow mints an offer of s for a new label, valid until exp.
func allow(t testing.TB, s *Server, addr string, exp time.Time) (Offer, Label) {
	t.Helper()
	l, err := NewLabel(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Issuer().Offer(l, "net", "relay-1", addr, exp)
	if err != nil {
		t.Fatal(err)
	}
	return o, l
}

func dialOffer(o Offer) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ep := o.Endpoint()
	return wss.Dial(ctx, wss.ClientConfig{Address: ep.Address, SNI: ep.SNI, Host: ep.Host, Path: ep.Path, Secret: ep.Secret, TLSPin: ep.TLSPin})
}

func roundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

// TestBridgeCarries: an allowed contact's tunnel reaches the relay; a
// stranger and a denied contact get the decoy; a contact over its limit is
// refused without touching the others.
func TestBridgeCarries(t *testing.T) {
	s := startBridge(t, Config{PerCaller: 1})
	addr := s.Addrs()[0].String()
	exp := time.Now().Add(time.Hour)
	alice, _ := allow(t, s, addr, exp)
	if err := alice.Check("net", time.Now()); err != nil {
		t.Fatalf("the bridge's own offer: %v", err)
	}
	bob, bobLabel := allow(t, s, addr, exp)
	if bytes.Equal(alice.Secret, bob.Secret) {
		t.Fatal("two contacts share a secret")
	}
	c, err := dialOffer(alice)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "hello relay")

	// A second tunnel of alice's is over her limit: closed at once.
	c2, err := dialOffer(alice)
	if err == nil {
		c2.SetReadDeadline(time.Now().Add(time.Minute))
		if n, rerr := c2.Read(make([]byte, 1)); rerr == nil {
			t.Fatalf("a tunnel over the limit carried %d bytes", n)
		}
		c2.Close()
	}
	// Bob is not limited by alice.
	cb, err := dialOffer(bob)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, cb, "bob here")
	cb.Close()

	stranger := alice
	stranger.Secret = bytes.Repeat([]byte{7}, 32)
	if _, err := dialOffer(stranger); !errors.Is(err, wss.ErrRejected) {
		t.Fatalf("stranger: %v", err)
	}
	s.Deny(Denial{Label: bobLabel, Until: exp})
	if _, err := dialOffer(bob); !errors.Is(err, wss.ErrRejected) {
		t.Fatalf("denied contact: %v", err)
	}
	roundTrip(t, c, "alice still here")
	st := s.Stats()
	if st.Refused < 1 || st.Tunnels < 2 || st.Bytes < int64(2*len("hello relay")) {
		t.Fatalf("stats %+v", st)
	}
}

// TestBridgeRate: a contact's bytes per second are bounded (a lower bound
// on the time, which no load can break).
func TestBridgeRate(t *testing.T) {
	s := startBridge(t, Config{Rate: 16 << 10})
	o, _ := allow(t, s, s.Addrs()[0].String(), time.Now().Add(time.Hour))
	c, err := dialOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := bytes.Repeat([]byte("x"), 64<<10)
	start := time.Now()
	go c.Write(payload)
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if _, err := io.ReadFull(c, make([]byte, len(payload))); err != nil {
		t.Fatal(err)
	}
	// 64 KiB each way at 16 KiB/s with a 16 KiB burst: at least 3 s.
	if took := time.Since(start); took < 2500*time.Millisecond {
		t.Fatalf("64 KiB went through in %v at 16 KiB/s", took)
	}
}

func TestBridgeUpstreamDown(t *testing.T) {
	s := startBridge(t, Config{Upstream: func(ctx context.Context) (net.Conn, error) { return nil, errors.New("blocked") }})
	o, _ := allow(t, s, s.Addrs()[0].String(), time.Now().Add(time.Hour))
	c, err := dialOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a tunnel without a relay stream stayed open")
	}
	if s.Stats().Upstream != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
}

// TestProbeGetsDecoy: a plain HTTPS request, as a censor's prober sends,
// gets the ordinary site, not a tunnel and not an error that marks a
// bridge.
func TestProbeGetsDecoy(t *testing.T) {
	s := startBridge(t, Config{})
	o, _ := allow(t, s, s.Addrs()[0].String(), time.Now().Add(time.Hour))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: time.Minute}
	get := func(p string) (int, string) {
		t.Helper()
		resp, err := hc.Get("https://" + o.Address + p)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	// A path of the same shape that no offer ever named.
	never := o.Path[:strings.LastIndex(o.Path, "/")+1] + strings.Repeat("A", len(o.Path)-strings.LastIndex(o.Path, "/")-1)
	for _, p := range []string{"/", o.Path, "/robots.txt", never} {
		status, body := get(p)
		if status == http.StatusSwitchingProtocols || strings.Contains(strings.ToLower(body), "samizdat") {
			t.Fatalf("GET %s: %d %q", p, status, body)
		}
	}
	// (The decoy is a site drawn per listener, whose words may be
	// anything, "Bridge" among them: what marks nothing is that the
	// tunnel's path is answered as a path that never was.)
	s1, b1 := get(o.Path)
	if s2, b2 := get(never); s1 != s2 || b1 != b2 {
		t.Fatalf("the tunnel's path gets %d %q, a path never issued %d %q", s1, b1, s2, b2)
	}
	if s.Stats().Tunnels != 0 {
		t.Fatal("a probe opened a tunnel")
	}
}

// BenchmarkForwarding compares a 1 KiB round trip to the relay directly
// (tcp) with one through a bridge (wss to the bridge, tcp on to the
// relay), in the same run: report the ratio of the two ns/op.
func BenchmarkForwarding(b *testing.B) {
	relay := echoRelay(b)
	msg := bytes.Repeat([]byte("x"), 1024)
	run := func(b *testing.B, c net.Conn) {
		buf := make([]byte, len(msg))
		b.SetBytes(int64(2 * len(msg)))
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp", relay)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, c)
	})
	b.Run("bridge", func(b *testing.B) {
		s := startBridgeTo(b, Config{}, relay)
		o, _ := allow(b, s, s.Addrs()[0].String(), time.Now().Add(time.Hour))
		c, err := dialOffer(o)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, c)
	})
}

// BenchmarkCallers holds 1,000 open tunnels through one bridge and reports
// the bridge's heap per tunnel (both its sides: the caller's TLS and
// WebSocket, and the relay stream).
func BenchmarkCallers(b *testing.B) {
	const n = 1000
	for range b.N {
		relay := echoRelay(b)
		s := startBridgeTo(b, Config{MaxCallers: n + 1, PerCaller: n + 1}, relay)
		o, _ := allow(b, s, s.Addrs()[0].String(), time.Now().Add(time.Hour))
		// Dial once first so that lazily made state is not counted.
		c0, err := dialOffer(o)
		if err != nil {
			b.Fatal(err)
		}
		roundTrip(b, c0, "warm")
		before := heapInUse()
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := dialOffer(o)
			if err != nil {
				b.Fatal(err)
			}
			roundTrip(b, c, "x")
			conns = append(conns, c)
		}
		// The callers' side of each tunnel lives in this process too:
		// measure it alone, and subtract.
		after := heapInUse()
		b.ReportMetric(float64(after-before)/n/1024, "KiB/tunnel(both-ends)")
		for _, c := range conns {
			c.Close()
		}
		c0.Close()
		s.Close()
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// reporting is an upstream stream that counts what became of it.
type reporting struct {
	net.Conn
	answered, nowhere *atomic.Int32
}

func (r reporting) Answered()   { r.answered.Add(1) }
func (r reporting) LedNowhere() { r.nowhere.Add(1) }

// TestBridgeSwapsADeadEnd: a relay stream that connects but ends before
// the relay says anything (a blocked endpoint that accepts and resets) is
// replaced, and the caller's bytes go to the next one: the caller sees
// only its echo. The streams hear what became of them.
func TestBridgeSwapsADeadEnd(t *testing.T) {
	relay := echoRelay(t)
	deadEnd, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer deadEnd.Close()
	go func() { // accepts, and hangs up without a word
		for {
			c, err := deadEnd.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var dials, answered, nowhere atomic.Int32
	s := startBridgeTo(t, Config{Upstream: func(ctx context.Context) (net.Conn, error) {
		addr := relay
		if dials.Add(1) <= 2 {
			addr = deadEnd.Addr().String()
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return reporting{Conn: c, answered: &answered, nowhere: &nowhere}, nil
	}}, relay)
	o, _ := allow(t, s, s.Addrs()[0].String(), time.Now().Add(time.Hour))
	c, err := dialOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "hello through a dead end")
	roundTrip(t, c, "and again")
	if dials.Load() != 3 || nowhere.Load() != 2 || answered.Load() != 1 {
		t.Fatalf("%d dials, %d led nowhere, %d answered", dials.Load(), nowhere.Load(), answered.Load())
	}
	// A third dead end in a row is one too many: the tunnel ends.
	dials.Store(-10)
	c2, err := dialOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("x"))
	c2.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatal("a tunnel whose every relay stream led nowhere carried bytes")
	}
}
