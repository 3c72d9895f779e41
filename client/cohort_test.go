package client_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"samizdat/manifest"
)

// A new user invited into a cohort (the invite lists only that cohort's
// endpoints, and its token places the holder there) registers through
// those endpoints, is placed in that cohort by the relay whatever its
// key, and chats through them.
func TestInitInInvitersCohort(t *testing.T) {
	n := startBlockedRelay(t, 1)
	m := &manifest.Manifest{
		Network: "test", Serial: 1, Issued: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour),
		Relays: []manifest.Relay{{ID: n.keys.RelayID, NoiseKey: n.keys.Noise.Public,
			Endpoints: []manifest.Endpoint{{Transport: "tcp", Address: n.proxies[0].Addr(), Cohort: 5}}}},
		TrustRoot: n.keys.TrustRoot.Public.Bytes(),
		Cohorts:   64,
	}
	blob, err := manifest.Sign(m, n.keys.Network)
	if err != nil {
		t.Fatal(err)
	}
	inv := manifest.Invite{NetworkKey: n.keys.Network.Public().(ed25519.PublicKey), Manifest: blob, Inviter: n.placeIn(t, 5, 64)}
	var log dialLog
	alice := newBlockedUser(t, inv, "alice", &log)
	if got := log.last(); got != n.proxies[0].Addr() {
		t.Fatalf("registered via %q", got)
	}
	if c := alice.Cohort(); c != 5 {
		t.Fatalf("alice says she is in cohort %d, want 5", c)
	}
	if _, err := alice.Send(context.Background(), "alice", "hello me"); err != nil {
		t.Fatal(err)
	}
}
