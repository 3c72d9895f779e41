package wss

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"samizdat/transport/internal/testcert"
)

// Files answers plain GETs and HEADs for the paths it knows; every other
// request, an upgrade to such a path included, gets the decoy.
func TestFiles(t *testing.T) {
	cert, err := testcert.New("www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte("\x08\x01signed manifest bytes")
	const file = "/b0mAqvF3Ycgk3dGQkqUe2w"
	l, err := Listen(context.Background(), "127.0.0.1:0", ServerConfig{
		TLS: cert.ServerConfig(), Path: path, Secret: secret,
		Files: func(p string) []byte {
			if p == file {
				return blob
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	req := func(method, p string) *http.Request {
		r, _ := http.NewRequest(method, "https://www.example.com"+p, nil)
		return r
	}
	resp, body := probe(t, addr, req(http.MethodGet, file))
	if resp.StatusCode != 200 || body != string(blob) || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET %s: %d %q %v", file, resp.StatusCode, body, resp.Header)
	}
	resp, body = probe(t, addr, req(http.MethodHead, file))
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len(blob)) {
		t.Fatalf("HEAD: %d %q %d", resp.StatusCode, body, resp.ContentLength)
	}
	for _, r := range []*http.Request{
		req(http.MethodGet, "/"),
		req(http.MethodGet, file+"x"),
		req(http.MethodGet, strings.ToLower(file)),
		req(http.MethodPost, file),
		upgradeRequest(t, file, ""),
	} {
		resp, body := probe(t, addr, r)
		if bytes.Contains([]byte(body), blob) || resp.Header.Get("Content-Type") == "application/octet-stream" {
			t.Errorf("%s %s: the file, not the decoy", r.Method, r.URL.Path)
		}
	}
}
