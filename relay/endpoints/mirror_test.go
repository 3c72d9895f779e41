package endpoints_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/relay/endpoints"
)

// wssEndpoint returns the wss endpoint of m named by its listen address.
func wssEndpoint(t *testing.T, m *manifest.Manifest, cohort uint32) manifest.Endpoint {
	t.Helper()
	for _, e := range m.Relays[0].Endpoints {
		if e.Transport == "wss" && e.Cohort == cohort {
			return e
		}
	}
	t.Fatalf("no wss endpoint of cohort %d in %v", cohort, m)
	return manifest.Endpoint{}
}

// fetch asks the endpoint for its manifest as a client does.
func fetch(t *testing.T, ep manifest.Endpoint) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return channel.Relay(ep, nil).Fetch(ctx)
}

// get is a plain HTTPS GET of path on the endpoint, as a prober sends it.
func get(t *testing.T, ep manifest.Endpoint, path string) (int, []byte) {
	t.Helper()
	tr := &http.Transport{DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return tls.Dial("tcp", ep.Address, &tls.Config{ServerName: ep.SNI, InsecureSkipVerify: true})
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ep.Host + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// Every wss endpoint serves the newest manifest of its cohort at its
// mirror path, over plain HTTPS; a probe without the path gets the decoy.
// The mirror directory gets the public manifest on every change, and
// never a cohort's.
func TestMirror(t *testing.T) {
	r := newRelay(t)
	dir := filepath.Join(t.TempDir(), "www")
	m := r.start(t, func(o *endpoints.Options) { o.MirrorDir = dir },
		"wss://127.0.0.1:0?sni=www.example.org&name=w", "wss://127.0.0.1:0?sni=c.example.org&name=c1&cohort=1",
		"tcp://127.0.0.1:0?name=t")
	public := r.verify(t, m.Manifest())
	ep := wssEndpoint(t, public, 0)
	got, err := fetch(t, ep)
	if err != nil || !bytes.Equal(got, m.Manifest()) {
		t.Fatalf("the public endpoint's mirror: %v", err)
	}
	cohortBlob, err := os.ReadFile(filepath.Join(r.dir, endpoints.CohortManifestFile(1)))
	if err != nil {
		t.Fatal(err)
	}
	cm := r.verify(t, cohortBlob)
	if got, err := fetch(t, wssEndpoint(t, cm, 1)); err != nil || !bytes.Equal(got, cohortBlob) {
		t.Fatalf("cohort 1's endpoint serves another manifest: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, endpoints.ManifestFile)); err != nil || !bytes.Equal(b, m.Manifest()) {
		t.Fatalf("mirror file: %v", err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 1 {
		t.Fatalf("the mirror holds %d files", len(files))
	}
	// Without the path: the decoy, never the manifest.
	for _, p := range []string{"/", ep.Path, "/manifest.bin", "/.well-known/samizdat"} {
		if _, body := get(t, ep, p); bytes.Contains(body, m.Manifest()[:64]) {
			t.Errorf("GET %s: the manifest", p)
		}
	}
	if status, body := get(t, ep, channel.MirrorPath(ep)); status != 200 || !bytes.Equal(body, m.Manifest()) {
		t.Fatalf("GET the mirror path: %d", status)
	}

	// A change is served and mirrored at once.
	if _, err := m.Retire("t"); err != nil {
		t.Fatal(err)
	}
	newer := m.Manifest()
	if r.verify(t, newer).Serial <= public.Serial {
		t.Fatal("no newer manifest")
	}
	if got, err := fetch(t, ep); err != nil || !bytes.Equal(got, newer) {
		t.Fatalf("after a change: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, endpoints.ManifestFile)); err != nil || !bytes.Equal(b, newer) {
		t.Fatalf("mirror file after a change: %v", err)
	}
}
