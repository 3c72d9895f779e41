package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"samizdat/internal/testctx"
	"samizdat/loadgen"
	"samizdat/relay"
	"samizdat/store/postgres"
	"samizdat/store/postgres/pgtest"
)

// TestMain doubles as the idle-client process: the idle scenario starts
// this test binary with LOADGEN_IDLE_CLIENTS=1.
func TestMain(m *testing.M) {
	if os.Getenv("LOADGEN_IDLE_CLIENTS") == "1" {
		if err := loadgen.RunIdleClients(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv("LOADGEN_RELAY_PROCESS") == "1" {
		if err := loadgen.RunRelayProcess(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func relayCommand() *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOADGEN_RELAY_PROCESS=1")
	return cmd
}

func idleCommand() *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOADGEN_IDLE_CLIENTS=1")
	return cmd
}

// TestRunTiny runs every scenario at the tiny size on SQLite and checks
// that the counts add up: every accepted message delivered exactly once,
// no one-time prekey handed out twice, every idle connection up.
func TestRunTiny(t *testing.T) {
	runTiny(t, loadgen.SQLite(t.TempDir()), "sqlite")
}

// TestRunTinyPostgres is TestRunTiny on PostgreSQL (SAMIZDAT_PG_URL; see
// scripts/pg.sh), each scenario in a database of its own.
func TestRunTinyPostgres(t *testing.T) {
	server := pgtest.ServerURL(t)
	runTiny(t, loadgen.Postgres(server, func(ctx context.Context, u string) (relay.Store, error) {
		return postgres.Open(ctx, u, postgres.Options{})
	}), "postgres")
}

func runTiny(t *testing.T, store loadgen.OpenStore, kind string) {
	ctx, cancel := testctx.Bounded(t)
	defer cancel()
	var progress bytes.Buffer
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Store:        store,
		StoreKind:    kind,
		Sizes:        loadgen.Tiny(),
		IdleCommand:  idleCommand,
		RelayCommand: relayCommand,
		Progress:     &progress,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	checkTable(t, rep, loggedTable(t, rep))
	if len(rep.Results) != len(loadgen.Scenarios()) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(loadgen.Scenarios()))
	}
	for _, res := range rep.Results {
		if res.Error != "" {
			t.Errorf("%s: %s", res.Scenario, res.Error)
		}
		if len(res.Checks) == 0 && res.Scenario != loadgen.ScenarioBaseline {
			t.Errorf("%s: no checks", res.Scenario)
		}
		for _, c := range res.Checks {
			if !c.OK {
				t.Errorf("%s: %s: %s", res.Scenario, c.Name, c.Detail)
			}
		}
		if len(res.Metrics) == 0 {
			t.Errorf("%s: no figures", res.Scenario)
		}
		for _, m := range res.Metrics {
			if m.Value != m.Value { // NaN
				t.Errorf("%s: %s is NaN", res.Scenario, m.Name)
			}
		}
	}
	get := func(scenario, metric string) float64 {
		for _, res := range rep.Results {
			if res.Scenario == scenario {
				if v, ok := res.Metric(metric); ok {
					return v
				}
			}
		}
		t.Fatalf("%s: no %s", scenario, metric)
		return 0
	}
	if got := get(loadgen.ScenarioPreKeys, "duplicates"); got != 0 {
		t.Errorf("%v duplicate prekeys", got)
	}
	if got, want := get(loadgen.ScenarioIdle, "connections"), float64(loadgen.Tiny().IdleConns); got != want {
		t.Errorf("%v idle connections, want %v", got, want)
	}
	if !rep.OK() {
		t.Error("report not OK")
	}
	b, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back loadgen.Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != len(rep.Results) {
		t.Fatalf("json round trip: %v", err)
	}
}

// loggedTable logs the report's table and returns it.
func loggedTable(t *testing.T, rep *loadgen.Report) string {
	t.Helper()
	var table bytes.Buffer
	if err := rep.Table(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	return table.String()
}

func TestUnknownScenario(t *testing.T) {
	_, err := loadgen.Run(context.Background(), loadgen.Config{Store: loadgen.SQLite(t.TempDir()), Scenarios: []string{"nope"}})
	if err == nil {
		t.Fatal("unknown scenario accepted")
	}
}

// judgedAtTiny are the design targets a tiny run judges: rates of single
// operations at the full size's concurrency, and correctness. The others
// (idle connections, throughput, fan-out) depend on the size.
var judgedAtTiny = map[string]bool{"backlog drain": true, "prekey fetches": true, "duplicate one-time keys": true}

// checkTable checks a tiny run's table: at most TableWidth columns, also
// with other values in every figure; every figure with a unit; and no
// target judged that was set for the full size.
func checkTable(t *testing.T, rep *loadgen.Report, table string) {
	t.Helper()
	checkWidth(t, table, loadgen.TableWidth)
	targets := 0
	for _, res := range rep.Results {
		for _, m := range res.Metrics {
			if m.Unit == "" {
				t.Errorf("%s: %s has no unit", res.Scenario, m.Name)
			}
		}
		for _, tg := range res.Targets {
			targets++
			if tg.Judged != judgedAtTiny[tg.Name] {
				t.Errorf("%s: target %q judged %v at scale tiny, want %v", res.Scenario, tg.Name, tg.Judged, !tg.Judged)
			}
			if !tg.Judged && (tg.Met || tg.Verdict() != "full scale only") {
				t.Errorf("%s: target %q not judged but met %v, verdict %q", res.Scenario, tg.Name, tg.Met, tg.Verdict())
			}
		}
	}
	if targets < 10 {
		t.Errorf("%d targets, want all ten", targets)
	}
	if n := strings.Count(table, "  full scale only\n"); n != targets-len(judgedAtTiny) {
		t.Errorf("%d targets in the table are \"full scale only\", want %d:\n%s", n, targets-len(judgedAtTiny), table)
	}
	for _, m := range regexp.MustCompile(`\d+\.\d+`).FindAllString(table, -1) {
		if digits := strings.TrimLeft(strings.Replace(m, ".", "", 1), "0"); len(digits) > 3 {
			t.Errorf("the table prints %s: more digits than it measures", m)
		}
	}
	// The same figures with other values: wider numbers must still fit.
	for _, v := range []float64{0, 123456.7, 99999, 9.99e8, 123.45e6, -0.00123, 1.5e-7, 99.96} {
		wide := *rep
		wide.Results = nil
		for _, res := range rep.Results {
			res.Metrics = slices.Clone(res.Metrics)
			for i := range res.Metrics {
				res.Metrics[i].Value = v
			}
			if res.Baseline != nil {
				b := *res.Baseline
				b.Value, res.Baseline, res.Ratio = v, &b, v
			}
			wide.Results = append(wide.Results, res)
		}
		var b bytes.Buffer
		if err := wide.Table(&b); err != nil {
			t.Fatal(err)
		}
		checkWidth(t, b.String(), loadgen.TableWidth)
	}
}

// TestTableFailures checks that failed checks and errors are marked in
// the table and spelled out below it, within the width.
func TestTableFailures(t *testing.T) {
	rep := &loadgen.Report{Store: "sqlite", Scale: "tiny", CPUs: 2, GoVersion: "go1.26",
		Results: []loadgen.Result{
			{Scenario: loadgen.ScenarioDrain, Metrics: []loadgen.Metric{{Name: "drain_per_s", Value: 1234.5, Unit: "msg/s"}},
				Checks: []loadgen.Check{{Name: "backlog delivered exactly once", OK: false, Detail: strings.Repeat("300 accepted, 299 delivered ", 8)},
					{Name: "backlog acks", OK: true}}},
			{Scenario: loadgen.ScenarioFlood, Error: "relay: " + strings.Repeat("listen failed ", 12)},
		}}
	for name, table := range map[string]func(io.Writer) error{"Table": rep.Table, "WideTable": rep.WideTable} {
		var b bytes.Buffer
		if err := table(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, want := range []string{"FAILED 1 of 2 (below)", "ERROR (below)",
			"drain: FAILED: backlog delivered exactly once: 300 accepted", "flood: ERROR: relay: listen failed"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in\n%s", name, want, out)
			}
		}
		if name == "Table" {
			checkWidth(t, out, loadgen.TableWidth)
		}
	}
}

// checkWidth fails if a line of out is wider than width columns or ends
// in a space.
func checkWidth(t *testing.T, out string, width int) {
	t.Helper()
	for l := range strings.Lines(out) {
		l = strings.TrimSuffix(l, "\n")
		if n := utf8.RuneCountInString(l); n > width {
			t.Errorf("%d columns, want <= %d: %q", n, width, l)
		}
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing space: %q", l)
		}
	}
}

// TestGroupTiny runs the group scenario alone at the tiny size: a real
// client sends its group's texts, and every accepted text reaches every
// wire-level member exactly once, acknowledged.
func TestGroupTiny(t *testing.T) {
	ctx, cancel := testctx.Bounded(t)
	defer cancel()
	var progress bytes.Buffer
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Store:        loadgen.SQLite(t.TempDir()),
		StoreKind:    "sqlite",
		Sizes:        loadgen.Tiny(),
		Scenarios:    []string{loadgen.ScenarioGroup},
		RelayCommand: relayCommand,
		Progress:     &progress,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	loggedTable(t, rep)
	if len(rep.Results) != 1 {
		t.Fatalf("%d results, want 1", len(rep.Results))
	}
	res := rep.Results[0]
	if res.Error != "" {
		t.Fatalf("group: %s\n%s", res.Error, progress.String())
	}
	if len(res.Checks) < 2 {
		t.Errorf("group: %d checks", len(res.Checks))
	}
	for _, c := range res.Checks {
		if !c.OK {
			t.Errorf("group: %s: %s", c.Name, c.Detail)
		}
	}
	for _, name := range []string{"deliveries_per_s", "accepted_p50", "all_reached_p50", "relay_us_msg_group", "sender_ms_send"} {
		if v, ok := res.Metric(name); !ok || !(v > 0) {
			t.Errorf("group: %s = %v (recorded %v), want > 0", name, v, ok)
		}
	}
}
