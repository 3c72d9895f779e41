// Package leaktest checks in tests that goroutines have ended. It waits for
// them instead of looking once: a goroutine that has called wg.Done but not
// yet returned still counts, and on a busy machine it may take seconds to be
// scheduled again. The wait ends as soon as the goroutines are gone, so a
// passing test pays nothing for the generous limit; only a leak waits it out.
package leaktest

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"samizdat/internal/poll"
)

// Patience is how long a check waits for goroutines to end before it fails.
const Patience = time.Minute

// Check fails t if, when t and its cleanups have finished, more goroutines
// run than when Check was called. Call it first, so that its cleanup runs
// after the test's own.
func Check(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() { AtMost(t, before) })
}

// AtMost waits until at most n goroutines run, and fails t, listing every
// goroutine, if that does not happen within Patience.
func AtMost(t testing.TB, n int) {
	t.Helper()
	atMost(t, n, Patience)
}

func atMost(t testing.TB, n int, limit time.Duration) {
	t.Helper()
	if !poll.Until(limit, func() bool { return runtime.NumGoroutine() <= n }) {
		t.Errorf("%d goroutines still running after %v, want at most %d:\n%s", runtime.NumGoroutine(), limit, n, stacks())
	}
}

// Gone waits until no goroutine is running code whose stack trace contains
// frame (say "samizdat/relay.(*"), and fails t, listing every goroutine, if
// one still is after Patience.
func Gone(t testing.TB, frame string) {
	t.Helper()
	gone(t, frame, Patience)
}

func gone(t testing.TB, frame string, limit time.Duration) {
	t.Helper()
	if !poll.Until(limit, func() bool { return !strings.Contains(stacks(), frame) }) {
		t.Errorf("goroutines in %s still running after %v:\n%s", frame, limit, stacks())
	}
}

// AfterClose checks, right after a Close that waits for its goroutines
// returned, that none running code whose stack trace contains frame is
// blocked: each must be on its way out (runnable, between its deferred
// wg.Done and its return). Then it waits for them to be gone, as Gone does.
func AfterClose(t testing.TB, frame string) {
	t.Helper()
	for _, g := range blocked(frame) {
		t.Errorf("a goroutine in %s is still blocked after Close returned:\n%s", frame, g)
	}
	Gone(t, frame)
}

// blocked returns the stack traces of the goroutines running code whose
// stack trace contains frame and waiting for something (not runnable).
func blocked(frame string) []string {
	var out []string
	for _, g := range strings.Split(stacks(), "\n\n") {
		if !strings.Contains(g, frame) {
			continue
		}
		// "goroutine 12 [chan receive, 2 minutes]:"
		header, _, _ := strings.Cut(g, "\n")
		_, state, _ := strings.Cut(header, "[")
		state, _, _ = strings.Cut(state, "]")
		switch state, _, _ = strings.Cut(state, ","); state {
		case "runnable", "running", "preempted":
		default:
			out = append(out, g)
		}
	}
	return out
}

// stacks returns the stack traces of every goroutine.
func stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}
