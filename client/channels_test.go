package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"samizdat/broadcast"
	"samizdat/client"
)

func texts(evs []client.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Peer+": "+e.Text)
	}
	return fmt.Sprint(out)
}

func TestChannel(t *testing.T) {
	n := startRelay(t)
	ctx := context.Background()
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	carol := newUser(t, n, "carol", nil)

	code, err := alice.CreateChannel(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.PostToChannel(ctx, "news", "before bob joined"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinChannel(ctx, code, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinChannel(ctx, code, "again"); !errors.Is(err, client.ErrAlreadyJoined) {
		t.Fatalf("joining twice: %v", err)
	}
	if name, err := carol.JoinChannel(ctx, code, "alices"); err != nil || name != "alices" {
		t.Fatalf("join under another name: %q, %v", name, err)
	}
	if err := bob.PostToChannel(ctx, "news", "not an admin"); !errors.Is(err, client.ErrNotChannelAdmin) {
		t.Fatalf("a subscriber's post: %v", err)
	}
	if err := alice.PostToChannel(ctx, "news", "first"); err != nil {
		t.Fatal(err)
	}
	bob.receive(t)
	carol.receive(t)
	alice.receive(t)
	// The backlog since joining, then a live post told by the relay.
	if got := bob.waitFor(t, client.EventChannelPost, 1); texts(got) != "[news: first]" {
		t.Fatalf("bob read %s", texts(got))
	}
	if err := alice.PostToChannel(ctx, "news", "second"); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitFor(t, client.EventChannelPost, 2); texts(got) != "[news: first news: second]" {
		t.Fatalf("bob read %s", texts(got))
	}
	if got := carol.waitFor(t, client.EventChannelPost, 2); texts(got) != "[alices: first alices: second]" {
		t.Fatalf("carol read %s", texts(got))
	}

	// Bob becomes an admin through a message (he wrote to alice first, so
	// she is an accepted contact of his).
	if _, err := bob.Send(ctx, "alice", "make me an admin"); err != nil {
		t.Fatal(err)
	}
	if err := alice.GrantChannelAdmin(ctx, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitFor(t, client.EventChannelAdmin, 1); got[0].Peer != "alice" || got[0].Text != "news" {
		t.Fatalf("bob's admin event: %+v", got[0])
	}
	if err := bob.PostToChannel(ctx, "news", "from bob"); err != nil {
		t.Fatal(err)
	}
	if got := carol.waitFor(t, client.EventChannelPost, 3); got[2].Text != "from bob" {
		t.Fatalf("carol read %s", texts(got))
	}
	// Alice's own posts are not shown to her again; bob's are.
	if got := alice.waitFor(t, client.EventChannelPost, 1); texts(got) != "[news: from bob]" {
		t.Fatalf("alice read %s", texts(got))
	}
	// The history holds what was read, oldest first, under the local name;
	// alice's holds her own posts too.
	hist, err := carol.ChannelHistory(ctx, "alices", 2)
	if err != nil || len(hist) != 2 || hist[0].Body != "second" || hist[1].Body != "from bob" || hist[1].Peer != "alices" || hist[0].ID >= hist[1].ID {
		t.Fatalf("carol's channel history: %+v, %v", hist, err)
	}
	if hist, err := alice.ChannelHistory(ctx, "news", 10); err != nil || len(hist) != 4 || hist[0].Body != "before bob joined" {
		t.Fatalf("alice's channel history: %+v, %v", hist, err)
	}
	if _, err := bob.ChannelHistory(ctx, "nosuch", 10); !errors.Is(err, client.ErrNoSuchChannel) {
		t.Fatalf("history of a channel not joined: %v", err)
	}
	// Carol was not made an admin by a stranger.
	list, err := carol.Channels(ctx)
	if err != nil || len(list) != 1 || list[0].Admin || list[0].Name != "alices" || list[0].LastSeq != 4 {
		t.Fatalf("carol's channels: %+v, %v", list, err)
	}
	if err := carol.LeaveChannel(ctx, "alices"); err != nil {
		t.Fatal(err)
	}
	if list, _ := carol.Channels(ctx); len(list) != 0 {
		t.Fatalf("after leaving: %+v", list)
	}
}

func TestChannelRefusals(t *testing.T) {
	n := startRelay(t)
	ctx := context.Background()
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	code, err := alice.CreateChannel(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := broadcast.ParseCode(code)
	if err != nil || parsed.Admin != nil {
		t.Fatalf("the join code: %v (admin key in it: %v)", err, parsed.Admin != nil)
	}
	// A code for another network.
	other := parsed
	other.Network = broadcast.TagOf(ed25519.PublicKey(bytes.Repeat([]byte{1}, 32)))
	if _, err := bob.JoinChannel(ctx, other.String(), ""); !errors.Is(err, client.ErrOtherNetwork) {
		t.Fatalf("another network's code: %v", err)
	}
	// A channel the relay does not have.
	unknown, err := broadcast.NewChannel(parsed.Network, "ghost", bytes.NewReader(bytes.Repeat([]byte{9}, 200)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinChannel(ctx, unknown.Subscriber().String(), ""); !errors.Is(err, client.ErrNoSuchChannel) {
		t.Fatalf("an unknown channel: %v", err)
	}
	// The right channel with another content key: the relay refuses its token.
	wrongKey := parsed
	wrongKey.ContentKey = unknown.ContentKey
	if _, err := bob.JoinChannel(ctx, wrongKey.String(), ""); !errors.Is(err, client.ErrNoSuchChannel) {
		t.Fatalf("a wrong content key: %v", err)
	}
	if _, err := bob.JoinChannel(ctx, "szch1garbage", ""); !errors.Is(err, broadcast.ErrBadCode) {
		t.Fatalf("garbage: %v", err)
	}
	for _, name := range []string{"", "News", "a/b", "#x"} {
		if _, err := alice.CreateChannel(ctx, name); !errors.Is(err, client.ErrChannelName) {
			t.Errorf("create %q: %v", name, err)
		}
	}
	// One namespace: a contact's name and a channel's.
	if _, err := alice.Send(ctx, "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"news", "bob"} {
		if _, err := alice.CreateChannel(ctx, name); !errors.Is(err, client.ErrNameTaken) {
			t.Errorf("create %q: %v", name, err)
		}
	}
	if _, err := bob.Send(ctx, "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinChannel(ctx, code, "alice"); !errors.Is(err, client.ErrNameTaken) {
		t.Fatalf("join under a contact's name: %v", err)
	}
	// Groups share the namespace too, both ways, and so does our own name.
	if _, err := alice.CreateGroup(ctx, "news", []string{"bob"}); !errors.Is(err, client.ErrNameTaken) {
		t.Fatalf("a group named like a channel: %v", err)
	}
	if _, err := alice.CreateGroup(ctx, "friends", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"friends", "alice"} {
		if _, err := alice.CreateChannel(ctx, name); !errors.Is(err, client.ErrNameTaken) {
			t.Errorf("a channel named %q (a group's, our own): %v", name, err)
		}
	}
	if err := bob.PostToChannel(ctx, "nope", "x"); !errors.Is(err, client.ErrNoSuchChannel) {
		t.Fatalf("post to no channel: %v", err)
	}
}
