package vnet

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"samizdat/censor"
)

// closer is a server that closes every connection after reading (a relay
// that rejects replays and garbage).
func closer(t *testing.T, n *Net, virt netip.AddrPort) {
	ln, err := n.Listen(virt)
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
				c.Read(make([]byte, 1024))
				c.Close()
			}()
		}
	}()
}

func TestProber(t *testing.T) {
	seen := recordDials(t)
	d := newFake()
	d.connect[vEcho] = censor.Verdict{Action: censor.Drop} // the censor's own probes are not blocked
	n := newNet(t, d)
	echoServer(t, n, vEcho) // answers anything: a naive proxy
	vClose := netip.MustParseAddrPort("52.28.10.22:443")
	closer(t, n, vClose)
	bs, err := n.StartBystanders([]netip.AddrPort{netip.MustParseAddrPort("52.28.10.23:80")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	vBy := bs.List[0].Addr
	p := n.Prober(ProberOptions{Timeout: 300 * time.Millisecond, Seed: 1})
	hello := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, tc := range []struct {
		name  string
		dst   netip.AddrPort
		first []byte
		want  bool
	}{
		{"echo proxy", vEcho, []byte("noise ik msg1"), true},
		{"echo proxy, no replay", vEcho, nil, true},
		{"replay-safe relay", vClose, []byte("noise ik msg1"), false},
		{"web server", vBy, hello, false},
		{"unmapped", netip.MustParseAddrPort("8.8.8.8:443"), hello, false},
	} {
		if got := p.Probe(tc.dst, tc.first); got != tc.want {
			t.Errorf("%s: Probe = %v, want %v", tc.name, got, tc.want)
		}
	}
	strict := n.Prober(ProberOptions{Timeout: 200 * time.Millisecond, SilentIsProxy: true})
	if !strict.Probe(vBy, nil) {
		t.Error("strict prober: a silent endpoint should count as a proxy")
	}
	for _, ap := range seen() {
		if !IsLoopback(ap.Addr()) {
			t.Errorf("prober dialled %v", ap)
		}
	}
	if st := n.Stats(); st.Probes != 6 || st.ProbeHits != 3 || st.Flows != 0 {
		t.Errorf("stats = %+v", st)
	}
}

var _ net.Conn = (*flowConn)(nil)
