package lab

import (
	"context"
	"os"
	"testing"
	"time"

	"samizdat/lab/scenario"
)

// TestScenario runs a full scenario when asked (it takes minutes):
//
//	SAMIZDAT_LAB_SCENARIO=rkn-2018 SAMIZDAT_LAB_OUT=/tmp/lab go test -count=1 -v -run TestScenario -timeout 20m ./lab
//
// SAMIZDAT_LAB_SCENARIO is a built-in name or a scenario file. It logs
// the figures and fails if an invariant does; missed design targets are
// findings, not failures.
func TestScenario(t *testing.T) {
	name := os.Getenv("SAMIZDAT_LAB_SCENARIO")
	if name == "" {
		t.Skip("set SAMIZDAT_LAB_SCENARIO to a built-in scenario or a file")
	}
	sc, err := scenario.Builtin(name)
	if err != nil {
		if sc, err = scenario.Load(name); err != nil {
			t.Fatal(err)
		}
	}
	opt := Options{Out: os.Getenv("SAMIZDAT_LAB_OUT")}
	last := time.Now()
	opt.Progress = func(p Progress) {
		if p.Phase != "run" && p.Phase != "drain" || time.Since(last) >= 10*time.Second {
			last = time.Now()
			t.Logf("%s %v/%v blocked %d bystanders broken %d/%d %+v %s", p.Phase, p.T.Round(time.Second), p.Total,
				p.BlockedAddresses, p.BystandersBroken, p.Bystanders, p.Strategies, p.Event)
		}
	}
	start := time.Now()
	r, err := Run(context.Background(), sc, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: seed %d, %v wall", sc.Name, r.Seed, time.Since(start).Round(time.Second))
	logReport(t, r)
	for _, ch := range r.Invariants {
		if !ch.OK {
			t.Errorf("invariant %q failed: %s", ch.Name, ch.Detail)
		}
	}
}
