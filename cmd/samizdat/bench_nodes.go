package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"samizdat/loadgen"
)

// benchNodes runs `samizdat bench --nodes 1,2,3`: the throughput scenario
// against that many `samizdat relay` processes (this executable) on one
// PostgreSQL server and one NATS server.
func benchNodes(ctx context.Context, e *env, fs *cmdFlags, sizes loadgen.Sizes, counts, storeURL, natsServer, natsURL, dir string) (*loadgen.Report, error) {
	if !strings.HasPrefix(storeURL, "postgres://") && !strings.HasPrefix(storeURL, "postgresql://") {
		return nil, fs.usagef("--nodes needs a PostgreSQL server: --store postgres://... (scripts/pg.sh starts one)")
	}
	cfg := loadgen.NodesConfig{Server: storeURL, Sizes: sizes, Dir: dir, Progress: e.stderr, NATSURL: natsURL}
	for _, c := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 || n > 16 {
			return nil, fs.usagef("--nodes: want node counts from 1 to 16, like 1,2,3")
		}
		cfg.Counts = append(cfg.Counts, n)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfg.Relay = func(args ...string) *exec.Cmd { return exec.Command(self, append([]string{"relay"}, args...)...) }
	if natsURL == "" {
		if natsServer == "" {
			natsServer, err = exec.LookPath("nats-server")
			if err != nil {
				return nil, fs.usagef("--nodes needs a NATS server: --nats-server BINARY (go build -o nats-server github.com/nats-io/nats-server/v2) or --nats URL")
			}
		}
		cfg.NATS = func(port int) *exec.Cmd {
			return exec.Command(natsServer, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
		}
	} else if natsServer != "" {
		return nil, fs.usagef("--nats and --nats-server: give one")
	}
	rep, err := loadgen.RunNodes(ctx, cfg)
	if err != nil && rep == nil {
		return nil, fmt.Errorf("bench --nodes: %w", err)
	}
	return rep, err
}
