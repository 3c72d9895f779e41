package client_test

import (
	"context"
	"crypto/ed25519"
	"testing"

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
