package relay_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/session/curve"
)

func TestLoadOrCreateKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, created, err := relay.LoadOrCreateKeys(dir, rand.Reader)
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, relay.KeysFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v %v", fi.Mode(), err)
	}
	k2, created, err := relay.LoadOrCreateKeys(dir, rand.Reader)
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v", created, err)
	}
	if k1.Noise.Public != k2.Noise.Public || k1.Noise.Private != k2.Noise.Private || !k1.Network.Equal(k2.Network) ||
		!k1.TrustRoot.Public.Equal(k2.TrustRoot.Public) || k1.RelayID != k2.RelayID ||
		string(k1.ServerCertificate.Bytes()) != string(k2.ServerCertificate.Bytes()) {
		t.Fatal("reloaded keys differ")
	}
	if err := k2.ServerCertificate.Validate(k2.TrustRoot.Public); err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	if s := fmt.Sprintf("%v %+v %#v", k1, k1, k1); strings.Contains(s, fmt.Sprintf("%x", k1.Noise.Private[:])) || strings.Contains(s, "Private") {
		t.Fatalf("keys print secrets: %s", s)
	}

	// A damaged keys file is refused, not replaced.
	if err := os.WriteFile(filepath.Join(dir, relay.KeysFile), []byte(`{"version":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := relay.LoadOrCreateKeys(dir, rand.Reader); err == nil {
		t.Fatal("damaged keys file accepted")
	}
}

func TestInvite(t *testing.T) {
	k, err := relay.GenerateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	inv, err := k.Invite("testnet", []manifest.Endpoint{{Transport: "tcp", Address: "127.0.0.1:7443"}}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "invite.txt")
	if err := manifest.WriteInvite(path, inv); err != nil {
		t.Fatal(err)
	}
	back, err := manifest.ReadInvite(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Verify(back.Manifest, back.NetworkKey, now)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.Relay(k.RelayID)
	if m.Network != "testnet" || !ok || r.NoiseKey != k.Noise.Public || len(r.Endpoints) != 1 || r.Endpoints[0].Address != "127.0.0.1:7443" {
		t.Fatalf("manifest %v", m)
	}
	root, err := curve.DecodePublicKey(m.TrustRoot)
	if err != nil || !root.Equal(k.TrustRoot.Public) {
		t.Fatalf("trust root: %v", err)
	}
}

// TestKeysFileSharedByNodes starts several nodes at once on one keys
// file: exactly one creates it and all end up with its keys.
func TestKeysFileSharedByNodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared-keys.json")
	const nodes = 8
	type result struct {
		k       relay.Keys
		created bool
		err     error
	}
	res := make(chan result, nodes)
	for range nodes {
		go func() {
			k, created, err := relay.LoadOrCreateKeysFile(path, rand.Reader)
			res <- result{k, created, err}
		}()
	}
	var first relay.Keys
	creators := 0
	for i := range nodes {
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.created {
			creators++
		}
		if i == 0 {
			first = r.k
		} else if r.k.Noise.Public != first.Noise.Public || !r.k.Network.Equal(first.Network) {
			t.Error("two nodes got different keys")
		}
	}
	if creators != 1 {
		t.Errorf("%d nodes created the keys file, want 1", creators)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), relay.KeysFile)); err == nil {
		t.Error("a keys file appeared beside the shared one")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files beside the keys file, want none (temporary files left?)", len(entries)-1)
	}
}

// TestNodeKeysFile: a node of a network whose key is offline creates keys
// without a network key, and reads them back so.
func TestNodeKeysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), relay.KeysFile)
	k, created, err := relay.LoadOrCreateNodeKeysFile(path, rand.Reader)
	if err != nil || !created || k.Network != nil {
		t.Fatalf("created=%v network=%v err=%v", created, k.Network != nil, err)
	}
	b, err := os.ReadFile(path)
	if err != nil || strings.Contains(string(b), "network_ed25519_seed") {
		t.Fatalf("the file holds a network key: %v", err)
	}
	k2, created, err := relay.LoadOrCreateKeysFile(path, rand.Reader)
	if err != nil || created || k2.Network != nil || k2.Noise.Public != k.Noise.Public {
		t.Fatalf("reload: created=%v network=%v err=%v", created, k2.Network != nil, err)
	}
}
