package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --decoy shows probes of a wss endpoint the operator's site; --decoy and
// --decoy-proxy together are refused.
func TestRelayDecoyFlags(t *testing.T) {
	if code, _, errOut := runCLI(t, "relay", "--decoy", t.TempDir(), "--decoy-proxy", "https://www.example.org"); code != 2 || !strings.Contains(errOut, "not both") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("<p>the operator's own site</p>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	listen, _, _ := startRelay(t, "--data", filepath.Join(t.TempDir(), "relay"), "--listen", "wss://127.0.0.1:0", "--decoy", site)
	addr := strings.TrimPrefix(listen, "wss://")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "<p>the operator's own site</p>\n" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}
