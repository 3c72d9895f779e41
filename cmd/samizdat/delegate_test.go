package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samizdat/manifest"
	"samizdat/relay"
)

// TestManifestDelegateCLI walks the offline procedure: keygen for the
// network and a node, delegate, sign with the node key, verify; then the
// refusals, and a revocation by the network key.
func TestManifestDelegateCLI(t *testing.T) {
	dir := t.TempDir()
	netKey, nodeKey := filepath.Join(dir, "network.key"), filepath.Join(dir, "node.key")
	src, cert, blob := filepath.Join(dir, "m.json"), filepath.Join(dir, "node.cert"), filepath.Join(dir, "m.bin")
	now := "2026-11-27T12:00:00Z"
	os.WriteFile(src, []byte(fmt.Sprintf(testSource, strings.Repeat("ab", 32), strings.Repeat("01", 32), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))), 0o644)
	for _, k := range []string{netKey, nodeKey} {
		if code, _, errOut := runCLI(t, "manifest", "keygen", "--out", k); code != 0 {
			t.Fatalf("keygen: %s", errOut)
		}
	}
	nodePub, _ := os.ReadFile(nodeKey + ".pub")

	code, out, errOut := runCLI(t, "manifest", "delegate", "--network-key", netKey, "--node-key", nodeKey+".pub",
		"--network", "example.net", "--for", "10d", "--now", now, "--out", cert)
	if code != 0 || !strings.Contains(out, "delegated node key "+strings.TrimSpace(string(nodePub))) || !strings.Contains(out, "until 2026-12-07T12:00:00Z") {
		t.Fatalf("delegate: %d %s %s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "manifest", "delegate", "--network-key", netKey, "--node-key", string(nodePub), "--network", "example.net"); code != 0 || !strings.Contains(out, "-----BEGIN SAMIZDAT DELEGATION-----") {
		t.Fatalf("delegate to stdout: %d %s", code, out)
	}
	if code, out, errOut := runCLI(t, "manifest", "sign", "--key", nodeKey, "--delegation", cert, "--in", src, "--out", blob, "--serial", "41", "--now", now); code != 0 || !strings.Contains(out, "serial 41") {
		t.Fatalf("sign with the node key: %d %s %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "manifest", "verify", "--network-key", netKey+".pub", "--network", "example.net", "--now", now, blob)
	if code != 0 || !strings.Contains(out, "ok: example.net serial 41") || !strings.Contains(out, "signed by node key") {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "manifest", "show", "--network-key", netKey+".pub", blob)
	if code != 0 || !strings.Contains(out, "by node key "+strings.TrimSpace(string(nodePub))) {
		t.Fatalf("show: %d %s", code, out)
	}

	otherKey := filepath.Join(dir, "other.key")
	runCLI(t, "manifest", "keygen", "--out", otherKey)
	fails := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"verify", "--network-key", netKey + ".pub", "--now", "2026-12-08T12:00:00Z", blob}, 1, "delegation expired"},
		{[]string{"verify", "--network-key", otherKey + ".pub", "--now", now, blob}, 1, "bad signature: the certificate of node key"},
		{[]string{"sign", "--key", otherKey, "--delegation", cert, "--in", src, "--out", filepath.Join(dir, "x"), "--serial", "42", "--now", now}, 1, "it certifies node key"},
		{[]string{"sign", "--key", nodeKey, "--delegation", cert, "--revoke", otherKey + ".pub", "--in", src, "--out", filepath.Join(dir, "x"), "--serial", "42", "--now", now}, 1, "only the network key"},
		{[]string{"sign", "--key", netKey, "--in", src, "--out", filepath.Join(dir, "x"), "--serial", "18446744073709551615", "--now", now}, 1, "too far ahead"},
		{[]string{"delegate", "--network-key", netKey, "--node-key", nodeKey + ".pub", "--for", "400d"}, 2, "longer than a certificate may last (8784h0m0s)"},
		{[]string{"delegate", "--network-key", netKey, "--node-key", "nonsense"}, 1, "node key: want 32 bytes"},
		{[]string{"delegate", "--network-key", nodeKey + ".pub", "--node-key", nodeKey + ".pub"}, 1, "not a private key file"},
		{[]string{"delegate", "--node-key", nodeKey + ".pub"}, 2, "needs --network-key and --node-key"},
	}
	for _, f := range fails {
		code, _, errOut := runCLI(t, append([]string{"manifest"}, f.args...)...)
		if code != f.code || !strings.Contains(errOut, f.want) {
			t.Errorf("%v: %d %s, want %d and %q", f.args, code, errOut, f.code, f.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Fatal("a refused sign wrote its output")
	}

	// The network key revokes the node key.
	revoke := filepath.Join(dir, "revoke.bin")
	if code, _, errOut := runCLI(t, "manifest", "sign", "--key", netKey, "--revoke", nodeKey+".pub", "--in", src, "--out", revoke, "--serial", "42", "--now", now); code != 0 {
		t.Fatalf("sign a revocation: %s", errOut)
	}
	code, out, _ = runCLI(t, "manifest", "show", "--network-key", netKey+".pub", revoke)
	if code != 0 || !strings.Contains(out, "revokes     node key "+strings.TrimSpace(string(nodePub))) {
		t.Fatalf("show the revocation: %s", out)
	}
}

// TestDelegateFromRelayKeys: the network key of a relay's keys file can
// certify node keys, to take a network started by "samizdat relay"
// offline without changing its key.
func TestDelegateFromRelayKeys(t *testing.T) {
	dir := t.TempDir()
	keys, _, err := relay.LoadOrCreateKeys(dir, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(dir, "node.key")
	runCLI(t, "manifest", "keygen", "--out", node)
	code, out, errOut := runCLI(t, "manifest", "delegate", "--network-key", filepath.Join(dir, relay.KeysFile), "--node-key", node+".pub")
	if code != 0 {
		t.Fatalf("delegate: %s", errOut)
	}
	_, d, err := manifest.ParseDelegationText([]byte(out))
	if err != nil || !d.NetworkKey.Equal(keys.Network.Public()) || d.Network != "samizdat" {
		t.Fatalf("certificate %v: %v", d, err)
	}
}

// TestRelayOfflineNetworkKey: a relay told the network key is offline
// creates no network key, refuses to start without a certificate and says
// how to make one, and starts with one made by "manifest delegate".
func TestRelayOfflineNetworkKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	netKey := filepath.Join(t.TempDir(), "network.key")
	runCLI(t, "manifest", "keygen", "--out", netKey)
	args := []string{"relay", "--data", dir, "--listen", "tcp://127.0.0.1:0", "--network-key", netKey + ".pub"}
	var errOut bytes.Buffer
	code := run(context.Background(), &env{stdout: &syncBuffer{}, stderr: &errOut}, args)
	if code != 1 || !strings.Contains(errOut.String(), "samizdat manifest delegate --network-key NETWORK.key --node-key ") {
		t.Fatalf("without a certificate: %d %s", code, errOut.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, relay.KeysFile)); err != nil || strings.Contains(string(b), "network_ed25519_seed") {
		t.Fatalf("the keys file holds a network key: %v", err)
	}
	node, err := manifest.ReadSigningKey(filepath.Join(dir, "node-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "delegation.txt")
	if code, _, errOut := runCLI(t, "manifest", "delegate", "--network-key", netKey, "--node-key", manifest.KeyID(node.Public().(ed25519.PublicKey)), "--out", cert); code != 0 {
		t.Fatalf("delegate: %s", errOut)
	}
	_, out, _ := startRelay(t, args[1:]...)
	if !strings.Contains(out.String(), "signing with node key "+manifest.KeyID(node.Public().(ed25519.PublicKey))) {
		t.Fatalf("relay output: %s", out.String())
	}
	inv, err := manifest.ReadInvite(filepath.Join(dir, "invite.txt"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := os.ReadFile(netKey + ".pub")
	if base64.StdEncoding.EncodeToString(inv.NetworkKey) != strings.TrimSpace(string(pub)) {
		t.Fatal("the invite does not name the offline network key")
	}
}
