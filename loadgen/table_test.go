package loadgen

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestRatio: relay/base keeps to three significant digits too (a run once
// printed "16.15×").
func TestRatio(t *testing.T) {
	base := &Metric{}
	for v, want := range map[float64]string{16.15: "16.1×", 0.2934: "0.293×", 1.13: "1.13×", 123.4: "123×"} {
		r := &Result{Baseline: base, Ratio: v}
		if got := r.ratio(); got != want {
			t.Errorf("ratio %v printed %q, want %q", v, got, want)
		}
	}
}

func TestNum(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{40, "40"},
		{2377, "2377"},
		{19725, "19725"},
		{20000, "20k"},
		{100000, "100k"},
		{16, "16"},
		{0.5, "0.5"},
		{16.0001, "16.0"},
		{0.002215937118761017, "0.00222"},
		{6.4, "6.4"},
		{9.996, "10.0"},
		{27.04, "27.0"},
		{99.96, "100"},
		{3498.2, "3498"},
		{12933.4, "12.9k"},
		{99960.5, "100k"},
		{123456.7, "123k"},
		{2.5e6 + 0.5, "2.5M"},
		{1.234e-5, "1.23e-05"},
		{-3.25, "-3.25"},
		{-12933.4, "-12.9k"},
		{999000, "999k"},
		{9.99e8, "999M"},
		{3e6, "3M"},
	} {
		if got := num(c.v); got != c.want {
			t.Errorf("num(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestWrap(t *testing.T) {
	text := strings.Repeat("word ", 60) + strings.Repeat("x", 120)
	got := wrap("scenario: ", text, 40)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "scenario: word") {
		t.Errorf("first line %q", lines[0])
	}
	for i, l := range lines {
		if i > 0 && !strings.HasPrefix(l, "  ") {
			t.Errorf("line %d not indented: %q", i, l)
		}
		if n := utf8.RuneCountInString(l); n > 40 && !strings.Contains(l, strings.Repeat("x", 120)) {
			t.Errorf("line %d is %d columns: %q", i, n, l)
		}
	}
	if strings.Join(strings.Fields(got), " ") != "scenario: "+strings.Join(strings.Fields(text), " ") {
		t.Errorf("wrap lost words: %q", got)
	}
}

func TestTarget(t *testing.T) {
	for _, c := range []struct {
		name    string
		value   float64
		op      string
		want    float64
		atSize  bool
		met     bool
		verdict string
	}{
		{"at least, met", 12000, atLeast, 10000, true, true, "met"},
		{"at least, missed", 9999, atLeast, 10000, true, false, "NOT MET"},
		{"at most, on the line", 16, atMost, 16, true, true, "met"},
		{"at most, over", 16.01, atMost, 16, true, false, "NOT MET"},
		{"below, on the line", 50, below, 50, true, false, "NOT MET"},
		{"exactly", 0, exactly, 0, true, true, "met"},
		{"smaller than its size, would be missed", 40, atLeast, 100000, false, false, "full scale only"},
		{"smaller than its size, would be met", 1, atMost, 16, false, false, "full scale only"},
		{"no samples", math.NaN(), below, 50, true, false, "NOT MET"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r Result
			r.add("fig", c.value, "ms")
			r.target("target", "fig", c.op, c.want, c.atSize)
			tg := r.Targets[0]
			if tg.Met != c.met || tg.Judged != c.atSize || tg.Verdict() != c.verdict {
				t.Errorf("met %v judged %v verdict %q, want %v %v %q", tg.Met, tg.Judged, tg.Verdict(), c.met, c.atSize, c.verdict)
			}
			if tg.Unit != "ms" || tg.Metric != "fig" || tg.Op != c.op || tg.Want != c.want {
				t.Errorf("target %+v", tg)
			}
		})
	}
}
