package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samizdat/manifest"
)

// --mirror writes the public manifest where a web server publishes it, and
// --mirror-url puts that place into the manifest as a channel.
func TestRelayMirror(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	www := filepath.Join(t.TempDir(), "www")
	url := "https://mirror.example.org/samizdat/manifest.bin"
	_, out, stop := startRelay(t, "--data", dir, "--listen", "127.0.0.1:0", "--mirror", www, "--mirror-url", url)
	mirrored := filepath.Join(www, "manifest.bin")
	if !strings.Contains(out.String(), "mirror written to "+mirrored) {
		t.Fatalf("output: %s", out.String())
	}
	blob, err := os.ReadFile(mirrored)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := manifest.ReadInvite(filepath.Join(dir, "invite.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blob, inv.Manifest) {
		t.Fatal("the mirror holds another manifest than the invite")
	}
	m, err := manifest.Open(blob, inv.NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Channels) != 1 || m.Channels[0].Kind != "https" || m.Channels[0].URL != url {
		t.Fatalf("channels %v", m.Channels)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, bad := range []string{"http://mirror.example.org/m", "mirror.example.org/m"} {
		if code, _, errOut := runCLI(t, "relay", "--data", dir, "--mirror-url", bad); code != 2 || !strings.Contains(errOut, "want an https:// URL") {
			t.Errorf("--mirror-url %s: exit %d, %q", bad, code, errOut)
		}
	}
}
