package client_test

import (
	"context"
	"slices"
	"testing"

	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/internal/poll"
)

// historyStatus returns the status of the message with eid in c's history
// with peer, or -1.
func historyStatus(t *testing.T, c *client.Client, peer string, eid [16]byte) int {
	t.Helper()
	h, err := c.History(context.Background(), peer, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h {
		if m.EnvelopeID == eid {
			return m.Status
		}
	}
	return -1
}

// TestSyncOwnDevices: what one of bob's devices sends, shows and decides
// reaches his other device end to end; read receipts go only to accepted
// contacts.
func TestSyncOwnDevices(t *testing.T) {
	ctx := context.Background()
	n := startRelay(t)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	bob2 := bob.link(t, "laptop")
	for _, u := range []*user{alice, bob, bob2} {
		u.receive(t)
	}

	// A message request: marked read on both of bob's devices, no read
	// receipt to the stranger.
	if _, err := alice.Send(ctx, "bob", "hello?"); err != nil {
		t.Fatal(err)
	}
	first := bob.waitFor(t, client.EventMessage, 1)[0]
	bob2.waitFor(t, client.EventMessage, 1)
	if err := bob.MarkRead(ctx, "alice", true, first.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	if !poll.Until(patience, func() bool { return historyStatus(t, bob2.Client, "alice", first.EnvelopeID) == clientdb.StatusRead }) {
		t.Fatal("bob's laptop did not learn the message was read")
	}

	// Accepting follows to the laptop; then a read receipt goes.
	if err := bob.Accept(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if !poll.Until(patience, func() bool {
		reqs, err := bob2.Requests(ctx)
		return err == nil && !slices.Contains(reqs, "alice")
	}) {
		t.Fatal("bob's laptop still lists alice as a request")
	}
	if got := historyStatus(t, alice.Client, "bob", first.EnvelopeID); got == clientdb.StatusSeen {
		t.Fatal("a read receipt went to a message request")
	}
	msg, err := alice.Send(ctx, "bob", "read me")
	if err != nil {
		t.Fatal(err)
	}
	bob2.waitFor(t, client.EventMessage, 2)
	if err := bob2.MarkRead(ctx, "alice", true, msg.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	if !poll.Until(patience, func() bool { return historyStatus(t, alice.Client, "bob", msg.EnvelopeID) == clientdb.StatusSeen }) {
		t.Fatal("alice got no read receipt")
	}

	// What the laptop sends shows in the phone's history, and alice's
	// delivery receipt marks it there too.
	sent, err := bob2.Send(ctx, "alice", "from the laptop")
	if err != nil {
		t.Fatal(err)
	}
	if !poll.Until(patience, func() bool {
		return historyStatus(t, bob.Client, "alice", sent.EnvelopeID) == clientdb.StatusDelivered
	}) {
		t.Fatalf("the phone's history: status %d", historyStatus(t, bob.Client, "alice", sent.EnvelopeID))
	}

	// Blocking and unblocking follow too.
	peerState := func() int {
		st, err := bob2.DB().Store().PeerState(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if err := bob.Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if !poll.Until(patience, func() bool { return peerState() == clientdb.PeerBlocked }) {
		t.Fatal("bob's laptop did not learn alice was blocked")
	}
	if err := bob.Unblock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if !poll.Until(patience, func() bool { return peerState() == clientdb.PeerPending }) {
		t.Fatal("bob's laptop did not learn alice was unblocked")
	}
}
