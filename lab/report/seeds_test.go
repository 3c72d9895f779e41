package report

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestAggregate(t *testing.T) {
	mk := func(seed int64, sent int, ratio float64) *Report {
		return &Report{Scenario: "s", Seed: seed, DurationMS: 1000,
			Strategies: map[string]Strategy{"samizdat": {Sent: sent, DeliveryRatio: ratio}}}
	}
	reps := []*Report{mk(1, 10, 0.5), mk(2, 11, 0.6), mk(3, 13, 0.7)}
	got, err := Aggregate(reps)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	st := got.Strategies["samizdat"]
	if !near(st.DeliveryRatio, 0.6) {
		t.Errorf("delivery_ratio = %v, want the mean 0.6", st.DeliveryRatio)
	}
	if st.Sent != 11 { // mean 11.33, a count: rounded
		t.Errorf("sent = %d, want 11", st.Sent)
	}
	if got.Seed != 1 || len(got.Seeds) != 3 || got.Seeds[2] != 3 {
		t.Errorf("seed %d, seeds %v", got.Seed, got.Seeds)
	}
	iv, ok := got.Intervals["strategies.samizdat.delivery_ratio"]
	if !ok {
		t.Fatalf("no interval for delivery_ratio in %v", got.Intervals)
	}
	// Values 0.5, 0.6, 0.7: s = 0.1, t(2) = 4.303, half-width 4.303·0.1/√3.
	half := 4.303 * 0.1 / math.Sqrt(3)
	if !near(iv.Mean, 0.6) || !near(iv.Low, 0.6-half) || !near(iv.High, 0.6+half) || len(iv.Values) != 3 || iv.Values[1] != 0.6 {
		t.Errorf("interval %+v, want 0.6 ± %v", iv, half)
	}
	if iv := got.Intervals["strategies.samizdat.sent"]; !near(iv.Mean, 34.0/3) {
		t.Errorf("sent's interval mean %v, want the exact mean", iv.Mean)
	}
	if _, ok := got.Intervals["seed"]; ok {
		t.Error("the seed is not a figure")
	}
	// It round-trips as report.json, with the intervals.
	b, err := json.Marshal(got)
	if err != nil || !strings.Contains(string(b), `"strategies.samizdat.delivery_ratio"`) {
		t.Fatalf("json: %v %s", err, b)
	}
	// One seed: a zero-width interval.
	one, err := Aggregate(reps[:1])
	if err != nil {
		t.Fatal(err)
	}
	if iv := one.Intervals["strategies.samizdat.delivery_ratio"]; iv.Low != 0.5 || iv.High != 0.5 {
		t.Errorf("one seed: %+v", iv)
	}
	if _, err := Aggregate([]*Report{reps[0], {Scenario: "other"}}); err == nil {
		t.Error("aggregated two scenarios")
	}
	page, err := HTML(got)
	if err != nil || !strings.Contains(string(page), "Over 3 seeds") {
		t.Errorf("page: %v", err)
	}
}
