package fleet_test

import (
	"context"
	"testing"
	"time"

	"samizdat/censor"
	"samizdat/lab/fleet"
	"samizdat/lab/scenario"
	"samizdat/lab/vnet"
)

// BenchmarkOperatorCheck measures one operator check of the samizdat
// fleet under the rkn-2018 censor (its 2018 registry, five ISPs, the
// published registry watched) with nothing of the fleet's blocked: what
// every lab tick costs per strategy when nothing moves.
// Run: go test -run XXX -bench OperatorCheck -benchtime=200x ./lab/fleet
func BenchmarkOperatorCheck(b *testing.B) {
	sc, err := scenario.Builtin("rkn-2018")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := sc.CensorConfig(1, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	c, err := censor.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	plan, err := vnet.NewPlan(1, append(vnet.DefaultPrefixes(), censor.Providers2018()...))
	if err != nil {
		b.Fatal(err)
	}
	n := vnet.New(c, vnet.Options{})
	defer n.Close()
	sh, err := fleet.StartShared(context.Background(), fleet.SharedConfig{Net: n, Plan: plan, Censor: c})
	if err != nil {
		b.Fatal(err)
	}
	defer sh.Close()
	op := sc.Operator
	op.CheckEvery, op.WatchRegistry = 0, true
	f, err := fleet.Start(context.Background(), fleet.Config{Strategy: fleet.Samizdat, Net: n, Plan: plan,
		Censor: c, Shared: sh, Dir: b.TempDir(), Operator: op})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if m := f.Tick(time.Duration(i) * time.Microsecond); len(m) != 0 {
			b.Fatalf("moved: %+v", m)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(f.Endpoints())), "endpoints")
}

// BenchmarkOperatorMove measures a check that moves one endpoint of a
// 16-cohort samizdat fleet: drawing the address, one Reload of the
// endpoints and one newly signed manifest per cohort, written to the
// fleet's directory and published to the channels.
// Run: go test -run XXX -bench OperatorMove -benchtime=20x ./lab/fleet
func BenchmarkOperatorMove(b *testing.B) {
	c, err := censor.New(censor.Config{Seed: 1, ISPs: []censor.ISP{{Name: "isp", Compliance: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	plan, err := vnet.NewPlan(1, vnet.DefaultPrefixes())
	if err != nil {
		b.Fatal(err)
	}
	n := vnet.New(c, vnet.Options{})
	defer n.Close()
	sh, err := fleet.StartShared(context.Background(), fleet.SharedConfig{Net: n, Plan: plan, Censor: c})
	if err != nil {
		b.Fatal(err)
	}
	defer sh.Close()
	f, err := fleet.Start(context.Background(), fleet.Config{Strategy: fleet.Samizdat, Net: n, Plan: plan,
		Censor: c, Shared: sh, Dir: b.TempDir(), Operator: scenario.Operator{MovesPerMinute: 1 << 30, Cohorts: 16}})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now := time.Duration(i+1) * time.Second
		for _, a := range f.Endpoints() {
			if a != sh.CDNAddr() {
				c.Block(now, a.Addr(), "bench")
				break
			}
		}
		if m := f.Tick(now); len(m) != 1 {
			b.Fatalf("%d moves", len(m))
		}
	}
}
