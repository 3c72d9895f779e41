package client_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/bridge"
	"samizdat/client"
	"samizdat/transport/selfsigned"
	"samizdat/transport/wss"
)

// offersFrom lists the offers u holds from peer.
func offersFrom(t *testing.T, u *user, peer string) []bridge.Offer {
	t.Helper()
	offers, peers, err := u.BridgeOffers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []bridge.Offer
	for i, o := range offers {
		if peers[i] == peer {
			out = append(out, o)
		}
	}
	return out
}

// waitOffers waits until u holds n offers from peer.
func waitOffers(t *testing.T, u *user, peer string, n int) []bridge.Offer {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		if got := offersFrom(t, u, peer); len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d offers from %s, want %d", u.Username(), len(offersFrom(t, u, peer)), peer, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dial(o bridge.Offer) error {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ep := o.Endpoint()
	c, err := wss.Dial(ctx, wss.ClientConfig{Address: ep.Address, SNI: ep.SNI, Path: ep.Path, Secret: ep.Secret, TLSPin: ep.TLSPin})
	if err == nil {
		c.Close()
	}
	return err
}

// TestUserBridges: alice offers two bridges, one run from a credential
// elsewhere and her own; bob, whom she wrote to, gets an offer of each
// with the outbox, with a secret of his own. Stopping her own withdraws
// its offer alone. Blocking bob takes back his label: the bridge abroad
// denies it once SyncBridges told it, and nothing more goes to him.
func TestUserBridges(t *testing.T) {
	n := startRelay(t)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	carol := newUser(t, n, "carol", nil)
	bob.receive(t)
	carol.receive(t)
	ctx := context.Background()

	addr := freeAddr(t)
	cred, err := alice.NewBridgeCredential(ctx, addr, "")
	if err != nil {
		t.Fatal(err)
	}
	abroad, err := bridge.StartAbroad(bridge.AbroadConfig{Credential: cred, Listen: []string{addr}, StateDir: filepath.Join(t.TempDir(), "state")})
	if err != nil {
		t.Fatal(err)
	}
	defer abroad.Close()
	iss, err := cred.Issuer()
	if err != nil {
		t.Fatal(err)
	}
	own, err := selfsigned.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ownKey := bytes.Repeat([]byte{3}, bridge.KeySize)
	var ownDenied []bridge.Denial // what alice's own bridge was told to deny
	deny := func(ds []bridge.Denial) int { ownDenied = ds; return len(ds) }
	if err := alice.ServeBridge(ctx, client.ServedBridge{Issuer: bridge.Issuer{Key: ownKey, Pin: own.Pin(), SNI: bridge.SNIFor(ownKey)}, Address: "127.0.0.1:2", Deny: deny}); err != nil {
		t.Fatal(err)
	}

	// Bob and carol take offers from alice only: they accepted her.
	for _, u := range []*user{bob, carol} {
		if err := u.Accept(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Send(ctx, u.Username(), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	offers := waitOffers(t, bob, "alice", 2)
	if bytes.Equal(offers[0].Secret, offers[1].Secret) {
		t.Fatal("two bridges gave bob one secret")
	}
	var bobAbroad bridge.Offer
	for _, o := range offers {
		if bytes.Equal(o.TLSPin, iss.Pin) {
			bobAbroad = o
		}
	}
	if bobAbroad.Address != addr {
		t.Fatalf("bob holds no offer of the bridge abroad: %+v", offers)
	}
	carolAbroad := waitOffers(t, carol, "alice", 2)
	if err := dial(bobAbroad); err != nil {
		t.Fatalf("bob's offer of the bridge abroad: %v", err)
	}

	// Alice stops her own bridge: its offer alone is withdrawn, and the
	// labels it was offered with are denied (a contact who kept the
	// offer gets nothing from it).
	told, err := alice.StopServingBridge(ctx)
	if err != nil || len(told) != 2 {
		t.Fatalf("withdrawn from %v, %v", told, err)
	}
	if len(ownDenied) != 2 {
		t.Fatalf("the stopped bridge denies %d labels, want 2", len(ownDenied))
	}
	if _, err := alice.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := waitOffers(t, bob, "alice", 1); !bytes.Equal(got[0].TLSPin, iss.Pin) {
		t.Fatal("the withdrawal of alice's own bridge took the bridge abroad with it")
	}

	// Alice blocks bob: his label is denied; carol's still works; what
	// waited in the outbox for him goes.
	m, err := alice.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.OfferBridge(ctx, "bob", bridge.Offer{Network: m.Network, TLSPin: iss.Pin}); err != nil {
		t.Fatal(err)
	}
	if err := alice.Block(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if out, err := alice.Outbox(ctx); err != nil {
		t.Fatal(err)
	} else {
		for _, o := range out {
			if o.Peer == "bob" {
				t.Fatalf("the outbox still holds %+v for bob", o)
			}
		}
	}
	bs, err := alice.Bridges(ctx)
	if err != nil || len(bs) != 2 {
		t.Fatalf("bridges %+v, %v", bs, err)
	}
	for _, b := range bs {
		if !b.Own && (b.Denied != 1 || !b.Pending || b.Holders != 1) {
			t.Fatalf("the bridge abroad after the block: %+v", b)
		}
	}
	syncs, err := alice.SyncBridges(ctx)
	if err != nil || len(syncs) != 1 || syncs[0].Err != nil || syncs[0].Ack.Denied != 1 {
		t.Fatalf("sync %+v, %v", syncs, err)
	}
	if err := dial(bobAbroad); !errors.Is(err, wss.ErrRejected) {
		t.Fatalf("a blocked contact's offer: %v", err)
	}
	for _, o := range carolAbroad {
		if bytes.Equal(o.TLSPin, iss.Pin) {
			if err := dial(o); err != nil {
				t.Fatalf("carol's offer after bob's block: %v", err)
			}
		}
	}
	// Nothing is offered to bob any more, and nothing is pending.
	if sent, err := alice.AnnounceBridges(ctx); err != nil || len(sent) != 0 {
		t.Fatalf("offers after the block: %+v, %v", sent, err)
	}
	if syncs, err := alice.SyncBridges(ctx); err != nil || len(syncs) != 0 {
		t.Fatalf("a second sync with nothing new: %+v, %v", syncs, err)
	}

	// Forgetting the bridge abroad withdraws carol's offer and has the
	// bridge deny her label.
	told, pushErr, err := alice.ForgetBridge(ctx, cred.ID())
	if err != nil || pushErr != nil || len(told) != 1 || told[0] != "carol" {
		t.Fatalf("forget: told %v, %v, %v", told, pushErr, err)
	}
	if _, err := alice.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitOffers(t, carol, "alice", 0)
	for _, o := range carolAbroad {
		if bytes.Equal(o.TLSPin, iss.Pin) {
			if err := dial(o); !errors.Is(err, wss.ErrRejected) {
				t.Fatalf("carol's offer of a forgotten bridge: %v", err)
			}
		}
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestOwnBridgeAbroadCarriesItsOwner: a user who made a credential for a
// bridge abroad, and whose every relay address is then blocked, gets back
// through that bridge with no offer from anyone: her client mints its
// own (bridge.Issuer.OwnLabel), and the bridge knows it like any other.
func TestOwnBridgeAbroadCarriesItsOwner(t *testing.T) {
	n := startBlockedRelay(t, 1)
	var log dialLog
	alice := newBlockedUser(t, n.invite(t, 0), "alice", &log)
	ctx := context.Background()
	addr := freeAddr(t)
	cred, err := alice.NewBridgeCredential(ctx, addr, "")
	if err != nil {
		t.Fatal(err)
	}
	// The bridge is abroad: the censor's blocks do not reach its paths.
	outside := func(ctx context.Context, network, address string) (net.Conn, error) {
		for _, p := range n.proxies {
			if p.Addr() == address {
				address = p.Target()
			}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	abroad, err := bridge.StartAbroad(bridge.AbroadConfig{Credential: cred, Listen: []string{addr},
		StateDir: filepath.Join(t.TempDir(), "state"), NetDial: outside})
	if err != nil {
		t.Fatal(err)
	}
	defer abroad.Close()

	n.proxies[0].Set(blocktest.Reset)
	alice.receive(t)
	waitUntil(t, "alice connected through her bridge abroad", patience, func() bool { return log.last() == addr })
	if _, err := alice.Send(ctx, "alice", "a note through the bridge"); err != nil {
		t.Fatalf("a note to self through the bridge: %v", err)
	}
}
