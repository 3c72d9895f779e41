package lab

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/censor"
	"samizdat/lab/labdata"
	"samizdat/lab/vnet"
)

// A probe round's control separates a busy machine from censorship: a
// service too slow to answer anyone (here one that never answers) fails
// from the ISP and from the control alike and is not counted; a service
// the censor blocks fails only from the ISP and is.
func TestCollateralControlSeparatesBusyFromCensored(t *testing.T) {
	blocked := netip.MustParseAddrPort("52.58.1.10:443")
	fine := netip.MustParseAddrPort("52.58.1.11:443")
	busy := netip.MustParseAddrPort("52.58.1.12:443")
	cen, err := censor.New(censor.Config{ISPs: []censor.ISP{{Name: "isp", Compliance: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cen.List(censor.IPEntry(blocked.Addr(), 0, "regulator")); err != nil {
		t.Fatal(err)
	}
	n := vnet.New(cen, vnet.Options{Now: func() censor.Time { return time.Hour }})
	t.Cleanup(func() { n.Close() })
	bys, err := n.StartBystanders([]netip.AddrPort{blocked, fine}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bys.Close() })
	// The busy service: the kernel completes the handshake, nobody answers.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if err := n.Map("tcp", busy, netip.MustParseAddrPort(ln.Addr().String())); err != nil {
		t.Fatal(err)
	}
	targets := append(bys.Targets(), vnet.ProbeTarget{Addr: busy})
	ctx := context.Background()
	// A short timeout: the busy service must time out; the loopback
	// bystander answers in far less even on a loaded machine, and if it
	// did not, the control would fail too and the test would say so.
	const timeout = 500 * time.Millisecond
	m := n.Measure(ctx, []string{"isp"}, time.Hour, targets, timeout, 8)
	control, isp := m.Control, m.ISPs[0]
	// The blocked one failed by the censor's verdict, the busy one for the
	// control too: neither is fetched again.
	if m.Retried != 0 || !isp.Censored[0] || isp.Censored[2] {
		t.Errorf("retried %d, censored %v; want 0 and only the blocked one", m.Retried, isp.Censored)
	}
	if isp.Outcomes[2] == vnet.Reachable || control.Outcomes[2] == vnet.Reachable {
		t.Fatalf("the busy service answered: isp %v, control %v", isp.Outcomes[2], control.Outcomes[2])
	}
	if control.Outcomes[0] != vnet.Reachable || isp.Outcomes[0] == vnet.Reachable {
		t.Fatalf("blocked service: control %v, isp %v", control.Outcomes[0], isp.Outcomes[0])
	}
	broken, byISP, unmeasured := collateral(control, []vnet.ProbeResult{isp})
	if want := []bool{true, false, false}; broken[0] != want[0] || broken[1] != want[1] || broken[2] != want[2] {
		t.Errorf("broken %v, want %v", broken, want)
	}
	if byISP["isp"] != 1 || unmeasured != 1 {
		t.Errorf("by isp %v, unmeasured %d; want 1 and 1", byISP, unmeasured)
	}
	// Without the control the busy service would have counted: the old
	// measure said 2 broken.
	if isp.Broken != 2 {
		t.Errorf("the ISP's own count %d, want 2", isp.Broken)
	}
}

// Bystanders come from the providers' whole published ranges, about 4 in
// 5 from AWS, not only from the prefixes the fleets use; the same seed
// places them the same way.
func TestBystandersFromWholeRanges(t *testing.T) {
	draw := func(seed int64) []netip.AddrPort {
		plan, err := vnet.NewPlan(uint64(seed), planPrefixes())
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := bystanderAddrs(plan, seed, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return addrs
	}
	a := draw(7)
	if b := draw(7); len(a) != len(b) || a[0] != b[0] || a[999] != b[999] {
		t.Error("the same seed placed bystanders differently")
	}
	aws, google, slash16 := 0, 0, map[netip.Prefix]bool{}
	awsRanges := labdata.Prefixes(outermost(bystanderWeights[0].ranges()))
	googRanges := labdata.Prefixes(outermost(bystanderWeights[1].ranges()))
	in := func(rs []netip.Prefix, a netip.Addr) bool {
		for _, r := range rs {
			if r.Contains(a) {
				return true
			}
		}
		return false
	}
	for _, ap := range a {
		switch {
		case in(awsRanges, ap.Addr()):
			aws++
		case in(googRanges, ap.Addr()):
			google++
		default:
			t.Fatalf("%v is in no provider's range", ap)
		}
		p, _ := ap.Addr().Prefix(16)
		slash16[p] = true
	}
	if aws < 740 || aws > 860 || google != 1000-aws {
		t.Errorf("AWS %d, Google %d of 1000; want about 800 and 200", aws, google)
	}
	if len(slash16) < 200 {
		t.Errorf("bystanders in only %d /16s", len(slash16))
	}
}

// stallFirst is a censor that lets everything through but whose first
// connect-time decision takes longer than a probe's timeout: the ISP's
// path waiting on a busy censor (or a loaded machine), not a block.
type stallFirst struct {
	stall time.Duration
	once  sync.Once
	calls atomic.Int64
}

func (d *stallFirst) Decide(censor.Time, censor.Flow) censor.Verdict {
	d.calls.Add(1)
	d.once.Do(func() { time.Sleep(d.stall) })
	return censor.Verdict{}
}
func (d *stallFirst) Inspect(censor.Time, censor.Flow) censor.Verdict { return censor.Verdict{} }
func (d *stallFirst) Resolve(censor.Time, string, string) ([]netip.Addr, bool) {
	return nil, false
}

// A bystander the control reaches and whose ISP fetch timed out without
// the censor blocking it is fetched again and, reached then, is not
// collateral: the false positives of rkn-2018 seed 1, where 190 of 200
// bystanders read as broken on a busy machine while the censor blocked
// none of them.
func TestCollateralSlowPathIsNotCensorship(t *testing.T) {
	const timeout = time.Second
	d := &stallFirst{stall: 2 * timeout} // longer than the timeout: the first fetch always fails
	n := vnet.New(d, vnet.Options{Now: func() censor.Time { return time.Hour }})
	t.Cleanup(func() { n.Close() })
	slow := netip.MustParseAddrPort("52.58.1.20:443")
	bys, err := n.StartBystanders([]netip.AddrPort{slow}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bys.Close() })
	m := n.Measure(context.Background(), []string{"isp"}, time.Hour, bys.Targets(), timeout, 4)
	if m.Control.Outcomes[0] != vnet.Reachable {
		t.Skipf("the control did not reach a loopback service in %v: machine too busy to measure", timeout)
	}
	if m.Retried != 1 || d.calls.Load() != 2 {
		t.Fatalf("retried %d with %d censor decisions; want the stalled fetch retried once", m.Retried, d.calls.Load())
	}
	if m.Cleared != 1 {
		t.Fatalf("the retry did not reach a loopback service the censor lets through: %v", m.ISPs[0].Outcomes)
	}
	broken, byISP, _ := collateral(m.Control, m.ISPs)
	if broken[0] || byISP["isp"] != 0 {
		t.Errorf("a bystander reached on the retry counts as broken (%v, %v)", broken, byISP)
	}
	if m.ISPs[0].Censored[0] {
		t.Error("a fetch the censor let through reads as censored")
	}
}
