package lab

import (
	"log/slog"
	"time"
)

// Options configures one run of the lab.
type Options struct {
	// Seed overrides the scenario's seed (0: the scenario's).
	Seed int64
	// Out is the directory to write report.json and index.html into
	// ("": no files).
	Out string
	// Work is the scratch directory for relay and client state ("": a
	// temporary directory, removed at the end).
	Work string
	// Progress, if set, is called from the tick loop about once a
	// second and at each phase change. It must not block for long.
	Progress func(Progress)
	// Logger receives the lab's own log lines (nil discards).
	Logger *slog.Logger
}

// Progress is a snapshot of a run for a live display.
type Progress struct {
	T, Total         time.Duration // lab time so far, and Duration+Drain
	Phase            string        // "setup", "run", "drain", "report"
	Strategies       []StrategyProgress
	BlockedAddresses uint64
	BystandersBroken int
	Bystanders       int
	Event            string // the latest censor or operator move, in words ("" if none since the last call)
}

// StrategyProgress is one strategy's state in a Progress.
type StrategyProgress struct {
	Name      string
	Clients   int // clients started so far
	Connected int // clients with a live connection now
	Sent      int
	Delivered int
}
