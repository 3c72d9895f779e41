package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

func TestPercentile(t *testing.T) {
	oneToTen := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i)
	}
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		ms   []float64
		p    float64
		want float64
	}{
		{"nil", nil, 50, 0},
		{"empty", []float64{}, 99, 0},
		{"only NaN", []float64{nan, nan}, 50, 0},
		{"one sample p50", []float64{7}, 50, 7},
		{"one sample p99", []float64{7}, 99, 7},
		{"one sample p0", []float64{7}, 0, 7},
		{"p50 of 1..10 is the 5th", oneToTen, 50, 5},
		{"p51 of 1..10 is the 6th", oneToTen, 51, 6},
		{"p90 of 1..10", oneToTen, 90, 9},
		{"p99 of 1..10 is the largest", oneToTen, 99, 10},
		{"p100", oneToTen, 100, 10},
		{"p above 100", oneToTen, 250, 10},
		{"p0 is the smallest", oneToTen, 0, 1},
		{"negative p", oneToTen, -5, 1},
		{"NaN p", oneToTen, nan, 1},
		{"tiny p is rank 1", oneToTen, 0.001, 1},
		{"p99 of 1..100", hundred, 99, 99},
		{"p50 of 1..100", hundred, 50, 50},
		{"p99.5 of 1..100", hundred, 99.5, 100},
		{"p33.3 of three", []float64{3, 1, 2}, 33.3, 1},
		{"p33.4 of three", []float64{3, 1, 2}, 33.4, 2},
		{"NaN samples ignored", []float64{nan, 4, nan, 2, 3, 1}, 50, 2},
		{"infinity sorts last", []float64{math.Inf(1), 1, 2, 3}, 100, math.Inf(1)},
		{"even count, no interpolation", []float64{1, 2, 3, 4}, 50, 2},
		{"duplicates", []float64{5, 5, 5, 1}, 50, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.ms)
			got := Percentile(tc.ms, tc.p)
			if got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.ms, tc.p, got, tc.want)
			}
			if !slices.EqualFunc(in, tc.ms, func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }) {
				t.Errorf("Percentile modified its input: %v → %v", in, tc.ms)
			}
		})
	}
}

// keysOf decodes b and returns the object at path (keys separated by
// dots; a number indexes an array).
func objectAt(t *testing.T, doc any, path ...string) map[string]any {
	t.Helper()
	cur := doc
	for _, p := range path {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(v) {
				t.Fatalf("%v: no element %q in a list of %d", path, p, len(v))
			}
			cur = v[i]
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		t.Fatalf("%v: not an object: %T", path, cur)
	}
	return m
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// The schema, locked: the required keys plus the agreed extras.
// Adding a field to the types means adding it here on purpose.
var schema = map[string][]string{
	"report": {"censor", "duration_ms", "events", "invariants", "notes", "scenario", "seed", "strategies", "targets", "timeline"},
	"strategy": {"availability", "clients", "cohorts", "cold_start_failed", "cold_start_ms", "delivered", "delivery_ratio",
		"isps", "latency_p50_ms", "latency_p99_ms", "moves", "reconnect_ms", "reconnect_p50_ms", "reconnect_p99_ms",
		"reconnects", "recovered_by", "sent", "stranded", "unrecovered"},
	"stranded": {"client", "cohort", "cohort_joined", "down_at_ms", "down_by", "isp", "last_failure", "paths",
		"refreshes", "refreshes_failed"},
	"paths":  {"count", "kind", "listed_by", "state"},
	"cohort": {"availability", "clients", "cohort", "delivered", "delivery_ratio", "joined", "sent", "unrecovered"},
	"isp":    {"availability", "clients", "delivered", "delivery_ratio", "isp", "sent", "unrecovered"},
	"censor": {"blocked_addresses", "blocked_prefixes", "by_isp", "bystanders", "bystanders_broken", "collateral_ratio",
		"entries", "max_bystanders_broken"},
	"sample":    {"blocked_addresses", "bystanders_broken", "connected", "delivered", "t_ms"},
	"event":     {"detail", "t_ms", "what", "who"},
	"target":    {"got", "met", "name", "strategy", "unit", "want"},
	"invariant": {"detail", "name", "ok"},
}

// required is what issue 5 asks for by name.
var required = map[string][]string{
	"strategy": {"sent", "delivered", "delivery_ratio", "latency_p50_ms", "latency_p99_ms", "reconnect_p50_ms",
		"reconnect_p99_ms"},
	"censor": {"blocked_addresses", "blocked_prefixes", "bystanders", "bystanders_broken", "collateral_ratio"},
}

// sampleDoc is the sample report's JSON, decoded generically.
func sampleDoc(t *testing.T) any {
	t.Helper()
	b, err := sampleReport().JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestJSONKeys(t *testing.T) {
	doc := sampleDoc(t)
	check := func(what string, got map[string]any, omit ...string) {
		t.Helper()
		want := slices.DeleteFunc(slices.Clone(schema[what]), func(k string) bool { return slices.Contains(omit, k) })
		if g := sortedKeys(got); !slices.Equal(g, want) {
			t.Errorf("%s keys = %v, want %v", what, g, want)
		}
		for _, k := range required[what] {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: required key %q missing", what, k)
			}
		}
	}
	check("report", objectAt(t, doc))
	// samizdat has cold start figures and a reconnect distribution; static
	// has neither, so those keys are left out rather than written as 0.
	// Only samizdat has cohorts; only telegram-2018 has stranded clients;
	// the sample gives static no per-ISP figures.
	check("strategy", objectAt(t, doc, "strategies", "samizdat"), "stranded")
	check("strategy", objectAt(t, doc, "strategies", "static"), "cold_start_ms", "reconnect_ms", "cohorts", "stranded", "isps", "recovered_by")
	check("strategy", objectAt(t, doc, "strategies", "telegram-2018"), "cold_start_ms", "cohorts")
	// The sample's first stranded client is in no cohort (telegram-2018
	// has none), so the cohort is left out.
	check("stranded", objectAt(t, doc, "strategies", "telegram-2018", "stranded", "0"), "cohort")
	check("paths", objectAt(t, doc, "strategies", "telegram-2018", "stranded", "0", "paths", "0"))
	check("paths", objectAt(t, doc, "strategies", "telegram-2018", "stranded", "0", "paths", "2"), "listed_by")
	check("cohort", objectAt(t, doc, "strategies", "samizdat", "cohorts", "0"))
	check("isp", objectAt(t, doc, "strategies", "telegram-2018", "isps", "1"))
	check("censor", objectAt(t, doc, "censor"))
	check("sample", objectAt(t, doc, "timeline", "0"))
	check("event", objectAt(t, doc, "events", "0"))
	check("target", objectAt(t, doc, "targets", "0"))
	check("invariant", objectAt(t, doc, "invariants", "0"))
	if got := sortedKeys(objectAt(t, doc, "strategies")); !slices.Equal(got, []string{"samizdat", "static", "telegram-2018"}) {
		t.Errorf("strategies = %v", got)
	}
	sz := objectAt(t, doc, "strategies", "samizdat")
	if sz["cold_start_ms"] != 3900.0 || sz["delivery_ratio"].(float64) <= 0 {
		t.Errorf("samizdat figures decoded as %v", sz)
	}
}

// Every key the types write is snake_case; only data maps (strategy, ISP
// names) are exempt.
func TestJSONSnakeCase(t *testing.T) {
	doc := sampleDoc(t)
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	dataMaps := map[string]bool{"strategies": true, "connected": true, "delivered": true, "by_isp": true}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if !snake.MatchString(k) {
					t.Errorf("key %q at %s is not snake_case", k, path)
				}
				if dataMaps[k] {
					if m, ok := c.(map[string]any); ok {
						for _, cc := range m {
							walk(cc, path+"."+k+".*")
						}
						continue
					}
				}
				walk(c, path+"."+k)
			}
		case []any:
			for _, c := range v {
				walk(c, path+"[]")
			}
		}
	}
	walk(doc, "$")
}

func TestJSONStableAndRoundTrips(t *testing.T) {
	a, err := sampleReport().JSON()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // map iteration order differs between calls
		b, err := sampleReport().JSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("the same report gave different JSON")
		}
	}
	if !bytes.HasPrefix(a, []byte("{\n  \"scenario\": \"rkn-2018\",\n  \"seed\": 42,")) || !bytes.HasSuffix(a, []byte("}\n")) {
		t.Errorf("report.json not indented in field order: %.60q", a)
	}
	var back Report
	if err := json.Unmarshal(a, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, sampleReport()) {
		t.Error("report.json does not decode back to the same report")
	}
}

func TestJSONNonFinite(t *testing.T) {
	r := sampleReport()
	st := r.Strategies["samizdat"]
	st.LatencyP99MS = math.NaN()
	st.ReconnectMS = []float64{1, math.Inf(1)}
	r.Strategies["samizdat"] = st
	r.Timeline[3].Connected["static"] = math.NaN()
	r.Censor.CollateralRatio = math.Inf(-1)
	nChecks := len(r.Invariants)

	b, err := r.JSON()
	if err != nil {
		t.Fatalf("JSON with NaN: %v", err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Strategies["samizdat"]; got.LatencyP99MS != 0 || got.ReconnectMS[1] != 0 || got.ReconnectMS[0] != 1 {
		t.Errorf("non-finite figures decoded as %v, %v", got.LatencyP99MS, got.ReconnectMS)
	}
	if back.Censor.CollateralRatio != 0 || back.Timeline[3].Connected["static"] != 0 {
		t.Error("non-finite collateral ratio or sample not written as 0")
	}
	last := back.Invariants[len(back.Invariants)-1]
	if last.OK || last.Name != "figures are finite" || !strings.Contains(last.Detail, "samizdat.latency_p99_ms=NaN") ||
		!strings.Contains(last.Detail, "censor.collateral_ratio=-Inf") {
		t.Errorf("no failed finiteness invariant naming the figures: %+v", last)
	}
	// The caller's report is untouched.
	if !math.IsNaN(r.Strategies["samizdat"].LatencyP99MS) || !math.IsNaN(r.Timeline[3].Connected["static"]) ||
		len(r.Invariants) != nChecks || !math.IsInf(r.Strategies["samizdat"].ReconnectMS[1], 1) {
		t.Error("JSON modified the report")
	}
	// A finite report gains no invariant.
	b, err = sampleReport().JSON()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("figures are finite")) {
		t.Error("finite report flagged as non-finite")
	}
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out", "nested")
	r := sampleReport()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.JSON()
	if !bytes.Equal(js, want) {
		t.Error("report.json is not Report.JSON()")
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	wantPage, _ := HTML(r)
	if !bytes.Equal(page, wantPage) {
		t.Error("index.html is not HTML(r)")
	}
	// A file where the directory should be is an error, not a panic.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Write(blocker); err == nil {
		t.Error("Write into a regular file succeeded")
	}
}

// wellFormed checks the page the way a strict reader would: every
// non-void element closed in order, every inline SVG valid XML, no
// scripts, nothing fetched from elsewhere. It returns the SVG count.
func wellFormed(t *testing.T, page []byte) int {
	t.Helper()
	void := map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
		"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}
	z := html.NewTokenizer(bytes.NewReader(page))
	var stack []string
	svgs := 0
	inSVG := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if !errors.Is(z.Err(), io.EOF) {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken:
			switch tok.Data {
			case "script", "iframe", "object", "embed", "link", "img", "foreignobject":
				t.Errorf("page has a <%s> element", tok.Data)
			case "svg":
				svgs++
				inSVG++
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("<%s> has an event handler attribute %s", tok.Data, a.Key)
				}
				if a.Key == "src" || a.Key == "href" || a.Key == "xlink:href" {
					t.Errorf("<%s> refers to %s=%q", tok.Data, a.Key, a.Val)
				}
			}
			if !void[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.SelfClosingTagToken:
			if inSVG == 0 && !void[tok.Data] {
				t.Errorf("self-closing <%s/> outside svg", tok.Data)
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				t.Fatalf("</%s> closes %v", tok.Data, stack)
			}
			stack = stack[:len(stack)-1]
			if tok.Data == "svg" {
				inSVG--
			}
		}
	}
	if len(stack) != 0 {
		t.Errorf("unclosed elements: %v", stack)
	}
	for _, bad := range []string{"http://", "https://", "url(", "@import", "<script", "javascript:"} {
		if bytes.Contains(bytes.ToLower(page), []byte(bad)) {
			t.Errorf("page contains %q", bad)
		}
	}
	// Each inline SVG must be strict XML on its own.
	rest := page
	for {
		i := bytes.Index(rest, []byte("<svg"))
		if i < 0 {
			break
		}
		j := bytes.Index(rest[i:], []byte("</svg>"))
		if j < 0 {
			t.Fatal("unterminated svg")
		}
		frag := rest[i : i+j+len("</svg>")]
		d := xml.NewDecoder(bytes.NewReader(frag))
		d.Strict = true
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("svg is not well-formed XML: %v\n%.300s", err, frag)
			}
		}
		rest = rest[i+j:]
	}
	return svgs
}

// The five charts: availability, recovery, collateral over time, availability
// against collateral, blocked addresses.
const charts = 5

func TestHTMLSample(t *testing.T) {
	r := sampleReport()
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := wellFormed(t, page); n != charts {
		t.Errorf("%d svg charts, want %d", n, charts)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	text := textOf(doc)
	for _, want := range []string{
		"Censor lab: rkn-2018", "seed 42", "2 of 4", "design targets met", "3 of 4", "invariants hold",
		"37 of 200 (18.5%)", "15,900,000",
		// headline figures, per strategy
		"telegram-2018", "44.7%", "1.1 s", "3.2 s", "3.9 s", "66 never recovered", "1 never got in",
		// the charts' words
		"first listing", "escalation", "censor list (41)", "censor escalate (2)", "censor enumerate (9)",
		"censor probe (5)", "samizdat moves (17)", "target reconnect median ≤ 2s",
		// notes and invariants, in words
		"Where samizdat loses", "one cold-start client never got in", "unaccounted 2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	// Targets are marked on the headline figures they are about.
	p := string(page)
	for _, want := range []string{
		`<td class="met" title="target ≤ 2s"><span class="v">1.1 s</span>`,
		`<td class="met" title="target ≤ 10s"><span class="v">3.2 s</span>`,
		`<td class="miss" title="target ≥ 99%"><span class="v">94.7%</span>`,
		`<td class="miss" title="target ≤ 30s"><span class="v">3.9 s</span>`,
	} {
		if !strings.Contains(p, want) {
			t.Errorf("headline lacks %s", want)
		}
	}
	// One CDF per strategy with a distribution; static (never recovered) is
	// a flat line at 0.
	rec := svgNumber(t, page, 1)
	for _, c := range []string{knownColor["samizdat"], knownColor["telegram-2018"], knownColor["static"]} {
		if !strings.Contains(rec, `stroke="`+c+`"`) {
			t.Errorf("recovery chart has no curve in %s", c)
		}
	}
}

// svgNumber returns the i-th inline SVG of the page.
func svgNumber(t *testing.T, page []byte, i int) string {
	t.Helper()
	parts := strings.Split(string(page), "<svg")
	if len(parts) <= i+1 {
		t.Fatalf("no svg %d", i)
	}
	s, _, _ := strings.Cut(parts[i+1], "</svg>")
	return s
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func TestHTMLEscapesHostileStrings(t *testing.T) {
	const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&`
	r := sampleReport()
	r.Scenario = evil
	st := r.Strategies["samizdat"]
	delete(r.Strategies, "samizdat")
	r.Strategies[evil] = st
	for i := range r.Timeline {
		r.Timeline[i].Connected[evil] = r.Timeline[i].Connected["samizdat"]
	}
	r.Events = append(r.Events, Event{TMS: 5000, Who: "censor", What: evil, Detail: evil},
		Event{TMS: 6000, Who: evil, What: "move", Detail: evil})
	r.Targets = append(r.Targets, Target{Name: evil, Strategy: evil, Want: evil, Unit: evil, Got: 1})
	r.Invariants = append(r.Invariants, Check{Name: evil, Detail: evil})
	r.Notes = append(r.Notes, evil)
	r.Censor.ByISP[evil] = 3

	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, page)
	for _, bad := range []string{"<script", "<img"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("hostile string reached the page unescaped: %q", bad)
		}
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	// The hostile text is there, as text, many times (title, headline,
	// events, targets, invariants, notes, ISPs, chart labels).
	if n := strings.Count(textOf(doc), "<script>alert(1)</script>"); n < 8 {
		t.Errorf("hostile name shown as text %d times, want it in every place it is used", n)
	}
	// And JSON keeps it intact.
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Scenario != evil {
		t.Errorf("JSON round trip of the hostile name: %q, %v", back.Scenario, err)
	}
}

func TestHTMLDegenerate(t *testing.T) {
	one := &Report{Scenario: "one", DurationMS: 1000, Strategies: map[string]Strategy{"samizdat": {Clients: 2}}}
	onePoint := sampleReport()
	onePoint.Timeline = onePoint.Timeline[:1]
	nan := sampleReport()
	for n, st := range nan.Strategies {
		st.LatencyP50MS, st.ReconnectP99MS, st.Availability, st.DeliveryRatio = math.NaN(), math.Inf(1), math.NaN(), math.NaN()
		st.ReconnectMS = []float64{math.NaN(), -1, math.Inf(1), 5}
		nan.Strategies[n] = st
	}
	for i := range nan.Timeline {
		nan.Timeline[i].Connected["samizdat"] = math.NaN()
	}
	nan.Targets[0].Got = math.NaN()
	noRecDist := sampleReport()
	for n, st := range noRecDist.Strategies {
		st.ReconnectMS = nil
		noRecDist.Strategies[n] = st
	}
	unknown := sampleReport()
	unknown.Strategies["zeta"] = Strategy{Sent: 1}
	unknown.Events = append(unknown.Events, Event{TMS: 1, Who: "ghost", What: "haunt"}, Event{TMS: 2, Who: "censor", What: "throttle"})
	manyEvents := sampleReport()
	for i := range 3000 {
		manyEvents.Events = append(manyEvents.Events, Event{TMS: int64(i * 30), Who: "censor", What: "list"})
	}
	for _, tc := range []struct {
		name string
		r    *Report
		want []string
	}{
		{"zero report", &Report{}, []string{"No strategies", "no design target measured", "no invariants checked", "The run left no notes", "no timeline samples", "no reconnects measured", "no bystander services", "0 of 0"}},
		{"one strategy, no samples", one, []string{"samizdat", "nothing sent", "no outages", "no timeline samples"}},
		{"one sample", onePoint, []string{"samizdat"}},
		{"NaN everywhere", nan, []string{"not measured"}},
		{"percentiles without a distribution", noRecDist, []string{"140 reconnected"}},
		{"unknown strategy and event kinds", unknown, []string{"zeta", "ghost moves (1)", "censor throttle (1)"}},
		{"more events than the log shows", manyEvents, []string{"first 400 shown", "more in report.json", "censor list (3041)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := HTML(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if n := wellFormed(t, page); n != charts {
				t.Errorf("%d svg charts, want %d", n, charts)
			}
			if bytes.Contains(page, []byte("NaN")) || bytes.Contains(page, []byte("Inf")) {
				t.Error("page shows NaN or Inf")
			}
			doc, err := html.Parse(bytes.NewReader(page))
			if err != nil {
				t.Fatal(err)
			}
			text := textOf(doc)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if err := tc.r.Write(t.TempDir()); err != nil {
				t.Errorf("Write: %v", err)
			}
		})
	}
	if _, err := HTML(nil); err == nil {
		t.Error("HTML(nil) succeeded")
	}
}

// The recovery curve of a strategy ends at the share of its outages that
// ended: completed reconnects over completed + unrecovered.
func TestRecoveryCurveLevelsOffAtRecoveredShare(t *testing.T) {
	r := sampleReport()
	tg := r.Strategies["telegram-2018"] // 80 reconnected, 12 never
	rec := svgNumber(t, mustHTML(t, r), 1)
	d := pathFor(t, rec, knownColor["telegram-2018"])
	pts := strings.FieldsFunc(d, func(r rune) bool { return r == 'M' || r == 'L' })
	var lastY float64
	if _, err := fmt.Sscanf(pts[len(pts)-1], "%g %g", new(float64), &lastY); err != nil {
		t.Fatal(err)
	}
	const top, bottom = plotT, 226.0 // the recovery plot's y range
	share := float64(tg.Reconnects) / float64(tg.Reconnects+tg.Unrecovered)
	want := bottom - share*(bottom-top)
	if math.Abs(lastY-want) > 0.11 {
		t.Errorf("telegram-2018 curve ends at y=%v, want %v (%.1f%% recovered)", lastY, want, share*100)
	}
	// And a strategy whose outages all ended reaches the top.
	d = pathFor(t, rec, knownColor["samizdat"])
	if !strings.HasSuffix(d, " "+num(top)) {
		t.Errorf("samizdat curve does not end at 100%%: …%s", d[max(0, len(d)-30):])
	}
}

func mustHTML(t *testing.T, r *Report) []byte {
	t.Helper()
	b, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pathFor returns the d attribute of the path stroked in color.
func pathFor(t *testing.T, svgText, color string) string {
	t.Helper()
	m := regexp.MustCompile(`<path d="([^"]+)" class="series(?: dash\d)?" stroke="` + color + `"`).FindStringSubmatch(svgText)
	if m == nil {
		t.Fatalf("no series in %s", color)
	}
	return m[1]
}

func TestHelpers(t *testing.T) {
	for _, tc := range []struct {
		want string
		d    time.Duration
		ok   bool
	}{{"≤ 2s", 2 * time.Second, true}, {"<= 250ms", 250 * time.Millisecond, true}, {" ≥ 1m0s", time.Minute, true},
		{"≥ 99%", 0, false}, {"", 0, false}, {"≤ -3s", 0, false}} {
		if d, ok := parseWant(tc.want); d != tc.d || ok != tc.ok {
			t.Errorf("parseWant(%q) = %v, %v; want %v, %v", tc.want, d, ok, tc.d, tc.ok)
		}
	}
	for name, want := range map[string]string{
		"delivered": "delivered", "reconnect median": "rec50", "reconnect p99": "rec99", "Reconnect P50": "rec50",
		"cold start": "cold", "latency p99": "lat99", "latency median": "lat50", "availability": "avail", "throughput": "",
	} {
		if got := targetColumn(name); got != want {
			t.Errorf("targetColumn(%q) = %q, want %q", name, got, want)
		}
	}
	for v, want := range map[float64]float64{10_000: 10_000, 10_001: 20_000, 111_800: 200_000, 3: 5, 0.7: 1, 600: 1000} {
		if got := roundUp125(v); math.Abs(got-want) > 1e-9*want {
			t.Errorf("roundUp125(%v) = %v, want %v", v, got, want)
		}
	}
	for ms, want := range map[float64]string{0: "0.0 s", 12: "< 0.1 s", 50: "0.1 s", 999: "1.0 s", 1080: "1.1 s", 37_100: "37.1 s",
		150_000: "150.0 s", -1: "—", math.NaN(): "—"} {
		if got := msText(ms); got != want {
			t.Errorf("msText(%v) = %q, want %q", ms, got, want)
		}
	}
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 15_900_000: "15,900,000"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
	for c, want := range map[string]string{"#d6336c": "#d6336c", "red;background:url(x)": "#868e96", "#12345g": "#868e96"} {
		if got := string(safeColor(c)); got != want {
			t.Errorf("safeColor(%q) = %q, want %q", c, got, want)
		}
	}
	if got := timeTicks(90_000); got[0] != 0 || got[len(got)-1] != 90_000 || len(got) != 10 {
		t.Errorf("timeTicks(90s) = %v", got)
	}
}

func TestJSONEmptyReport(t *testing.T) {
	b, err := (&Report{}).JSON()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("null")) {
		t.Errorf("empty report has nulls:\n%s", b)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := sortedKeys(doc); !slices.Equal(got, schema["report"]) {
		t.Errorf("keys %v", got)
	}
	for _, k := range []string{"timeline", "events", "targets", "invariants", "notes"} {
		if l, ok := doc[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, doc[k])
		}
	}
	if m, ok := doc["strategies"].(map[string]any); !ok || len(m) != 0 {
		t.Errorf("strategies = %#v, want {}", doc["strategies"])
	}
}

// The static line is not hidden under another: in the availability chart
// it is drawn last (on top) and dashed, so where it runs along another
// strategy's line both stay visible.
func TestStaticLineDrawnOnTop(t *testing.T) {
	avail := svgNumber(t, mustHTML(t, sampleReport()), 0)
	last := -1
	for _, n := range []string{"samizdat", "telegram-2018", "static"} {
		i := strings.Index(avail, `stroke="`+knownColor[n]+`"`)
		if i < 0 {
			t.Fatalf("no %s line", n)
		}
		if i < last {
			t.Errorf("%s drawn before the strategy listed after it", n)
		}
		last = i
	}
	if !regexp.MustCompile(`class="series dash0" stroke="` + knownColor["static"] + `"`).MatchString(avail) {
		t.Error("static's line is not dashed")
	}
}

// A target with nothing measured reads "not measured" in the targets
// table and marks no headline figure as met or missed.
func TestTargetNotMeasured(t *testing.T) {
	r := sampleReport()
	r.Targets = []Target{{Name: "reconnect median", Strategy: "samizdat", Want: "≤ 2s", Got: -1, Unit: "ms"}}
	p := string(mustHTML(t, r))
	if !strings.Contains(p, `<td>not measured</td><td class="miss"><span class="v">not measured</span>`) {
		t.Error("targets table does not say not measured")
	}
	if !strings.Contains(p, `<td title="target ≤ 2s">`) {
		t.Error("headline marks an unmeasured target as met or missed")
	}
}
