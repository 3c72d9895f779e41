package lab

import (
	"testing"

	"samizdat/lab/report"
	"samizdat/lab/scenario"
)

func TestColdStartTarget(t *testing.T) {
	// Four cold-start clients; the median (10 s) looks fine, but it is
	// only met when at least two of them got through within 30 s: a
	// failure counts as the rest of the run, which can be short.
	median := 10_000.0
	for _, tt := range []struct {
		inTime int
		met    bool
	}{{0, false}, {1, false}, {2, true}, {4, true}} {
		s := newStrategyRun(scenario.Samizdat)
		s.coldInTime = tt.inTime
		w := &world{sc: &scenario.Scenario{ColdStart: 4, Censor: scenario.Censor{Preset: scenario.PresetRKN2018}}, strategies: []*strategyRun{s}}
		r := &report.Report{Strategies: map[string]report.Strategy{
			scenario.Samizdat: {Sent: 10, Delivered: 10, DeliveryRatio: 1, ColdStartMS: &median, ColdStartFailed: 4 - tt.inTime},
		}}
		var got *report.Target
		for _, tg := range w.designTargets(r) {
			if tg.Name == "cold start" {
				got = &tg
			}
		}
		if got == nil {
			t.Fatal("no cold start target")
		}
		if got.Met != tt.met || got.Got != median {
			t.Errorf("%d of 4 in time: met %v (got %v), want %v", tt.inTime, got.Met, got.Got, tt.met)
		}
	}
}

// With no outage at all, the reconnect targets are not measured: not met,
// Got -1 (the percentile of nothing is 0, which used to read "met").
func TestReconnectTargetNotMeasured(t *testing.T) {
	w := &world{sc: &scenario.Scenario{Censor: scenario.Censor{Preset: scenario.PresetRKN2018}}}
	for _, tt := range []struct {
		name string
		st   report.Strategy
		got  float64
		met  bool
	}{
		{"no outage", report.Strategy{Sent: 10}, -1, false},
		{"fast reconnects", report.Strategy{Sent: 10, Reconnects: 3, ReconnectP50MS: 40, ReconnectP99MS: 90}, 40, true},
		{"never back", report.Strategy{Sent: 10, Unrecovered: 2, ReconnectP50MS: 30_000, ReconnectP99MS: 30_000}, 30_000, false},
	} {
		r := &report.Report{Strategies: map[string]report.Strategy{scenario.Samizdat: tt.st}}
		for _, tg := range w.designTargets(r) {
			if tg.Name != "reconnect median" {
				continue
			}
			if tg.Got != tt.got || tg.Met != tt.met {
				t.Errorf("%s: got %v met %v, want %v %v", tt.name, tg.Got, tg.Met, tt.got, tt.met)
			}
		}
	}
}
