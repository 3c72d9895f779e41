package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"samizdat/client"
	"samizdat/provision"
)

// TestLinkRefusesOthers: a device with the rendezvous id but not the
// secret is refused before it sends anything, and the pairing stays open;
// one that sends anyway makes the new device refuse the pairing and keep
// nothing; a code is used once.
func TestLinkRefusesOthers(t *testing.T) {
	ctx := context.Background()
	n := startRelay(t)
	bob := newUser(t, n, "bob", nil)
	carol := newUser(t, n, "carol", nil)
	home := t.TempDir()

	p, err := client.StartLink(ctx, client.Config{Home: home}, client.InviteOf(bob.Client))
	if err != nil {
		t.Fatal(err)
	}
	code, _ := provision.ParseCode(p.Code())
	guess := code
	guess.Secret = "0000000000000000"
	if guess.Secret == code.Secret {
		guess.Secret = "1111111111111111"
	}
	if _, err := carol.ApproveLink(ctx, guess.String()); !errors.Is(err, provision.ErrMismatch) {
		t.Fatalf("approve with a guessed secret: %v", err)
	}
	// Carol sends into the pairing anyway: the new device refuses it.
	waited := make(chan error, 1)
	go func() {
		_, err := p.Wait(ctx, 0)
		waited <- err
	}()
	if err := client.SendPairing(carol.Client, p.Code(), make([]byte, 200)); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, provision.ErrAuth) {
		t.Fatalf("the new device took a pairing it could not authenticate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, "client.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused pairing left state behind: %v", err)
	}
	if _, err := bob.ApproveLink(ctx, p.Code()); !errors.Is(err, client.ErrNoPairing) && !errors.Is(err, client.ErrPairingTaken) {
		t.Fatalf("approve of a refused pairing: %v", err)
	}

	// A code works once.
	p2, err := client.StartLink(ctx, client.Config{Home: home}, client.InviteOf(bob.Client))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := p2.Wait(ctx, 0)
		if err == nil {
			c.Close()
		}
		waited <- err
	}()
	if id, err := bob.ApproveLink(ctx, p2.Code()); err != nil || id != 2 {
		t.Fatalf("approve: %d, %v", id, err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if _, err := carol.ApproveLink(ctx, p2.Code()); !errors.Is(err, client.ErrNoPairing) {
		t.Fatalf("a code used twice: %v", err)
	}
}

// TestLinkedDeviceTakesGroupsAndChannels: a device linked after its
// account joined a group and created a channel reads both: the group's
// next text from another member, and the channel's next post.
func TestLinkedDeviceTakesGroupsAndChannels(t *testing.T) {
	ctx := context.Background()
	n := startRelay(t)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	bob.receive(t)
	if _, err := bob.CreateGroup(ctx, "friends", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.CreateChannel(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	alice.receive(t)
	alice.waitFor(t, client.EventGroupChange, 1)

	bob2 := bob.link(t, "laptop")
	bob2.receive(t)
	if _, err := alice.Send(ctx, "friends", "to the group"); err != nil {
		t.Fatal(err)
	}
	if ev := bob2.waitFor(t, client.EventGroupMessage, 1)[0]; ev.Text != "to the group" || ev.Group != "friends" {
		t.Fatalf("the linked device got %+v", ev)
	}
	if err := bob.PostToChannel(ctx, "news", "first post"); err != nil {
		t.Fatal(err)
	}
	if ev := bob2.waitFor(t, client.EventChannelPost, 1)[0]; ev.Text != "first post" || ev.Peer != "news" {
		t.Fatalf("the linked device got %+v", ev)
	}
}
