//go:build linux

package loadgen_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"samizdat/internal/testctx"
	"samizdat/loadgen"
	"samizdat/store/postgres/pgtest"
)

// TestNodesTiny runs the nodes scenario at the tiny size against one and
// two `samizdat relay` processes (built here) on PostgreSQL
// (SAMIZDAT_PG_URL) with a nats-server child (built here from the module
// cache): every accepted message is delivered exactly once, with two nodes
// every pair crosses nodes, and the CPU of each process was read.
func TestNodesTiny(t *testing.T) {
	server := pgtest.ServerURL(t)
	if testing.Short() {
		t.Skip("builds the relay and nats-server binaries")
	}
	ctx, cancel := testctx.Bounded(t)
	defer cancel()
	bin := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+string(filepath.Separator),
		"samizdat/cmd/samizdat", "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var progress bytes.Buffer
	rep, err := loadgen.RunNodes(ctx, loadgen.NodesConfig{
		Server: server,
		Counts: []int{1, 2},
		Sizes:  loadgen.Tiny(),
		Relay: func(args ...string) *exec.Cmd {
			return exec.Command(filepath.Join(bin, "samizdat"), append([]string{"relay"}, args...)...)
		},
		NATS: func(port int) *exec.Cmd {
			return exec.Command(filepath.Join(bin, "nats-server"), "-a", "127.0.0.1", "-p", strconv.Itoa(port))
		},
		Dir:      t.TempDir(),
		Progress: &progress,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	loggedTable(t, rep)
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Results))
	}
	for i, res := range rep.Results {
		n := i + 1
		if want := "nodes-" + strconv.Itoa(n); res.Scenario != want {
			t.Errorf("result %d is %q, want %q", i, res.Scenario, want)
		}
		if res.Error != "" || !res.OK() {
			t.Errorf("%s: %s %v", res.Scenario, res.Error, res.Checks)
		}
		get := func(name string) float64 {
			t.Helper()
			v, ok := res.Metric(name)
			if !ok {
				t.Fatalf("%s: no %s", res.Scenario, name)
			}
			return v
		}
		// Every message accepted was delivered once (the checks), and
		// the count of messages is that of the sends.
		if get("messages") <= 0 || get("msgs_per_s") <= 0 || get("half_rate") <= 0 {
			t.Errorf("%s: nothing sent", res.Scenario)
		}
		wantCross := 0.0
		if n > 1 {
			wantCross = 1
		}
		if got := get("crossing_share"); got != wantCross {
			t.Errorf("%s: crossing share %v, want %v", res.Scenario, got, wantCross)
		}
		// Each process's CPU is read (from /proc, in 10 ms ticks: a
		// process can show none in a tiny run), the load clients' always.
		for _, what := range []string{"relays", "postgres", "nats", "clients", "total"} {
			get("cpu_us_per_msg_" + what + "_full")
			get("cpu_us_per_msg_" + what + "_half")
		}
		if get("wal_bytes_per_msg_full") <= 0 || get("wal_bytes_per_msg_half") <= 0 {
			t.Errorf("%s: no WAL written for the messages", res.Scenario)
		}
		// Every connection pinged and polled, and the CPU of both was read.
		if get("pings_per_s") <= 0 || get("polling_conns") != float64((2+8)*loadgen.Tiny().Pairs) {
			t.Errorf("%s: %v pings/s, %v polling connections", res.Scenario, get("pings_per_s"), get("polling_conns"))
		}
		for _, what := range []string{"relays", "postgres", "nats", "clients", "total"} {
			get("cpu_us_per_ping_" + what)
			get("cpu_us_per_poll_" + what)
		}
		if get("cpu_us_per_msg_total_full") <= 0 {
			t.Errorf("%s: no CPU measured", res.Scenario)
		}
		for k := 1; k <= n; k++ {
			get("cpu_us_per_msg_relay" + strconv.Itoa(k) + "_full")
		}
		if _, ok := res.Metric("cpu_us_per_msg_relay" + strconv.Itoa(n+1) + "_full"); ok {
			t.Errorf("%s: a figure for a node that did not run", res.Scenario)
		}
	}
	if b := rep.Results[1].Baseline; b == nil || rep.Results[1].Ratio <= 0 {
		t.Error("no scaling ratio against one node")
	}
	// The run's databases are dropped.
	c, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var left int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname LIKE 'samizdat_bench_%_nodes_'").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d databases left behind", left)
	}
}
