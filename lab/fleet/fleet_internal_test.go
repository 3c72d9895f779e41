package fleet

import (
	"context"
	"net"
	"testing"
	"time"

	"samizdat/censor"
	"samizdat/lab/scenario"
	"samizdat/lab/vnet"
)

// TestTakenPortsAreReplaced: when a reserved loopback port is taken
// before the relay listens on it, Start and the operator's moves keep the
// virtual addresses and open the endpoints on new ports.
func TestTakenPortsAreReplaced(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	real := reservePort
	calls := 0
	reservePort = func(n *vnet.Net) (string, error) {
		calls++
		if calls == 1 {
			return taken.Addr().String(), nil
		}
		return real(n)
	}
	defer func() { reservePort = real }()

	c, err := censor.New(censor.Config{Seed: 1, ISPs: []censor.ISP{{Name: "isp", Compliance: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := vnet.NewPlan(1, vnet.DefaultPrefixes())
	if err != nil {
		t.Fatal(err)
	}
	n := vnet.New(c, vnet.Options{})
	defer n.Close()
	ctx := context.Background()
	sh, err := StartShared(ctx, SharedConfig{Net: n, Plan: plan, Censor: c})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	f, err := Start(ctx, Config{Strategy: Telegram2018, Net: n, Plan: plan, Censor: c, Shared: sh,
		Dir: t.TempDir(), Operator: scenario.Operator{MovesPerMinute: 10}})
	if err != nil {
		t.Fatalf("start with a taken port: %v", err)
	}
	defer f.Close()
	if calls <= TelegramEndpoints {
		t.Fatalf("reservePort called %d times; the taken port was not replaced", calls)
	}
	// A move whose reserved port is taken: the replacement opens on
	// another port, in the same check.
	calls = 0
	w := f.Endpoints()[0]
	c.Block(0, w.Addr(), "test")
	f.Tick(0) // a vantage round sees the block
	if m := f.Tick(time.Second); len(m) != 1 || m[0].Old != w {
		t.Fatalf("moves: %+v", m)
	}
	if calls < 2 {
		t.Fatalf("reservePort called %d times; the taken port was not replaced", calls)
	}
	for _, a := range f.Endpoints() {
		l, ok := n.Lookup("tcp", a)
		if !ok || l.String() == taken.Addr().String() {
			t.Fatalf("%s maps to %v (taken: %s)", a, l, taken.Addr())
		}
		conn, err := net.Dial("tcp", l.String())
		if err != nil {
			t.Fatalf("endpoint %s not listening on %s: %v", a, l, err)
		}
		conn.Close()
	}
}
