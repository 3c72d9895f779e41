package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"samizdat/client"
	"samizdat/dialer"
)

// TestPushedRetireMovesBeforeBreaking: the relay pushes a manifest that
// retires the endpoint the client is on (the relay keeps the old
// connection open, as a retired endpoint's connections stay until they
// end). The client connects through the new endpoint before it drops the
// old connection, says the old one ended for ErrMoved, and carries on.
func TestPushedRetireMovesBeforeBreaking(t *testing.T) {
	n := startBlockedRelay(t, 2)
	inv := n.invite(t, 0)
	var log dialLog
	alice := newBlockedUser(t, inv, "alice", &log)
	alice.receive(t)
	old, repl := n.proxies[0].Addr(), n.proxies[1].Addr()
	waitUntil(t, "connected", patience, func() bool { return client.ConnAddr(alice.Client) == old })

	n.srv.SetManifest(n.sign(t, 1))
	waitUntil(t, "moved to the new endpoint", patience, func() bool { return client.ConnAddr(alice.Client) == repl })

	ev := log.events()
	conn := slices.IndexFunc(ev, func(e dialer.Event) bool {
		return e.Kind == dialer.EventConnected && e.Candidate.Endpoint.Address == repl
	})
	drop := slices.IndexFunc(ev, func(e dialer.Event) bool {
		return e.Kind == dialer.EventDropped && e.Candidate.Endpoint.Address == old
	})
	if conn < 0 || drop < conn {
		t.Fatalf("want connected to %s before %s dropped; events %v", repl, old, ev)
	}
	if !slices.ContainsFunc(ev, func(e dialer.Event) bool { return e.Kind == dialer.EventMove }) {
		t.Errorf("no move event: %v", ev)
	}
	disc := alice.waitFor(t, client.EventDisconnected, 1)
	if !errors.Is(disc[0].Err, client.ErrMoved) {
		t.Errorf("old connection ended with %v, want ErrMoved", disc[0].Err)
	}
	alice.waitFor(t, client.EventConnected, 2) // receiving on the new connection
	if _, err := alice.Send(context.Background(), "alice", "still here"); err != nil {
		t.Fatal(err)
	}
}
