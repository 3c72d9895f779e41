package endpoints_test

import (
	"context"
	"encoding/hex"
	"net"
	"testing"

	"samizdat/manifest"
	"samizdat/transport/front"
	"samizdat/transport/front/cdntest"
)

func frontTo(e manifest.Endpoint) dialer {
	return func(ctx context.Context) (net.Conn, error) {
		return front.Dial(ctx, front.ClientConfig{Address: e.Address, SNI: e.SNI, Host: e.Host, Path: e.Path, Secret: e.Secret, TLSPin: e.TLSPin})
	}
}

func TestFrontEndpoint(t *testing.T) {
	for _, buffer := range []bool{false, true} {
		t.Run(map[bool]string{false: "stream", true: "poll"}[buffer], func(t *testing.T) {
			cdn, err := cdntest.Start("127.0.0.1:0", cdntest.Config{Buffer: buffer})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cdn.Close() })
			r := newRelay(t)
			m := r.start(t, nil, "tcp://127.0.0.1:0?name=t",
				"front://127.0.0.1:0?name=f&sni=innocuous.example&host=hidden.example&address="+cdn.Addr()+"&tls_pin="+hex.EncodeToString(cdn.Pin()))
			var origin string
			for _, i := range m.List() {
				if i.Name == "f" {
					origin = i.Listen
				}
			}
			if err := cdn.Route("hidden.example", "http://"+origin); err != nil {
				t.Fatal(err)
			}
			var ep manifest.Endpoint
			for _, e := range r.verify(t, m.Manifest()).Relays[0].Endpoints {
				if e.Transport == "front" {
					ep = e
				}
			}
			if ep.Address != cdn.Addr() || ep.SNI != "innocuous.example" || ep.Host != "hidden.example" || len(ep.Secret) != 32 || len(ep.TLSPin) != 32 {
				t.Fatalf("front endpoint: %v", ep)
			}
			c := registerVia(t, frontTo(ep), r.keys.Noise.Public, "alice")
			first := r.verify(t, c.nextManifest())
			if _, err := m.Retire("t"); err != nil {
				t.Fatal(err)
			}
			if got := r.verify(t, c.nextManifest()); got.Serial <= first.Serial || len(got.Relays[0].Endpoints) != 1 {
				t.Fatalf("after retire: %v", got)
			}
			for _, req := range cdn.Requests() {
				if req.SNI != "innocuous.example" || req.Host != "hidden.example" {
					t.Fatalf("CDN saw %+v", req)
				}
			}
		})
	}
}
