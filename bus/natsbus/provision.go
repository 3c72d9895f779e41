package natsbus

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"samizdat/relay"
	"samizdat/relay/wire"
)

// Rendezvous across nodes (relay.ProvisionBus). The node that holds a new
// device's connection serves its rendezvous on Prefix + ".prov." + the
// first 80 bits of HMAC-SHA256(Key, "rendezvous" || id), in hex: a request
// (core NATS request-reply) reads the hello or passes a message to the new
// device. A device on another node that sends into it listens on an
// address of its own, Prefix + ".provto." + 128 random bits, where the new
// device's messages come back. The bus sees when a pairing happens and how
// big its messages are, never the rendezvous id (without Key) nor what the
// messages say: they are sealed end to end between the two devices
// (package provision), as they are on one node.

// askTimeout bounds one request to the node serving a rendezvous.
const askTimeout = 10 * time.Second

var _ relay.ProvisionBus = (*Hub)(nil)

// rendezvousSubject names rendezvous id on the bus.
func (h *Hub) rendezvousSubject(id []byte) string {
	m := hmac.New(sha256.New, h.cfg.Key)
	m.Write([]byte("samizdat natsbus rendezvous v1"))
	m.Write(id)
	return h.cfg.Prefix + ".prov." + hex.EncodeToString(m.Sum(nil)[:hashLen])
}

// provToPrefix starts every ListenRendezvous address.
func (h *Hub) provToPrefix() string { return h.cfg.Prefix + ".provto." }

// ServeRendezvous implements relay.ProvisionBus.
func (h *Hub) ServeRendezvous(id []byte, serve func(relay.RendezvousAsk) relay.RendezvousReply) (func(), error) {
	sub, err := h.nc.Subscribe(h.rendezvousSubject(id), func(m *nats.Msg) {
		var ask relay.RendezvousAsk
		reply := relay.RendezvousReply{Status: wire.Status_BAD_REQUEST, Message: "a malformed request between relay nodes"}
		if err := json.Unmarshal(m.Data, &ask); err == nil && (!ask.Send || strings.HasPrefix(ask.From, h.provToPrefix())) {
			reply = serve(ask)
		}
		b, err := json.Marshal(reply)
		if err == nil {
			m.Respond(b)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: serving a rendezvous: %w", err)
	}
	// Once the server has the subscription, the other nodes find it.
	h.confirm()
	return func() {
		sub.Unsubscribe()
		h.confirm() // and, once it has dropped it, get no answer at once
	}, nil
}

// confirm waits until the NATS server has what this hub sent so far
// (its (un)subscriptions among them), or a while.
func (h *Hub) confirm() {
	if err := h.nc.FlushTimeout(askTimeout); err != nil {
		h.log.Warn("nats did not confirm a rendezvous subscription", "err", err)
	}
}

// AskRendezvous implements relay.ProvisionBus.
func (h *Hub) AskRendezvous(ctx context.Context, id []byte, ask relay.RendezvousAsk) (relay.RendezvousReply, error) {
	b, err := json.Marshal(ask)
	if err != nil {
		return relay.RendezvousReply{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	m, err := h.nc.RequestWithContext(ctx, h.rendezvousSubject(id), b)
	if errors.Is(err, nats.ErrNoResponders) {
		return relay.RendezvousReply{}, fmt.Errorf("natsbus: no node serves the rendezvous: %w", relay.ErrNotFound)
	}
	if err != nil {
		return relay.RendezvousReply{}, fmt.Errorf("natsbus: asking for a rendezvous: %w", err)
	}
	var reply relay.RendezvousReply
	if err := json.Unmarshal(m.Data, &reply); err != nil {
		return relay.RendezvousReply{}, fmt.Errorf("natsbus: a malformed rendezvous reply: %w", err)
	}
	return reply, nil
}

// ListenRendezvous implements relay.ProvisionBus.
func (h *Hub) ListenRendezvous(deliver func(blob []byte)) (string, func(), error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", nil, err
	}
	addr := h.provToPrefix() + hex.EncodeToString(r[:])
	sub, err := h.nc.Subscribe(addr, func(m *nats.Msg) { deliver(m.Data) })
	if err != nil {
		return "", nil, fmt.Errorf("natsbus: listening for a rendezvous: %w", err)
	}
	h.confirm()
	return addr, func() { sub.Unsubscribe() }, nil
}

// TellRendezvous implements relay.ProvisionBus.
func (h *Hub) TellRendezvous(addr string, blob []byte) error {
	if !strings.HasPrefix(addr, h.provToPrefix()) {
		return errors.New("natsbus: not a rendezvous address")
	}
	if err := h.nc.Publish(addr, blob); err != nil {
		return fmt.Errorf("natsbus: %w", err)
	}
	return nil
}
