package vnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"samizdat/censor"
)

func TestBystandersCollateral(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	p, err := NewPlan(5, testPrefixes())
	if err != nil {
		t.Fatal(err)
	}
	const count = 200
	var addrs []netip.AddrPort
	var names []string
	for i := range count {
		a, err := p.Alloc("bystander", "", func(pr Prefix) bool { return pr.Prefix.Addr().Is4() })
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, netip.AddrPortFrom(a.Addr, 0))
		name := ""
		if i%10 == 0 {
			name = fmt.Sprintf("shop%d.example", i)
			d.names[name] = []netip.Addr{a.Addr}
		}
		names = append(names, name)
	}
	// three more sites behind the CDN edge of bystander 20
	cdn := addrs[20].Addr()
	for i := range 3 {
		name := fmt.Sprintf("cdn%d.example", i)
		d.names[name] = []netip.Addr{cdn}
		addrs = append(addrs, netip.AddrPortFrom(cdn, 0))
		names = append(names, name)
	}
	bs, err := n.StartBystanders(addrs, names)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	if bs.List[0].Addr.Port() != 80 {
		t.Errorf("default port = %d", bs.List[0].Addr.Port())
	}
	ctx := context.Background()
	res := n.Probe(ctx, "isp-a", bs.Targets(), 10*time.Second, 32)
	if res.Reachable != count+3 || res.Broken != 0 {
		t.Fatalf("unblocked probe: %+v", res.ByOutcome)
	}

	// Block a few in each way the censor can.
	tg := bs.Targets()
	d.connect[tg[1].Addr] = censor.Verdict{Action: censor.Drop}
	d.connect[tg[2].Addr] = censor.Verdict{Action: censor.Reset}
	d.connect[tg[3].Addr] = censor.Verdict{Action: censor.BlockPage}
	d.first["Host: "+tg[4].Addr.Addr().String()] = censor.Verdict{Action: censor.Reset}
	d.first["Host: "+tg[5].Addr.Addr().String()] = censor.Verdict{Action: censor.Drop}
	d.names[tg[10].Name] = []netip.Addr{netip.MustParseAddr("10.0.0.1")} // poisoned
	d.poison[tg[10].Name] = true
	d.connect[tg[20].Addr] = censor.Verdict{Action: censor.Drop} // the CDN edge
	res = n.Probe(ctx, "isp-a", tg, 3*time.Second, 64)
	want := map[int]Outcome{1: Timeout, 2: Refused, 3: Blocked, 4: ResetConn, 5: Timeout, 10: Unroutable,
		20: Timeout, count: Timeout, count + 1: Timeout, count + 2: Timeout}
	for i, o := range res.Outcomes {
		w, ok := want[i]
		if !ok {
			w = Reachable
		}
		if o != w {
			t.Errorf("target %d (%v %q): %v, want %v", i, tg[i].Addr, tg[i].Name, o, w)
		}
		// Every failure here is the censor's, and the probe knows it.
		if res.Censored[i] != (w != Reachable) {
			t.Errorf("target %d: censored %v, outcome %v", i, res.Censored[i], o)
		}
	}
	if res.Broken != len(want) || res.Reachable != count+3-len(want) || res.ISP != "isp-a" {
		t.Errorf("result = reachable %d broken %d", res.Reachable, res.Broken)
	}
	if res.ByOutcome["timeout"] != 6 {
		t.Errorf("by outcome = %v", res.ByOutcome)
	}
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
}

// An operator's endpoint is reached when the connection opens and the
// request meets anything but a block page, even silence (a server that
// does not speak HTTP); a block at connect or by block page is not.
func TestProbeEndpoint(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accepts and stays silent, like a relay waiting for a handshake
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	real := netip.MustParseAddrPort(ln.Addr().String())
	var targets []ProbeTarget
	for i := range 4 {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{52, 28, 11, byte(10 + i)}), 443)
		if err := n.Map("tcp", a, real); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, ProbeTarget{Addr: a, Endpoint: true})
	}
	d.connect[targets[1].Addr] = censor.Verdict{Action: censor.Drop}
	d.connect[targets[2].Addr] = censor.Verdict{Action: censor.Reset}
	d.connect[targets[3].Addr] = censor.Verdict{Action: censor.BlockPage}
	const timeout = 300 * time.Millisecond
	r := n.Measure(context.Background(), []string{"isp-a"}, 0, targets, timeout, 8)
	want := []Outcome{Reachable, Timeout, Refused, Blocked}
	for i, w := range want {
		if r.Control.Outcomes[i] != Reachable {
			t.Errorf("control, endpoint %d: %v", i, r.Control.Outcomes[i])
		}
		if o := r.ISPs[0].Outcomes[i]; o != w || r.ISPs[0].Censored[i] != (w != Reachable) {
			t.Errorf("isp, endpoint %d: %v (censored %v), want %v", i, o, r.ISPs[0].Censored[i], w)
		}
	}
}
