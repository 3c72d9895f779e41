package relay

import (
	"context"
	"sync"
	"time"

	"samizdat/relay/wire"
)

// Rendezvous for linking a device on another machine (wire.ProvisionOpen):
// the relay carries opaque messages between the new device's connection
// and the one existing device that joins with the rendezvous id. It sees
// neither the pairing code's secret nor what the messages say (package
// provision), so it cannot take part in the key exchange: the most it can
// do is drop or delay messages, or join a rendezvous itself, which makes
// that pairing fail. Rendezvous live in memory on the node that holds the
// new device's connection.

// Provisioning bounds.
const (
	// ProvisionTTL is how long a rendezvous waits to be used.
	ProvisionTTL = 5 * time.Minute
	// maxRendezvous bounds the open rendezvous of one node.
	maxRendezvous = 10000
	// maxRendezvousID, maxHello and maxProvisionBlob bound what a
	// rendezvous holds and carries.
	maxRendezvousID  = 16
	maxHello         = 1 << 10
	maxProvisionBlob = 512 << 10
	// maxProvisionMessages bounds the messages of one rendezvous, both
	// ways together.
	maxProvisionMessages = 64
)

// rendezvous is one open pairing.
type rendezvous struct {
	owner   *conn // the new device's connection, which opened it
	peer    *conn // the device that joined it, or nil
	hello   []byte
	expires time.Time
	sent    int
}

// provisioning holds a node's open rendezvous. The zero value is ready.
type provisioning struct {
	mu   sync.Mutex
	byID map[string]*rendezvous // guarded by mu
}

// get returns the live rendezvous under id, dropping it if it expired.
// The caller holds mu.
func (p *provisioning) get(id string, now time.Time) *rendezvous {
	r := p.byID[id]
	if r != nil && !now.Before(r.expires) {
		delete(p.byID, id)
		return nil
	}
	return r
}

// drop forgets every rendezvous c opened or joined (c ended).
func (p *provisioning) drop(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, r := range p.byID {
		if r.owner == c || r.peer == c {
			delete(p.byID, id)
		}
	}
}

func (c *conn) provisionOpen(r *wire.ProvisionOpen) *wire.Response {
	switch {
	case len(r.Rendezvous) == 0 || len(r.Rendezvous) > maxRendezvousID:
		return badRequest("rendezvous id must be 1-16 bytes")
	case len(r.Hello) == 0 || len(r.Hello) > maxHello:
		return badRequest("hello must be 1-1024 bytes")
	}
	p, now := &c.s.prov, c.s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byID == nil {
		p.byID = make(map[string]*rendezvous)
	}
	id := string(r.Rendezvous)
	if p.get(id, now) != nil {
		return fail(wire.Status_CONFLICT, "rendezvous id in use")
	}
	if len(p.byID) >= maxRendezvous {
		for k := range p.byID {
			p.get(k, now) // sweep the expired
		}
		if len(p.byID) >= maxRendezvous {
			return rateLimited("too many devices are linking now", time.Minute)
		}
	}
	for _, o := range p.byID {
		if o.owner == c {
			return fail(wire.Status_CONFLICT, "this connection has a rendezvous open")
		}
	}
	p.byID[id] = &rendezvous{owner: c, hello: append([]byte(nil), r.Hello...), expires: now.Add(ProvisionTTL)}
	return &wire.Response{}
}

// provisionJoin joins a rendezvous. Joins spend the device's lookup
// budget: guessing rendezvous ids costs as much as guessing usernames.
func (c *conn) provisionJoin(ctx context.Context, d Device, r *wire.ProvisionJoin) *wire.Response {
	if resp := c.limit(ctx, "too many pairing attempts", "pjoin", c.s.lim.Lookups, 1, devBytes(d)); resp != nil {
		return resp
	}
	p := &c.s.prov
	p.mu.Lock()
	defer p.mu.Unlock()
	rv := p.get(string(r.Rendezvous), c.s.now())
	switch {
	case rv == nil:
		return fail(wire.Status_NOT_FOUND, "no such pairing (expired, used or mistyped)")
	case rv.owner == c:
		return badRequest("a rendezvous cannot be joined by its own connection")
	case rv.peer != nil && rv.peer != c:
		return fail(wire.Status_CONFLICT, "pairing already used by another device")
	}
	return &wire.Response{Result: &wire.Response_ProvisionJoined{ProvisionJoined: &wire.ProvisionJoined{Hello: rv.hello}}}
}

func (c *conn) provisionSend(ctx context.Context, r *wire.ProvisionSend) *wire.Response {
	if len(r.Blob) == 0 || len(r.Blob) > maxProvisionBlob {
		return badRequest("provisioning message must be 1 byte to 512 KiB")
	}
	p := &c.s.prov
	p.mu.Lock()
	rv := p.get(string(r.Rendezvous), c.s.now())
	var to *conn
	switch {
	case rv == nil:
	case rv.owner == c:
		to = rv.peer
	case rv.peer == c:
		to = rv.owner
	case rv.peer == nil && c.device() != nil:
		// The first device to send binds the rendezvous: it checked the
		// hello against the code's secret before it sent.
		rv.peer, to = c, rv.owner
	}
	if to == nil {
		p.mu.Unlock()
		return fail(wire.Status_NOT_FOUND, "no such pairing on this connection")
	}
	if rv.sent >= maxProvisionMessages {
		p.mu.Unlock()
		return rateLimited("too many provisioning messages", ProvisionTTL)
	}
	rv.sent++
	p.mu.Unlock()
	err := to.push(&wire.Push{Body: &wire.Push_Provision{Provision: &wire.ProvisionMessage{Rendezvous: r.Rendezvous, Blob: r.Blob}}})
	if err != nil {
		return fail(wire.Status_NOT_FOUND, "the other device is gone")
	}
	return &wire.Response{}
}
