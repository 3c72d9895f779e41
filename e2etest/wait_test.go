package e2etest

import (
	"os"
	"testing"
	"time"

	"samizdat/internal/poll"
)

// patience bounds every wait for something that must happen (a process
// listening, a message delivered, an outbox drained). A wait ends as soon
// as it happens, so only a failing test waits this long; a busy machine
// can take many seconds where an idle one takes milliseconds.
const patience = 2 * time.Minute

// soak reports whether the tests run at full size (SAMIZDAT_SOAK=1, as
// `make soak` sets it) rather than at the size CI runs.
func soak() bool { return os.Getenv("SAMIZDAT_SOAK") == "1" }

// waitUntil waits until cond holds, or fails the test after patience.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// eventually reports whether cond held within patience; it returns as
// soon as it does.
func eventually(cond func() bool) bool { return poll.Until(patience, cond) }
