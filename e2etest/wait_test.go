package e2etest

import (
	"os"
	"testing"
	"time"
)

// patience bounds every wait for something that must happen (a process
// listening, a message delivered, an outbox drained). A wait ends as soon
// as it happens, so only a failing test waits this long; a busy machine
// can take many seconds where an idle one takes milliseconds.
const patience = 2 * time.Minute

// soak reports whether the tests run at full size (SAMIZDAT_SOAK=1, as
// `make soak` sets it) rather than at the size CI runs.
func soak() bool { return os.Getenv("SAMIZDAT_SOAK") == "1" }

// waitUntil polls cond every 20 ms until it holds, or fails the test
// after patience.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// eventually polls cond every 20 ms until it holds (true) or patience
// passes (false).
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
