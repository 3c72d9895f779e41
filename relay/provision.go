package relay

import (
	"context"
	"errors"
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
// new device's connection. When the relay's Hub is a ProvisionBus (the
// NATS bus of several nodes), that node also serves its rendezvous to the
// others: a device connected to another node joins and sends through the
// bus, and the messages for it come back there (see ProvisionBus), so the
// two devices may reach different nodes.

// ProvisionBus carries rendezvous between relay nodes. A Hub that is one
// (package bus/natsbus) lets a device on one node pair with a new device
// connected to another.
type ProvisionBus interface {
	// ServeRendezvous has this node answer, until cancel, what the other
	// nodes ask of rendezvous id (AskRendezvous). cancel may wait on the
	// bus.
	ServeRendezvous(id []byte, serve func(RendezvousAsk) RendezvousReply) (cancel func(), err error)
	// AskRendezvous asks the node serving rendezvous id; ErrNotFound when
	// no node does.
	AskRendezvous(ctx context.Context, id []byte, ask RendezvousAsk) (RendezvousReply, error)
	// ListenRendezvous returns an address at which the messages for a
	// device connected to this node arrive (deliver is called with each),
	// until cancel.
	ListenRendezvous(deliver func(blob []byte)) (addr string, cancel func(), err error)
	// TellRendezvous sends blob to addr, a ListenRendezvous address on
	// some node.
	TellRendezvous(addr string, blob []byte) error
}

// RendezvousAsk is what a node asks of the node serving a rendezvous: the
// hello (a join), or to pass a message to the new device (Send).
type RendezvousAsk struct {
	Send bool
	From string // with Send: the sending device's ListenRendezvous address
	Blob []byte // with Send
}

// RendezvousReply answers a RendezvousAsk as the serving node would answer
// the device itself.
type RendezvousReply struct {
	Status  wire.Status
	Message string
	Hello   []byte
}

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
	owner   *conn  // the new device's connection, which opened it
	peer    *conn  // the device that joined it, or nil
	remote  string // or the ListenRendezvous address of one on another node
	hello   []byte
	expires time.Time
	sent    int
	stop    func() // ends ServeRendezvous, or nil
}

// bound reports whether a device has bound the rendezvous.
func (r *rendezvous) bound() bool { return r.peer != nil || r.remote != "" }

// remotePairing is a device of this node in a rendezvous another node
// serves: where the messages for it arrive.
type remotePairing struct {
	c       *conn
	addr    string
	stop    func()
	expires time.Time
}

// provisioning holds a node's open rendezvous. The zero value is ready.
type provisioning struct {
	mu     sync.Mutex
	byID   map[string]*rendezvous    // guarded by mu
	remote map[string]*remotePairing // by rendezvous id; guarded by mu
}

// get returns the live rendezvous under id, dropping it if it expired.
// The caller holds mu.
func (p *provisioning) get(id string, now time.Time) *rendezvous {
	r := p.byID[id]
	if r != nil && !now.Before(r.expires) {
		p.forget(id)
		return nil
	}
	return r
}

// forget drops the rendezvous id. The caller holds mu.
func (p *provisioning) forget(id string) {
	if r := p.byID[id]; r != nil && r.stop != nil {
		go r.stop() // it may wait on the bus: not under mu
	}
	delete(p.byID, id)
}

// getRemote returns c's live pairing in the rendezvous id another node
// serves. The caller holds mu.
func (p *provisioning) getRemote(id string, c *conn, now time.Time) *remotePairing {
	rp := p.remote[id]
	if rp != nil && !now.Before(rp.expires) {
		rp.stop()
		delete(p.remote, id)
		return nil
	}
	if rp != nil && rp.c != c {
		return nil
	}
	return rp
}

// drop forgets every rendezvous c opened or joined (c ended).
func (p *provisioning) drop(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, r := range p.byID {
		if r.owner == c || r.peer == c {
			p.forget(id)
		}
	}
	for id, rp := range p.remote {
		if rp.c == c {
			rp.stop()
			delete(p.remote, id)
		}
	}
}

// provBus returns the server's ProvisionBus, or nil.
func (c *conn) provBus() ProvisionBus {
	b, _ := c.s.hub.(ProvisionBus)
	return b
}

func (c *conn) provisionOpen(r *wire.ProvisionOpen) *wire.Response {
	switch {
	case len(r.Rendezvous) == 0 || len(r.Rendezvous) > maxRendezvousID:
		return badRequest("rendezvous id must be 1-16 bytes")
	case len(r.Hello) == 0 || len(r.Hello) > maxHello:
		return badRequest("hello must be 1-1024 bytes")
	}
	p, id := &c.s.prov, string(r.Rendezvous)
	rv, resp := p.open(c, id, r.Hello, c.s.now())
	if resp != nil {
		return resp
	}
	if b := c.provBus(); b != nil {
		// Outside mu: subscribing waits on the bus.
		stop, err := b.ServeRendezvous(r.Rendezvous, func(ask RendezvousAsk) RendezvousReply { return c.s.serveRendezvous(id, rv, ask) })
		if err != nil {
			// The pairing still works with a device on this node.
			c.log.Warn("serving a rendezvous to the other nodes", "err", err)
			return &wire.Response{}
		}
		p.mu.Lock()
		if p.byID[id] == rv {
			rv.stop = stop
			stop = nil
		}
		p.mu.Unlock()
		if stop != nil {
			stop() // it ended meanwhile
		}
	}
	return &wire.Response{}
}

// open records the rendezvous id that c opens, or returns why not.
func (p *provisioning) open(c *conn, id string, hello []byte, now time.Time) (*rendezvous, *wire.Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byID == nil {
		p.byID = make(map[string]*rendezvous)
	}
	if p.get(id, now) != nil {
		return nil, fail(wire.Status_CONFLICT, "rendezvous id in use")
	}
	if len(p.byID) >= maxRendezvous {
		for k := range p.byID {
			p.get(k, now) // sweep the expired
		}
		if len(p.byID) >= maxRendezvous {
			return nil, rateLimited("too many devices are linking now", time.Minute)
		}
	}
	for _, o := range p.byID {
		if o.owner == c {
			return nil, fail(wire.Status_CONFLICT, "this connection has a rendezvous open")
		}
	}
	rv := &rendezvous{owner: c, hello: append([]byte(nil), hello...), expires: now.Add(ProvisionTTL)}
	p.byID[id] = rv
	return rv, nil
}

// serveRendezvous answers another node's device in the rendezvous rv
// (under id), as provisionJoin and provisionSend answer one of this node.
func (s *Server) serveRendezvous(id string, rv *rendezvous, ask RendezvousAsk) RendezvousReply {
	p := &s.prov
	p.mu.Lock()
	if p.get(id, s.now()) != rv {
		p.mu.Unlock()
		return RendezvousReply{Status: wire.Status_NOT_FOUND, Message: "no such pairing (expired, used or mistyped)"}
	}
	if !ask.Send {
		defer p.mu.Unlock()
		if rv.bound() {
			return RendezvousReply{Status: wire.Status_CONFLICT, Message: "pairing already used by another device"}
		}
		return RendezvousReply{Hello: rv.hello}
	}
	switch {
	case len(ask.Blob) == 0 || len(ask.Blob) > maxProvisionBlob || ask.From == "":
		p.mu.Unlock()
		return RendezvousReply{Status: wire.Status_BAD_REQUEST, Message: "provisioning message must be 1 byte to 512 KiB"}
	case !rv.bound():
		rv.remote = ask.From // the first device to send binds it
	case rv.remote != ask.From:
		p.mu.Unlock()
		return RendezvousReply{Status: wire.Status_NOT_FOUND, Message: "no such pairing on this connection"}
	}
	if rv.sent >= maxProvisionMessages {
		p.mu.Unlock()
		return RendezvousReply{Status: wire.Status_RATE_LIMITED, Message: "too many provisioning messages"}
	}
	rv.sent++
	to := rv.owner
	p.mu.Unlock()
	if err := to.push(&wire.Push{Body: &wire.Push_Provision{Provision: &wire.ProvisionMessage{Rendezvous: []byte(id), Blob: ask.Blob}}}); err != nil {
		return RendezvousReply{Status: wire.Status_NOT_FOUND, Message: "the other device is gone"}
	}
	return RendezvousReply{}
}

// replyResponse turns another node's answer into this node's response.
func replyResponse(r RendezvousReply, ok func() *wire.Response) *wire.Response {
	switch r.Status {
	case wire.Status_OK:
		return ok()
	case wire.Status_RATE_LIMITED:
		return rateLimited(r.Message, ProvisionTTL)
	}
	return fail(r.Status, r.Message)
}

// provisionJoin joins a rendezvous. Joins spend the device's lookup
// budget: guessing rendezvous ids costs as much as guessing usernames.
func (c *conn) provisionJoin(ctx context.Context, d Device, r *wire.ProvisionJoin) *wire.Response {
	if resp := c.limit(ctx, "too many pairing attempts", "pjoin", c.s.lim.Lookups, 1, devBytes(d)); resp != nil {
		return resp
	}
	p := &c.s.prov
	p.mu.Lock()
	rv := p.get(string(r.Rendezvous), c.s.now())
	p.mu.Unlock()
	if b := c.provBus(); rv == nil && b != nil && len(r.Rendezvous) > 0 && len(r.Rendezvous) <= maxRendezvousID {
		// Perhaps another node serves it.
		reply, err := b.AskRendezvous(ctx, r.Rendezvous, RendezvousAsk{})
		if err == nil {
			return replyResponse(reply, func() *wire.Response {
				return &wire.Response{Result: &wire.Response_ProvisionJoined{ProvisionJoined: &wire.ProvisionJoined{Hello: reply.Hello}}}
			})
		}
		if !errors.Is(err, ErrNotFound) {
			c.log.Warn("asking the other nodes for a rendezvous", "err", err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rv = p.get(string(r.Rendezvous), c.s.now())
	switch {
	case rv == nil:
		return fail(wire.Status_NOT_FOUND, "no such pairing (expired, used or mistyped)")
	case rv.owner == c:
		return badRequest("a rendezvous cannot be joined by its own connection")
	case rv.bound() && rv.peer != c:
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
	case !rv.bound() && c.device() != nil:
		// The first device to send binds the rendezvous: it checked the
		// hello against the code's secret before it sent.
		rv.peer, to = c, rv.owner
	}
	if rv != nil && rv.owner == c && rv.remote != "" {
		// The device that bound it is on another node.
		if rv.sent >= maxProvisionMessages {
			p.mu.Unlock()
			return rateLimited("too many provisioning messages", ProvisionTTL)
		}
		rv.sent++
		addr := rv.remote
		p.mu.Unlock()
		if err := c.provBus().TellRendezvous(addr, r.Blob); err != nil {
			return fail(wire.Status_NOT_FOUND, "the other device is gone")
		}
		return &wire.Response{}
	}
	if to == nil {
		p.mu.Unlock()
		if b := c.provBus(); rv == nil && b != nil && c.device() != nil {
			return c.provisionSendRemote(ctx, b, r)
		}
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

// provisionSendRemote sends a message of c, a device of this node, into a
// rendezvous another node serves, listening for the answers first.
func (c *conn) provisionSendRemote(ctx context.Context, b ProvisionBus, r *wire.ProvisionSend) *wire.Response {
	p, id := &c.s.prov, string(r.Rendezvous)
	p.mu.Lock()
	rp := p.getRemote(id, c, c.s.now())
	taken := rp == nil && p.remote[id] != nil
	p.mu.Unlock()
	if taken {
		return fail(wire.Status_NOT_FOUND, "no such pairing on this connection")
	}
	fresh := rp == nil
	if fresh {
		// Outside mu: subscribing waits on the bus.
		addr, stop, err := b.ListenRendezvous(func(blob []byte) {
			c.push(&wire.Push{Body: &wire.Push_Provision{Provision: &wire.ProvisionMessage{Rendezvous: []byte(id), Blob: blob}}})
		})
		if err != nil {
			c.log.Warn("listening for a rendezvous of another node", "err", err)
			return fail(wire.Status_INTERNAL, "the relay cannot reach the other nodes now")
		}
		rp = &remotePairing{c: c, addr: addr, stop: stop, expires: c.s.now().Add(ProvisionTTL)}
		p.mu.Lock()
		if o := p.remote[id]; o != nil {
			// Another request got there first.
			p.mu.Unlock()
			stop()
			if o.c != c {
				return fail(wire.Status_NOT_FOUND, "no such pairing on this connection")
			}
			return fail(wire.Status_CONFLICT, "a pairing message is on its way; send again")
		}
		if p.remote == nil {
			p.remote = make(map[string]*remotePairing)
		}
		p.remote[id] = rp
		p.mu.Unlock()
	}
	reply, err := b.AskRendezvous(ctx, r.Rendezvous, RendezvousAsk{Send: true, From: rp.addr, Blob: r.Blob})
	if err == nil && reply.Status == wire.Status_OK {
		return &wire.Response{}
	}
	if fresh {
		p.mu.Lock()
		if p.remote[id] == rp {
			rp.stop()
			delete(p.remote, id)
		}
		p.mu.Unlock()
	}
	if errors.Is(err, ErrNotFound) {
		return fail(wire.Status_NOT_FOUND, "no such pairing on this connection")
	}
	if err != nil {
		c.log.Warn("sending into a rendezvous of another node", "err", err)
		return fail(wire.Status_INTERNAL, "the relay cannot reach the other nodes now")
	}
	return replyResponse(reply, func() *wire.Response { return &wire.Response{} })
}
