package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"samizdat/loadgen"
	"samizdat/relay"
	"samizdat/store/postgres"
)

// benchUsage is the bench command's help.
const benchUsage = `Runs load scenarios against a real relay over Noise on loopback and prints a table
(and with --json writes the same figures as JSON): baseline (the store's raw append
rate), idle, throughput, fanout, channel, group, drain, prekeys, flood, siege. Each scenario
gets a fresh store: SQLite databases in a temporary directory under --dir (default the system's
temporary directory), or a database of its own on the PostgreSQL server at --store,
created and dropped again (the role needs CREATEDB; scripts/pg.sh starts a throwaway
server). The exit status is 1
when a scenario failed or its counts did not add up (targets missed do not fail it).

--nodes 1,2,3 runs only the nodes scenario: the throughput scenario against that many
'samizdat relay' processes on one database on --store and one NATS server (--nats-server
BINARY run as a child, or --nats URL), senders and receivers on different nodes, with the
CPU per message of each relay, PostgreSQL and NATS read from /proc.

The table fits 100 columns, one row per figure:
  SCENARIO  the scenario the rows below it belong to
  FIGURE    what was measured; the first row is the scenario's headline figure. Then:
            baseline: NAME  the same work without the relay in the way: the store
                            alone (throughput, drain, prekeys), one send per member
                            (fanout), a read after each notice (channel), the
                            chats without the flood (flood), the chats in the
                            calm windows between the siege windows, pooled (siege)
            relay/base      the headline figure divided by the baseline, same unit:
                            for a rate, above 1 is faster than the baseline; for
                            flood and siege, how many times the chatters' p99 grew
                            (lower is better)
            checks          counts that must add up (every accepted message delivered
                            exactly once, no prekey handed out twice, ...): "ok (N
                            checks)", or FAILED / ERROR with the details below the table
  VALUE     the figure and its unit: msg/s, ms, KiB, cores, conns, ...; 12.9k is
            12,900 and 1.2M 1,200,000
  TARGET    the design target for that figure, set for --scale full
  VERDICT   met, NOT MET, or "full scale only": a target for something that grows
            with the size (idle connections and their memory and CPU, throughput and
            its latency, fan-out) is not judged at --scale tiny or small
After the table: failed checks, what limited a scenario, and notes on how it ran.
--wide prints one row per scenario instead (about 300 columns): FIGURES, BASELINE,
RELAY/BASE, TARGETS (name, value, wanted, verdict) and CHECKS side by side.
docs/bench.md says what each scenario does and what each figure means.`

// runBench runs `samizdat bench`.
func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 1 && args[0] == "--idle-clients" {
		// Internal: the idle scenario's client process.
		stdin := e.stdin
		if stdin == nil {
			stdin = os.Stdin
		}
		return loadgen.RunIdleClients(ctx, stdin, e.stdout)
	}
	if len(args) == 1 && args[0] == "--relay-process" {
		// Internal: the relay of the scenarios that measure it alone.
		stdin := e.stdin
		if stdin == nil {
			stdin = os.Stdin
		}
		return loadgen.RunRelayProcess(ctx, stdin, e.stdout)
	}
	fs := newFlags("bench", "", benchUsage)
	storeURL := fs.String("store", "", "postgres://... (default: SQLite in a temporary directory)")
	dir := fs.String("dir", "", "where the SQLite databases go (default: the system's temporary directory)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios (default: all): "+strings.Join(loadgen.Scenarios(), ","))
	scale := fs.String("scale", "small", "tiny, small or full")
	heapProfile := fs.String("idle-heap-profile", "", "write a heap profile of the relay with every idle connection up to this file")
	relayProfile := fs.String("relay-cpu-profile", "", "the relay processes (throughput, fanout) write CPU profiles to this path + \".SCENARIO\"")
	wide := fs.Bool("wide", false, "one row per scenario instead of one per figure (about 300 columns)")
	nodes := fs.String("nodes", "", "run only the nodes scenario: throughput against this many relay processes on --store, e.g. 1,2,3")
	natsServer := fs.String("nats-server", "", "the nodes scenario's NATS server `BINARY`, run as a child (default: nats-server on PATH)")
	natsURL := fs.String("nats", "", "the nodes scenario's NATS server `URL`, already running (its CPU is not measured)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	sizes, err := loadgen.SizesByName(*scale)
	if err != nil {
		return fs.usagef("%v", err)
	}
	if *nodes != "" {
		rep, err := benchNodes(ctx, e, fs, sizes, *nodes, *storeURL, *natsServer, *natsURL, *dir)
		return benchReport(e, rep, err, *wide, *jsonOut)
	}
	cfg := loadgen.Config{Sizes: sizes, Progress: e.stderr, RelayCPUProfile: *relayProfile}
	if *heapProfile != "" {
		f, err := os.Create(*heapProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.IdleHeapProfile = f
	}
	if *scenarios != "" {
		cfg.Scenarios = strings.Split(*scenarios, ",")
	}
	switch {
	case *storeURL == "":
		tmp, err := os.MkdirTemp(*dir, "samizdat-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		cfg.Store, cfg.StoreKind = loadgen.SQLite(tmp), "sqlite"
	default:
		open, err := benchPostgres(*storeURL)
		if err != nil {
			return err
		}
		cfg.Store, cfg.StoreKind = open, "postgres"
	}
	rep, err := loadgen.Run(ctx, cfg)
	return benchReport(e, rep, err, *wide, *jsonOut)
}

// benchReport prints rep as a table (wide or not), writes it as JSON to
// jsonOut if set, and returns the run's error or the verdict.
func benchReport(e *env, rep *loadgen.Report, err error, wide bool, jsonOut string) error {
	if rep != nil {
		table := rep.Table
		if wide {
			table = rep.WideTable
		}
		if terr := table(e.stdout); terr != nil && err == nil {
			err = terr
		}
		if jsonOut != "" {
			b, jerr := rep.JSON()
			if jerr == nil {
				jerr = os.WriteFile(jsonOut, append(b, '\n'), 0o644)
			}
			if jerr != nil && err == nil {
				err = jerr
			}
		}
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return errors.New("a scenario failed or its counts did not add up (see the table)")
	}
	return nil
}

// benchPostgres opens scenario stores on the PostgreSQL database at url.
func benchPostgres(url string) (loadgen.OpenStore, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, fmt.Errorf("--store: want a postgres:// or postgresql:// url: %w", errUsage)
	}
	return loadgen.Postgres(url, func(ctx context.Context, u string) (relay.Store, error) {
		return postgres.Open(ctx, u, postgres.Options{})
	}), nil
}
