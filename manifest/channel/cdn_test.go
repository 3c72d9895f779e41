package channel_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/transport/front/cdntest"
)

// A fetch through the transports' test CDN: the CDN sees the innocuous
// SNI and routes on the Host header to a mirror that is not reachable
// directly.
func TestFrontThroughCDN(t *testing.T) {
	blob := sign(t, serial(6))
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/m.bin" {
			http.NotFound(w, r)
			return
		}
		w.Write(blob)
	}))
	defer origin.Close()
	cdn, err := cdntest.Start("127.0.0.1:0", cdntest.Config{Buffer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cdn.Close()
	if err := cdn.Route("hidden-mirror.example", origin.URL); err != nil {
		t.Fatal(err)
	}
	d := &mapDial{addrs: map[string]string{"edge.cdn.example:443": cdn.Addr()}}
	ep := manifest.Endpoint{Transport: "front", Address: "edge.cdn.example:443", SNI: "www.innocuous.example", Host: "hidden-mirror.example", TLSPin: cdn.Pin()}
	got, err := channel.Front(ep, "/m.bin", d.dial).Fetch(ctxT(t))
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("front: %v", err)
	}
	reqs := cdn.Requests()
	if len(reqs) != 1 || reqs[0].SNI != "www.innocuous.example" || reqs[0].Host != "hidden-mirror.example" {
		t.Fatalf("the CDN saw %+v", reqs)
	}
}
