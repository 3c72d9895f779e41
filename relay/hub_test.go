package relay

import (
	"sync/atomic"
	"testing"
)

// TestLocalHub checks channel and function subscribers side by side:
// every subscriber of a device is woken, nobody else; channel wake-ups
// coalesce; a canceled subscriber is never called again, whatever its
// place in the device's list; cancel may be called twice.
func TestLocalHub(t *testing.T) {
	h := NewLocalHub()
	a, b := AccountID{1}, AccountID{2}
	var calls [3]atomic.Int32
	cancelF0 := h.SubscribeFunc(a, 1, func() { calls[0].Add(1) })
	ch, cancelCh := h.Subscribe(a, 1)
	cancelF1 := h.SubscribeFunc(a, 1, func() { calls[1].Add(1) })
	cancelOther := h.SubscribeFunc(b, 1, func() { calls[2].Add(1) })
	defer cancelOther()

	h.Notify(a, 1)
	h.Notify(a, 1)
	h.Notify(a, 2) // another device of the account: nobody
	if got := [3]int32{calls[0].Load(), calls[1].Load(), calls[2].Load()}; got != [3]int32{2, 2, 0} {
		t.Fatalf("calls after two notifies: %v, want [2 2 0]", got)
	}
	select {
	case <-ch:
	default:
		t.Fatal("channel subscriber not woken")
	}
	select {
	case <-ch:
		t.Fatal("channel wake-ups did not coalesce")
	default:
	}

	cancelCh() // the middle of the list
	cancelCh()
	h.Notify(a, 1)
	if calls[0].Load() != 3 || calls[1].Load() != 3 {
		t.Fatalf("function subscribers after canceling the channel: %d %d, want 3 3", calls[0].Load(), calls[1].Load())
	}
	select {
	case <-ch:
		t.Fatal("canceled channel woken")
	default:
	}
	cancelF1() // the head of the list
	h.Notify(a, 1)
	if calls[0].Load() != 4 || calls[1].Load() != 3 {
		t.Fatalf("after canceling the newest: %d %d, want 4 3", calls[0].Load(), calls[1].Load())
	}
	cancelF0()
	cancelF0()
	h.Notify(a, 1)
	if calls[0].Load() != 4 {
		t.Fatal("canceled function called")
	}
	h.mu.Lock()
	left := len(h.subs)
	h.mu.Unlock()
	if left != 1 {
		t.Fatalf("%d devices with subscribers, want 1 (the other account's)", left)
	}
	h.Notify(b, 1)
	if calls[2].Load() != 1 {
		t.Fatal("the other account's subscriber not woken")
	}
}
