package poll

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	var n atomic.Int32
	if !Until(time.Minute, func() bool { return n.Add(1) == 3 }) {
		t.Fatal("a condition that came true was reported false")
	}
	if got := n.Load(); got != 3 {
		t.Errorf("checked %d times, want 3 (until it held)", got)
	}
	start := time.Now()
	if Until(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never held was reported true")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %v, before the limit", d)
	}
}
