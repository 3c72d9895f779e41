package lab

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"samizdat/internal/leaktest"
	"samizdat/internal/testctx"
	"samizdat/lab/report"
	"samizdat/lab/scenario"
)

// deterministic is the subset of a run that must not depend on the
// machine: every allocated address (in order, with its role), the
// censor's events (list, unlist, escalate, enumerate, and the blocks of
// what its own clients enumerated) and the operators' moves, each with its
// lab time. Left out, because they react to client flows and timing:
// active-probe events and blocks (none in rkn-2018) and everything
// measured about clients.
type deterministic struct {
	Addrs  []string
	Events []string
}

func deterministicPart(w *world, r *report.Report) deterministic {
	var d deterministic
	for _, a := range w.plan.Addrs("") {
		d.Addrs = append(d.Addrs, a.Role+" "+a.Name+" "+a.Addr.String())
	}
	for _, e := range r.Events {
		if e.Who == "censor" && (e.What == "probe" || strings.Contains(e.Detail, "probe")) {
			continue
		}
		d.Events = append(d.Events, fmt.Sprintf("%d %s %s %s", e.TMS, e.Who, e.What, e.Detail))
	}
	return d
}

// TestCI runs the built-in "ci" scenario for real, twice with its seed and
// once (shortened) with another, all at once: each run's invariants hold,
// the two same-seed runs agree on the deterministic part, the other seed
// differs, and nothing is left running.
func TestCI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the ci scenario twice and a short one (about 4 s of CPU each)")
	}
	sc, err := scenario.Builtin("ci")
	if err != nil {
		t.Fatal(err)
	}
	if race {
		// The race detector multiplies the CPU of every step; keep every
		// mechanism ci exercises (built-in endpoints listed at 1 s and
		// enforced by 61 s, the end of fronting at 30 s, cold starts at
		// 65 s, enumeration, moves) on half the clients and a shorter run.
		sc.Clients, sc.Duration, sc.Drain = sc.Clients/2, scenario.Duration(70*time.Second), scenario.Duration(5*time.Second)
	}
	other := *sc
	other.Duration, other.Drain, other.ColdStart = scenario.Duration(3*time.Second), scenario.Duration(time.Second), 0
	before := runtime.NumGoroutine()

	type result struct {
		w   *world
		r   *report.Report
		err error
	}
	results := make([]result, 3)
	var progress [3][]Progress
	out := t.TempDir()
	for i := range results {
		s, opt := sc, Options{Work: filepath.Join(t.TempDir(), "work")}
		switch i {
		case 0:
			opt.Out = out
		case 2:
			s, opt.Seed = &other, sc.Seed+1
		}
		opt.Progress = func(p Progress) { progress[i] = append(progress[i], p) }
		// One after the other: each run's clock waits for the whole
		// process to be quiescent, so runs side by side only slow each
		// other down.
		ctx, cancel := testctx.Bounded(t) // a hung run fails before the binary times out; a slow one is not cut short
		w, r, err := run(ctx, s, opt)
		cancel()
		results[i] = result{w, r, err}
	}
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("run %d: %v", i, res.err)
		}
	}
	a, b, c := results[0], results[1], results[2]
	logReport(t, a.r)

	for i, res := range results[:2] {
		r := res.r
		if res.w.offlineAtStart != 0 {
			t.Errorf("run %d: %d clients offline when the run began", i, res.w.offlineAtStart)
		}
		for _, ch := range r.Invariants {
			if !ch.OK {
				t.Errorf("run %d: invariant %q failed: %s", i, ch.Name, ch.Detail)
			}
		}
		if len(r.Invariants) == 0 {
			t.Errorf("run %d: no invariants checked", i)
		}
		for _, name := range sc.Strategies {
			st, ok := r.Strategies[name]
			if !ok {
				t.Errorf("run %d: no figures for %s", i, name)
				continue
			}
			if st.Sent == 0 || st.Clients < sc.Clients {
				t.Errorf("run %d: %s: sent %d with %d clients", i, name, st.Sent, st.Clients)
			}
		}
		if st := r.Strategies[scenario.Samizdat]; st.Delivered == 0 {
			t.Errorf("run %d: samizdat delivered nothing", i)
		}
		if r.Censor.Bystanders != sc.Bystanders {
			t.Errorf("run %d: %d bystanders, want %d", i, r.Censor.Bystanders, sc.Bystanders)
		}
		if want := int((sc.Duration.D()+sc.Drain.D())/time.Second) + 1; len(r.Timeline) != want {
			t.Errorf("run %d: %d timeline samples, want %d", i, len(r.Timeline), want)
		}
		if len(r.Targets) == 0 {
			t.Errorf("run %d: no design targets stated", i)
		}
	}

	// The built-in endpoints listed at 2 s make every moving operator
	// move: the run exercised the operator and the censor.
	da, db, dc := deterministicPart(a.w, a.r), deterministicPart(b.w, b.r), deterministicPart(c.w, c.r)
	moves, lists := 0, 0
	for _, e := range da.Events {
		if strings.Contains(e, " move ") {
			moves++
		} else {
			lists++
		}
	}
	if moves == 0 || lists == 0 {
		t.Errorf("the ci run made %d moves and %d censor events; want both", moves, lists)
	}
	if ends := sc.CDN.FrontingEnds; ends == nil || !slices.ContainsFunc(a.r.Events, func(e report.Event) bool {
		return e.Who == "cdn" && e.What == "fronting ends" && e.TMS == ends.D().Milliseconds()
	}) {
		t.Errorf("the ci run has no event of the CDN ending fronting at %v", ends)
	}
	if !slices.Equal(da.Addrs, db.Addrs) {
		t.Errorf("same seed, different address plans:\n%s", diff(da.Addrs, db.Addrs))
	}
	if !slices.Equal(da.Events, db.Events) {
		t.Errorf("same seed, different censor events or moves:\n%s", diff(da.Events, db.Events))
	}
	// On the simulated clock the clients' figures repeat too: every count
	// and ratio, and the censor's figures. (Times may move by a few
	// milliseconds: see docs/lab-clock.md on what the scheduler's counts
	// miss.)
	if fa, fb := figures(a.r), figures(b.r); !slices.Equal(fa, fb) {
		t.Errorf("same seed, different figures:\n%s", diff(fa, fb))
	}
	if n := min(len(da.Addrs), len(dc.Addrs)); n == 0 || slices.Equal(da.Addrs[:n], dc.Addrs[:n]) {
		t.Errorf("seeds %d and %d gave the same address plan", sc.Seed, sc.Seed+1)
	}

	// The report was written, and progress went through every phase.
	for _, f := range []string{"report.json", "index.html"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if raw, err := os.ReadFile(filepath.Join(out, "report.json")); err == nil {
		var back report.Report
		if err := json.Unmarshal(raw, &back); err != nil || back.Strategies[scenario.Samizdat].Sent != a.r.Strategies[scenario.Samizdat].Sent {
			t.Errorf("report.json does not read back: %v", err)
		}
	}
	var phases []string
	for _, p := range progress[0] {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}
	if want := []string{"setup", "run", "drain", "report"}; !slices.Equal(phases, want) {
		t.Errorf("progress phases %v, want %v", phases, want)
	}

	// Goroutine-clean: everything the runs started has stopped.
	leaktest.AtMost(t, before)
}

// figures lists the counts and ratios of a report, per strategy, and the
// censor's figures.
func figures(r *report.Report) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(r.Strategies)) {
		st := r.Strategies[name]
		out = append(out, fmt.Sprintf("%s sent %d delivered %d ratio %v reconnects %d (via bridge %d) unrecovered %d cold-failed %d moves %d bridges %d",
			name, st.Sent, st.Delivered, st.DeliveryRatio, st.Reconnects, st.ReconnectsViaBridge, st.Unrecovered, st.ColdStartFailed, st.Moves, st.Bridges))
	}
	c, _ := json.Marshal(r.Censor)
	return append(out, "censor "+string(c))
}

// logReport logs a run's figures, checks and notes.
func logReport(t *testing.T, r *report.Report) {
	names := make([]string, 0, len(r.Strategies))
	for name := range r.Strategies {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		st := r.Strategies[name]
		t.Logf("%-14s clients %d sent %d delivered %d (%.1f%%) latency p50 %.0f ms p99 %.0f ms; reconnects %d (p50 %.0f ms, p99 %.0f ms, unrecovered %d); cold start %s (failed %d); moves %d; availability %.2f",
			name, st.Clients, st.Sent, st.Delivered, st.DeliveryRatio*100, st.LatencyP50MS, st.LatencyP99MS, st.Reconnects,
			st.ReconnectP50MS, st.ReconnectP99MS, st.Unrecovered, fmtMS(st.ColdStartMS), st.ColdStartFailed, st.Moves, st.Availability)
	}
	c := r.Censor
	t.Logf("censor: %d addresses, %d prefixes, %d entries; bystanders broken %d of %d at the end (max %d, by isp %v)",
		c.BlockedAddresses, c.BlockedPrefixes, c.Entries, c.BystandersBroken, c.Bystanders, c.MaxBystandersBroken, c.ByISP)
	for _, tg := range r.Targets {
		t.Logf("target %s %s: want %s, got %.1f %s, met %v", tg.Strategy, tg.Name, tg.Want, tg.Got, tg.Unit, tg.Met)
	}
	for _, ch := range r.Invariants {
		t.Logf("invariant %s: %v: %s", ch.Name, ch.OK, ch.Detail)
	}
	for _, n := range r.Notes {
		t.Logf("note: %s", n)
	}
}

func fmtMS(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f ms", *v)
}

// diff shows the first difference between two lists.
func diff(a, b []string) string {
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("item %d:\n  %s\n  %s", i, x, y)
		}
	}
	return "(equal)"
}
