package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/client/group"
	"samizdat/session"
	"samizdat/session/senderkey"
)

// groupEvents returns u's group events (texts and changes) as lines:
// "GROUP/SENDER: TEXT" and "GROUP: * SENDER TEXT".
func groupEvents(u *user) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, e := range u.events {
		switch e.Kind {
		case client.EventGroupMessage:
			out = append(out, e.Group+"/"+e.Peer+": "+e.Text)
		case client.EventGroupChange:
			out = append(out, e.Group+": * "+e.Peer+" "+e.Text)
		case client.EventGroupRequest:
			out = append(out, e.Group+": * "+e.Peer+" "+client.GroupRequestLine)
		}
	}
	return out
}

// waitLine waits until u has shown the group line.
func waitLine(t *testing.T, u *user, line string) {
	t.Helper()
	u.waitUntil(t, line, func() bool {
		for _, l := range groupEvents(u) {
			if l == line {
				return true
			}
		}
		return false
	})
}

// waitUntil waits (a minute at most) until cond holds, checking at u's
// events.
func (u *user) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(patience)
	for !cond() {
		select {
		case <-u.wake:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: waited for %s; has %q", u.Username(), what, groupEvents(u))
		}
	}
}

func groupHistory(t *testing.T, u *user, name string) []clientdb.Message {
	t.Helper()
	h, err := u.History(context.Background(), name, 100)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestGroup(t *testing.T) {
	n := startRelay(t)
	ctx := context.Background()
	alice, bob, carol := newUser(t, n, "alice", nil), newUser(t, n, "bob", nil), newUser(t, n, "carol", nil)
	for _, u := range []*user{alice, bob, carol} {
		u.receive(t)
	}
	g, err := alice.CreateGroup(ctx, "friends", []string{"bob", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Members) != 3 || !g.Members[0].Admin || g.Members[1].Admin {
		t.Fatalf("created %+v", g)
	}
	for _, u := range []*user{bob, carol} {
		waitLine(t, u, "friends: * alice added bob")
		waitLine(t, u, "friends: * alice added carol")
	}
	if _, err := alice.CreateGroup(ctx, "bob", nil); !errors.Is(err, client.ErrNameTaken) {
		t.Fatalf("a group named like a contact: %v", err)
	}

	// Everyone writes; everyone else reads it.
	for _, u := range []*user{alice, bob, carol} {
		if _, err := u.Send(ctx, "friends", "hello from "+u.Username()); err != nil {
			t.Fatalf("%s: %v", u.Username(), err)
		}
	}
	for _, u := range []*user{alice, bob, carol} {
		for _, from := range []string{"alice", "bob", "carol"} {
			if from != u.Username() {
				waitLine(t, u, "friends/"+from+": hello from "+from)
			}
		}
	}
	// Warm, a text is one multi-recipient request and nothing 1:1.
	before := alice.Stats()
	if _, err := alice.Send(ctx, "friends", "one request"); err != nil {
		t.Fatal(err)
	}
	after := alice.Stats()
	if after.GroupMulti != before.GroupMulti+1 || after.SentSealed != before.SentSealed {
		t.Fatalf("a warm group send: %d multi-recipient requests and %d sealed 1:1 sends, want 1 and 0",
			after.GroupMulti-before.GroupMulti, after.SentSealed-before.SentSealed)
	}
	waitLine(t, carol, "friends/alice: one request")
	h := groupHistory(t, bob, "friends")
	if len(h) < 5 || h[0].Status != clientdb.StatusNotice || h[0].Body != "added bob" || h[0].Sender != "alice" ||
		countBody(h, "hello from alice") != 1 || countBody(h, "hello from bob") != 1 {
		t.Fatalf("bob's history of the group: %+v", h)
	}

	// Only an admin removes; carol is removed and hears of it.
	if err := bob.RemoveFromGroup(ctx, "friends", []string{"carol"}); !errors.Is(err, group.ErrRefused) {
		t.Fatalf("bob (no admin) removes carol: %v", err)
	}
	if err := alice.RemoveFromGroup(ctx, "friends", []string{"carol"}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "friends: * alice removed carol")
	waitLine(t, carol, "friends: * alice removed carol")
	if cg, err := carol.GroupByName(ctx, "friends"); err != nil || cg.Member {
		t.Fatalf("carol's group after her removal: %+v, %v", cg, err)
	}
	if _, err := carol.Send(ctx, "friends", "still here?"); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("carol sends to a group she was removed from: %v", err)
	}
	if _, err := alice.Send(ctx, "friends", "after removal"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(ctx, "friends", "bob after removal"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "friends/alice: after removal")
	waitLine(t, alice, "friends/bob: bob after removal")
	// Carol receives what comes next 1:1, so what the group sent went by
	// (the mailbox is in order): none of it reached her.
	if _, err := alice.Send(ctx, "carol", "just us"); err != nil {
		t.Fatal(err)
	}
	carol.waitFor(t, client.EventMessage, 1)
	for _, l := range groupEvents(carol) {
		if strings.Contains(l, "after removal") {
			t.Fatalf("carol got %q", l)
		}
	}
	// And she cannot read alice's or bob's new chains: their next Sender
	// Key messages decrypt for bob and not for her.
	for _, sender := range []*user{alice, bob} {
		skm, err := client.GroupCiphertext(sender.Client, g.ID, "secret")
		if err != nil {
			t.Fatal(err)
		}
		from := session.Address{Name: uuidOf(sender.AccountID()), DeviceID: sender.DeviceID()}
		if _, err := senderkey.Decrypt(ctx, carol.DB().Store(), from, skm); !errors.Is(err, senderkey.ErrNoSenderKeyState) {
			t.Fatalf("carol decrypts %s's chain after her removal: %v", sender.Username(), err)
		}
		reader := bob
		if sender == bob {
			reader = alice
		}
		if _, err := senderkey.Decrypt(ctx, reader.DB().Store(), from, skm); err != nil {
			t.Fatalf("%s cannot read %s's chain: %v", reader.Username(), sender.Username(), err)
		}
	}

	// Dave, added now, replays the whole chain but is shown only his
	// arrival, and reads what follows; carol does not.
	dave := newUser(t, n, "dave", nil)
	dave.receive(t)
	if err := alice.AddToGroup(ctx, "friends", []string{"dave"}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, dave, "friends: * alice added dave")
	waitLine(t, bob, "friends: * alice added dave")
	if _, err := alice.Send(ctx, "friends", "welcome dave"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, dave, "friends/alice: welcome dave")
	waitLine(t, bob, "friends/alice: welcome dave")
	// (alice is a stranger to dave: the group is a request, and says so.)
	if got := groupEvents(dave); len(got) != 3 || got[1] != "friends: * alice "+client.GroupRequestLine {
		t.Fatalf("dave was shown %q", got)
	}
	if dg, err := dave.GroupByName(ctx, "friends"); err != nil || len(dg.Members) != 3 || dg.Revision != 3 {
		t.Fatalf("dave's group: %+v, %v", dg, err)
	}
	if err := alice.RemoveFromGroup(ctx, "friends", []string{"dave"}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, dave, "friends: * alice removed dave")

	// Rename and admin reach every member; the list follows.
	if err := alice.MakeGroupAdmin(ctx, "friends", "bob"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "friends: * alice made bob an admin")
	if err := bob.RenameGroup(ctx, "friends", "old-friends"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, alice, "friends: * bob renamed the group to old-friends")
	if ag, err := alice.GroupByName(ctx, "old-friends"); err != nil || len(ag.Members) != 2 {
		t.Fatalf("alice's renamed group: %+v, %v", ag, err)
	}
	if err := bob.LeaveGroup(ctx, "old-friends"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, alice, "old-friends: * bob left")
}

// TestGroupRefusals: a forged change, a change by a non-admin, one out of
// order, a replayed and a truncated group text are refused with the
// reason, and nothing is stored.
func TestGroupRefusals(t *testing.T) {
	n := startRelay(t)
	ctx := context.Background()
	alice, bob := newUser(t, n, "alice", nil), newUser(t, n, "bob", nil)
	alice.receive(t)
	bob.receive(t)
	g, err := alice.CreateGroup(ctx, "team", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "team: * alice added bob")

	refusals := func(u *user) []string {
		u.mu.Lock()
		defer u.mu.Unlock()
		var out []string
		for _, e := range u.events {
			if e.Kind == client.EventRefused || e.Kind == client.EventUndecryptable {
				out = append(out, e.Err.Error())
			}
		}
		return out
	}
	waitRefusal := func(u *user, want string) {
		t.Helper()
		u.waitUntil(t, "a refusal: "+want, func() bool {
			for _, r := range refusals(u) {
				if strings.Contains(r, want) {
					return true
				}
			}
			return false
		})
	}
	st, _ := alice.GroupByName(ctx, "team")
	bobKey, err := bob.DB().Store().IdentityKeyPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head := mustHead(t, alice, g.ID)
	// Bob (no admin) signs himself a rename; and signs one in alice's name.
	own, _ := group.Sign(group.Change{Group: g.ID, Revision: st.Revision + 1, Previous: head, Actor: bob.AccountID(), Action: group.Rename, Name: "bobs"}, bobKey.Private, rand.Reader)
	forged, _ := group.Sign(group.Change{Group: g.ID, Revision: st.Revision + 1, Previous: head, Actor: alice.AccountID(), Action: group.Rename, Name: "bobs"}, bobKey.Private, rand.Reader)
	if err := client.SendGroupChanges(bob.Client, "alice", own.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitRefusal(alice, "bob is not an admin")
	if err := client.SendGroupChanges(bob.Client, "alice", forged.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitRefusal(alice, "bad signature of alice")
	// A properly signed change that skips a revision is out of order.
	aliceKey, err := alice.DB().Store().IdentityKeyPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gap, _ := group.Sign(group.Change{Group: g.ID, Revision: st.Revision + 2, Previous: head, Actor: alice.AccountID(), Action: group.Rename, Name: "later"}, aliceKey.Private, rand.Reader)
	if err := client.SendGroupChanges(bob.Client, "alice", gap.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitRefusal(alice, "out of order")
	if ag, _ := alice.GroupByName(ctx, "team"); ag.Revision != 1 {
		t.Fatalf("a refused change moved the group to revision %d", ag.Revision)
	}

	// A group text replayed (the same Sender Key message twice) and one
	// truncated: the first copy is shown, the rest refused, nothing stored.
	// Alice needs bob's key first: a real text sends it.
	if _, err := bob.Send(ctx, "team", "first"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, alice, "team/bob: first")
	skm, err := client.GroupCiphertext(bob.Client, g.ID, "once")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{skm, skm, skm[:len(skm)-10]} {
		if err := client.SendGroupCiphertext(bob.Client, "alice", b); err != nil {
			t.Fatal(err)
		}
	}
	alice.waitUntil(t, "five refusals", func() bool { return len(refusals(alice)) >= 5 })
	if r := refusals(alice); !strings.Contains(r[3], "duplicate message") || !strings.Contains(r[4], "senderkey: ") {
		t.Fatalf("the replayed and the truncated text: %q", r[3:])
	}
	if !slices.Contains(groupEvents(alice), "team/bob: once") {
		t.Fatalf("the first copy was not shown: %q", groupEvents(alice))
	}
	if h := groupHistory(t, alice, "team"); countBody(h, "once") != 1 {
		t.Fatalf("alice's history holds %d copies of the replayed text", countBody(h, "once"))
	}
	if _, err := bob.Send(ctx, "team", "last"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, alice, "team/bob: last")
	if got := len(refusals(alice)); got != 5 {
		t.Fatalf("alice refused %d things, want 5: %q", got, refusals(alice))
	}

	// Mallory, no member, hands alice her key (kept: it could have come
	// before the change that adds her) and writes under it: refused.
	mallory := newUser(t, n, "mallory", nil)
	if err := client.SendGroupKey(mallory.Client, "alice", g.ID); err != nil {
		t.Fatal(err)
	}
	skm, err = client.GroupCiphertext(mallory.Client, g.ID, "let me in")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SendGroupCiphertext(mallory.Client, "alice", skm); err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitRefusal(alice, "team: the sender is not a member")
	if h := groupHistory(t, alice, "team"); countBody(h, "let me in") != 0 {
		t.Fatal("a non-member's text was stored")
	}
}

func mustHead(t *testing.T, u *user, id group.ID) [32]byte {
	t.Helper()
	changes, err := u.DB().Store().GroupChanges(context.Background(), id, 1)
	if err != nil || len(changes) == 0 {
		t.Fatal(err)
	}
	sc, err := group.Parse(changes[len(changes)-1])
	if err != nil {
		t.Fatal(err)
	}
	return sc.Hash()
}

func countBody(h []clientdb.Message, body string) int {
	n := 0
	for _, m := range h {
		if m.Body == body {
			n++
		}
	}
	return n
}

// TestGroupOwnDevices: a user's other device learns of the group, reads
// what the members and its sibling send, and writes to the group itself.
func TestGroupOwnDevices(t *testing.T) {
	n := startRelay(t)
	ctx := context.Background()
	alice, bob := newUser(t, n, "alice", nil), newUser(t, n, "bob", nil)
	alice2 := alice.link(t, "laptop")
	for _, u := range []*user{alice, alice2, bob} {
		u.receive(t)
	}
	if _, err := alice.CreateGroup(ctx, "family", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, alice2, "family: * alice added bob")
	waitLine(t, bob, "family: * alice added bob")
	if _, err := bob.Send(ctx, "family", "hi both"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, alice, "family/bob: hi both")
	waitLine(t, alice2, "family/bob: hi both")
	if _, err := alice.Send(ctx, "family", "from the phone"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "family/alice: from the phone")
	waitLine(t, alice2, "family/alice: from the phone")
	if _, err := alice2.Send(ctx, "family", "from the laptop"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bob, "family/alice: from the laptop")
	waitLine(t, alice, "family/alice: from the laptop")
}
