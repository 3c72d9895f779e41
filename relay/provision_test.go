package relay_test

import (
	"testing"

	"samizdat/bus/natsbus"
	"samizdat/bus/natsbus/natstest"
	"samizdat/internal/poll"
	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/store/memstore"
)

func provOpen(id, hello string) *wire.Request {
	return &wire.Request{Op: &wire.Request_ProvisionOpen{ProvisionOpen: &wire.ProvisionOpen{Rendezvous: []byte(id), Hello: []byte(hello)}}}
}

func provJoin(id string) *wire.Request {
	return &wire.Request{Op: &wire.Request_ProvisionJoin{ProvisionJoin: &wire.ProvisionJoin{Rendezvous: []byte(id)}}}
}

func provSend(id, blob string) *wire.Request {
	return &wire.Request{Op: &wire.Request_ProvisionSend{ProvisionSend: &wire.ProvisionSend{Rendezvous: []byte(id), Blob: []byte(blob)}}}
}

// TestProvisionRendezvous: an anonymous connection opens a rendezvous; a
// device reads its hello without binding it; the first device to send
// binds it, and from then on the two exchange messages and nobody else
// gets in; when the new device's connection ends the rendezvous is gone.
func TestProvisionRendezvous(t *testing.T) {
	e := newEnv(t, nil)
	bob, carol := e.register("bob", 0), e.register("carol", 0)
	newDev := e.dial(newKey(t))
	other := e.dial(newKey(t))

	expectStatus(t, newDev, provOpen("", "hello"), wire.Status_BAD_REQUEST)
	expectStatus(t, newDev, provOpen("abcd", ""), wire.Status_BAD_REQUEST)
	newDev.mustOK(provOpen("abcd", "hello"))
	expectStatus(t, other, provOpen("abcd", "other hello"), wire.Status_CONFLICT)
	expectStatus(t, newDev, provOpen("efgh", "hello"), wire.Status_CONFLICT) // one per connection

	// Anonymous connections cannot join, nor bind by sending.
	expectStatus(t, other, provJoin("abcd"), wire.Status_UNAUTHENTICATED)
	expectStatus(t, other, provSend("abcd", "x"), wire.Status_NOT_FOUND)
	expectStatus(t, bob.dev1(), provJoin("zzzz"), wire.Status_NOT_FOUND)

	// Reading the hello binds nothing: carol (a wrong code) reads it too.
	for _, c := range []*client{carol.dev1(), bob.dev1()} {
		if h := c.mustOK(provJoin("abcd")).GetProvisionJoined().GetHello(); string(h) != "hello" {
			t.Fatalf("hello %q", h)
		}
	}
	bob.dev1().mustOK(provSend("abcd", "offer"))
	if m := newDev.nextPush().GetProvision(); string(m.GetBlob()) != "offer" || string(m.GetRendezvous()) != "abcd" {
		t.Fatalf("new device got %v", m)
	}
	// Bound to bob now.
	expectStatus(t, carol.dev1(), provJoin("abcd"), wire.Status_CONFLICT)
	expectStatus(t, carol.dev1(), provSend("abcd", "evil"), wire.Status_NOT_FOUND)
	newDev.mustOK(provSend("abcd", "keys"))
	if m := bob.dev1().nextPush().GetProvision(); string(m.GetBlob()) != "keys" {
		t.Fatalf("bob got %v", m)
	}
	carol.dev1().noPush(0)

	newDev.nc.Close()
	<-newDev.done
	if !poll.Until(patience, func() bool { return bob.dev1().call(provJoin("abcd")).Status == wire.Status_NOT_FOUND }) {
		t.Fatal("the rendezvous outlived its connection")
	}
}

// TestProvisionAcrossNodes: two relay nodes share a store and a NATS bus.
// A new device opens a rendezvous on node a; bob's device on node b reads
// its hello, binds it by sending, and the two exchange messages through
// the bus; carol on b cannot get in, and once the new device's connection
// ends the rendezvous is gone for node b too.
func TestProvisionAcrossNodes(t *testing.T) {
	ns, err := natstest.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	onBus := func(c *relay.Config) {
		h, err := natsbus.New(natsbus.Config{URL: ns.URL(), Key: []byte("0123456789abcdef0123456789abcdef")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		c.Hub = h
	}
	a, b := newEnvStore(t, st, onBus), newEnvStore(t, st, onBus)
	bob, carol := a.register("bob", 0), a.register("carol", 0)
	bobB, carolB := b.dial(bob.devices[1].noise), b.dial(carol.devices[1].noise)
	newDev := a.dial(newKey(t))
	newDev.mustOK(provOpen("abcd", "hello"))

	expectStatus(t, bobB, provJoin("zzzz"), wire.Status_NOT_FOUND)
	expectStatus(t, bobB, provSend("zzzz", "x"), wire.Status_NOT_FOUND)
	if h := bobB.mustOK(provJoin("abcd")).GetProvisionJoined().GetHello(); string(h) != "hello" {
		t.Fatalf("hello across nodes %q", h)
	}
	bobB.mustOK(provSend("abcd", "offer"))
	if m := newDev.nextPush().GetProvision(); string(m.GetBlob()) != "offer" || string(m.GetRendezvous()) != "abcd" {
		t.Fatalf("new device got %v", m)
	}
	// Bound to bob's device on node b now.
	expectStatus(t, carolB, provJoin("abcd"), wire.Status_CONFLICT)
	expectStatus(t, carolB, provSend("abcd", "evil"), wire.Status_NOT_FOUND)
	expectStatus(t, carol.dev1(), provSend("abcd", "evil"), wire.Status_NOT_FOUND)
	newDev.mustOK(provSend("abcd", "keys"))
	if m := bobB.nextPush().GetProvision(); string(m.GetBlob()) != "keys" || string(m.GetRendezvous()) != "abcd" {
		t.Fatalf("bob got %v", m)
	}
	bobB.mustOK(provSend("abcd", "done"))
	if m := newDev.nextPush().GetProvision(); string(m.GetBlob()) != "done" {
		t.Fatalf("new device got %v", m)
	}
	carolB.noPush(0)

	newDev.nc.Close()
	<-newDev.done
	if !poll.Until(patience, func() bool { return bobB.call(provJoin("abcd")).Status == wire.Status_NOT_FOUND }) {
		t.Fatal("the rendezvous outlived its connection on the other node")
	}
}
