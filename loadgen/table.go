package loadgen

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// TableWidth is the width, in columns, that Table fits for the figures
// the scenarios record (WideTable does not try).
const TableWidth = 100

// Table writes the report for a terminal of TableWidth columns: one row
// per figure with its value and unit, the design target judged on it and
// the verdict; then, per scenario, its baseline, the relay's first figure
// divided by the baseline (relay/base) and its checks. Failed checks,
// errors, limits and notes follow the table.
func (r *Report) Table(w io.Writer) error {
	r.header(w)
	tw, flush := newTable(w)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\tVALUE\tTARGET\tVERDICT")
	for _, res := range r.Results {
		name := res.Scenario
		row := func(fig, val, target, verdict string) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, fig, val, target, verdict)
			name = ""
		}
		for _, m := range res.Metrics {
			fig, val := m.Name, quantity(m.Value, m.Unit)
			judged := false
			for _, t := range res.Targets {
				if t.Metric == m.Name {
					row(fig, val, t.Op+" "+quantity(t.Want, t.Unit), t.Verdict())
					fig, val, judged = "", "", true
				}
			}
			if !judged {
				row(fig, val, "", "")
			}
		}
		if b := res.Baseline; b != nil {
			row("baseline: "+b.Name, quantity(b.Value, b.Unit), "", "")
			row("relay/base", res.ratio(), "", "")
		}
		row("checks", res.checkSummary(), "", "")
	}
	if err := flush(); err != nil {
		return err
	}
	return r.footer(w)
}

// WideTable writes the report with one row per scenario: every figure in
// one column, then the baseline, relay/base, the targets with their
// verdicts and the checks side by side. It is as wide as its longest
// cells (some 300 columns).
func (r *Report) WideTable(w io.Writer) error {
	r.header(w)
	tw, flush := newTable(w)
	fmt.Fprintln(tw, "SCENARIO\tFIGURES\tBASELINE\tRELAY/BASE\tTARGETS\tCHECKS")
	for _, res := range r.Results {
		var figs []string
		for _, m := range res.Metrics {
			figs = append(figs, m.Name+"="+quantity(m.Value, m.Unit))
		}
		base := "-"
		if b := res.Baseline; b != nil {
			base = b.Name + "=" + quantity(b.Value, b.Unit)
		}
		var tg []string
		for _, t := range res.Targets {
			tg = append(tg, fmt.Sprintf("%s %s (want %s %s): %s", t.Name, quantity(t.Got, t.Unit), t.Op, quantity(t.Want, t.Unit), t.Verdict()))
		}
		// One row per scenario; long cells wrap onto continuation rows.
		for i := range max(len(figs), len(tg), 1) {
			name, b, ra, ch := "", "", "", ""
			if i == 0 {
				name, b, ra, ch = res.Scenario, base, res.ratio(), res.checkSummary()
			}
			f, t := "", ""
			if i < len(figs) {
				f = figs[i]
			}
			if i < len(tg) {
				t = tg[i]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, f, b, ra, t, ch)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return r.footer(w)
}

// newTable returns a tabwriter for a table and the function that ends it:
// it writes the aligned table to w without the spaces that pad empty cells
// at the ends of lines.
func newTable(w io.Writer) (*tabwriter.Writer, func() error) {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	return tw, func() error {
		if err := tw.Flush(); err != nil {
			return err
		}
		var out strings.Builder
		for line := range strings.Lines(buf.String()) {
			out.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
		_, err := io.WriteString(w, out.String())
		return err
	}
}

// header names the run and, when some targets were not judged, says why.
func (r *Report) header(w io.Writer) {
	fmt.Fprintf(w, "store %s, scale %s, %d CPUs, %s\n", r.Store, r.Scale, r.CPUs, r.GoVersion)
	for _, res := range r.Results {
		for _, t := range res.Targets {
			if !t.Judged {
				fmt.Fprint(w, wrap("", "design targets are set for the full scale; at this scale those "+
					"that depend on the size are shown but not judged (\"full scale only\")", TableWidth))
				fmt.Fprintln(w)
				return
			}
		}
	}
	fmt.Fprintln(w)
}

// footer writes, after the table, what its cells have no room for.
func (r *Report) footer(w io.Writer) error {
	var b strings.Builder
	for _, res := range r.Results {
		if res.Error != "" {
			b.WriteString(wrap(res.Scenario+": ERROR: ", res.Error, TableWidth))
		}
		for _, c := range res.Checks {
			if !c.OK {
				b.WriteString(wrap(res.Scenario+": FAILED: ", c.Name+": "+c.Detail, TableWidth))
			}
		}
	}
	for _, res := range r.Results {
		if res.Limit != "" {
			b.WriteString(wrap(res.Scenario+": limited by ", res.Limit, TableWidth))
		}
		for _, n := range res.Notes {
			b.WriteString(wrap(res.Scenario+": ", n, TableWidth))
		}
	}
	b.WriteString("columns and figures: samizdat help bench, docs/bench.md\n")
	_, err := fmt.Fprintf(w, "\n%s", b.String())
	return err
}

// ratio is relay/base as printed: "0.29×", or "-" without a baseline.
func (r *Result) ratio() string {
	if r.Baseline == nil || r.Ratio == 0 {
		return "-"
	}
	return digits3(r.Ratio) + "×"
}

// checkSummary is "ok (3 checks)", "FAILED 1 of 3 (below)", "ERROR (below)"
// or "none".
func (r *Result) checkSummary() string {
	if r.Error != "" {
		return "ERROR (below)"
	}
	failed := 0
	for _, c := range r.Checks {
		if !c.OK {
			failed++
		}
	}
	switch {
	case failed > 0:
		return fmt.Sprintf("FAILED %d of %d (below)", failed, len(r.Checks))
	case len(r.Checks) == 0:
		return "none"
	case len(r.Checks) == 1:
		return "ok (1 check)"
	}
	return fmt.Sprintf("ok (%d checks)", len(r.Checks))
}

// wrap writes prefix and text as lines of at most width columns, the
// continuation lines indented by two spaces; a word longer than a line
// stays whole.
func wrap(prefix, text string, width int) string {
	var b strings.Builder
	line := strings.TrimSpace(prefix)
	indent := "  "
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line += word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			b.WriteString(line + "\n")
			line = indent + word
		}
	}
	b.WriteString(line + "\n")
	return b.String()
}

// quantity is a value with its unit: "3305 msg/s", "6.21 ms".
func quantity(v float64, unit string) string { return num(v) + unitSuffix(unit) }

// num prints a figure without float artefacts, to three significant
// digits, from 10,000 in thousands ("12.9k") and from a million in
// millions ("1.23M"); whole numbers under a million stay exact ("2377",
// "19725", "20k").
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case v == math.Trunc(v) && a < 1e6:
		if a >= 1e4 && math.Mod(v, 1000) == 0 {
			return strconv.FormatInt(int64(v/1000), 10) + "k"
		}
		return strconv.FormatInt(int64(v), 10)
	case a >= 1e6:
		return digits3(v/1e6) + "M"
	case a >= 1e4:
		return digits3(v/1e3) + "k"
	}
	return digits3(v)
}

// digits3 prints v to three significant digits (none after the point from
// 100, one from 10).
func digits3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 99.95:
		return fmt.Sprintf("%.0f", v)
	case a >= 9.995:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}
