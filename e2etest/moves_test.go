//go:build linux

package e2etest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOfflineThroughTwoMoves: alice and bob join and stop. While they are
// stopped the relay moves twice (each time a new address, the old one
// retired), so every address they know is gone. The relay writes each
// manifest to --mirror, which a web server publishes and the manifests name
// as a channel; with no command beyond send and recv, alice and bob catch
// up and talk.
func TestOfflineThroughTwoMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	www := filepath.Join(dir, "www")
	web := httptest.NewTLSServer(http.FileServer(http.Dir(www)))
	defer web.Close()
	pin := sha256.Sum256(web.Certificate().RawSubjectPublicKeyInfo)
	config := filepath.Join(dir, "relay.json")
	if err := os.WriteFile(config, fmt.Appendf(nil, `{"endpoints": [], "channels": [{"kind": "https", "url": %q, "tls_pin": %q}]}`,
		web.URL+"/manifest.bin", hex.EncodeToString(pin[:])), 0o600); err != nil {
		t.Fatal(err)
	}
	first := freeAddr(t)
	startRelayArgs(t, bin, data, first, "--config", config, "--listen", "tcp://"+first+"?name=m0", "--mirror", www)
	invite := filepath.Join(data, "invite.txt")
	alice, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	mustRun(t, bin, alice, "init", "--invite", invite, "--name", "alice")
	mustRun(t, bin, bob, "init", "--invite", invite, "--name", "bob")

	prev := first
	for i := 1; i <= 2; i++ {
		next := freeAddr(t)
		name := fmt.Sprintf("m%d", i)
		mustRun(t, bin, dir, "relay", "endpoints", "add", "tcp://"+next+"?name="+name, "--data", data)
		mustRun(t, bin, dir, "relay", "endpoints", "retire", fmt.Sprintf("m%d", i-1), "--data", data)
		if c, err := net.DialTimeout("tcp", prev, time.Second); err == nil {
			c.Close()
			t.Fatalf("move %d: the retired address %s still answers", i, prev)
		}
		want, err := os.ReadFile(filepath.Join(data, "manifest.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(www, "manifest.bin")); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("move %d: the mirror does not hold the newest manifest: %v", i, err)
		}
		prev = next
	}

	if code, _, e := cli(t, bin, alice, "", "send", "bob", "after two moves"); code != 0 {
		t.Fatalf("alice's send after two moves: exit %d: %s", code, e)
	}
	if code, got, e := cli(t, bin, bob, "", "recv"); code != 0 || got != "alice: after two moves\n" {
		t.Fatalf("bob's recv after two moves: exit %d, %q, %q", code, got, e)
	}
}
