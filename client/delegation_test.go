package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/manifest"
)

// TestLapsedDelegationKeepsEndpoints: clients whose manifest's signer has
// a delegation that lapsed since they accepted it keep dialing its
// endpoints: the certificate matters when a manifest is accepted, not
// while it is used.
func TestLapsedDelegationKeepsEndpoints(t *testing.T) {
	n := startRelay(t)
	m, err := manifest.Open(n.inv.Manifest, n.inv.NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	nodePub, nodeKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cert, err := manifest.Delegate(manifest.Delegation{Network: m.Network, NodeKey: nodePub, NotBefore: start.Add(-time.Hour), NotAfter: start.Add(time.Hour)}, n.keys.Network)
	if err != nil {
		t.Fatal(err)
	}
	m.Serial++
	m.Expires = start.Add(24 * time.Hour)
	blob, err := manifest.SignDelegated(m, nodeKey, cert)
	if err != nil {
		t.Fatal(err)
	}
	n.inv.Manifest = blob

	var ahead atomic.Int64 // how far the clients' clocks run ahead
	clockAhead := func(cfg *client.Config) {
		cfg.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	}
	alice := newUser(t, n, "alice", clockAhead)
	bob := newUser(t, n, "bob", clockAhead)
	ahead.Store(int64(2 * time.Hour))
	if _, err := manifest.Verify(blob, n.inv.NetworkKey, time.Now().Add(2*time.Hour)); err == nil {
		t.Fatal("the delegation has not lapsed")
	}
	bob.receive(t)
	alice.receive(t)
	if _, err := alice.Send(context.Background(), "bob", "after the lapse"); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitFor(t, client.EventMessage, 1); got[0].Text != "after the lapse" {
		t.Fatalf("bob got %q", got[0].Text)
	}
}
