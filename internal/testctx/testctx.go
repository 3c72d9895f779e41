// Package testctx gives tests a context for work that must finish but
// whose duration follows the machine's load (a lab run, a load generator
// run): it ends shortly before the test binary's own deadline (go test
// -timeout), never at a guessed wall-clock bound, so a slow run on a busy
// machine is not cut short while a hung one still fails with its own
// error rather than a goroutine dump.
package testctx

import (
	"context"
	"time"
)

// margin is left before the binary's deadline for the test to report.
const margin = 30 * time.Second

// Deadliner is the part of *testing.T (and *testing.B) that Bounded needs.
type Deadliner interface {
	Deadline() (time.Time, bool)
}

// Bounded returns a context that ends margin before t's deadline, or
// only when cancelled if the test binary has none (-timeout 0).
func Bounded(t Deadliner) (context.Context, context.CancelFunc) {
	dl, ok := t.Deadline()
	if !ok {
		return context.WithCancel(context.Background())
	}
	return context.WithDeadline(context.Background(), dl.Add(-margin))
}
