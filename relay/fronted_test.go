package relay_test

import (
	"context"
	"crypto/rand"
	"testing"

	"samizdat/relay"
	"samizdat/relay/regwork"
	"samizdat/relay/wire"
	"samizdat/session/curve"
)

// Registrations and sealed sends through a shared proxy (a CDN edge,
// whose address every fronted user has): the relay must not hold all
// fronted users to one address's budget, and must still refuse the one
// who abuses it.

// registerFronted registers name through the edge as a client does: when
// the relay asks for a proof of work it does the work and asks again. It
// returns the final response and the work asked, if any.
func (e *env) registerFronted(name string) (*wire.Response, uint32) {
	e.t.Helper()
	ik, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	noise := newKey(e.t)
	c := e.dial(noise)
	req := registerReq(e.t, name, ik, noise, make([]byte, 16), 0)
	r := c.call(&wire.Request{Op: &wire.Request_Register{Register: req}})
	if r.Status != wire.Status_UNAUTHORIZED || r.WorkBits == 0 {
		return r, 0
	}
	req.Work, err = regwork.Solve(context.Background(), e.relayKey, noise.Public, int(r.WorkBits))
	if err != nil {
		e.t.Fatal(err)
	}
	return c.call(&wire.Request{Op: &wire.Request_Register{Register: req}}), r.WorkBits
}

// TestFrontedRegistrations: 40 users register through one edge, four
// times what one address may at once: each is asked for a proof of work
// and, with it, registered. A user who will not do the work is refused,
// and a run of registrations makes the work asked grow.
func TestFrontedRegistrations(t *testing.T) {
	const base = 6
	e := newFrontedEnv(t, func(c *relay.Config) {
		c.Limits.Registrations = relay.Rate{Burst: 10, PerSecond: 0.2}
		c.Limits.RegistrationWork = base
	})
	var most uint32
	for i := range 40 {
		r, bits := e.registerFronted("fronted" + string(rune('a'+i/26)) + string(rune('a'+i%26)))
		if r.Status != wire.Status_OK {
			t.Fatalf("fronted user %d: %v (%s)", i, r.Status, r.Reason)
		}
		if bits < base {
			t.Fatalf("fronted user %d was asked for %d bits of work, want at least %d", i, bits, base)
		}
		most = max(most, bits)
	}
	// 40 in a moment is four times Registrations.Burst: two bits more
	// (one, should the test take minutes).
	if most < base+1 {
		t.Errorf("after 40 registrations at once the work asked is %d bits; want it grown from %d", most, base)
	}

	// The abuser sends no work, or work for another key, or too little.
	ik, _ := curve.GenerateKeyPair(rand.Reader)
	noise := newKey(t)
	c := e.dial(noise)
	req := registerReq(t, "abuser", ik, noise, nil, 0)
	other, err := regwork.Solve(context.Background(), e.relayKey, newKey(t).Public, base+4)
	if err != nil {
		t.Fatal(err)
	}
	for _, work := range [][]byte{nil, other, make([]byte, regwork.MaxLen+1)} {
		req.Work = work
		r := c.call(&wire.Request{Op: &wire.Request_Register{Register: req}})
		if r.Status != wire.Status_UNAUTHORIZED || r.WorkBits < base {
			t.Fatalf("a registration with work %x: %v (%s), %d bits asked; want UNAUTHORIZED asking for work", work, r.Status, r.Reason, r.WorkBits)
		}
	}
}

// TestDirectRegistrationsByAddress: on a listener whose addresses are the
// clients' own, registrations are limited per address, as before, and
// need no work.
func TestDirectRegistrationsByAddress(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) {
		c.Limits.Registrations = relay.Rate{Burst: 3, PerSecond: 0.001}
		c.Limits.RegistrationWork = 30 // not asked of direct clients
	})
	for i := range 4 {
		r, bits := e.registerFronted("direct" + string(rune('a'+i)))
		if bits != 0 {
			t.Fatalf("a direct client was asked for %d bits of work", bits)
		}
		if want := i < 3; (r.Status == wire.Status_OK) != want {
			t.Fatalf("direct registration %d: %v (%s)", i, r.Status, r.Reason)
		}
		if i == 3 && r.Status != wire.Status_RATE_LIMITED {
			t.Fatalf("the fourth from one address: %v, want RATE_LIMITED", r.Status)
		}
	}
}

// sealedTo is a sealed send to u's first device.
func sealedTo(u *user, id int) *wire.Request {
	return &wire.Request{Op: &wire.Request_SendSealed{SendSealed: &wire.SendSealed{
		Recipient: u.account, UnidentifiedAccessKey: u.uak, Timestamp: 7, EnvelopeId: envID(id),
		Messages: []*wire.OutgoingMessage{{DeviceId: 1, RegistrationId: 1234, Type: 6, Content: []byte("x")}},
	}}}
}

// TestFrontedSealed: anonymous sealed sends through one edge are limited
// per connection, not per edge: many fronted senders to one recipient
// together send far more than one budget, while the one connection that
// floods is refused. Behind the budgets a ceiling per recipient bounds
// what all anonymous connections through proxies send; it touches neither
// devices nor other recipients.
func TestFrontedSealed(t *testing.T) {
	const budget, ceiling = 20, 250
	e := newFrontedEnv(t, func(c *relay.Config) {
		c.Limits.RegistrationWork = -1
		c.Limits.SealedMessages = relay.Rate{Burst: budget, PerSecond: 0.001}
		c.Limits.ProxiedSealed = relay.Rate{Burst: ceiling, PerSecond: 0.001}
	})
	bob, carol, alice := e.register("bob", 0), e.register("carol", 0), e.register("alice", 0)
	id := 0
	send := func(c *client, to *user) *wire.Response {
		id++
		return c.call(sealedTo(to, id))
	}
	sent := 0
	for i := range 10 {
		c := e.dial(newKey(t))
		for j := range budget - 5 {
			if r := send(c, bob); r.Status != wire.Status_OK {
				t.Fatalf("fronted sender %d, message %d: %v (%s)", i, j, r.Status, r.Reason)
			}
			sent++
		}
	}
	abuser := e.dial(newKey(t))
	for j := range budget {
		if r := send(abuser, bob); r.Status != wire.Status_OK {
			t.Fatalf("the abuser's message %d, within its budget: %v", j, r.Status)
		}
		sent++
	}
	if r := send(abuser, bob); r.Status != wire.Status_RATE_LIMITED {
		t.Fatalf("the abuser past its connection's budget: %v, want RATE_LIMITED", r.Status)
	}
	if r := send(e.dial(newKey(t)), bob); r.Status != wire.Status_OK {
		t.Fatalf("a fronted sender beside the abuser: %v (%s)", r.Status, r.Reason)
	}
	sent++

	// The abuser opens connection after connection: the ceiling holds.
	refused := false
	for sent <= ceiling && !refused {
		c := e.dial(newKey(t))
		for range budget {
			r := send(c, bob)
			if r.Status == wire.Status_RATE_LIMITED {
				refused = true
				break
			}
			if r.Status != wire.Status_OK {
				t.Fatalf("%v (%s)", r.Status, r.Reason)
			}
			sent++
		}
	}
	if !refused || sent > ceiling {
		t.Fatalf("%d anonymous messages to one recipient through the edge, refused %v; want refusal at the ceiling of %d", sent, refused, ceiling)
	}
	if r := send(e.dial(newKey(t)), carol); r.Status != wire.Status_OK {
		t.Fatalf("a fronted sender to another recipient: %v (%s)", r.Status, r.Reason)
	}
	if r := send(alice.dev1(), bob); r.Status != wire.Status_OK {
		t.Fatalf("a device's sealed send to the flooded recipient: %v (%s)", r.Status, r.Reason)
	}
}

// TestAnonymousProxiedCap: anonymous connections through shared proxies
// are bounded all together (their address says nothing of who holds
// them); a newer one closes the oldest, which clients keep short and a
// flooder keeps long.
func TestAnonymousProxiedCap(t *testing.T) {
	e := newFrontedEnv(t, func(c *relay.Config) {
		c.Limits.AnonymousProxied = 3
		c.Limits.RegistrationWork = -1
	})
	dave := e.register("dave", 0) // anonymous until registered
	var cs []*client
	for range 4 {
		c := e.dial(newKey(t))
		c.mustOK(ping()) // answered once the connection is counted
		cs = append(cs, c)
	}
	if got := cs[0].waitClosed(); got != "too many anonymous connections; this was the oldest" {
		t.Fatalf("the oldest anonymous connection closed with %q", got)
	}
	// Devices' connections through the proxy do not count.
	dave.dev1().mustOK(ping())
	e.dial(dave.devices[1].noise).mustOK(ping())
	for i, c := range cs[1:] {
		if r := c.call(ping()); r.Status != wire.Status_OK {
			t.Fatalf("anonymous connection %d: %v", i+1, r.Status)
		}
	}
}
