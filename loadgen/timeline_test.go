package loadgen

import (
	"slices"
	"sync"
	"testing"
	"time"

	"samizdat/relay/wire"
)

// after waits until the clock has moved past d, so that the next window
// begins strictly later.
func after(d time.Duration) {
	for sinceEpoch() <= d {
	}
}

// TestTimeline: a moment belongs to the last window begun at or before
// it, nothing to the end or after, and the siege's windows pool by kind.
func TestTimeline(t *testing.T) {
	var tl timeline
	if p, open := tl.at(sinceEpoch()); p != 0 || !open {
		t.Fatalf("empty timeline: phase %d, open %v; want 0, true", p, open)
	}
	var starts []time.Duration
	phases := []byte{0, calmWindow(0), openingWindow(0), heldWindow(0), 0, calmWindow(1), openingWindow(1), heldWindow(1)}
	for _, p := range phases {
		if len(starts) > 0 {
			after(starts[len(starts)-1])
		}
		starts = append(starts, tl.begin(p))
	}
	after(starts[len(starts)-1])
	end := tl.close(0)
	for i, s := range starts {
		if p, open := tl.at(s); p != phases[i] || !open {
			t.Errorf("start of window %d: phase %d, open %v; want %d, true", i, p, open, phases[i])
		}
		if i > 0 {
			if p, _ := tl.at(s - 1); p != phases[i-1] {
				t.Errorf("just before window %d: phase %d, want %d", i, p, phases[i-1])
			}
		}
	}
	if p, open := tl.at(starts[0] - 1); p != 0 || !open {
		t.Errorf("before the first window: phase %d, open %v; want 0, true", p, open)
	}
	if p, open := tl.at(end - 1); p != phases[len(phases)-1] || !open {
		t.Errorf("just before the end: phase %d, open %v; want %d, true", p, open, phases[len(phases)-1])
	}
	for _, d := range []time.Duration{end, end + time.Hour} {
		if _, open := tl.at(d); open {
			t.Errorf("%v after the end: open", d-end)
		}
	}
	for _, c := range []struct {
		kind string
		is   func(byte) bool
		want []byte
	}{
		{"calm", isCalmWindow, []byte{1, 4}},
		{"siege", isSiegeWindow, []byte{2, 3, 5, 6}},
		{"siege opening", isOpeningWindow, []byte{2, 5}},
		{"siege held", isHeldWindow, []byte{3, 6}},
	} {
		if got := tl.phasesOf(c.is); !slices.Equal(got, c.want) {
			t.Errorf("%s windows %v, want %v", c.kind, got, c.want)
		}
	}

	tr := newTracker()
	for i, p := range []byte{1, 2, 4, 3, 4, 0} { // the phases' messages, one each but 4
		id, content := tr.message(p, sinceEpoch()-time.Duration(i+1)*time.Second)
		tr.deliver(nil, &wire.Envelope{Id: id, Content: content})
	}
	// Message i is i+1 seconds late: phases 1 and 4 took 1, 3 and 5 s.
	got := tr.pooled(tl.phasesOf(isCalmWindow))
	var secs []int
	for _, ms := range got {
		secs = append(secs, int(ms/1000))
	}
	if !slices.Equal(secs, []int{1, 3, 5}) {
		t.Errorf("calm windows pooled %v ms, want the messages of phases 1 and 4 (1, 3 and 5 s), sorted", got)
	}
}

// TestChatsFileByIntendedTime: a sender that falls behind sends its late
// messages at once, filed under the window they were meant for, not the
// one they went out in; and nothing is sent for the end or after.
func TestChatsFileByIntendedTime(t *testing.T) {
	type sent struct {
		sender    int
		phase     byte
		at, since time.Duration // meant for, sent at
	}
	var (
		tl       timeline
		mu       sync.Mutex
		got      []sent
		once     sync.Once
		blocked  = make(chan struct{})
		released = make(chan struct{})
		done     = make(chan struct{})
	)
	tl.begin(1)
	go func() {
		defer close(done)
		chats(2, 1000, &tl, func(i int, phase byte, at time.Duration) {
			if i == 0 {
				once.Do(func() { close(blocked); <-released })
			}
			mu.Lock()
			got = append(got, sent{i, phase, at, sinceEpoch()})
			mu.Unlock()
		})
	}()
	<-blocked
	time.Sleep(20 * time.Millisecond) // sender 0 is at least 20 sends behind
	switched := tl.begin(2)
	close(released)
	// Until sender 0 has caught up with window 2.
	deadline := time.Now().Add(time.Minute)
	for caughtUp := false; !caughtUp; {
		if time.Now().After(deadline) {
			t.Fatal("sender 0 sent nothing in window 2 within a minute")
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		caughtUp = slices.ContainsFunc(got, func(s sent) bool { return s.sender == 0 && s.phase == 2 })
		mu.Unlock()
	}
	end := tl.close(0)
	<-done

	late := 0
	for _, s := range got {
		want := byte(1)
		if s.at >= switched {
			want = 2
		}
		if s.phase != want {
			t.Errorf("sender %d's message meant for %v filed under %d, want %d (window 2 began at %v)", s.sender, s.at, s.phase, want, switched)
		}
		if s.at >= end {
			t.Errorf("sender %d sent a message meant for %v, at or after the end %v", s.sender, s.at, end)
		}
		if s.sender == 0 && s.phase == 1 && s.since > switched {
			late++
		}
	}
	if late < 19 {
		t.Errorf("sender 0 sent %d messages meant for window 1 after it ended, want at least 19", late)
	}
}
