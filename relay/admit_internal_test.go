package relay

import (
	"net"
	"testing"
)

// The handshake slots: a cap per source, a newcomer from a less busy
// source takes the busiest source's oldest slot, uncapped (proxied)
// sources only give way, and pressure past half of the slots.
func TestAdmission(t *testing.T) {
	a := newAdmission(8, 3)
	conn := func() net.Conn {
		c, p := net.Pipe()
		t.Cleanup(func() { c.Close(); p.Close() })
		return c
	}
	take := func(src string, capped bool) (*handshake, net.Conn, bool) {
		t.Helper()
		h, evict, pressure := a.admit(src, capped, conn())
		if h == nil {
			t.Fatalf("%s refused with %d slots taken", src, a.total)
		}
		return h, evict, pressure
	}

	first, _, pressure := take("a", true)
	if pressure {
		t.Fatal("pressure with one slot taken")
	}
	take("a", true)
	take("a", true)
	if h, _, _ := a.admit("a", true, conn()); h != nil {
		t.Fatal("a fourth slot for one capped source")
	}
	// The CDN edge is not capped per source.
	for i := range 5 {
		if _, _, pressure := take("edge", false); pressure != (i >= 1) { // past half: 5 of 8
			t.Fatalf("pressure %v with %d of 8 slots taken", pressure, a.total)
		}
	}
	// Full: a source with none takes the busiest's (the edge's) oldest,
	// and again while the edge holds more than one slot more.
	for range 2 {
		if _, evict, _ := take("b", true); evict == nil {
			t.Fatal("a newcomer did not take the busiest source's slot")
		}
	}
	if len(a.bySrc["edge"]) != 3 {
		t.Fatalf("the edge holds %d slots, want 3", len(a.bySrc["edge"]))
	}
	// a and the edge hold 3, b 2: b may not take a slot from a source
	// that holds no more than b would.
	if h, _, _ := a.admit("b", true, conn()); h != nil {
		t.Fatal("a source took a slot from one holding no more than it would")
	}
	// A released slot is free for anyone; releasing twice is harmless.
	if a.release(first) || a.release(first) {
		t.Fatal("an ended handshake reported as taken back")
	}
	take("d", true)
	if a.total != 8 || len(a.bySrc["a"]) != 2 {
		t.Fatalf("%d slots taken, a holds %d", a.total, len(a.bySrc["a"]))
	}
}
