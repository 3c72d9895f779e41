package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/client"
	"samizdat/manifest"
)

// TestOlderManifestsWayBack: alice's manifest in use lists one endpoint
// and no channel. When that endpoint is blocked she reaches the relay
// through an endpoint only an older manifest she held listed; stopped, and
// with every endpoint she ever knew blocked, she starts again and catches
// up through the channel of that older manifest, with no action.
func TestOlderManifestsWayBack(t *testing.T) {
	n := startBlockedRelay(t, 3)
	key := n.keys.Network.Public().(ed25519.PublicKey)
	old := manifest.Channel{Kind: "https", URL: n.mirror.URL("/old"), TLSPin: n.mirror.Pin()}
	inv := manifest.Invite{NetworkKey: key, Manifest: n.signFor(t, 1, 0, [][2]int{{0, 0}, {1, 0}}, old)}
	var log dialLog
	u := &user{wake: make(chan struct{}, 1)}
	cfg := client.Config{Home: t.TempDir(), OnEvent: u.onEvent, OnDial: log.add}
	ctx := context.Background()
	c, err := client.Init(ctx, cfg, inv, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.Client = c
	var blog dialLog
	newBlockedUser(t, inv, "bob", &blog)
	if ok, err := c.UpdateManifest(ctx, n.signFor(t, 2, 0, [][2]int{{1, 0}})); !ok || err != nil {
		t.Fatalf("the newer manifest: %v %v", ok, err)
	}

	n.proxies[1].Set(blocktest.Reset)
	c.Disconnect()
	if _, err := c.Send(ctx, "bob", "through an older endpoint"); err != nil {
		t.Fatal(err)
	}
	if last := log.last(); last != n.proxies[0].Addr() {
		t.Fatalf("connected through %q", last)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// Stopped: the relay moves on, and only the old channel tells where.
	n.proxies[0].Set(blocktest.Reset)
	newest := n.signFor(t, 3, 0, [][2]int{{2, 0}})
	n.mirror.Put("/old", newest)
	c, err = client.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Send(ctx, "bob", "caught up"); err != nil {
		t.Fatal(err)
	}
	if last := log.last(); last != n.proxies[2].Addr() {
		t.Fatalf("connected through %q", last)
	}
	if m, err := c.Manifest(); err != nil || m.Serial != 3 {
		t.Fatalf("in use: %v %v", m, err)
	}
	if held := client.HeldManifests(c); len(held) != 3 || string(held[0]) != string(newest) {
		t.Fatalf("holds %d manifests", len(held))
	}
}

// TestOlderManifestsOfARevokedNodeKey: a manifest signed by a node key the
// network has since revoked is not a way back: its endpoints may be
// anyone's.
func TestOlderManifestsOfARevokedNodeKey(t *testing.T) {
	n := startBlockedRelay(t, 2)
	key := n.keys.Network.Public().(ed25519.PublicKey)
	nodePub, nodeKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := manifest.Delegate(manifest.Delegation{Network: "test", NodeKey: nodePub,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, n.keys.Network)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := manifest.Open(n.signFor(t, 1, 0, [][2]int{{0, 0}}), key)
	if err != nil {
		t.Fatal(err)
	}
	byNode, err := manifest.SignDelegated(m1, nodeKey, cert)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := manifest.Open(n.signFor(t, 2, 0, [][2]int{{1, 0}}), key)
	if err != nil {
		t.Fatal(err)
	}
	m2.Revoked = []ed25519.PublicKey{nodePub}
	revoking, err := manifest.Sign(m2, n.keys.Network)
	if err != nil {
		t.Fatal(err)
	}
	inv := manifest.Invite{NetworkKey: key, Manifest: byNode}
	var alog, blog dialLog
	alice := newBlockedUser(t, inv, "alice", &alog)
	newBlockedUser(t, inv, "bob", &blog)
	ctx := context.Background()
	if ok, err := alice.UpdateManifest(ctx, revoking); !ok || err != nil {
		t.Fatalf("the revoking manifest: %v %v", ok, err)
	}
	if held := client.HeldManifests(alice.Client); len(held) != 2 {
		t.Fatalf("alice holds %d manifests", len(held))
	}
	n.proxies[1].Set(blocktest.Reset)
	alice.Disconnect()
	connected := alog.connections()
	if _, err := alice.Send(ctx, "bob", "not through a revoked key's endpoint"); err == nil {
		t.Fatal("sent through the endpoint of a revoked node key's manifest")
	}
	if alog.connections() != connected {
		t.Fatalf("connected through %s", alog.last())
	}
}

// connections counts the connections made so far.
func (l *dialLog) connections() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.connected)
}
