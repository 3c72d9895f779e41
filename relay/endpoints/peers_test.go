package endpoints_test

import (
	"errors"
	"net"
	"slices"
	"testing"

	"samizdat/relay/endpoints"
)

// TestPeers checks that the endpoints of other nodes go into every
// manifest after the node's own, that one equal to an own endpoint is left
// out (every node may get the same list), that they survive a change of
// the node's own endpoints, and that a wss peer without the other node's
// secret is refused.
func TestPeers(t *testing.T) {
	r := newRelay(t)
	own := freeLoopback(t)
	other := freeLoopback(t)
	parse := func(u string) endpoints.Spec {
		s, err := endpoints.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	m := r.start(t, func(o *endpoints.Options) {
		o.Peers = []endpoints.Spec{
			parse("tcp://" + other),
			parse("tcp://" + own), // this node itself
			parse("tcp://10.1.2.3:7001?address=198.51.100.7:443"),
		}
	}, "tcp://"+own+"?name=b")
	want := []string{"tcp=" + own, "tcp=" + other, "tcp=198.51.100.7:443"}
	if got := addresses(r.verify(t, m.Manifest())); !slices.Equal(got, want) {
		t.Errorf("manifest endpoints %v, want %v", got, want)
	}
	if n := len(m.List()); n != 1 {
		t.Errorf("%d endpoints open, want only the node's own", n)
	}
	if canDial(other) {
		t.Error("the manager listens on a peer's address")
	}
	added := freeLoopback(t)
	if _, err := m.Add(parse("tcp://" + added + "?name=a")); err != nil {
		t.Fatal(err)
	}
	want = []string{"tcp=" + added, "tcp=" + own, "tcp=" + other, "tcp=198.51.100.7:443"}
	if got := addresses(r.verify(t, m.Manifest())); !slices.Equal(got, want) {
		t.Errorf("after Add: manifest endpoints %v, want %v", got, want)
	}

	r2 := newRelay(t)
	_, err := endpoints.Start(endpoints.Options{Dir: r2.dir, Server: r2.srv, Keys: r2.keys, Network: "testnet",
		Listen: []endpoints.Spec{parse("tcp://" + freeLoopback(t))}, Peers: []endpoints.Spec{parse("wss://127.0.0.1:7443?sni=example.org")}})
	if !errors.Is(err, endpoints.ErrConfig) {
		t.Errorf("a wss peer without its secret: %v, want ErrConfig", err)
	}
}

// freeLoopback returns a loopback address nobody listens on (for now).
func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
