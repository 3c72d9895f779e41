package client_test

import (
	"context"
	"testing"

	"samizdat/client"
)

// TestBacklogAckedBeforeQueueEmpty: a receiver that stops as soon as the
// backlog has been handed over (as `samizdat recv` does) leaves nothing in
// its mailbox: every envelope it stored is acknowledged to the relay
// before EventQueueEmpty, not in flight on a connection about to close.
// Before, the relay kept them and handed them over again on every recv
// until retention deleted them.
func TestBacklogAckedBeforeQueueEmpty(t *testing.T) {
	ctx := context.Background()
	n := startRelay(t)
	alice := newUser(t, n, "alice", nil)
	var cancel context.CancelFunc
	bob := newUser(t, n, "bob", func(cfg *client.Config) {
		on := cfg.OnEvent
		cfg.OnEvent = func(e client.Event) {
			on(e)
			if e.Kind == client.EventQueueEmpty {
				cancel()
			}
		}
	})
	const sent = 5
	for i := range sent {
		if _, err := alice.Send(ctx, "bob", "backlog "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := n.store.AccountByUsername(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if envs, err := n.store.Fetch(ctx, acct.ID, bob.DeviceID(), 0, 100); err != nil || len(envs) != sent {
		t.Fatalf("bob's mailbox before recv: %d envelopes, %v; want %d", len(envs), err, sent)
	}
	for round := range 2 {
		rctx, stop := context.WithCancel(ctx)
		cancel = stop
		if err := bob.Receive(rctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := len(bob.waitFor(t, client.EventMessage, sent)); got != sent {
			t.Fatalf("round %d: bob has %d messages, want %d", round, got, sent)
		}
		envs, err := n.store.Fetch(ctx, acct.ID, bob.DeviceID(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(envs) != 0 {
			t.Fatalf("round %d: the relay still holds %d of bob's %d envelopes after he received them", round, len(envs), sent)
		}
	}
}
