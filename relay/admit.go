package relay

import (
	"net"
	"sync"
)

// admission bounds the Noise handshakes in progress, in all and per
// source address, so that peers that connect and say nothing cannot turn
// everyone else away. When every slot is taken, a newcomer from a source
// holding fewer slots than the busiest source takes that source's oldest
// slot, whose connection is closed: a flood from some addresses costs the
// flooders their own slots, not the slots of other addresses.
//
// The source of a connection through a shared proxy (a CDN edge) names
// the proxy, not the peer: such sources are not capped, as every fronted
// user shares one, but they still count as one source when a slot is
// taken back, so a flood through the CDN competes with fronted users, not
// with the others.
type admission struct {
	max       int // slots in all
	perSource int // slots per capped source

	mu    sync.Mutex
	total int                     // slots taken; guarded by mu
	bySrc map[string][]*handshake // slots by source, oldest first; guarded by mu
}

// handshake is one slot: a connection whose handshake is in progress.
type handshake struct {
	src     string
	raw     net.Conn
	done    bool // released or taken back; guarded by admission.mu
	evicted bool // taken back for a newcomer; guarded by admission.mu
}

func newAdmission(max, perSource int) *admission {
	return &admission{max: max, perSource: perSource, bySrc: make(map[string][]*handshake)}
}

// admit gives raw, from src, a slot. It returns the slot, or nil when raw
// must be dropped; the connection of a slot taken back for it (to be
// closed by the caller, outside any lock), or nil; and whether more than
// half of the slots are taken (the handshake then gets a shorter budget).
func (a *admission) admit(src string, capped bool, raw net.Conn) (h *handshake, evict net.Conn, pressure bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mine := len(a.bySrc[src])
	if capped && mine >= a.perSource {
		return nil, nil, true
	}
	if a.total >= a.max {
		victim := a.busiest()
		if len(a.bySrc[victim]) <= mine+1 {
			return nil, nil, true
		}
		old := a.bySrc[victim][0]
		old.evicted = true
		a.removeLocked(old)
		evict = old.raw
	}
	h = &handshake{src: src, raw: raw}
	a.bySrc[src] = append(a.bySrc[src], h)
	a.total++
	return h, evict, a.total > a.max/2
}

// busiest returns the source holding the most slots. It is called only
// when every slot is taken, so the scan is bounded by max.
func (a *admission) busiest() string {
	var src string
	n := -1
	for s, hs := range a.bySrc {
		if len(hs) > n {
			src, n = s, len(hs)
		}
	}
	return src
}

// release frees h's slot once its handshake has ended. It reports whether
// the slot had been taken back for a newcomer.
func (a *admission) release(h *handshake) (evicted bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !h.done {
		a.removeLocked(h)
	}
	return h.evicted
}

// removeLocked frees h's slot.
func (a *admission) removeLocked(h *handshake) {
	h.done = true
	a.total--
	hs := a.bySrc[h.src]
	for i, x := range hs {
		if x == h {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(a.bySrc, h.src)
	} else {
		a.bySrc[h.src] = hs
	}
}
