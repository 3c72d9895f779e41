package bucket

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func TestSpend(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name              string
		s                 State
		fresh             bool
		cost, burst, rate float64
		now               time.Time
		want              State
		ok                bool
		retry             time.Duration
	}{
		{"fresh is full", State{}, true, 2, 5, 1, t0, State{3, t0}, true, 0},
		{"refill", State{0, t0}, false, 1, 5, 2, t0.Add(time.Second), State{1, t0.Add(time.Second)}, true, 0},
		{"refill capped", State{4, t0}, false, 5, 5, 10, t0.Add(time.Hour), State{0, t0.Add(time.Hour)}, true, 0},
		{"short", State{0.5, t0}, false, 1, 5, 2, t0, State{0.5, t0}, false, 250 * time.Millisecond},
		{"over burst", State{5, t0}, false, 6, 5, 2, t0, State{5, t0}, false, Forever},
		{"zero rate", State{0, t0}, false, 1, 5, 0, t0.Add(time.Hour), State{0, t0.Add(time.Hour)}, false, Forever},
		{"clock back", State{0, t0}, false, 1, 5, 1, t0.Add(-time.Hour), State{0, t0}, false, time.Second},
		{"burst lowered", State{10, t0}, false, 3, 2, 1, t0, State{2, t0}, false, Forever},
		{"free", State{0, t0}, false, 0, 5, 1, t0, State{0, t0}, true, 0},
		{"tiny rate", State{0, t0}, false, 1, 5, 1e-300, t0, State{0, t0}, false, Forever},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, retry := Spend(tc.s, tc.fresh, tc.cost, tc.burst, tc.rate, tc.now)
			if math.Abs(got.Tokens-tc.want.Tokens) > 1e-9 || !got.Last.Equal(tc.want.Last) || ok != tc.ok || retry != tc.retry {
				t.Errorf("Spend = %+v, %v, %v; want %+v, %v, %v", got, ok, retry, tc.want, tc.ok, tc.retry)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	for _, v := range []float64{-1, math.NaN(), math.Inf(1)} {
		if Check(v, 1, 1) == nil || Check(1, v, 1) == nil || Check(1, 1, v) == nil {
			t.Errorf("Check accepted %v", v)
		}
	}
	if err := Check(0, 0, 0); err != nil {
		t.Errorf("Check(0, 0, 0) = %v", err)
	}
}

func TestTableSweep(t *testing.T) {
	tab := NewTable()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 20000 {
		tab.Allow(fmt.Sprint("k", i), 1, 1, 1, t0)
	}
	// An hour later every bucket is full again and may be forgotten.
	for i := range 40000 {
		if ok, _, _ := tab.Allow(fmt.Sprint("x", i), 1, 1, 1, t0.Add(time.Hour)); !ok {
			t.Fatal("fresh bucket refused")
		}
	}
	if n := tab.Len(); n > 45000 {
		t.Errorf("table holds %d buckets, want full ones swept", n)
	}
	// A bucket in use is not forgotten.
	tab.Allow("hot", 1, 1, 0, t0)
	for i := range 20000 {
		tab.Allow(fmt.Sprint("y", i), 1, 1, 1, t0.Add(2*time.Hour))
	}
	if ok, _, _ := tab.Allow("hot", 1, 1, 0, t0.Add(2*time.Hour)); ok {
		t.Error("an empty bucket was swept and came back full")
	}
}
