package endpoints_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/manifest"
	"samizdat/relay/endpoints"
)

// waitFor polls cond until it holds, failing the test after a generous
// real-time deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// offer opens a fresh keeper for the relay's network and offers blob.
func offer(t *testing.T, key ed25519.PublicKey, blob []byte, now time.Time) (*manifest.Manifest, error) {
	t.Helper()
	k, err := manifest.OpenKeeper(filepath.Join(t.TempDir(), "m"), key, "testnet")
	if err != nil {
		t.Fatal(err)
	}
	return k.Offer(blob, now)
}

// TestDelegationAutoRenewSimClock: the one-binary relay certifies its own
// node key and renews the certificate, on its clock, when a third of its
// life is left, re-signing the manifest under the new one; clients take
// that manifest after the first certificate has lapsed.
func TestDelegationAutoRenewSimClock(t *testing.T) {
	s := clock.NewSim(time.Time{})
	r := newRelay(t)
	netPub := r.keys.Network.Public().(ed25519.PublicKey)
	mod := func(o *endpoints.Options) { o.Clock = s; o.ManifestTTL = 365 * 24 * time.Hour }
	m := r.start(t, mod, "tcp://127.0.0.1:0")
	first := m.Manifest()
	d1 := m.Delegation()
	if d1 == nil || !d1.NotAfter.Equal(s.Now().Add(endpoints.DefaultDelegationTTL)) || !d1.NetworkKey.Equal(netPub) {
		t.Fatalf("first delegation %v", d1)
	}
	if !m.NetworkKey().Equal(netPub) {
		t.Fatal("the invite names another network key")
	}
	if _, d, err := manifest.OpenChain(first, netPub); err != nil || d == nil || !d.NodeKey.Equal(d1.NodeKey) {
		t.Fatalf("the manifest is not signed by the node key: %v %v", d, err)
	}
	if _, err := offer(t, netPub, first, s.Now()); err != nil {
		t.Fatal(err)
	}
	serial := m.Serial()

	t.Cleanup(s.Start())
	renew := endpoints.DefaultDelegationTTL * 2 / 3
	s.Sleep(renew - time.Minute)
	if got := m.Delegation(); !got.NotAfter.Equal(d1.NotAfter) || m.Serial() != serial {
		t.Fatalf("renewed early: %v, serial %d (was %d)", got, m.Serial(), serial)
	}
	s.Sleep(2 * time.Minute)
	waitFor(t, "the renewed delegation's manifest", func() bool { return m.Serial() > serial })
	d2 := m.Delegation()
	if !d2.NotAfter.After(d1.NotAfter) || !d2.NodeKey.Equal(d1.NodeKey) {
		t.Fatalf("renewed delegation %v, first %v", d2, d1)
	}
	text, err := os.ReadFile(filepath.Join(r.dir, endpoints.DelegationFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, d, err := manifest.ParseDelegationText(text); err != nil || !d.NotAfter.Equal(d2.NotAfter) {
		t.Fatalf("the delegation file: %v %v", d, err)
	}

	// Past the first certificate: its manifest is refused, the new one
	// is taken.
	lapsed := d1.NotAfter.Add(time.Hour)
	if _, err := offer(t, netPub, first, lapsed); !errors.Is(err, manifest.ErrDelegationExpired) {
		t.Fatalf("the first manifest after its delegation lapsed: %v", err)
	}
	if _, err := offer(t, netPub, m.Manifest(), lapsed); err != nil {
		t.Fatalf("the renewed manifest: %v", err)
	}

	// A restart keeps the node key and the certificate.
	m.Close()
	m2 := r.start(t, mod, "tcp://127.0.0.1:0")
	if got := m2.Delegation(); !got.NotAfter.Equal(d2.NotAfter) || !got.NodeKey.Equal(d2.NodeKey) {
		t.Fatalf("after a restart: %v, want %v", got, d2)
	}
}

// TestOfflineNetworkKey: a node without the network key needs a
// certificate made offline, says how to make one, takes a renewed one
// from its file without a restart, and refuses to sign once it lapsed.
func TestOfflineNetworkKey(t *testing.T) {
	s := clock.NewSim(time.Time{})
	r := newRelay(t)
	netPub, netKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r.keys.Network = nil
	opts := func(o *endpoints.Options) { o.Clock = s; o.ManifestTTL = 365 * 24 * time.Hour }
	listen, err := endpoints.ParseURL("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	startOpts := endpoints.Options{Dir: r.dir, Server: r.srv, Keys: r.keys, Network: "testnet", Logger: testLogger(), Listen: []endpoints.Spec{listen}}
	opts(&startOpts)
	if _, err := endpoints.Start(startOpts); err == nil || !strings.Contains(err.Error(), "samizdat manifest delegate") {
		t.Fatalf("without a delegation: %v", err)
	} else if node, kerr := manifest.ReadSigningKey(filepath.Join(r.dir, endpoints.NodeKeyFile)); kerr != nil ||
		!strings.Contains(err.Error(), manifest.KeyID(node.Public().(ed25519.PublicKey))) {
		t.Fatalf("the error does not name the node key: %v (%v)", err, kerr)
	}
	node, err := manifest.ReadSigningKey(filepath.Join(r.dir, endpoints.NodeKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	nodePub := node.Public().(ed25519.PublicKey)
	writeCert := func(from time.Time, network string, key ed25519.PublicKey) *manifest.Delegation {
		t.Helper()
		cert, err := manifest.Delegate(manifest.Delegation{Network: network, NodeKey: key, NotBefore: from, NotAfter: from.Add(30 * 24 * time.Hour)}, netKey)
		if err != nil {
			t.Fatal(err)
		}
		text, err := manifest.MarshalDelegationText(cert)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.dir, endpoints.DelegationFile), text, 0o644); err != nil {
			t.Fatal(err)
		}
		d, _ := manifest.ParseDelegation(cert)
		return d
	}
	writeCert(s.Now(), "othernet", nodePub)
	if _, err := endpoints.Start(startOpts); err == nil || !strings.Contains(err.Error(), `delegation is for "othernet", want "testnet"`) {
		t.Fatalf("a delegation for another network: %v", err)
	}
	d1 := writeCert(s.Now(), "testnet", nodePub)
	m := r.start(t, opts, "tcp://127.0.0.1:0")
	if !m.NetworkKey().Equal(netPub) {
		t.Fatal("the invite does not name the offline network key")
	}
	inv, err := manifest.ReadInvite(filepath.Join(r.dir, "invite.txt"))
	if err != nil || !inv.NetworkKey.Equal(netPub) {
		t.Fatalf("invite: %v", err)
	}
	if _, err := offer(t, netPub, m.Manifest(), s.Now()); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(s.Start())
	s.Sleep(25 * 24 * time.Hour)
	serial := m.Serial()
	if !m.Delegation().NotAfter.Equal(d1.NotAfter) {
		t.Fatal("the delegation changed on its own")
	}
	// The operator renews it offline and copies it over; the node takes
	// it within the hour.
	d2 := writeCert(s.Now(), "testnet", nodePub)
	s.Sleep(61 * time.Minute)
	waitFor(t, "the renewed delegation's manifest", func() bool { return m.Serial() > serial })
	if got := m.Delegation(); !got.NotAfter.Equal(d2.NotAfter) {
		t.Fatalf("delegation %v, want %v", got, d2)
	}
	if _, err := offer(t, netPub, m.Manifest(), d1.NotAfter.Add(time.Hour)); err != nil {
		t.Fatalf("after the first delegation lapsed: %v", err)
	}

	// Nobody renews it again: once it lapses the node signs nothing and
	// says why; the last manifest stays.
	s.Sleep(31 * 24 * time.Hour)
	last := m.Manifest()
	err = m.Republish()
	if err == nil || !strings.Contains(err.Error(), "delegated until") || !strings.Contains(err.Error(), "renew it") {
		t.Fatalf("republish with a lapsed delegation: %v", err)
	}
	if string(m.Manifest()) != string(last) {
		t.Fatal("the manifest changed")
	}
}
