package leaktest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
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

// Each test parks its goroutines in a function of its own, so that its
// checks, which find goroutines by the functions on their stacks, never see
// another test's goroutine that is still on its way out.

func leaked(release <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	<-release
}

func TestLeakFoundThenGone(t *testing.T) {
	before := runtime.NumGoroutine()
	// Several, so that an unrelated goroutine ending meanwhile cannot
	// bring the count back to before.
	const n = 3
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go leaked(release, &wg)
	}

	r := &recorder{TB: t}
	atMost(r, before, 50*time.Millisecond)
	gone(r, "leaktest.leaked(", 50*time.Millisecond)
	if len(r.errors) != 2 || !strings.Contains(r.errors[0], "want at most") || !strings.Contains(r.errors[1], "leaktest.leaked(") {
		t.Fatalf("parked goroutines were not reported: %q", r.errors)
	}

	// Released, they end a moment later: the checks wait for that.
	r = &recorder{TB: t}
	time.AfterFunc(20*time.Millisecond, free)
	AtMost(r, before)
	Gone(r, "leaktest.leaked(")
	wg.Wait()
	if len(r.errors) != 0 {
		t.Fatalf("goroutines that ended were reported: %q", r.errors)
	}
}

func lingering(release <-chan struct{}) { <-release }

// Check waits, when the test ends, for a goroutine that is still finishing.
func TestCheckWaits(t *testing.T) {
	Check(t)
	release := make(chan struct{})
	go lingering(release)
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
}

func waiting(release <-chan struct{}, ended chan<- struct{}) {
	<-release
	close(ended)
}

func TestAfterClose(t *testing.T) {
	release, ended := make(chan struct{}), make(chan struct{})
	go waiting(release, ended)
	var found []string
	if !poll.Until(Patience, func() bool { found = blocked("leaktest.waiting("); return len(found) > 0 }) {
		t.Fatal("a goroutine waiting on a channel was never seen blocked")
	}
	if !strings.HasPrefix(found[0], "goroutine ") || !strings.Contains(found[0], "[chan receive") {
		t.Errorf("blocked returned %q", found[0])
	}
	close(release)
	<-ended
	r := &recorder{TB: t}
	AfterClose(r, "leaktest.waiting(")
	if len(r.errors) != 0 {
		t.Fatalf("reported a goroutine that had ended: %q", r.errors)
	}
}
