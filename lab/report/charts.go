package report

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// knownOrder puts the baselines first and samizdat last, the way the
// story is told; other strategies follow by name.
var knownOrder = []string{"static", "telegram-2018", "samizdat"}

var knownColor = map[string]string{
	"static":        "#8a94a6",
	"telegram-2018": "#2f80ed",
	"samizdat":      "#d6336c",
}

var otherColors = []string{"#2b8a3e", "#f08c00", "#7048e8", "#0c8599", "#a61e4d", "#5c940d"}

// StrategyNames lists the report's strategies in display order: the
// baselines first, samizdat last, others by name between.
func (r *Report) StrategyNames() []string {
	var names []string
	for _, n := range knownOrder {
		if _, ok := r.Strategies[n]; ok {
			names = append(names, n)
		}
	}
	var rest []string
	for n := range r.Strategies {
		if !slices.Contains(knownOrder, n) {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}

// colors assigns each strategy its colour.
func colors(names []string) map[string]string {
	out := map[string]string{}
	i := 0
	for _, n := range names {
		if c, ok := knownColor[n]; ok {
			out[n] = c
			continue
		}
		out[n] = otherColors[i%len(otherColors)]
		i++
	}
	return out
}

// Geometry shared by the time charts, so their x axes line up.
const (
	chartW  = 1000.0
	plotL   = 175.0
	plotR   = 975.0
	plotT   = 16.0
	rowH    = 15.0
	axisGap = 30.0
)

// censorKinds are the censor's moves in the order of the event strip's
// rows, each with its colour. A kind matches by prefix, so "enumeration"
// is drawn as "enumerate"; other kinds come after, in grey.
var censorKinds = []struct{ prefix, color string }{
	{"list", "#e03131"},
	{"unlist", "#37b24d"},
	{"escalat", "#862e9c"},
	{"enumerat", "#e8590c"},
	{"probe", "#1c7ed6"},
}

// censorKind returns a censor move's row rank and colour.
func censorKind(what string) (int, string) {
	for i, k := range censorKinds {
		if strings.HasPrefix(what, k.prefix) {
			return i, k.color
		}
	}
	return len(censorKinds), "#495057"
}

// span is the lab time the charts cover, in ms (at least 1).
func span(r *Report) float64 {
	end := float64(r.DurationMS)
	for _, s := range r.Timeline {
		end = math.Max(end, float64(s.TMS))
	}
	for _, e := range r.Events {
		end = math.Max(end, float64(e.TMS))
	}
	return math.Max(end, 1)
}

// timeAxis draws the x axis (ticks, grid, label) under a plot.
func timeAxis(s *svg, x scale, top, bottom float64, total float64) {
	for _, t := range timeTicks(total) {
		px := x.at(t)
		s.line(px, top, px, bottom, "grid")
		s.text(px, bottom+14, "middle", "axis", secs(t))
	}
	s.line(plotL, bottom, plotR, bottom, "frame")
}

// fracAxis draws a 0–100 % y axis with grid lines.
func fracAxis(s *svg, y scale) {
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
		py := y.at(f)
		s.line(plotL, py, plotR, py, "grid")
		s.text(plotL-6, py+4, "end", "axis", fmt.Sprintf("%.0f%%", f*100))
	}
}

// series returns the timeline as polyline segments for one value per
// sample; ok false (missing, NaN) breaks the line.
func series(tl []Sample, x, y scale, val func(Sample) (float64, bool)) [][]pt {
	var segs [][]pt
	var cur []pt
	for _, smp := range tl {
		v, ok := val(smp)
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			if len(cur) > 0 {
				segs = append(segs, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, pt{x.at(float64(smp.TMS)), y.at(v)})
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	// A single point is invisible as a line: widen it by a pixel.
	for i, seg := range segs {
		if len(seg) == 1 {
			segs[i] = append(seg, pt{seg[0].x + 1, seg[0].y})
		}
	}
	return segs
}

// connectedLines draws each strategy's fraction of clients connected.
func connectedLines(s *svg, r *Report, names []string, col map[string]string, x, y scale, class string) {
	for i, n := range drawOrder(names) {
		segs := series(r.Timeline, x, y, func(smp Sample) (float64, bool) {
			v, ok := smp.Connected[n]
			return v, ok
		})
		s.path(segs, class+dashClass(len(names)-1-i), col[n], "")
	}
}

// drawOrder returns names last first: the first strategies (static, the
// baseline that is often flat at 0 or 100%) are drawn last, on top, so a
// line another one runs along is not hidden under it.
func drawOrder(names []string) []string {
	out := slices.Clone(names)
	slices.Reverse(out)
	return out
}

// dashClass gives the i-th strategy's lines their own dash pattern, so
// lines that coincide stay distinguishable where they overlap.
func dashClass(i int) string {
	if i >= 2 {
		return ""
	}
	return fmt.Sprintf(" dash%d", i)
}

// eventRow is one row of the event strip.
type eventRow struct {
	label, color string
	events       []Event
}

// eventRows groups the events: the censor's moves by kind, then each
// strategy's operator moves.
func eventRows(r *Report, names []string, col map[string]string) []eventRow {
	byKind := map[string][]Event{}
	var kinds []string
	moves := map[string][]Event{}
	for _, e := range r.Events {
		if e.Who == "censor" {
			if _, ok := byKind[e.What]; !ok {
				kinds = append(kinds, e.What)
			}
			byKind[e.What] = append(byKind[e.What], e)
			continue
		}
		moves[e.Who] = append(moves[e.Who], e)
	}
	slices.SortStableFunc(kinds, func(a, b string) int {
		ia, _ := censorKind(a)
		ib, _ := censorKind(b)
		return cmp.Or(cmp.Compare(ia, ib), strings.Compare(a, b))
	})
	var rows []eventRow
	for _, k := range kinds {
		_, c := censorKind(k)
		rows = append(rows, eventRow{label: fmt.Sprintf("censor %s (%d)", k, len(byKind[k])), color: c, events: byKind[k]})
	}
	// Operators: the report's strategies in order, then anyone else.
	whos := slices.Clone(names)
	var extra []string
	for w := range moves {
		if !slices.Contains(whos, w) {
			extra = append(extra, w)
		}
	}
	slices.Sort(extra)
	for _, w := range append(whos, extra...) {
		if len(moves[w]) == 0 {
			continue
		}
		c, ok := col[w]
		if !ok {
			c = "#495057"
		}
		rows = append(rows, eventRow{label: fmt.Sprintf("%s moves (%d)", w, len(moves[w])), color: c, events: moves[w]})
	}
	return rows
}

// strip draws the event rows from top down: one tick per pixel column
// (events in the same column are merged; the title says how many).
func strip(s *svg, x scale, top float64, rows []eventRow) {
	for i, row := range rows {
		y := top + float64(i)*rowH
		if i%2 == 0 {
			s.rect(plotL, y, plotR-plotL, rowH, "band", "")
		}
		s.text(plotL-6, y+rowH-4, "end", "rowlabel", clip(row.label, 30))
		type bin struct {
			n     int
			first Event
		}
		bins := map[int]*bin{}
		var cols []int
		for _, e := range row.events {
			c := int(math.Round(x.at(float64(e.TMS))))
			b, ok := bins[c]
			if !ok {
				b = &bin{first: e}
				bins[c] = b
				cols = append(cols, c)
			}
			b.n++
		}
		for _, c := range cols {
			b := bins[c]
			title := fmt.Sprintf("%s %s at %s: %s", b.first.Who, b.first.What, msText(float64(b.first.TMS)), b.first.Detail)
			if b.n > 1 {
				title += fmt.Sprintf(" (+%d more here)", b.n-1)
			}
			op := math.Min(1, 0.45+0.15*float64(b.n))
			s.tick(float64(c), y+2, y+rowH-2, row.color, op, title)
		}
	}
}

// availabilityChart: fraction of each strategy's clients connected over
// time, with the censor's and operators' moves underneath and the
// censor's escalations drawn across the plot.
func availabilityChart(r *Report, names []string, col map[string]string) template.HTML {
	total := span(r)
	rows := eventRows(r, names, col)
	plotB := plotT + 230
	h := plotB + axisGap + float64(len(rows))*rowH + 8
	s := newSVG(chartW, h, "fraction of clients connected over time, per strategy, with the censor's and operators' moves")
	x := scale{d0: 0, d1: total, r0: plotL, r1: plotR}
	y := scale{d0: 0, d1: 1, r0: plotB, r1: plotT}
	fracAxis(s, y)
	timeAxis(s, x, plotT, plotB, total)
	// Escalations and the first listing are the censor's big steps: draw
	// them across the plot.
	firstList := true
	lastLabel := math.Inf(-1)
	for _, e := range r.Events {
		if e.Who != "censor" {
			continue
		}
		if e.What != "escalate" && (e.What != "list" || !firstList) {
			continue
		}
		label := "escalation"
		if e.What == "list" {
			firstList = false
			label = "first listing"
		}
		px := x.at(float64(e.TMS))
		s.line(px, plotT, px, plotB, "mark-"+markClass(e.What))
		if px-lastLabel > 80 && px < plotR-60 {
			s.text(px+4, plotB-6, "start", "marklabel", label)
			lastLabel = px
		}
	}
	connectedLines(s, r, names, col, x, y, "series")
	if len(r.Timeline) == 0 {
		s.text((plotL+plotR)/2, (plotT+plotB)/2, "middle", "empty", "no timeline samples in this report")
	}
	strip(s, x, plotB+axisGap, rows)
	return s.HTML()
}

func markClass(what string) string {
	if what == "escalate" {
		return "escalate"
	}
	return "list"
}

// collateralChart: the share of bystander services broken (area) against
// each strategy's availability (lines), on one 0–100 % axis.
func collateralChart(r *Report, names []string, col map[string]string) template.HTML {
	total := span(r)
	plotB := plotT + 200
	s := newSVG(chartW, plotB+axisGap, "share of bystander services broken over time against each strategy's availability")
	x := scale{d0: 0, d1: total, r0: plotL, r1: plotR}
	y := scale{d0: 0, d1: 1, r0: plotB, r1: plotT}
	fracAxis(s, y)
	timeAxis(s, x, plotT, plotB, total)
	if by := r.Censor.Bystanders; by > 0 {
		segs := series(r.Timeline, x, y, func(smp Sample) (float64, bool) {
			return float64(smp.BystandersBroken) / float64(by), true
		})
		for _, seg := range segs {
			area := append([]pt{{seg[0].x, plotB}}, seg...)
			area = append(area, pt{seg[len(seg)-1].x, plotB})
			s.path([][]pt{area}, "area", "none", "#fa5252")
		}
		s.path(segs, "series thin", "#c92a2a", "")
	} else {
		s.text((plotL+plotR)/2, plotT+20, "middle", "empty", "no bystander services in this scenario")
	}
	connectedLines(s, r, names, col, x, y, "series thin faded")
	return s.HTML()
}

// blockedChart: addresses the censor blocks over time, on a log axis.
func blockedChart(r *Report) template.HTML {
	total := span(r)
	plotB := plotT + 110
	s := newSVG(chartW, plotB+axisGap, "addresses blocked by the censor over time, log scale")
	x := scale{d0: 0, d1: total, r0: plotL, r1: plotR}
	hi := 10.0
	for _, smp := range r.Timeline {
		for float64(smp.BlockedAddresses) > hi {
			hi *= 10
		}
	}
	hi = math.Max(hi, float64(r.Censor.BlockedAddresses))
	y := scale{d0: 1, d1: hi, r0: plotB, r1: plotT, log: true}
	for v := 1.0; v <= hi*1.0001; v *= 10 {
		// Label every decade when there are few, every third otherwise.
		dec := int(math.Round(math.Log10(v)))
		if math.Log10(hi) > 6 && dec%3 != 0 {
			s.line(plotL, y.at(v), plotR, y.at(v), "grid faint")
			continue
		}
		s.line(plotL, y.at(v), plotR, y.at(v), "grid")
		s.text(plotL-6, y.at(v)+4, "end", "axis", countText(v))
	}
	timeAxis(s, x, plotT, plotB, total)
	// A step line: the count holds until the next sample.
	var seg []pt
	for i, smp := range r.Timeline {
		px, py := x.at(float64(smp.TMS)), y.at(float64(smp.BlockedAddresses))
		if i > 0 {
			seg = append(seg, pt{px, seg[len(seg)-1].y})
		}
		seg = append(seg, pt{px, py})
	}
	if len(seg) > 0 {
		s.path([][]pt{seg}, "series", "#e03131", "")
		last := r.Timeline[len(r.Timeline)-1]
		end := seg[len(seg)-1]
		s.text(math.Min(end.x, plotR-4), math.Max(end.y-6, plotT+8), "end", "valuelabel", countText(float64(last.BlockedAddresses)))
	}
	return s.HTML()
}

// countText writes a count compactly: 950, 12k, 3.4M.
func countText(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 3, 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

// reconnectSamples is a strategy's reconnect distribution, NaNs dropped.
func reconnectSamples(st Strategy) []float64 {
	var v []float64
	for _, x := range st.ReconnectMS {
		if !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0 {
			v = append(v, x)
		}
	}
	slices.Sort(v)
	return v
}

// recoveryChart: for each strategy the CDF of its outages (share over
// within x, completed reconnects from ReconnectMS over all outages
// including the unrecovered ones), log x; strategies without the raw
// distribution show their p50 and p99 as points on the same axes. The
// design targets for reconnect times are drawn as dashed lines.
func recoveryChart(r *Report, names []string, col map[string]string) template.HTML {
	const pl, pr, pt0, pb = plotL, plotR, plotT, 226.0
	s := newSVG(chartW, pb+axisGap+4, "share of reconnects completed within a given time, per strategy, log time axis")
	lo, hi := math.Inf(1), math.Inf(-1)
	any := false
	for _, n := range names {
		st := r.Strategies[n]
		vals := reconnectSamples(st)
		if len(vals) == 0 && st.Reconnects+st.Unrecovered > 0 {
			vals = []float64{st.ReconnectP50MS, st.ReconnectP99MS}
		}
		for _, v := range vals {
			if v > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi, any = math.Min(lo, v), math.Max(hi, v), true
			}
		}
	}
	targets := reconnectTargets(r)
	for _, t := range targets {
		lo, hi = math.Min(lo, t.ms), math.Max(hi, t.ms)
	}
	if math.IsInf(lo, 0) {
		lo, hi = 100, 10_000
	}
	lo = math.Pow(10, math.Floor(math.Log10(math.Min(lo, 100))))
	hi = roundUp125(math.Max(hi, 10_000))
	x := scale{d0: lo, d1: hi, r0: pl, r1: pr, log: true}
	y := scale{d0: 0, d1: 1, r0: pb, r1: pt0}
	fracAxis(s, y)
	for v := lo; v <= hi*1.0001; v *= 10 {
		s.line(x.at(v), pt0, x.at(v), pb, "grid")
		s.text(x.at(v), pb+14, "middle", "axis", logLabel(v))
		for k := 2.0; k < 10 && v*k <= hi*1.0001; k++ {
			s.line(x.at(v*k), pt0, x.at(v*k), pb, "grid faint")
		}
	}
	if top := math.Pow(10, math.Floor(math.Log10(hi)+1e-9)); hi > top*1.0001 {
		s.text(x.at(hi), pb+14, "middle", "axis", logLabel(hi))
	}
	s.line(pl, pb, pr, pb, "frame")
	s.text(pr, pb+28, "end", "axis", "time from losing the connection to the next one")
	for i, t := range targets {
		px := x.at(t.ms)
		s.line(px, pt0, px, pb, "target")
		ly := pt0 + 12 + float64(i%3)*14               // stagger: targets sit close together
		if px+4+6*float64(len([]rune(t.label))) > pr { // would run off the plot
			s.text(px-4, ly, "end", "targetlabel", t.label)
		} else {
			s.text(px+4, ly, "start", "targetlabel", t.label)
		}
	}
	if !any {
		s.text((pl+pr)/2, (pt0+pb)/2, "middle", "empty", "no reconnects measured")
	}
	for i, n := range drawOrder(names) {
		st := r.Strategies[n]
		vals := reconnectSamples(st)
		class := "series" + dashClass(len(names)-1-i)
		if len(vals) == 0 {
			if st.Reconnects == 0 && st.Unrecovered > 0 { // nobody ever came back
				s.path([][]pt{{{pl, pb}, {pr, pb}}}, class, col[n], "")
			}
			if st.Reconnects > 0 { // recovered, but no distribution given
				s.circle(x.at(st.ReconnectP50MS), y.at(0.5), 4.5, col[n], fmt.Sprintf("%s p50 %s", n, msText(st.ReconnectP50MS)))
				s.circle(x.at(st.ReconnectP99MS), y.at(0.99), 4.5, col[n], fmt.Sprintf("%s p99 %s", n, msText(st.ReconnectP99MS)))
			}
			continue
		}
		// Empirical CDF over all outages, as a step line from 0 at the
		// left edge: outages never recovered keep it below 100%.
		all := float64(len(vals) + st.Unrecovered)
		seg := []pt{{pl, pb}}
		for i, v := range vals {
			px := x.at(v)
			seg = append(seg, pt{px, seg[len(seg)-1].y}, pt{px, y.at(float64(i+1) / all)})
		}
		seg = append(seg, pt{pr, seg[len(seg)-1].y})
		s.path([][]pt{seg}, class, col[n], "")
	}
	return s.HTML()
}

// roundUp125 rounds v up to 1, 2 or 5 times a power of ten.
func roundUp125(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

type threshold struct {
	ms    float64
	label string
}

// reconnectTargets reads the reconnect thresholds out of the targets'
// wording ("≤ 2s").
func reconnectTargets(r *Report) []threshold {
	var out []threshold
	for _, t := range r.Targets {
		if !strings.Contains(strings.ToLower(t.Name), "reconnect") {
			continue
		}
		d, ok := parseWant(t.Want)
		if !ok {
			continue
		}
		ms := float64(d) / float64(time.Millisecond)
		if slices.ContainsFunc(out, func(o threshold) bool { return o.ms == ms }) {
			continue
		}
		out = append(out, threshold{ms: ms, label: "target " + t.Name + " " + t.Want})
	}
	return out
}

// parseWant reads a duration out of a target's wording such as "≤ 2s".
func parseWant(want string) (time.Duration, bool) {
	w := strings.TrimSpace(want)
	for _, p := range []string{"≤", "<=", "<", "≥", ">=", ">"} {
		w = strings.TrimPrefix(w, p)
	}
	d, err := time.ParseDuration(strings.TrimSpace(w))
	if err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}

// clip shortens s to at most n runes, marking the cut with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// costChart plots, for each strategy, its availability against the
// share of bystanders broken at the same moment, one dot per sample,
// joined in time order: how much collateral damage the censor had to
// cause to take each strategy down.
func costChart(r *Report, names []string, col map[string]string) template.HTML {
	const pl, pr, pt0, pb = plotL, plotR, plotT, 236.0
	s := newSVG(chartW, pb+axisGap+4, "each strategy's availability against the share of bystanders broken at the same time")
	by := r.Censor.Bystanders
	hi := 0.0
	for _, smp := range r.Timeline {
		if by > 0 {
			hi = math.Max(hi, float64(smp.BystandersBroken)/float64(by))
		}
	}
	hi = math.Min(1, roundUp125(math.Max(hi, 0.1)))
	x := scale{d0: 0, d1: hi, r0: pl, r1: pr}
	y := scale{d0: 0, d1: 1, r0: pb, r1: pt0}
	fracAxis(s, y)
	for i := 0; i <= 5; i++ {
		v := hi * float64(i) / 5
		s.line(x.at(v), pt0, x.at(v), pb, "grid")
		s.text(x.at(v), pb+14, "middle", "axis", fmt.Sprintf("%.0f%%", v*100))
	}
	s.line(pl, pb, pr, pb, "frame")
	s.text(pr, pb+28, "end", "axis", "bystander services broken at the same moment")
	if by == 0 {
		s.text((pl+pr)/2, (pt0+pb)/2, "middle", "empty", "no bystander services in this scenario")
		return s.HTML()
	}
	for _, n := range names {
		var seg []pt
		for _, smp := range r.Timeline {
			v, ok := smp.Connected[n]
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			seg = append(seg, pt{x.at(float64(smp.BystandersBroken) / float64(by)), y.at(v)})
		}
		if len(seg) == 0 {
			continue
		}
		s.path([][]pt{seg}, "series thin faded", col[n], "")
		for _, p := range seg {
			s.circle(p.x, p.y, 2.6, col[n], "")
		}
	}
	return s.HTML()
}
