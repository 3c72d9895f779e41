package leaktest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"samizdat/internal/poll"
)

// recorder is a testing.TB that keeps what a check reports.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// parked is the function a leaked goroutine waits in, so its stack names it.
func parked(release <-chan struct{}, ended chan<- struct{}) {
	<-release
	close(ended)
}

// parkedAfterClose is parked for TestAfterClose alone: a goroutine another
// test left parked (TestCheckWaits releases its own a moment later) must
// not be taken for this test's.
func parkedAfterClose(release <-chan struct{}, ended chan<- struct{}) {
	<-release
	close(ended)
}

func TestLeakFoundThenGone(t *testing.T) {
	before := runtime.NumGoroutine()
	release, ended := make(chan struct{}), make(chan struct{})
	go parked(release, ended)

	r := &recorder{TB: t}
	atMost(r, before, 50*time.Millisecond)
	gone(r, "leaktest.parked", 50*time.Millisecond)
	if len(r.errors) != 2 || !strings.Contains(r.errors[0], "want at most") || !strings.Contains(r.errors[1], "leaktest.parked") {
		t.Fatalf("a parked goroutine was not reported: %q", r.errors)
	}

	// Released, it ends a moment later: the checks wait for that.
	r = &recorder{TB: t}
	go func() {
		time.Sleep(20 * time.Millisecond)
		close(release)
	}()
	AtMost(r, before)
	Gone(r, "leaktest.parked")
	<-ended
	if len(r.errors) != 0 {
		t.Fatalf("a goroutine that ended was reported: %q", r.errors)
	}
}

// Check waits, when the test ends, for a goroutine that is still finishing.
func TestCheckWaits(t *testing.T) {
	Check(t)
	release := make(chan struct{})
	go parked(release, make(chan struct{}))
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
}

func TestAfterClose(t *testing.T) {
	release, ended := make(chan struct{}), make(chan struct{})
	go parkedAfterClose(release, ended)
	var found []string
	if !poll.Until(Patience, func() bool { found = blocked("leaktest.parkedAfterClose"); return len(found) > 0 }) {
		t.Fatal("a goroutine parked on a channel was never seen blocked")
	}
	if !strings.HasPrefix(found[0], "goroutine ") || !strings.Contains(found[0], "[chan receive") {
		t.Errorf("blocked returned %q", found[0])
	}
	close(release)
	<-ended
	r := &recorder{TB: t}
	AfterClose(r, "leaktest.parkedAfterClose")
	if len(r.errors) != 0 {
		t.Fatalf("reported a goroutine that had ended: %q", r.errors)
	}
}
