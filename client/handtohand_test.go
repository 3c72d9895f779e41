package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/client"
	"samizdat/manifest"
)

// signFor signs a manifest of n's network with serial, cohorts, endpoints
// (tcp, behind n's proxies: address index and cohort) and channels.
func (n *blockedNet) signFor(t testing.TB, serial uint64, cohorts uint32, eps [][2]int, chans ...manifest.Channel) []byte {
	t.Helper()
	var list []manifest.Endpoint
	for _, e := range eps {
		list = append(list, manifest.Endpoint{Transport: "tcp", Address: n.proxies[e[0]].Addr(), Cohort: uint32(e[1])})
	}
	m := &manifest.Manifest{
		Network: "test", Serial: serial, Issued: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour),
		Relays:    []manifest.Relay{{ID: n.keys.RelayID, NoiseKey: n.keys.Noise.Public, Endpoints: list}},
		TrustRoot: n.keys.TrustRoot.Public.Bytes(),
		Channels:  chans,
		Cohorts:   cohorts,
	}
	blob, err := manifest.Sign(m, n.keys.Network)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// count returns how many events of kind u has seen.
func (u *user) count(kind client.EventKind) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, e := range u.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// heldSerial is the serial of the manifest u's keeper holds and of the
// one u dials from; the test fails if they differ.
func heldSerial(t *testing.T, u *user) uint64 {
	t.Helper()
	kept := client.KeeperOf(u.Client).Current()
	inUse, err := u.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if kept.Serial != inUse.Serial {
		t.Fatalf("%s keeps serial %d but dials from %d", u.Username(), kept.Serial, inUse.Serial)
	}
	return kept.Serial
}

// TestManifestHandToHand: bob holds a newer manifest than alice (the relay
// pushes none: nothing else would tell her); alice's messages say which
// she holds, so bob hands her his, once however many she sends, and she
// carries on through the endpoint only the newer one lists.
func TestManifestHandToHand(t *testing.T) {
	n := startBlockedRelay(t, 2)
	inv := n.invite(t, 0)
	var alog, blog dialLog
	alice := newBlockedUser(t, inv, "alice", &alog)
	bob := newBlockedUser(t, inv, "bob", &blog)
	ctx := context.Background()
	newer := n.sign(t, 0, 1)
	if ok, err := bob.UpdateManifest(ctx, newer); !ok || err != nil {
		t.Fatalf("bob's newer manifest: %v %v", ok, err)
	}
	if err := bob.Accept(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
	}
	alice.receive(t)
	bob.receive(t)
	bob.waitFor(t, client.EventMessage, 3)
	// Bob's outbox keeps its order: once alice has this, she has whatever
	// bob queued for her before it.
	if _, err := bob.Send(ctx, "alice", "last"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, client.EventMessage, 1)
	got := alice.waitFor(t, client.EventManifest, 1)
	if got[0].Peer != "bob" || got[0].Text != "2" {
		t.Fatalf("alice took a manifest from %q, serial %q", got[0].Peer, got[0].Text)
	}
	if s := heldSerial(t, alice); s != 2 {
		t.Fatalf("alice holds serial %d", s)
	}
	if !bytes.Equal(client.KeeperOf(alice.Client).Blob(), newer) {
		t.Fatal("alice holds other bytes than bob's signed manifest")
	}
	if m, r := alice.count(client.EventManifest), alice.count(client.EventRefused); m != 1 || r != 0 {
		t.Fatalf("bob handed his manifest %d times (%d refused), want once", m+r, r)
	}
	// The endpoint alice knew is blocked; the one she learned from bob works.
	n.proxies[0].Set(blocktest.Reset)
	if _, err := alice.Send(ctx, "bob", "through the new endpoint"); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitFor(t, client.EventMessage, 4); got[3].Text != "through the new endpoint" {
		t.Fatalf("bob got %q", got[3].Text)
	}
	if last := alog.last(); last != n.proxies[1].Addr() {
		t.Fatalf("alice connected through %q", last)
	}
}

// TestManifestHandToHandRefused: a manifest handed over by a contact is
// refused with the reason, changing nothing, when it is older, signed by
// another key, for another network, malformed, expired, made for another
// cohort, or sent by a stranger.
func TestManifestHandToHandRefused(t *testing.T) {
	n := startBlockedRelay(t, 2)
	inv := n.invite(t, 0)
	var alog, blog, mlog dialLog
	alice := newBlockedUser(t, inv, "alice", &alog)
	bob := newBlockedUser(t, inv, "bob", &blog)
	mallory := newBlockedUser(t, inv, "mallory", &mlog)
	ctx := context.Background()
	current := n.sign(t, 0, 1) // serial 2
	if ok, err := alice.UpdateManifest(ctx, current); !ok || err != nil {
		t.Fatalf("alice's manifest: %v %v", ok, err)
	}
	if err := alice.Accept(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	alice.receive(t)

	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(key ed25519.PrivateKey, edit func(*manifest.Manifest)) []byte {
		m, err := manifest.Open(n.signFor(t, 10, 0, [][2]int{{1, 0}}), n.keys.Network.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, err := manifest.Sign(m, key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mine := client.Slot(alice.Client).Cohort(4)
	for _, tc := range []struct {
		name string
		from *user
		blob []byte
		want error
		says string
	}{
		{"older", bob, inv.Manifest, manifest.ErrRollback, "serial 1 is not newer than 2"},
		{"the same", bob, current, manifest.ErrRollback, "serial 2 is the current one"},
		{"signed by another key", bob, signed(otherKey, func(*manifest.Manifest) {}), manifest.ErrBadSignature, "bad signature"},
		{"another network", bob, signed(n.keys.Network, func(m *manifest.Manifest) { m.Network = "other" }), manifest.ErrWrongNetwork, `is for "other"`},
		{"malformed", bob, []byte("\x08\x01not a manifest"), manifest.ErrMalformed, "malformed"},
		{"expired", bob, signed(n.keys.Network, func(m *manifest.Manifest) {
			m.Issued, m.Expires = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		}), manifest.ErrExpired, "expired"},
		{"another cohort's", bob, signed(n.keys.Network, func(m *manifest.Manifest) {
			m.Cohorts = 4
			m.Relays[0].Endpoints[0].Cohort = mine%4 + 1
		}), nil, "another cohort"},
		{"from a stranger", mallory, signed(n.keys.Network, func(*manifest.Manifest) {}), client.ErrNotAccepted, "not an accepted contact"},
	} {
		before := alice.count(client.EventRefused)
		if err := client.HandManifest(tc.from.Client, "alice", tc.blob); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.from.Flush(ctx); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := alice.waitFor(t, client.EventRefused, before+1)[before]
		if got.Peer != tc.from.Username() || tc.want != nil && !errors.Is(got.Err, tc.want) || !strings.Contains(got.Err.Error(), tc.says) {
			t.Errorf("%s: refused from %s: %v; want %v saying %q", tc.name, got.Peer, got.Err, tc.want, tc.says)
		}
		if s := heldSerial(t, alice); s != 2 || !bytes.Equal(client.KeeperOf(alice.Client).Blob(), current) {
			t.Fatalf("%s: alice's manifest changed (serial %d)", tc.name, s)
		}
	}
	if n := alice.count(client.EventManifest); n != 0 {
		t.Fatalf("alice adopted %d handed manifests", n)
	}
	// A good one from the same contact is taken.
	good := signed(n.keys.Network, func(*manifest.Manifest) {})
	if err := client.HandManifest(bob.Client, "alice", good); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, client.EventManifest, 1)
	if s := heldSerial(t, alice); s != 10 {
		t.Fatalf("alice holds serial %d", s)
	}
}

// TestManifestHandToHandCohorts: bob, in another cohort than alice, holds
// a newer manifest listing his cohort's endpoints: he tells her only that
// a newer serial exists, and she fetches her own cohort's from her own
// channel. Carol, in alice's cohort, hands hers over whole.
func TestManifestHandToHandCohorts(t *testing.T) {
	n := startBlockedRelay(t, 4)
	key := n.keys.Network.Public().(ed25519.PublicKey)
	ch := manifest.Channel{Kind: "https", URL: n.mirror.URL("/cohort-" + manifest.CohortPlaceholder), TLSPin: n.mirror.Pin()}
	invite := func(cohort int) manifest.Invite {
		// The operator's invite into one cohort: its endpoint, and a token
		// that places the holder there.
		return manifest.Invite{NetworkKey: key, Manifest: n.signFor(t, 1, 2, [][2]int{{cohort - 1, cohort}}, ch),
			Inviter: n.placeIn(t, uint32(cohort), 2)}
	}
	var alog, blog, clog dialLog
	alice := newBlockedUser(t, invite(1), "alice", &alog)
	bob := newBlockedUser(t, invite(2), "bob", &blog)
	ctx := context.Background()
	// Carol joins with alice's personal invite: alice's cohort.
	fromAlice, _, err := alice.Invite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	carol := newBlockedUser(t, fromAlice, "carol", &clog)
	if a, b, c := alice.Cohort(), bob.Cohort(), carol.Cohort(); a != 1 || b != 2 || c != 1 {
		t.Fatalf("cohorts: alice %d, bob %d, carol %d; want 1, 2, 1", a, b, c)
	}

	bobs := n.signFor(t, 5, 2, [][2]int{{1, 2}, {2, 2}}, ch) // cohort 2's: addresses alice must not learn
	ours := n.signFor(t, 5, 2, [][2]int{{0, 1}}, ch)         // cohort 1's, on alice's channel
	n.mirror.Put("/cohort-1", ours)
	if ok, err := bob.UpdateManifest(ctx, bobs); !ok || err != nil {
		t.Fatalf("bob's manifest: %v %v", ok, err)
	}
	for _, u := range []*user{alice, bob, carol} {
		u.receive(t)
	}
	if err := bob.Accept(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "bob", "hi bob"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "alice fetched her cohort's newer manifest", patience, func() bool {
		return client.KeeperOf(alice.Client).Current().Serial == 5
	})
	if !bytes.Equal(client.KeeperOf(alice.Client).Blob(), ours) {
		t.Fatal("alice holds another manifest than her cohort's")
	}
	if _, err := bob.Send(ctx, "alice", "last"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, client.EventMessage, 1)
	if m, r := alice.count(client.EventManifest), alice.count(client.EventRefused); m != 0 || r != 0 {
		t.Fatalf("bob handed alice %d manifests (%d refused); want only a notice", m+r, r)
	}
	for _, held := range client.HeldManifests(alice.Client) {
		m, err := manifest.Open(held, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range m.Relays[0].Endpoints {
			if e.Cohort == 2 || e.Address == n.proxies[1].Addr() || e.Address == n.proxies[2].Addr() {
				t.Fatalf("alice learned cohort 2's endpoint %s", e)
			}
		}
	}

	// Carol, in alice's cohort, holds a newer one still: it comes whole.
	carols := n.signFor(t, 6, 2, [][2]int{{0, 1}, {3, 1}}, ch)
	if ok, err := carol.UpdateManifest(ctx, carols); !ok || err != nil {
		t.Fatalf("carol's manifest: %v %v", ok, err)
	}
	if err := carol.Accept(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "carol", "hi carol"); err != nil {
		t.Fatal(err)
	}
	if got := alice.waitFor(t, client.EventManifest, 1); got[0].Peer != "carol" || got[0].Text != "6" {
		t.Fatalf("alice took a manifest from %q, serial %q", got[0].Peer, got[0].Text)
	}
	if !bytes.Equal(client.KeeperOf(alice.Client).Blob(), carols) {
		t.Fatal("alice holds other bytes than carol's signed manifest")
	}
	if s := heldSerial(t, alice); s != 6 {
		t.Fatalf("alice holds serial %d", s)
	}
}
