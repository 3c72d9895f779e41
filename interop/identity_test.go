package interop

import (
	"context"
	"errors"
	"strings"
	"testing"

	"samizdat/session"
)

// A device that comes back with a different identity key must not be
// trusted silently by either implementation (trust on first use).

// TestIdentityChangeGoDetects: a libsignal party reappears at the same
// address with a new identity; Go refuses its bundle and its PreKey message.
func TestIdentityChangeGoDetects(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	g := newGoParty(t, 1)
	ls := newLsParty(t, ctx, d, "ls-id", PartyOptions{})
	goOpens(t, ctx, g, ls)
	exchange(t, ctx, d, g, lsEndpoint{ls}, 2)

	impostor := newLsParty(t, ctx, d, "ls-id-new", PartyOptions{Address: ls.Address, DeviceID: ls.DeviceID})
	nb, err := impostor.Bundle(ctx, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.processBundle(ctx, impostor.Peer(), nb); !errors.Is(err, session.ErrUntrustedIdentity) {
		t.Errorf("Go processing a bundle with a changed identity: %v, want ErrUntrustedIdentity", err)
	}
	lsOpens(t, ctx, impostor, g)
	ct, err := impostor.Encrypt(ctx, g.peer(), []byte("it's me, honest"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.decrypt(ctx, impostor.Peer(), ct); !errors.Is(err, session.ErrUntrustedIdentity) {
		t.Errorf("Go decrypting a PreKey message from a changed identity: %v, want ErrUntrustedIdentity", err)
	}
	// The old session is untouched.
	exchange2(t, ctx, g, lsEndpoint{ls})
}

// TestIdentityChangeLibsignalDetects: a Go party reappears at the same
// address with a new identity; libsignal refuses its bundle and its PreKey
// message.
func TestIdentityChangeLibsignalDetects(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	g := newGoParty(t, 1)
	ls := newLsParty(t, ctx, d, "ls-id", PartyOptions{})
	lsOpens(t, ctx, ls, g)
	exchange(t, ctx, d, lsEndpoint{ls}, g, 2)

	impostor := newGoParty(t, g.addr.DeviceID)
	impostor.addr = g.addr
	err := ls.ProcessBundle(ctx, impostor.peer(), impostor.bundle(t, BundleOptions{}))
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "untrusted identity") {
		t.Errorf("libsignal processing a bundle with a changed identity: %v, want an untrusted-identity error", err)
	}
	goOpens(t, ctx, impostor, ls)
	ct, err := impostor.encrypt(ctx, ls.Peer(), []byte("it's me, honest"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ls.Decrypt(ctx, impostor.peer(), ct)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "untrusted identity") {
		t.Errorf("libsignal decrypting a PreKey message from a changed identity: %v, want an untrusted-identity error", err)
	}
	exchange2(t, ctx, lsEndpoint{ls}, g)
}

// exchange2 checks that an established session still works both ways.
func exchange2(t *testing.T, ctx context.Context, a, b endpoint) {
	t.Helper()
	for i, dir := range [][2]endpoint{{a, b}, {b, a}} {
		roundTrip(t, ctx, dir[0], dir[1], payload("still "+dir[0].label(), i, 40), "old session after the identity change")
	}
}
