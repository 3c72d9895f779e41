package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"samizdat/lab"
	"samizdat/lab/report"
	"samizdat/lab/scenario"
)

// labAbout is the lab command's help.
const labAbout = `The censor lab runs real relays and clients against a modelled censor, on loopback, and
reports delivery, recovery and collateral damage strategy by strategy.

  samizdat lab                 the showcase: the "quick" rkn-2018 scenario, under a minute,
                               report in ./samizdat-lab/quick/index.html
  samizdat lab run SCENARIO    a built-in scenario (see 'lab list') or a scenario file;
                               report.json and index.html in --out (./samizdat-lab/NAME)
  samizdat lab list            the built-in scenarios

Everything in a run (relays, clients, transports, the censor, the operators) runs on
one simulated clock over an in-memory network, so a scenario and a seed give the same
report.json on any machine under any load. --seed S --seeds N runs seeds S … S+N-1
(S defaults to the scenario's seed), each with its own report in --out/seed-S, and
writes beside them one report whose figures are the means over the seeds, with each
seed's value and the 95% interval of the mean (Student's t) of every figure.

The run exits 1 if one of its own invariants fails (counts that do not add up, a
dial outside loopback); targets that are not met are results, printed and
written to the report, not errors.`

// showcase is the scenario `samizdat lab` runs alone.
const showcase = "quick"

func runLab(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "run":
			return labRun(ctx, e, "lab run", args[1:])
		case "list":
			f := newFlags("lab list", "", "List the built-in scenarios.")
			if err := f.noArgs(args[1:]); err != nil {
				return err
			}
			return labList(e.stdout)
		}
	}
	return labRun(ctx, e, "lab", args)
}

func labList(w io.Writer) error {
	for _, name := range scenario.Names() {
		sc, err := scenario.Builtin(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-14s %s\n", name, firstSentence(sc.Description))
	}
	return nil
}

// firstSentence cuts a description to its first sentence for listings.
func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// labRun runs `samizdat lab run SCENARIO` or, as cmd "lab", the showcase.
func labRun(ctx context.Context, e *env, cmd string, args []string) error {
	fs := newFlags(cmd, "SCENARIO|FILE.json", labAbout)
	if cmd == "lab" {
		fs.args = ""
	}
	seed := fs.Int64("seed", 0, "seed for every choice of the run (0: the scenario's)")
	seeds := fs.Int("seeds", 1, "run `N` seeds, --seed … --seed+N-1, and report means with 95% intervals")
	out := fs.String("out", "", "`DIR` for report.json and index.html (default ./samizdat-lab/NAME)")
	work := fs.String("work", "", "scratch `DIR` for relay and client state (default: a temporary one, removed)")
	quiet := fs.Bool("quiet", false, "no live progress, only the summary")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	name := showcase
	switch {
	case cmd == "lab" && len(pos) > 0:
		return fs.usagef("unknown subcommand %q (run, list; or no subcommand for the showcase)", pos[0])
	case cmd == "lab":
	case len(pos) == 0:
		return fs.usagef("which scenario? ('samizdat lab list' shows them)")
	case len(pos) > 1:
		return fs.usagef("one scenario at a time, not %q", pos)
	default:
		name = pos[0]
	}
	sc, err := loadScenario(name)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("samizdat-lab", sc.Name)
	}
	effSeed := sc.Seed
	if *seed != 0 {
		effSeed = *seed
	}
	if *seeds < 1 {
		return fs.usagef("--seeds must be at least 1")
	}
	if effSeed == 0 && *seeds > 1 {
		return fs.usagef("a scenario with seed 0 needs --seed for --seeds")
	}
	fmt.Fprintf(e.stdout, "lab: scenario %s, seed %d, %s of sending + %s of drain\n",
		sc.Name, effSeed, time.Duration(sc.Duration), time.Duration(sc.Drain))
	if *seeds > 1 {
		fmt.Fprintf(e.stdout, "     seeds %d to %d\n", effSeed, effSeed+int64(*seeds)-1)
	}
	if sc.Description != "" {
		fmt.Fprintf(e.stdout, "     %s\n", firstSentence(sc.Description))
	}
	start := time.Now()
	var reps []*report.Report
	var failed []string
	for i := range *seeds {
		opt := lab.Options{Seed: effSeed + int64(i), Out: dir, Work: *work}
		if *seeds > 1 {
			opt.Out = filepath.Join(dir, fmt.Sprintf("seed-%d", opt.Seed))
			if *work != "" {
				opt.Work = filepath.Join(*work, fmt.Sprintf("seed-%d", opt.Seed))
			}
			fmt.Fprintf(e.stdout, "seed %d:\n", opt.Seed)
		}
		var disp *progressDisplay
		if !*quiet {
			disp = newProgressDisplay(e.stdout)
			opt.Progress = disp.show
		}
		seedStart := time.Now()
		rep, err := lab.Run(ctx, sc, opt)
		if disp != nil {
			disp.finish()
		}
		if err != nil {
			return err
		}
		if *seeds > 1 {
			printLabSummary(e.stdout, rep, time.Since(seedStart))
		}
		reps = append(reps, rep)
		for _, c := range rep.Invariants {
			if !c.OK {
				failed = append(failed, fmt.Sprintf("%s (seed %d)", c.Name, rep.Seed))
			}
		}
	}
	rep := reps[0]
	if *seeds > 1 {
		var err error
		if rep, err = report.Aggregate(reps); err != nil {
			return err
		}
		if err := rep.Write(dir); err != nil {
			return fmt.Errorf("lab: writing the combined report: %w", err)
		}
		fmt.Fprintf(e.stdout, "\nmeans over %d seeds (95%% intervals in report.json and on the page):", len(reps))
		printSeedIntervals(e.stdout, rep)
	}
	printLabSummary(e.stdout, rep, time.Since(start))
	fmt.Fprintf(e.stdout, "report: %s\n", filepath.Join(dir, "index.html"))
	if len(failed) > 0 {
		return fmt.Errorf("invariants failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// printSeedIntervals prints each strategy's delivery ratio and
// availability over the seeds, with their 95% intervals.
func printSeedIntervals(w io.Writer, r *report.Report) {
	fmt.Fprintln(w)
	for _, n := range r.StrategyNames() {
		fmt.Fprintf(w, "%-14s", n)
		for _, f := range []string{"delivery_ratio", "availability"} {
			if iv, ok := r.Intervals["strategies."+n+"."+f]; ok {
				fmt.Fprintf(w, "  %s %.1f%% [%.1f, %.1f]", f, 100*iv.Mean, 100*iv.Low, 100*iv.High)
			}
		}
		fmt.Fprintln(w)
	}
}

// loadScenario takes a built-in name or a path to a scenario file.
func loadScenario(name string) (*scenario.Scenario, error) {
	for _, n := range scenario.Names() {
		if n == name {
			return scenario.Builtin(name)
		}
	}
	if strings.ContainsAny(name, "/.") {
		return scenario.Load(name)
	}
	return nil, fmt.Errorf("no scenario %q (built-in: %s; or give a file path): %w",
		name, strings.Join(scenario.Names(), ", "), errUsage)
}

// printLabSummary prints the headline figures, the targets and any
// failed invariant.
func printLabSummary(w io.Writer, r *report.Report, took time.Duration) {
	fmt.Fprintf(w, "\n%-14s %9s %7s %15s %17s %6s %11s %7s\n", "strategy", "delivered", "avail", "latency p50/p99", "reconnect p50/p99", "lost", "cold start", "moves")
	for _, n := range r.StrategyNames() {
		s := r.Strategies[n]
		cold := "-"
		if s.ColdStartMS != nil {
			cold = fmtMS(*s.ColdStartMS)
			if s.ColdStartFailed > 0 {
				cold += fmt.Sprintf(" (%d✗)", s.ColdStartFailed)
			}
		}
		fmt.Fprintf(w, "%-14s %4d/%-4d %6.1f%% %15s %17s %6d %11s %7d\n", n,
			s.Delivered, s.Sent, 100*s.Availability,
			fmtMS(s.LatencyP50MS)+"/"+fmtMS(s.LatencyP99MS),
			fmtMS(s.ReconnectP50MS)+"/"+fmtMS(s.ReconnectP99MS),
			s.Unrecovered, cold, s.Moves)
	}
	c := r.Censor
	fmt.Fprintf(w, "\ncensor: %d addresses in %d prefixes blocked; bystanders broken %d of %d (%.1f%%, worst %d)\n",
		c.BlockedAddresses, c.BlockedPrefixes, c.BystandersBroken, c.Bystanders, 100*c.CollateralRatio, c.MaxBystandersBroken)
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		for _, t := range r.Targets {
			mark := "met"
			switch {
			case t.Got < 0:
				mark = "n/a"
			case !t.Met:
				mark = "NOT MET"
			}
			fmt.Fprintf(w, "  %-8s %-14s %-28s want %-8s got %s\n", mark, t.Strategy, t.Name, t.Want, fmtGot(t.Got, t.Unit))
		}
	}
	for _, ch := range r.Invariants {
		if !ch.OK {
			fmt.Fprintf(w, "invariant FAILED: %s: %s\n", ch.Name, ch.Detail)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "\nran in %s\n", took.Round(time.Second))
}

// fmtMS and fmtGot write times in seconds and shares in percent with one
// decimal, as the HTML report does.
func fmtMS(ms float64) string {
	if ms != ms { // NaN
		return "-"
	}
	return strings.ReplaceAll(report.Seconds(ms), " ", "")
}

func fmtGot(v float64, unit string) string {
	switch {
	case v < 0:
		return "not measured"
	case unit == "ms":
		return fmtMS(v)
	case unit == "%":
		return fmt.Sprintf("%.1f%%", v)
	}
	return strings.TrimSpace(fmt.Sprintf("%g %s", v, unit))
}

// progressDisplay shows a run's progress: redrawn in place on a terminal,
// a line every few seconds otherwise (logs, CI).
type progressDisplay struct {
	w   io.Writer
	tty bool

	mu       sync.Mutex
	lines    int           // lines drawn last time (tty)
	last     time.Duration // lab time of the last line printed (not tty)
	phase    string
	events   []string // recent censor/operator moves (tty)
	finished bool
}

func newProgressDisplay(w io.Writer) *progressDisplay {
	d := &progressDisplay{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		d.tty = true
	}
	return d
}

func (d *progressDisplay) show(p lab.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished {
		return
	}
	if p.Event != "" {
		d.events = append(d.events, fmt.Sprintf("%6.1fs %s", p.T.Seconds(), p.Event))
		if len(d.events) > 4 {
			d.events = d.events[len(d.events)-4:]
		}
	}
	if !d.tty {
		if p.Phase != d.phase || p.T-d.last >= 5*time.Second || p.Phase == "report" {
			fmt.Fprintln(d.w, progressLine(p))
			d.last, d.phase = p.T, p.Phase
		}
		return
	}
	var b strings.Builder
	if d.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.lines)
	}
	lines := []string{progressLine(p)}
	for _, s := range p.Strategies {
		lines = append(lines, fmt.Sprintf("  %-14s %s %3d/%-3d connected  %5d sent  %5d delivered",
			s.Name, bar(s.Connected, s.Clients, 20), s.Connected, s.Clients, s.Sent, s.Delivered))
	}
	lines = append(lines, fmt.Sprintf("  censor: %d addresses blocked; bystanders broken %d/%d", p.BlockedAddresses, p.BystandersBroken, p.Bystanders))
	lines = append(lines, d.events...)
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	// Clear lines left over from a taller previous frame.
	for i := len(lines); i < d.lines; i++ {
		b.WriteString("\x1b[2K\n")
	}
	if len(lines) > d.lines {
		d.lines = len(lines)
	}
	io.WriteString(d.w, b.String())
}

func (d *progressDisplay) finish() {
	d.mu.Lock()
	d.finished = true
	d.mu.Unlock()
}

func progressLine(p lab.Progress) string {
	s := fmt.Sprintf("[%-6s] %5.1fs / %.0fs", p.Phase, p.T.Seconds(), p.Total.Seconds())
	for _, st := range p.Strategies {
		s += fmt.Sprintf("  %s %d/%d up %d/%d msgs", st.Name, st.Connected, st.Clients, st.Delivered, st.Sent)
	}
	if p.Bystanders > 0 {
		s += fmt.Sprintf("  collateral %d/%d", p.BystandersBroken, p.Bystanders)
	}
	return s
}

// bar draws n of total as a bar of width cells.
func bar(n, total, width int) string {
	if total <= 0 {
		return strings.Repeat("·", width)
	}
	full := n * width / total
	return strings.Repeat("█", full) + strings.Repeat("·", width-full)
}
