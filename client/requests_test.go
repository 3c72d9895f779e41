package client_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/relay"
)

// A stranger's message is shown but the stranger stays pending: no receipt
// and no access key go to them until the user accepts them; a blocked
// sender's messages are acked and dropped unread.
func TestMessageRequests(t *testing.T) {
	n := startRelay(t)
	bob := newUser(t, n, "bob", nil)
	mallory := newUser(t, n, "mallory", nil)
	eve := newUser(t, n, "eve", nil)
	bob.receive(t)
	mallory.receive(t)
	ctx := context.Background()

	sent, err := mallory.Send(ctx, "bob", "hi bob")
	if err != nil {
		t.Fatal(err)
	}
	if got := bob.waitFor(t, client.EventMessage, 1); got[0].Peer != "mallory" || got[0].Text != "hi bob" {
		t.Fatalf("bob got %+v", got[0])
	}
	if reqs, err := bob.Requests(ctx); err != nil || !slices.Equal(reqs, []string{"mallory"}) {
		t.Fatalf("requests %q %v", reqs, err)
	}
	// The receipt would be queued in the transaction that stored the
	// message, before the event: the outbox shows none went.
	if out, err := bob.Outbox(ctx); err != nil || len(out) != 0 {
		t.Fatalf("bob queued %d messages (%v) to a pending stranger", len(out), err)
	}
	if ct, err := mallory.DB().Store().ContactByName(ctx, "bob"); err != nil || ct.AccessKey != nil {
		t.Fatalf("the stranger holds bob's access key (%v)", err)
	}
	if acc, err := bob.Accepted(ctx); err != nil || len(acc) != 0 {
		t.Fatalf("accepted %q %v", acc, err)
	}

	// Accepting sends the receipt that was held back, and the access key.
	if err := bob.Accept(ctx, "Mallory"); err != nil {
		t.Fatal(err)
	}
	if d := mallory.waitFor(t, client.EventDelivered, 1); d[0].EnvelopeID != sent.EnvelopeID {
		t.Fatal("receipt for another message")
	}
	if ct, err := mallory.DB().Store().ContactByName(ctx, "bob"); err != nil || len(ct.AccessKey) != 16 {
		t.Fatalf("an accepted contact has no access key (%v)", err)
	}
	if reqs, _ := bob.Requests(ctx); len(reqs) != 0 {
		t.Fatalf("requests after accept %q", reqs)
	}
	if acc, _ := bob.Accepted(ctx); !slices.Equal(acc, []string{"mallory"}) {
		t.Fatalf("accepted %q", acc)
	}

	// Blocked: acked and dropped, never stored.
	if _, err := eve.Send(ctx, "bob", "one"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, client.EventMessage, 2)
	if err := bob.Block(ctx, "eve"); err != nil {
		t.Fatal(err)
	}
	if _, err := eve.Send(ctx, "bob", "two"); err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.Send(ctx, "bob", "after eve's"); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitFor(t, client.EventMessage, 3); got[2].Text != "after eve's" {
		t.Fatalf("bob was shown %q from a blocked sender", got[2].Text)
	}
	if h, err := bob.History(ctx, "eve", 10); err != nil || len(h) != 1 {
		t.Fatalf("history with a blocked sender %+v %v", h, err)
	}
	if reqs, _ := bob.Requests(ctx); len(reqs) != 0 {
		t.Fatalf("a blocked sender is listed as a request: %q", reqs)
	}
	if blocked, err := bob.Blocked(ctx, "Eve"); err != nil || !blocked {
		t.Fatalf("Blocked(eve) = %v, %v", blocked, err)
	}
	if blocked, err := bob.Blocked(ctx, "mallory"); err != nil || blocked {
		t.Fatalf("Blocked(mallory) = %v, %v", blocked, err)
	}
	waitUntil(t, "the relay to hold nothing for bob", 20*time.Second, func() bool {
		envs, err := n.store.Fetch(ctx, relay.AccountID(bob.AccountID()), bob.DeviceID(), 0, 10)
		return err == nil && len(envs) == 0
	})

	// Unblocked: pending again.
	if err := bob.Unblock(ctx, "eve"); err != nil {
		t.Fatal(err)
	}
	if blocked, err := bob.Blocked(ctx, "eve"); err != nil || blocked {
		t.Fatalf("Blocked(eve) after unblock = %v, %v", blocked, err)
	}
	if _, err := eve.Send(ctx, "bob", "three"); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitFor(t, client.EventMessage, 4); got[3].Text != "three" || got[3].Peer != "eve" {
		t.Fatalf("after unblock bob got %+v", got[3])
	}
	if reqs, _ := bob.Requests(ctx); !slices.Equal(reqs, []string{"eve"}) {
		t.Fatalf("requests %q", reqs)
	}
}

// Sealed sends do not share one long-lived anonymous connection: each
// outbox flush (a burst) opens its own and closes it.
func TestSealedSendsUseShortLivedChannels(t *testing.T) {
	n := startRelay(t)
	quiet := func(c *client.Config) { c.NoReceipts = true }
	alice := newUser(t, n, "alice", quiet)
	bob := newUser(t, n, "bob", quiet)
	alice.receive(t)
	bob.receive(t)
	ctx := context.Background()
	if _, err := alice.Send(ctx, "bob", "hello"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, client.EventMessage, 1)
	if _, err := bob.Send(ctx, "alice", "hi"); err != nil { // carries bob's access key
		t.Fatal(err)
	}
	alice.waitFor(t, client.EventMessage, 1)
	before := alice.Stats()
	for _, text := range []string{"one", "two"} {
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
	}
	bob.waitFor(t, client.EventMessage, 3)
	after := alice.Stats()
	if sealed, dials := after.SentSealed-before.SentSealed, after.AnonDials-before.AnonDials; sealed != 2 || dials != 2 {
		t.Fatalf("2 sends in 2 flushes went sealed %d times over %d anonymous connections; want 2 and 2", sealed, dials)
	}
}

// A group a stranger adds us to is a group request: its texts are shown,
// but it is listed as a request until the user accepts it or writes to it;
// a group from an accepted contact is none; a blocked group's texts are
// dropped unread, without blocking its members 1:1.
func TestGroupRequests(t *testing.T) {
	n := startRelay(t)
	ctx := context.Background()
	bob, carol, mallory, eve := newUser(t, n, "bob", nil), newUser(t, n, "carol", nil), newUser(t, n, "mallory", nil), newUser(t, n, "eve", nil)
	for _, u := range []*user{bob, carol, mallory, eve} {
		u.receive(t)
	}
	if err := bob.Accept(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	requests := func() []client.GroupRequest {
		t.Helper()
		reqs, err := bob.GroupRequests(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return reqs
	}
	groupOf := func(name string) client.Group {
		t.Helper()
		g, err := bob.GroupByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}

	if _, err := carol.CreateGroup(ctx, "friends", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "friends: * carol added bob")
	if _, err := mallory.CreateGroup(ctx, "offers", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "offers: * mallory added bob")
	waitLine(t, bob, "offers: * mallory "+client.GroupRequestLine)
	if got := requests(); !slices.Equal(got, []client.GroupRequest{{Group: "offers", Inviter: "mallory"}}) {
		t.Fatalf("group requests %+v, want offers from mallory only", got)
	}
	if g := groupOf("friends"); g.Request || !g.Member {
		t.Fatalf("a group from an accepted contact: %+v", g)
	}
	if g := groupOf("offers"); !g.Request || !g.Member {
		t.Fatalf("a group from a stranger: %+v", g)
	}
	// Its texts are shown, as a stranger's messages are.
	if _, err := mallory.Send(ctx, "offers", "cheap watches"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "offers/mallory: cheap watches")
	if reqs, _ := bob.Requests(ctx); len(reqs) != 0 {
		t.Fatalf("message requests %q: a group request is not one", reqs)
	}
	if err := bob.Accept(ctx, "offers"); err != nil {
		t.Fatal(err)
	}
	if got := requests(); len(got) != 0 {
		t.Fatalf("group requests after accepting: %+v", got)
	}
	if g := groupOf("offers"); g.Request {
		t.Fatalf("an accepted group: %+v", g)
	}
	if acc, _ := bob.Accepted(ctx); slices.Contains(acc, "mallory") {
		t.Fatal("accepting the group accepted its inviter too")
	}

	// Writing to a group request accepts it.
	if _, err := eve.CreateGroup(ctx, "eves", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "eves: * eve "+client.GroupRequestLine)
	if _, err := bob.Send(ctx, "eves", "who is this?"); err != nil {
		t.Fatal(err)
	}
	if g := groupOf("eves"); g.Request {
		t.Fatalf("a group request written to: %+v", g)
	}

	// A blocked group: its texts are dropped, its members' 1:1 messages
	// are not.
	if _, err := eve.CreateGroup(ctx, "junk", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "junk: * eve "+client.GroupRequestLine)
	if err := bob.Block(ctx, "junk"); err != nil {
		t.Fatal(err)
	}
	if g := groupOf("junk"); !g.Blocked || g.Request {
		t.Fatalf("a blocked group: %+v", g)
	}
	if _, err := eve.Send(ctx, "junk", "unread"); err != nil {
		t.Fatal(err)
	}
	if _, err := eve.Send(ctx, "bob", "direct"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, client.EventMessage, 1)
	for _, l := range groupEvents(bob) {
		if strings.Contains(l, "unread") {
			t.Fatalf("bob was shown %q from a blocked group", l)
		}
	}
	if got := requests(); len(got) != 0 {
		t.Fatalf("group requests %+v: a blocked group is none", got)
	}
}
