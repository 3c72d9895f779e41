package client_test

import (
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/client"
)

// TestReceiveAdoptsKeptManifest: the keeper holds a manifest newer than
// the one in use (a pushed manifest it accepted whose adoption failed, say
// because the connection ended meanwhile) and the channels have nothing
// newer; when every endpoint in use is blocked, the client dials from the
// kept manifest instead of retrying the old one for ever.
func TestReceiveAdoptsKeptManifest(t *testing.T) {
	n := startBlockedRelay(t, 2)
	inv := n.invite(t, 0)
	var log dialLog
	alice := newBlockedUser(t, inv, "alice", &log)
	newer := n.sign(t, 1)
	n.mirror.Put("/manifest", newer)
	if _, err := client.KeeperOf(alice.Client).Offer(newer, time.Now()); err != nil {
		t.Fatal(err)
	}
	n.proxies[0].Set(blocktest.Reset)
	alice.receive(t)
	waitUntil(t, "connected through the kept manifest's endpoint", patience, func() bool {
		return log.last() == n.proxies[1].Addr()
	})
}
