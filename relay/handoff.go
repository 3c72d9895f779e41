package relay

import (
	"context"
	"slices"
)

// Handing committed envelopes to connected devices.
//
// Once an Append has committed, the relay has the envelopes in hand; a
// recipient device connected to this relay and delivering gets its copy
// straight from the sender's request (handOff), instead of a wake-up that
// has its delivery worker read it back from the store. The store stays the
// truth: the envelope is deleted only when the device acknowledges it, and
// whatever the handoff cannot take (no connection here, a connection not
// yet delivering, a full queue) goes the old way, a wake-up and a read.
//
// A connection reads its mailbox in Seq order after its cursor (every
// envelope up to the cursor has been pushed). An envelope handed to it is
// pushed at once unless the cursor covers it, and its Seq is remembered
// (conn.pushed) until a read of the mailbox passes it, so that the read
// does not push it again. Stores commit envelopes in Seq order, so a
// handed envelope at or below the cursor was committed before that read
// and pushed by it. Each envelope thus reaches the connection once, in
// Seq order within what each read or handoff brings.

// Bounds on a connection's handoff state. Past them the connection reads
// its mailbox instead, which covers everything the handoff would have
// brought.
const (
	maxHanded = 1024 // envelopes waiting for the delivery worker
	maxPushed = 4096 // Seqs pushed by handoff that no read has passed yet
)

// handOff gives each committed envelope of envs to its device's delivering
// connection on this relay, and wakes the hub for the rest. Only with the
// in-process hub: a hub that spans relays is woken for every envelope as
// before, since the device may be served by another relay (and a relay
// whose bus loses wake-ups then delivers after DeliveryPoll, as a lost
// wake-up for another relay's device would).
func (s *Server) handOff(envs []Envelope) {
	if len(envs) == 0 {
		return
	}
	if _, local := s.hub.(*LocalHub); !local {
		for i := range envs {
			s.hub.Notify(envs[i].Account, envs[i].Device)
		}
		return
	}
	conns := make([]*conn, len(envs))
	s.mu.Lock()
	for i := range envs {
		conns[i] = s.live[deviceKey{envs[i].Account, envs[i].Device}]
	}
	s.mu.Unlock()
	for i := range envs {
		if conns[i] == nil || !conns[i].offer(&envs[i]) {
			s.hub.Notify(envs[i].Account, envs[i].Device)
		}
	}
}

// offer queues a committed envelope for the delivery worker. It returns
// false when the connection does not deliver (yet), or is closing; the
// caller then wakes the device through the hub.
func (c *conn) offer(e *Envelope) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.armed {
		return false
	}
	if len(c.handed) >= maxHanded {
		// The worker is behind; a read of the mailbox catches up.
		c.kickLocked(kickMail)
		return true
	}
	c.handed = append(c.handed, *e)
	c.kickLocked(kickHanded)
	return true
}

// takeHanded returns the envelopes handed to the connection since the last
// call.
func (c *conn) takeHanded() []Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.handed
	c.handed = nil
	return h
}

// pushHanded pushes the handed envelopes that no read of the mailbox has
// pushed. It returns false when the connection failed.
func (c *conn) pushHanded(ctx context.Context, envs []Envelope) bool {
	var out []*Envelope
	for i := range envs {
		e := &envs[i]
		if e.Seq <= c.cursor {
			continue // the last read had it
		}
		at, found := slices.BinarySearch(c.pushed, e.Seq)
		if found {
			continue
		}
		c.pushed = slices.Insert(c.pushed, at, e.Seq)
		out = append(out, e)
	}
	if !c.pushDeliveries(out) {
		return false
	}
	if len(c.pushed) > maxPushed {
		// A device that does not acknowledge: read the mailbox, which
		// passes every Seq remembered.
		return c.deliver(ctx)
	}
	return true
}

// readPast reports whether a read of the mailbox may skip the envelope
// with this Seq, pushed by handoff already, and forgets the Seqs the read
// passed. (A read that reaches the end of the mailbox forgets them all:
// those it did not meet were acknowledged.)
func (c *conn) readPast(seq uint64) bool {
	i, found := slices.BinarySearch(c.pushed, seq)
	if found {
		i++
	}
	if i > 0 {
		c.pushed = slices.Delete(c.pushed, 0, i)
	}
	return found
}
