package token

import (
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"
)

var floodSecret = []byte("0123456789abcdef")

// floodStart returns a fresh verifier and the time of the flood.
func floodStart(t *testing.T) (time.Time, *Verifier) {
	t.Helper()
	v, err := NewVerifier(floodSecret, "/t")
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(1_800_000_000, 0), v
}

// flood presents n valid, distinct tokens for times at(i) from src(i)
// and counts those accepted and those refused with ErrQuota; any other
// error fails the test.
func flood(t *testing.T, v *Verifier, now time.Time, n int, at func(i int) time.Time, src func(i int) Source) (accepted, quota int) {
	t.Helper()
	nonces := mrand.NewChaCha8([32]byte{2}) // cheaper than crypto/rand for a flood
	for i := range n {
		tok, err := New(floodSecret, "/t", at(i), nonces)
		if err != nil {
			t.Fatal(err)
		}
		switch err := v.Verify(tok, now, src(i)); {
		case err == nil:
			accepted++
		case errors.Is(err, ErrQuota):
			quota++
		default:
			t.Fatalf("flood token %d: %v", i, err)
		}
	}
	return accepted, quota
}

// realClient presents a fresh token made at now from src.
func realClient(v *Verifier, now time.Time, src Source) (string, error) {
	tok, err := New(floodSecret, "/t", now, rand.Reader)
	if err != nil {
		return "", err
	}
	return tok, v.Verify(tok, now, src)
}

// TestFloodOneSource: a holder of the secret sends more valid, distinct
// tokens than the cache could ever hold, spread over every time the
// window accepts, from one address. It gets its quota per slot and is
// refused beyond it; a real client from elsewhere still gets through, and
// so does the flooder's next token once a new slot begins.
func TestFloodOneSource(t *testing.T) {
	now, v := floodStart(t)
	const n = 70000
	span := 2 * Window
	flooder := Source{Key: "203.0.113.9"}
	accepted, quota := flood(t, v, now, n,
		func(i int) time.Time { return now.Add(-Window + span*time.Duration(i)/n) },
		func(int) Source { return flooder })
	if max := defaultPerSource * (ringSize - 1); accepted > max {
		t.Errorf("one source had %d tokens accepted, more than its quota of %d per slot allows (%d)", accepted, defaultPerSource, max)
	}
	if quota == 0 {
		t.Error("the flooder was never refused")
	}
	if _, err := realClient(v, now, Source{Key: "198.51.100.7"}); err != nil {
		t.Fatalf("a real client after the flood: %v", err)
	}
	// The flooder itself is over its quota in the current slot, and
	// welcome again in the next.
	if _, err := realClient(v, now, flooder); !errors.Is(err, ErrQuota) {
		t.Errorf("the flooder within its full slot: %v, want ErrQuota", err)
	}
	later := now.Add(Window + slotSeconds*time.Second)
	if _, err := realClient(v, later, flooder); err != nil {
		t.Errorf("the flooder in a fresh slot: %v", err)
	}
}

// TestFloodManySources: 700 addresses together send more valid tokens
// for the current time than the cache holds in all. A real client
// accepted before the flood keeps its entry (its token is still refused
// as a replay), and one arriving after it gets through.
func TestFloodManySources(t *testing.T) {
	now, v := floodStart(t)
	early, err := realClient(v, now, Source{Key: "198.51.100.1"})
	if err != nil {
		t.Fatal(err)
	}
	const sources, each = 700, 100
	accepted, _ := flood(t, v, now, sources*each,
		func(int) time.Time { return now },
		func(i int) Source { return Source{Key: fmt.Sprintf("10.%d.%d.1", i%sources/250, i%sources%250)} })
	if accepted < v.seen.slotCap {
		t.Fatalf("the flood had %d tokens accepted; it should have filled the slot (%d)", accepted, v.seen.slotCap)
	}
	if got := v.seen.held(now); got > v.seen.slotCap {
		t.Fatalf("the slot holds %d nonces, more than its %d", got, v.seen.slotCap)
	}
	if err := v.Verify(early, now, Source{Key: "203.0.113.66"}); !errors.Is(err, ErrReplayed) {
		t.Errorf("the early client's token replayed after the flood: %v, want ErrReplayed", err)
	}
	if _, err := realClient(v, now, Source{Key: "198.51.100.7"}); err != nil {
		t.Fatalf("a real client after the flood: %v", err)
	}
}

// TestFloodThroughSharedSource: a flood through a CDN edge, whose address
// every fronted user shares, is not refused by the quota per source, but
// it cannot grow the cache past its bound nor turn away the users behind
// the same edge or behind others.
func TestFloodThroughSharedSource(t *testing.T) {
	now, v := floodStart(t)
	edge := Source{Key: "192.0.2.10", Shared: true}
	accepted, quota := flood(t, v, now, 70000,
		func(int) time.Time { return now },
		func(int) Source { return edge })
	if quota != 0 || accepted != 70000 {
		t.Errorf("through a shared source: %d accepted, %d refused; want every one accepted", accepted, quota)
	}
	if got := v.seen.held(now); got > v.seen.slotCap {
		t.Fatalf("the slot holds %d nonces, more than its %d", got, v.seen.slotCap)
	}
	if _, err := realClient(v, now, edge); err != nil {
		t.Errorf("a user behind the flooded edge: %v", err)
	}
	if _, err := realClient(v, now, Source{Key: "192.0.2.11", Shared: true}); err != nil {
		t.Errorf("a user behind another edge: %v", err)
	}
}

// TestSlotsExpireWhole: once a slot's times have all left the window, the
// next token whose time falls in the same place of the ring finds it
// empty, and the cache holds no more than the live slots.
func TestSlotsExpireWhole(t *testing.T) {
	now, v := floodStart(t)
	src := Source{Key: "198.51.100.7"}
	for i := range 100 {
		if _, err := realClient(v, now, src); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if got := v.seen.held(now); got != 100 {
		t.Fatalf("the slot holds %d, want 100", got)
	}
	// ringSize slots later the same ring slot is reused for a new time.
	later := now.Add(time.Duration(ringSize*slotSeconds) * time.Second)
	if _, err := realClient(v, later, src); err != nil {
		t.Fatal(err)
	}
	if got := v.seen.held(later); got != 1 {
		t.Fatalf("the reused slot holds %d, want 1 (the old slot dropped whole)", got)
	}
}

// TestRingCoversWindow: every time the window accepts falls in a slot of
// its own in the ring, so no live slot is dropped for another.
func TestRingCoversWindow(t *testing.T) {
	for _, now := range []int64{0, 1, 14, 15, 1_800_000_007, -31} {
		w := int64(Window / time.Second)
		lo, hi := floorDiv(now-w, slotSeconds), floorDiv(now+w, slotSeconds)
		if n := hi - lo + 1; n > int64(ringSize) {
			t.Errorf("at %d the window spans %d slots, the ring has %d", now, n, ringSize)
		}
	}
}

// held is how many nonces the cache holds in the slot of time now.
func (c *replayCache) held(now time.Time) int {
	k := floorDiv(now.Unix(), slotSeconds)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.at(k); s.used && s.k == k {
		return len(s.nonces)
	}
	return 0
}
