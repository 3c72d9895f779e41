package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

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
	os.Exit(m.Run())
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Store:       store,
		StoreKind:   kind,
		Sizes:       loadgen.Tiny(),
		IdleCommand: idleCommand,
		Progress:    &progress,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	var table bytes.Buffer
	if err := rep.Table(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
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

func TestUnknownScenario(t *testing.T) {
	_, err := loadgen.Run(context.Background(), loadgen.Config{Store: loadgen.SQLite(t.TempDir()), Scenarios: []string{"nope"}})
	if err == nil {
		t.Fatal("unknown scenario accepted")
	}
}
