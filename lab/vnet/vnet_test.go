package vnet

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"samizdat/censor"
)

// fakeDecider decides by destination (connect time) and by a substring
// of the first bytes or the SNI (inspection).
type fakeDecider struct {
	mu       sync.Mutex
	connect  map[netip.AddrPort]censor.Verdict
	first    map[string]censor.Verdict // substring of First → verdict
	sni      map[string]censor.Verdict
	names    map[string][]netip.Addr
	poison   map[string]bool
	flows    []censor.Flow // inspected flows
	closed   []closedFlow
	decideN  int
	inspectN int
}

type closedFlow struct {
	f        censor.Flow
	up, down int64
}

func newFake() *fakeDecider {
	return &fakeDecider{
		connect: map[netip.AddrPort]censor.Verdict{},
		first:   map[string]censor.Verdict{},
		sni:     map[string]censor.Verdict{},
		names:   map[string][]netip.Addr{},
		poison:  map[string]bool{},
	}
}

func (d *fakeDecider) Decide(now censor.Time, f censor.Flow) censor.Verdict {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.decideN++
	return d.connect[f.Dst]
}

func (d *fakeDecider) Inspect(now censor.Time, f censor.Flow) censor.Verdict {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inspectN++
	d.flows = append(d.flows, f)
	if v, ok := d.sni[f.SNI]; ok && f.SNI != "" {
		return v
	}
	for s, v := range d.first {
		if bytes.Contains(f.First, []byte(s)) {
			return v
		}
	}
	return censor.Verdict{}
}

func (d *fakeDecider) Resolve(now censor.Time, isp, name string) ([]netip.Addr, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.names[name], d.poison[name]
}

func (d *fakeDecider) FlowClosed(now censor.Time, f censor.Flow, up, down int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = append(d.closed, closedFlow{f, up, down})
}

func (d *fakeDecider) lastFlow() censor.Flow {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flows[len(d.flows)-1]
}

var (
	vEcho = netip.MustParseAddrPort("52.28.10.20:443")
	vSink = netip.MustParseAddrPort("52.28.10.21:443")
)

// echoServer maps virt onto a loopback echo server. Each accepted conn's
// first read result (data or error) is sent on got.
func echoServer(t *testing.T, n *Net, virt netip.AddrPort) (got chan error) {
	t.Helper()
	ln, err := n.Listen(virt)
	if err != nil {
		t.Fatal(err)
	}
	got = make(chan error, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				first := true
				for {
					k, err := c.Read(buf)
					if first {
						first = false
						if err != nil {
							got <- err
						} else {
							got <- nil
						}
					}
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:k]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return got
}

func newNet(t *testing.T, d censor.Decider) *Net {
	t.Helper()
	n := New(d, Options{DropTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { n.Close() })
	return n
}

// patience bounds every wait for something that must happen. A wait ends
// as soon as it happens, so only a failing test waits this long; a busy
// machine can take seconds.
const patience = time.Minute

func TestAllowRoundTrip(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	echoServer(t, n, vEcho)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := n.Dialer("c1", "isp-a")(ctx, "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RemoteAddr().String(); got != vEcho.String() {
		t.Errorf("RemoteAddr = %s, want the virtual %s", got, vEcho)
	}
	msg := []byte("hello through the lab")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, msg) {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	c.Close()
	f := d.lastFlow()
	if f.Client != "c1" || f.ISP != "isp-a" || f.Dst != vEcho || string(f.First) != string(msg) || f.SNI != "" {
		t.Errorf("inspected flow = %+v", f)
	}
	st := n.Stats()
	if st.Flows != 1 || st.BytesUp != int64(len(msg)) || st.BytesDown != int64(len(msg)) || st.Connect["allow"] != 1 || st.Inspect["allow"] != 1 || st.RealDials != 1 {
		t.Errorf("stats = %+v", st)
	}
	if len(d.closed) != 1 || d.closed[0].up != int64(len(msg)) || d.closed[0].down != int64(len(msg)) {
		t.Errorf("observer saw %+v", d.closed)
	}
}

func TestFirstBytesCapped(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	echoServer(t, n, vEcho)
	c, err := n.Dialer("c", "i")(context.Background(), "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := bytes.Repeat([]byte{7}, 5000)
	if _, err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, len(big))); err != nil {
		t.Fatal(err)
	}
	if got := len(d.lastFlow().First); got != maxFirst {
		t.Errorf("len(First) = %d, want %d", got, maxFirst)
	}
}

func TestConnectVerdicts(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	echoServer(t, n, vEcho)
	d.connect[vEcho] = censor.Verdict{Action: censor.Reset}
	_, err := n.Dialer("c", "i")(context.Background(), "tcp", vEcho.String())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("reset at connect: err = %v, want ECONNREFUSED", err)
	}

	d.connect[vEcho] = censor.Verdict{Action: censor.Drop}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = n.Dialer("c", "i")(ctx, "tcp", vEcho.String())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("drop at connect: err = %v, want a timeout", err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Errorf("drop returned after %v, before the deadline", time.Since(start))
	}
	// without a deadline, DropTimeout bounds it
	start = time.Now()
	_, err = n.Dialer("c", "i")(context.Background(), "tcp", vEcho.String())
	if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) < 250*time.Millisecond {
		t.Errorf("drop without deadline: err = %v after %v", err, time.Since(start))
	}
	st := n.Stats()
	if st.RealDials != 0 || st.Connect["reset"] != 1 || st.Connect["drop"] != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestDropAfterInspect(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	got := echoServer(t, n, vEcho)
	d.first["NOISE"] = censor.Verdict{Action: censor.Drop, Reason: "fingerprint"}
	c, err := n.Dialer("c", "i")(context.Background(), "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if k, err := c.Write([]byte("NOISE handshake")); err != nil || k != 15 {
		t.Fatalf("write on dropped flow = %d, %v; want swallowed", k, err)
	}
	c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	_, err = c.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read on dropped flow: %v, want timeout", err)
	}
	select {
	case e := <-got:
		t.Errorf("server received something on a dropped flow (err %v)", e)
	case <-time.After(50 * time.Millisecond):
	}
	// Close unblocks a reader with no deadline.
	c.SetReadDeadline(time.Time{})
	done := make(chan error)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after close: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("close did not unblock a read on a dropped flow")
	}
}

func TestResetAfterInspect(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	got := echoServer(t, n, vEcho)
	d.first["bad"] = censor.Verdict{Action: censor.Reset}
	c, err := n.Dialer("c", "i")(context.Background(), "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("bad bytes")); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("write: %v, want ECONNRESET", err)
	}
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read: %v, want ECONNRESET", err)
	}
	select {
	case e := <-got:
		if !errors.Is(e, syscall.ECONNRESET) {
			t.Errorf("server saw %v, want an RST", e)
		}
	case <-time.After(patience):
		t.Error("server saw nothing")
	}
}

func TestBlockPage(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	echoServer(t, n, vEcho)
	d.first["GET /banned"] = censor.Verdict{Action: censor.BlockPage}
	c, err := n.Dialer("c", "i")(context.Background(), "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /banned HTTP/1.1\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(c)
	c.Close()
	if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 451 ") {
		t.Errorf("block page = %q, %v", b, err)
	}

	// connect-time block page: the server is never reached; a TLS client gets an alert.
	d.connect[vSink] = censor.Verdict{Action: censor.BlockPage}
	n.Map("tcp", vSink, netip.MustParseAddrPort("127.0.0.1:9")) // never dialled
	c, err = n.Dialer("c", "i")(context.Background(), "tcp", vSink.String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "blocked.example", InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(patience))
	err = tc.Handshake()
	if err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("tls through block page: %v, want an access denied alert", err)
	}
	tc.Close()
	if f := d.lastFlow(); f.SNI != "blocked.example" {
		t.Errorf("SNI = %q, want blocked.example", f.SNI)
	}
	if st := n.Stats(); st.RealDials != 1 {
		t.Errorf("RealDials = %d, want 1 (the block page needs no server)", st.RealDials)
	}
}

func TestSNIInspect(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	got := echoServer(t, n, vEcho)
	d.sni["t.me"] = censor.Verdict{Action: censor.Reset, Reason: "sni"}
	c, err := n.Dialer("c", "i")(context.Background(), "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "t.me", InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(patience))
	if err := tc.Handshake(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("handshake: %v, want reset", err)
	}
	tc.Close()
	if f := d.lastFlow(); f.SNI != "t.me" || f.First[0] != 22 {
		t.Errorf("flow = SNI %q first %x", f.SNI, f.First[:1])
	}
	<-got
}

func TestThrottle(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	echoServer(t, n, vEcho)
	const rate = 40_000
	d.connect[vEcho] = censor.Verdict{Action: censor.Throttle, RateBytesPerSec: rate}
	c, err := n.Dialer("c", "i")(context.Background(), "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("x"), 20_000)
	start := time.Now()
	go c.Write(msg)
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	// 20 kB at 40 kB/s with a 4 kB burst: at least ~0.4 s each way, pipelined.
	if el < 350*time.Millisecond {
		t.Errorf("20 kB at 40 kB/s took %v", el)
	}
	if el > 30*time.Second {
		t.Errorf("throttled transfer too slow: %v", el)
	}
}

func TestResolveByName(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	echoServer(t, n, vEcho)
	d.names["relay.example"] = []netip.Addr{netip.MustParseAddr("9.9.9.9"), vEcho.Addr()}
	d.names["poisoned.example"] = []netip.Addr{netip.MustParseAddr("10.10.10.10")}
	d.poison["poisoned.example"] = true
	c, err := n.Dialer("c", "i")(context.Background(), "tcp", "relay.example:443")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hi"))
	io.ReadFull(c, make([]byte, 2))
	c.Close()
	if f := d.lastFlow(); f.Domain != "relay.example" || f.Dst != vEcho {
		t.Errorf("flow = %+v", f)
	}
	if _, err := n.Dialer("c", "i")(context.Background(), "tcp", "poisoned.example:443"); !errors.Is(err, ErrUnmapped) {
		t.Errorf("poisoned dial: %v", err)
	}
	if _, err := n.Dialer("c", "i")(context.Background(), "tcp", "nx.example:443"); !errors.Is(err, ErrNoSuchHost) {
		t.Errorf("nx dial: %v", err)
	}
	if st := n.Stats(); st.Poisoned != 1 || st.Resolves != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestUDP(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	v := netip.MustParseAddrPort("52.28.10.30:443")
	pc, err := n.ListenPacket(v)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			k, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:k], a)
		}
	}()
	c, err := n.Dialer("c", "i")(context.Background(), "udp", v.String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(patience))
	c.Write([]byte("quic-ish"))
	buf := make([]byte, 100)
	k, err := c.Read(buf)
	if err != nil || string(buf[:k]) != "quic-ish" {
		t.Errorf("udp echo = %q, %v", buf[:k], err)
	}
	c.Close()
	if f := d.lastFlow(); !f.UDP {
		t.Errorf("flow not marked UDP: %+v", f)
	}
	// UDP blocking: dropped datagrams vanish.
	d.connect[v] = censor.Verdict{Action: censor.Drop}
	c, err = n.Dialer("c", "i")(context.Background(), "udp", v.String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(100 * time.Millisecond))
	c.Write([]byte("x"))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("dropped udp read: %v", err)
	}
	c.Close()
}

func TestMapRules(t *testing.T) {
	n := newNet(t, newFake())
	lo := netip.MustParseAddrPort("127.0.0.1:5000")
	for _, tc := range []struct {
		network    string
		virt, real string
	}{
		{"tcp", "52.1.1.1:80", "10.0.0.1:80"},         // real not loopback
		{"tcp", "52.1.1.1:80", "[::1]:80"},            // v6 loopback is not 127/8
		{"tcp", "127.0.0.5:80", "127.0.0.1:80"},       // virt is loopback
		{"tcp", "0.0.0.0:80", "127.0.0.1:80"},         // unspecified
		{"tcp", "52.1.1.1:0", "127.0.0.1:80"},         // port 0
		{"sctp", "52.1.1.1:80", "127.0.0.1:80"},       // network
		{"tcp", "[::ffff:127.0.0.1]:80", lo.String()}, // mapped loopback virt
	} {
		if err := n.Map(tc.network, netip.MustParseAddrPort(tc.virt), netip.MustParseAddrPort(tc.real)); err == nil {
			t.Errorf("Map(%s, %s, %s) accepted", tc.network, tc.virt, tc.real)
		}
	}
	v := netip.MustParseAddrPort("52.1.1.1:80")
	if err := n.Map("tcp", v, lo); err != nil {
		t.Fatal(err)
	}
	if err := n.Map("tcp", v, lo); !errors.Is(err, ErrMapped) {
		t.Errorf("double map: %v", err)
	}
	if err := n.Map("udp", v, lo); err != nil {
		t.Errorf("udp is a separate space: %v", err)
	}
	n.Unmap("tcp", v)
	if _, ok := n.Lookup("tcp", v); ok {
		t.Error("still mapped after Unmap")
	}
}
