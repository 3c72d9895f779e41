package vnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"samizdat/censor"
)

// recordDials replaces sysDial for the test with one that records every
// real socket the package opens (and still opens loopback ones).
func recordDials(t *testing.T) func() []netip.AddrPort {
	t.Helper()
	var mu sync.Mutex
	var seen []netip.AddrPort
	orig := sysDial
	sysDial = func(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
		mu.Lock()
		seen = append(seen, ap)
		mu.Unlock()
		if !IsLoopback(ap.Addr()) {
			return nil, errors.New("test guard: non-loopback dial")
		}
		return orig(ctx, network, ap)
	}
	t.Cleanup(func() { sysDial = orig })
	return func() []netip.AddrPort {
		mu.Lock()
		defer mu.Unlock()
		return append([]netip.AddrPort(nil), seen...)
	}
}

// guardAddresses are dial targets that must never reach a socket.
var guardAddresses = []string{
	"8.8.8.8:53", "1.1.1.1:443", "149.154.167.99:443", "[2001:db8::1]:443",
	"[::ffff:8.8.8.8]:53", "0.0.0.0:80", "[::]:80", "[::1]:80", "[fe80::1%lo]:80",
	"localhost:80", "example.com:443", "public.example:443", "poison.example:443",
	"127.0.0.1:1", "127.0.0.1:0", "10.0.0.1:22", "192.168.1.1:80",
	"52.28.10.20:0", "52.28.10.20:99999", "52.28.10.20", "", ":443", "garbage",
	"52.28.10.20:http", "[52.28.10.20]:443x",
}

// TestGuardNothingOutsideLoopback proves that whatever a client asks for,
// the only sockets the network opens are on 127.0.0.0/8, and that
// unmapped addresses (including real loopback ports, which would bypass
// the censor) are refused without a socket.
func TestGuardNothingOutsideLoopback(t *testing.T) {
	seen := recordDials(t)
	d := newFake()
	d.names["public.example"] = []netip.Addr{netip.MustParseAddr("93.184.216.34")}
	d.names["poison.example"] = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("0.0.0.0")}
	d.names["relay.example"] = []netip.Addr{vEcho.Addr()}
	n := newNet(t, d)
	echoServer(t, n, vEcho)
	real, _ := n.Lookup("tcp", vEcho)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addrs := append([]string{real.String()}, guardAddresses...)
	for _, network := range []string{"tcp", "tcp4", "tcp6", "udp", "ip", "unix"} {
		dial := n.Dialer("c", "i")
		for _, a := range addrs {
			c, err := dial(ctx, network, a)
			if err == nil {
				c.Close()
				t.Errorf("dial %s %q succeeded", network, a)
			}
		}
	}
	if got := seen(); len(got) != 0 {
		t.Fatalf("refused addresses reached the socket layer: %v", got)
	}
	// The mapped ones do dial, on loopback only.
	for _, a := range []string{vEcho.String(), "relay.example:443", "[::ffff:52.28.10.20]:443"} {
		c, err := n.Dialer("c", "i")(ctx, "tcp", a)
		if err != nil {
			t.Fatalf("dial %s: %v", a, err)
		}
		c.Close()
	}
	got := seen()
	if len(got) != 3 {
		t.Errorf("real dials = %v, want 3", got)
	}
	for _, ap := range got {
		if !IsLoopback(ap.Addr()) || ap != real {
			t.Errorf("dialled %v, want only %v", ap, real)
		}
	}
	if st := n.Stats(); st.Violations != 0 || st.RealDials != 3 {
		t.Errorf("stats = %+v", st)
	}
}

// TestGuardLastLine checks the socket layer's own check: even a mapping
// that somehow pointed outside 127/8 is refused and counted.
func TestGuardLastLine(t *testing.T) {
	seen := recordDials(t)
	n := newNet(t, newFake())
	for _, ap := range []string{"8.8.8.8:53", "[::1]:80", "128.0.0.1:80", "0.0.0.0:1"} {
		if _, err := n.dialLoopback(context.Background(), false, netip.MustParseAddrPort(ap)); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("dialLoopback(%s) = %v", ap, err)
		}
	}
	if len(seen()) != 0 {
		t.Errorf("sockets opened: %v", seen())
	}
	if v := n.Stats().Violations; v != 4 {
		t.Errorf("violations = %d, want 4", v)
	}
}

func TestIsLoopback(t *testing.T) {
	for a, want := range map[string]bool{
		"127.0.0.1": true, "127.255.255.254": true, "127.1.2.3": true, "::ffff:127.0.0.1": true,
		"::1": false, "126.255.255.255": false, "128.0.0.0": false, "0.0.0.0": false, "52.1.1.1": false,
	} {
		if got := IsLoopback(netip.MustParseAddr(a)); got != want {
			t.Errorf("IsLoopback(%s) = %v", a, got)
		}
	}
}

// FuzzDial feeds arbitrary networks and addresses to the dialer: nothing
// may reach a socket except the one mapped loopback listener.
func FuzzDial(f *testing.F) {
	for _, a := range guardAddresses {
		f.Add("tcp", a)
	}
	f.Add("udp", "52.28.10.20:443")
	f.Add("tcp", "relay.example:443")
	var mu sync.Mutex
	var bad []netip.AddrPort
	orig := sysDial
	sysDial = func(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
		if !IsLoopback(ap.Addr()) {
			mu.Lock()
			bad = append(bad, ap)
			mu.Unlock()
		}
		return nil, errors.New("fuzz: no sockets")
	}
	defer func() { sysDial = orig }()
	d := newFake()
	d.names["relay.example"] = []netip.Addr{vEcho.Addr(), netip.MustParseAddr("8.8.8.8")}
	d.connect[vSink] = censor.Verdict{Action: censor.Drop}
	n := New(d, Options{DropTimeout: time.Millisecond})
	defer n.Close()
	if err := n.Map("tcp", vEcho, netip.MustParseAddrPort("127.0.0.1:9")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, network, address string) {
		c, err := n.Dialer("fuzz", "i")(context.Background(), network, address)
		if err == nil {
			c.Close()
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bad) != 0 {
			t.Fatalf("non-loopback dial: %v", bad)
		}
	})
}
