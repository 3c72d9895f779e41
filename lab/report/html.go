package report

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// maxEventRows caps the event log table; the charts still show every event.
const maxEventRows = 400

// cell is one figure in the headline table, with its design target if
// there is one.
type cell struct {
	Text string
	Sub  string // small print under the figure
	Mark string // "met", "miss" (a design target), "warn" (bad, no target) or ""
	Want string // the target, in words
}

type row struct {
	Name, Color                     string
	Clients, Moves                  int
	Delivered, LatP50, LatP99       cell
	RecP50, RecP99, Recovered, Cold cell
	Availability                    cell
}

type targetView struct {
	Target
	GotText string
	Verdict string // "met", "not met" or "not measured"
}

// verdict says whether t was met, in words: a target with nothing
// measured (Got < 0: no outage, no cold start) is neither met nor missed.
func verdict(t Target) string {
	switch {
	case !measured(t):
		return "not measured"
	case t.Met:
		return "met"
	}
	return "not met"
}

func measured(t Target) bool { return !math.IsNaN(t.Got) && !math.IsInf(t.Got, 0) && t.Got >= 0 }

// recLegend sums up one strategy's outages beside the recovery chart.
type recLegend struct {
	Name, Color, Text string
}

type eventView struct {
	T, Who, What, Detail, Color string
}

type page struct {
	R                      *Report
	Duration               string
	Rows                   []row
	TargetsMet, TargetsAll int
	ChecksOK, ChecksAll    int
	Blocked, Collateral    string
	ByISP                  []string
	Legend                 []row
	RecLegend              []recLegend
	Avail, Recovery        template.HTML
	CollateralSVG, Blocks  template.HTML
	Cost                   template.HTML
	Targets                []targetView
	Events                 []eventView
	EventsOmitted          int
	CensorKinds            []eventView
	HasColdStart           bool
	Spread                 []spreadView // over several seeds
	Stranded               []strandedView
	Cohorts                []groupView
	ISPs                   []groupView
	WaysBack               []wayBackView
}

// groupView is one group (a cohort, an ISP) of one strategy's clients,
// for the page.
type groupView struct {
	Strategy, Name, Clients, Delivered, Availability, Unrecovered string
}

func newGroupView(strategy, name string, g Group) groupView {
	return groupView{Strategy: strategy, Name: name, Clients: strconv.Itoa(g.Clients),
		Delivered:    fmt.Sprintf("%d / %d (%s)", g.Delivered, g.Sent, pct(g.DeliveryRatio)),
		Availability: pct(g.Availability), Unrecovered: strconv.Itoa(g.Unrecovered)}
}

// wayBackView is how many of one strategy's reconnects came back one way.
type wayBackView struct {
	Strategy, Way string
	Count         int
}

// wayBackViews lists every strategy's reconnects by the way back, the most
// common first, in the order of names.
func wayBackViews(r *Report, names []string) []wayBackView {
	var out []wayBackView
	for _, n := range names {
		var ways []wayBackView
		for w, c := range r.Strategies[n].RecoveredBy {
			ways = append(ways, wayBackView{Strategy: n, Way: strings.ReplaceAll(w, "_", " "), Count: c})
		}
		slices.SortFunc(ways, func(a, b wayBackView) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Way, b.Way))
		})
		out = append(out, ways...)
	}
	return out
}

// cohortViews lists the per-cohort figures of every strategy that has
// them, in the order of names.
func cohortViews(r *Report, names []string) []groupView {
	var out []groupView
	for _, n := range names {
		for _, c := range r.Strategies[n].Cohorts {
			name := strconv.FormatUint(uint64(c.Cohort), 10)
			if c.Joined {
				name += " (joined)"
			}
			out = append(out, newGroupView(n, name, c.Group))
		}
	}
	return out
}

// ispViews lists the per-ISP figures of every strategy, in the order of
// names.
func ispViews(r *Report, names []string) []groupView {
	var out []groupView
	for _, n := range names {
		for _, c := range r.Strategies[n].ISPs {
			out = append(out, newGroupView(n, c.ISP, c.Group))
		}
	}
	return out
}

// strandedView is one client still cut off at the end, for the page.
type strandedView struct {
	Strategy, Client, ISP, Cohort, DownAt, DownBy, LastFailure, Refreshes, Paths string
}

// strandedViews lists the stranded clients of every strategy, in the
// order of names.
func strandedViews(r *Report, names []string) []strandedView {
	var out []strandedView
	for _, n := range names {
		for _, x := range r.Strategies[n].Stranded {
			cohort := "–"
			if x.Cohort > 0 {
				cohort = strconv.FormatUint(uint64(x.Cohort), 10)
			}
			if x.CohortJoined {
				cohort += " (joined)"
			}
			paths := make([]string, len(x.Paths))
			for i, g := range x.Paths {
				paths[i] = g.String()
			}
			out = append(out, strandedView{Strategy: n, Client: x.Client, ISP: x.ISP, Cohort: cohort,
				DownAt: msText(float64(x.DownAtMS)), DownBy: x.DownBy, LastFailure: x.LastFailure,
				Refreshes: fmt.Sprintf("%d (%d in vain)", x.Refreshes, x.RefreshesFailed), Paths: strings.Join(paths, ", ")})
		}
	}
	return out
}

// spreadView is one figure over several seeds, for the page.
type spreadView struct {
	Path, Mean, Interval, Values string
}

// spreadViews lists r's intervals by path.
func spreadViews(r *Report) []spreadView {
	paths := make([]string, 0, len(r.Intervals))
	for p := range r.Intervals {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
	var out []spreadView
	for _, p := range paths {
		iv := r.Intervals[p]
		vals := make([]string, len(iv.Values))
		for i, v := range iv.Values {
			vals[i] = num(v)
		}
		out = append(out, spreadView{Path: p, Mean: num(iv.Mean), Interval: num(iv.Low) + " … " + num(iv.High),
			Values: strings.Join(vals, ", ")})
	}
	return out
}

// HTML renders the report as one self-contained page: inline CSS and SVG,
// no scripts, nothing fetched. Every string from the report is escaped.
func HTML(r *Report) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("report: rendering html: no report")
	}
	names := r.StrategyNames()
	col := colors(names)
	p := page{R: r, Duration: msText(float64(r.DurationMS)), Spread: spreadViews(r), Stranded: strandedViews(r, names),
		Cohorts: cohortViews(r, names), ISPs: ispViews(r, names), WaysBack: wayBackViews(r, names)}
	for _, n := range names {
		st := r.Strategies[n]
		rw := strategyRow(n, st, r.Targets)
		rw.Color = col[n]
		p.Rows = append(p.Rows, rw)
		if st.ColdStartMS != nil || st.ColdStartFailed > 0 {
			p.HasColdStart = true
		}
	}
	p.Legend = p.Rows
	for _, n := range names {
		p.RecLegend = append(p.RecLegend, recLegend{Name: n, Color: col[n], Text: outageText(r.Strategies[n])})
	}
	for _, t := range r.Targets {
		p.TargetsAll++
		if t.Met {
			p.TargetsMet++
		}
		p.Targets = append(p.Targets, targetView{Target: t, GotText: gotText(t), Verdict: verdict(t)})
	}
	for _, c := range r.Invariants {
		p.ChecksAll++
		if c.OK {
			p.ChecksOK++
		}
	}
	c := r.Censor
	p.Blocked = countText(float64(c.BlockedAddresses))
	p.Collateral = fmt.Sprintf("%d of %d", c.BystandersBroken, c.Bystanders)
	if c.Bystanders > 0 {
		p.Collateral += fmt.Sprintf(" (%s)", pct(c.CollateralRatio))
	}
	isps := make([]string, 0, len(c.ByISP))
	for k := range c.ByISP {
		isps = append(isps, k)
	}
	slices.Sort(isps)
	for _, k := range isps {
		p.ByISP = append(p.ByISP, fmt.Sprintf("%s: %d", k, c.ByISP[k]))
	}
	p.Avail = availabilityChart(r, names, col)
	p.Recovery = recoveryChart(r, names, col)
	p.CollateralSVG = collateralChart(r, names, col)
	p.Blocks = blockedChart(r)
	p.Cost = costChart(r, names, col)
	for _, e := range r.Events {
		if len(p.Events) == maxEventRows {
			p.EventsOmitted = len(r.Events) - maxEventRows
			break
		}
		_, color := censorKind(e.What)
		if e.Who != "censor" {
			color = col[e.Who]
		}
		if color == "" {
			color = "#495057"
		}
		p.Events = append(p.Events, eventView{T: msText(float64(e.TMS)), Who: e.Who, What: e.What, Detail: e.Detail, Color: color})
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("report: rendering html: %w", err)
	}
	return b.Bytes(), nil
}

// strategyRow formats one strategy's headline figures and marks the ones
// with a design target.
func strategyRow(name string, st Strategy, targets []Target) row {
	rw := row{Name: name, Clients: st.Clients, Moves: st.Moves}
	rw.Delivered = cell{Text: pct(st.DeliveryRatio), Sub: fmt.Sprintf("%d of %d", st.Delivered, st.Sent)}
	if st.Sent == 0 {
		rw.Delivered = cell{Text: "—", Sub: "nothing sent"}
	}
	if st.Delivered > 0 {
		rw.LatP50 = cell{Text: msText(st.LatencyP50MS)}
		rw.LatP99 = cell{Text: msText(st.LatencyP99MS)}
	} else {
		rw.LatP50, rw.LatP99 = cell{Text: "—"}, cell{Text: "—"}
	}
	outages := st.Reconnects + st.Unrecovered
	if outages > 0 {
		rw.RecP50 = cell{Text: msText(st.ReconnectP50MS)}
		rw.RecP99 = cell{Text: msText(st.ReconnectP99MS)}
	} else {
		rw.RecP50, rw.RecP99 = cell{Text: "—", Sub: "no outage"}, cell{Text: "—"}
	}
	rw.Recovered = cell{Text: fmt.Sprint(st.Reconnects)}
	if st.Unrecovered > 0 {
		rw.Recovered.Sub = fmt.Sprintf("%d never recovered", st.Unrecovered)
		rw.Recovered.Mark = "warn"
	}
	switch {
	case st.ColdStartMS != nil:
		rw.Cold = cell{Text: msText(*st.ColdStartMS)}
		if st.ColdStartFailed > 0 {
			rw.Cold.Sub = fmt.Sprintf("%d never got in", st.ColdStartFailed)
		}
	case st.ColdStartFailed > 0:
		rw.Cold = cell{Text: "failed", Sub: fmt.Sprintf("%d never got in", st.ColdStartFailed), Mark: "warn"}
	default:
		rw.Cold = cell{Text: "—"}
	}
	rw.Availability = cell{Text: pct(st.Availability)}
	cols := map[string]*cell{"delivered": &rw.Delivered, "lat50": &rw.LatP50, "lat99": &rw.LatP99,
		"rec50": &rw.RecP50, "rec99": &rw.RecP99, "cold": &rw.Cold, "avail": &rw.Availability}
	for _, t := range targets {
		if t.Strategy != name {
			continue
		}
		c := cols[targetColumn(t.Name)]
		if c == nil {
			continue
		}
		c.Want = t.Want
		switch verdict(t) {
		case "met":
			c.Mark = "met"
		case "not met":
			c.Mark = "miss"
		}
	}
	return rw
}

// outageText sums up a strategy's outages in words.
func outageText(st Strategy) string {
	if st.Reconnects+st.Unrecovered == 0 {
		return "no outages"
	}
	t := fmt.Sprintf("%d reconnected · p50 %s · p99 %s", st.Reconnects, msText(st.ReconnectP50MS), msText(st.ReconnectP99MS))
	if st.Unrecovered > 0 {
		t += fmt.Sprintf(" · %d never recovered", st.Unrecovered)
	}
	return t
}

// targetColumn says which headline figure a target is about, from its name.
func targetColumn(name string) string {
	n := strings.ToLower(name)
	p99 := strings.Contains(n, "p99") || strings.Contains(n, "99")
	switch {
	case strings.Contains(n, "cold"):
		return "cold"
	case strings.Contains(n, "reconnect") && p99:
		return "rec99"
	case strings.Contains(n, "reconnect"):
		return "rec50"
	case strings.Contains(n, "latency") && p99:
		return "lat99"
	case strings.Contains(n, "latency"):
		return "lat50"
	case strings.Contains(n, "deliver"):
		return "delivered"
	case strings.Contains(n, "availab") || strings.Contains(n, "connected"):
		return "avail"
	}
	return ""
}

func gotText(t Target) string {
	switch {
	case !measured(t):
		return "not measured"
	case t.Unit == "ms":
		return msText(t.Got)
	case t.Unit == "%":
		return fmt.Sprintf("%.1f%%", t.Got)
	}
	return strings.TrimSpace(fmt.Sprintf("%.4g %s", t.Got, t.Unit))
}

func pct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	s := fmt.Sprintf("%.1f%%", f*100)
	if f == 1 {
		s = "100%"
	}
	return s
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	// safeCSS passes a colour from this package's palette into a style.
	"safeCSS": safeColor,
	"group":   group,
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>samizdat censor lab: {{.R.Scenario}}</title>
<style>
:root{--ink:#1f2430;--muted:#667085;--line:#e4e7ec;--bg:#f6f7f9;--card:#fff;--met:#2b8a3e;--miss:#c92a2a}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:28px 24px 60px}
h1{font-size:26px;margin:0 0 4px;letter-spacing:-.01em}
h2{font-size:18px;margin:0 0 4px}
p.lead{color:var(--muted);margin:0 0 18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin:0 0 18px}
.card>p.what{color:var(--muted);margin:0 0 12px;font-size:14px}
.badges{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 18px}
.badge{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px;min-width:170px}
.badge b{display:block;font-size:22px;line-height:1.2}
.badge span{color:var(--muted);font-size:13px}
.badge.good b{color:var(--met)} .badge.bad b{color:var(--miss)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:7px 8px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
th:first-child,td:first-child{text-align:left;white-space:nowrap}
td small{display:block;color:var(--muted);font-size:12px;white-space:nowrap}
td.warn small{color:var(--miss)}
td.met{background:#ebfbee} td.miss{background:#fff0f0}
td.met .v::after{content:" ✓";color:var(--met);font-weight:700}
td.miss .v::after{content:" ✗";color:var(--miss);font-weight:700}
.sw{display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:7px;vertical-align:-1px}
.legend{display:flex;flex-wrap:wrap;gap:16px;margin:0 0 8px;font-size:14px}
.legend.col{flex-direction:column;gap:4px}
.legend .area{background:#fa5252;opacity:.35}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:#eef0f3;stroke-width:1}
svg .grid.faint{stroke:#f5f6f8}
svg .frame{stroke:#98a2b3;stroke-width:1}
svg .axis{font-size:11px;fill:#667085}
svg .rowlabel{font-size:11px;fill:#475467}
svg .empty{font-size:14px;fill:#98a2b3}
svg .band{fill:#f8f9fb}
svg .series{stroke-width:2.2;stroke-linejoin:round;stroke-linecap:round}
svg .series.thin{stroke-width:1.6}
svg .series.faded{stroke-opacity:.55}
svg .series.dash0{stroke-dasharray:9 5}
svg .series.dash1{stroke-dasharray:2 4}
svg .valuelabel{font-size:12px;font-weight:600;fill:#c92a2a}
svg .area{fill-opacity:.22}
svg .tick{stroke-width:2}
svg .mark-escalate{stroke:#862e9c;stroke-width:1;stroke-dasharray:4 3;stroke-opacity:.7}
svg .mark-list{stroke:#e03131;stroke-width:1;stroke-dasharray:4 3;stroke-opacity:.7}
svg .target{stroke:#2b8a3e;stroke-width:1.2;stroke-dasharray:5 4}
svg .targetlabel{font-size:11px;fill:#2b8a3e}
svg .marklabel{font-size:11px;fill:#667085}
ul.checks{list-style:none;padding:0;margin:0;columns:2;column-gap:28px}
ul.checks li{break-inside:avoid;padding:3px 0 3px 22px;position:relative;font-size:14px}
ul.checks li::before{position:absolute;left:0;font-weight:700}
ul.checks li.ok::before{content:"✓";color:var(--met)}
ul.checks li.bad::before{content:"✗";color:var(--miss)}
ul.checks li.bad{color:var(--miss)}
ul.checks small{display:block;color:var(--muted);font-size:12px}
.notes{border-left:4px solid #f08c00}
.notes ul{margin:0;padding-left:20px}
.notes li{margin:4px 0}
details summary{cursor:pointer;font-weight:600}
table.events td{font-size:13px;text-align:left}
table.events td:first-child{text-align:right;white-space:nowrap;width:80px}
.kv{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px 18px;margin:0 0 14px}
.kv div span{display:block;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.kv div b{font-size:18px}
.kv div.wide{grid-column:span 2}
footer{color:var(--muted);font-size:12px;margin-top:24px}
</style>
</head>
<body>
<main>
<h1>Censor lab: {{.R.Scenario}}</h1>
<p class="lead">seed {{.R.Seed}} · {{.Duration}} of lab time · {{len .Rows}} strateg{{if eq (len .Rows) 1}}y{{else}}ies{{end}} · {{len .R.Events}} censor and operator moves</p>

<div class="badges">
{{if .TargetsAll}}<div class="badge {{if eq .TargetsMet .TargetsAll}}good{{else}}bad{{end}}"><b>{{.TargetsMet}} of {{.TargetsAll}}</b><span>design targets met</span></div>
{{else}}<div class="badge"><b>—</b><span>no design target measured</span></div>
{{end}}{{if .ChecksAll}}<div class="badge {{if eq .ChecksOK .ChecksAll}}good{{else}}bad{{end}}"><b>{{.ChecksOK}} of {{.ChecksAll}}</b><span>invariants hold</span></div>
{{else}}<div class="badge"><b>—</b><span>no invariants checked</span></div>
{{end}}
<div class="badge"><b>{{.Blocked}}</b><span>addresses blocked at the end</span></div>
<div class="badge {{if gt .R.Censor.BystandersBroken 0}}bad{{end}}"><b>{{.Collateral}}</b><span>bystander services broken at the end</span></div>
</div>

<section class="card">
<h2>Headline</h2>
<p class="what">Per strategy, over the whole run. ✓ / ✗ mark figures with a design target. Percentiles are nearest-rank; a reconnect is the time from losing a connection (or the censor cutting it) to the next one, and outages never recovered count with the rest of the run.</p>
<table>
<thead><tr><th>Strategy</th><th>Delivered</th><th>Latency p50</th><th>Latency p99</th><th>Reconnect p50</th><th>Reconnect p99</th><th>Reconnects</th>{{if .HasColdStart}}<th>Cold start</th>{{end}}<th>Connected</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td><span class="sw" style="background:{{.Color | safeCSS}}"></span><b>{{.Name}}</b><small>{{.Clients}} clients · {{.Moves}} moves</small></td>
{{template "cell" .Delivered}}{{template "cell" .LatP50}}{{template "cell" .LatP99}}{{template "cell" .RecP50}}{{template "cell" .RecP99}}{{template "cell" .Recovered}}{{if $.HasColdStart}}{{template "cell" .Cold}}{{end}}{{template "cell" .Availability}}
</tr>
{{else}}<tr><td colspan="9">No strategies in this report.</td></tr>
{{end}}</tbody>
</table>
</section>

<section class="card">
{{if .Spread}}<h2>Over {{len .R.Seeds}} seeds</h2>
<p class="what">Seeds {{range $i, $s := .R.Seeds}}{{if $i}}, {{end}}{{$s}}{{end}}. The figures above are the means over the seeds (the charts and lists are the first seed's); here every figure of report.json with its 95% interval of the mean (Student's t) and each seed's value.</p>
<table>
<thead><tr><th>Figure</th><th>Mean</th><th>95% interval</th><th>Per seed</th></tr></thead>
<tbody>
{{range .Spread}}<tr><td>{{.Path}}</td><td>{{.Mean}}</td><td>{{.Interval}}</td><td>{{.Values}}</td></tr>
{{end}}</tbody>
</table>
</section>
<section class="card">
{{end}}<h2>Availability over time</h2>
<p class="what">Fraction of each strategy's clients connected. Underneath, one tick per move: the censor listing, escalating to whole prefixes, enumerating endpoints through its own clients and probing; and each operator moving endpoints. Dashed lines mark the first listing and each escalation. Hover a tick for details.</p>
{{template "legend" .Legend}}
{{.Avail}}
</section>

<section class="card">
<h2>Recovery</h2>
<p class="what">Share of outages over within a given time (cumulative distribution, log time). Further left and higher is better; a curve that levels off below 100% had outages that lasted to the end of the run (the percentiles count those as the rest of the run). Dashed green lines are the design targets.</p>
<div class="legend col">{{range .RecLegend}}<span><span class="sw" style="background:{{.Color | safeCSS}}"></span><b>{{.Name}}</b> {{.Text}}</span>{{end}}</div>
{{.Recovery}}
</section>

<section class="card">
<h2>Collateral damage</h2>
<p class="what">What the blocking cost everyone else: the share of ordinary bystander services in the same networks that stopped working (red area), against each strategy's availability (lines).</p>
<div class="legend">{{range .Legend}}<span><span class="sw" style="background:{{.Color | safeCSS}}"></span>{{.Name}} connected</span>{{end}}<span><span class="sw area"></span>bystanders broken</span></div>
{{.CollateralSVG}}
<p class="what" style="margin-top:14px">The price of taking each strategy down: its availability against the share of bystanders broken at the same moment, one dot per second. A strategy the censor can only push down by moving to the right is expensive to block.</p>
{{template "legend" .Legend}}
{{.Cost}}
<p class="what" style="margin-top:14px">Addresses blocked by the censor (log scale).</p>
{{.Blocks}}
<div class="kv" style="margin-top:14px">
<div><span>Addresses blocked</span><b>{{.R.Censor.BlockedAddresses | group}}</b></div>
<div><span>Prefixes blocked</span><b>{{.R.Censor.BlockedPrefixes}}</b></div>
<div><span>Registry entries</span><b>{{.R.Censor.Entries}}</b></div>
<div><span>Bystanders broken (end)</span><b>{{.Collateral}}</b></div>
<div><span>Bystanders broken (worst)</span><b>{{.R.Censor.MaxBystandersBroken}}</b></div>
{{if .ByISP}}<div class="wide"><span>Bystanders broken per ISP</span><b style="font-size:14px">{{range $i, $s := .ByISP}}{{if $i}}, {{end}}{{$s}}{{end}}</b></div>{{end}}
</div>
</section>

<section class="card notes">
<h2>Where samizdat loses</h2>
{{if .R.Notes}}<ul>{{range .R.Notes}}<li>{{.}}</li>{{end}}</ul>{{else}}<p class="what">The run left no notes.</p>{{end}}
</section>
{{if .WaysBack}}
<section class="card">
<details>
<summary>Ways back ({{len .WaysBack}})</summary>
<p class="what">How each completed reconnect came back: through a contact's bridge, to the same endpoint it lost (the block lifted, or the cut was brief), or to another endpoint by its transport ("standby" when the operator had listed it in advance), and whether one of the client's channels answered or a contact handed it a newer manifest while it was cut off.</p>
<table>
<thead><tr><th>Strategy</th><th>Way back</th><th>Reconnects</th></tr></thead>
<tbody>{{range .WaysBack}}<tr><td>{{.Strategy}}</td><td>{{.Way}}</td><td>{{.Count}}</td></tr>
{{end}}</tbody>
</table>
</details>
</section>
{{end}}{{if .ISPs}}
<section class="card">
<details>
<summary>Per ISP ({{len .ISPs}})</summary>
<p class="what">The clients of each ISP: the messages written to them and how many they received, the share of the sending time they were connected, and how many were still cut off at the end. ISPs apply each registry version at their own pace.</p>
<table>
<thead><tr><th>Strategy</th><th>ISP</th><th>Clients</th><th>Delivered</th><th>Connected</th><th>Cut off at the end</th></tr></thead>
<tbody>{{range .ISPs}}<tr><td>{{.Strategy}}</td><td>{{.Name}}</td><td>{{.Clients}}</td><td>{{.Delivered}}</td><td>{{.Availability}}</td><td>{{.Unrecovered}}</td></tr>
{{end}}</tbody>
</table>
</details>
</section>
{{end}}{{if .Cohorts}}
<section class="card">
<details>
<summary>Per cohort ({{len .Cohorts}})</summary>
<p class="what">Messages written to each cohort's members and how many they received, the share of the sending time they were connected, and how many members were still cut off at the end. "joined": the censor's own accounts sit in the cohort and report every address its manifests list.</p>
<table>
<thead><tr><th>Strategy</th><th>Cohort</th><th>Clients</th><th>Delivered</th><th>Connected</th><th>Cut off at the end</th></tr></thead>
<tbody>{{range .Cohorts}}<tr><td>{{.Strategy}}</td><td>{{.Name}}</td><td>{{.Clients}}</td><td>{{.Delivered}}</td><td>{{.Availability}}</td><td>{{.Unrecovered}}</td></tr>
{{end}}</tbody>
</table>
</details>
</section>
{{end}}{{if .Stranded}}
<section class="card">
<details>
<summary>Clients still cut off at the end ({{len .Stranded}})</summary>
<p class="what">Each client whose outage lasted to the end: when and how it began, how its last attempt failed, how often it asked its channels for a newer manifest, and what stood, at the end, between it and every endpoint and channel of the manifest it held ("retired": the operator moved it away; "listed": a registry entry its ISP enforced, and who asked for it; "unfronted": a front the CDN provider refused, having ended domain fronting; "open": none of these). "joined": the censor's own accounts sit in its cohort.</p>
<table class="events">
<thead><tr><th>Client</th><th>ISP</th><th>Cohort</th><th>Cut off at</th><th>By</th><th>Last failure</th><th>Refreshes</th><th>Paths it knew</th></tr></thead>
<tbody>{{range .Stranded}}<tr><td>{{.Client}}</td><td>{{.ISP}}</td><td>{{.Cohort}}</td><td>{{.DownAt}}</td><td>{{.DownBy}}</td><td>{{.LastFailure}}</td><td>{{.Refreshes}}</td><td>{{.Paths}}</td></tr>
{{end}}</tbody>
</table>
</details>
</section>
{{end}}
<section class="card">
<h2>Design targets</h2>
{{if .Targets}}<table>
<thead><tr><th>Target</th><th>Strategy</th><th>Wanted</th><th>Measured</th><th>Met</th></tr></thead>
<tbody>{{range .Targets}}<tr><td>{{.Name}}</td><td>{{.Strategy}}</td><td>{{.Want}}</td><td>{{.GotText}}</td><td class="{{if .Met}}met{{else}}miss{{end}}"><span class="v">{{.Verdict}}</span></td></tr>
{{end}}</tbody>
</table>{{else}}<p class="what">This scenario measures no design target.</p>{{end}}
</section>

<section class="card">
<h2>Invariants</h2>
{{if .R.Invariants}}<ul class="checks">{{range .R.Invariants}}<li class="{{if .OK}}ok{{else}}bad{{end}}">{{.Name}}<small>{{.Detail}}</small></li>{{end}}</ul>{{else}}<p class="what">No invariants were checked.</p>{{end}}
</section>

<section class="card">
<details>
<summary>Event log ({{len .R.Events}} events{{if .EventsOmitted}}, first {{len .Events}} shown{{end}})</summary>
<table class="events">
<tbody>{{range .Events}}<tr><td>{{.T}}</td><td><span class="sw" style="background:{{.Color | safeCSS}}"></span>{{.Who}} · {{.What}}</td><td>{{.Detail}}</td></tr>
{{end}}</tbody>
</table>
{{if .EventsOmitted}}<p class="what">{{.EventsOmitted}} more in report.json.</p>{{end}}
</details>
</section>
<footer>Generated by samizdat lab. The full data is in report.json beside this page.</footer>
</main>
</body>
</html>
{{define "cell"}}<td{{if .Mark}} class="{{.Mark}}"{{end}}{{if .Want}} title="target {{.Want}}"{{end}}><span class="v">{{.Text}}</span>{{if .Want}}<small>target {{.Want}}</small>{{end}}{{if .Sub}}<small>{{.Sub}}</small>{{end}}</td>{{end}}
{{define "legend"}}<div class="legend">{{range .}}<span><span class="sw" style="background:{{.Color | safeCSS}}"></span>{{.Name}}</span>{{end}}</div>{{end}}
`))

// safeColor lets a "#rrggbb" colour into a style attribute; anything else
// becomes grey.
func safeColor(c string) template.CSS {
	if len(c) != 7 || c[0] != '#' || strings.Trim(c[1:], "0123456789abcdefABCDEF") != "" {
		return "#868e96"
	}
	return template.CSS(c)
}

// group writes n with thousands separators: 15,900,000.
func group(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
