package channel_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/manifest/channel/channeltest"
)

// A relay's wss endpoint serves the manifest at a path only its secret
// names; other transports and endpoints without a secret serve none.
func TestMirrorPath(t *testing.T) {
	ep := manifest.Endpoint{Transport: "wss", Address: "192.0.2.1:443", Secret: []byte("secret one")}
	p := channel.MirrorPath(ep)
	if !strings.HasPrefix(p, "/") || len(p) != 23 || p != channel.MirrorPath(ep) {
		t.Fatalf("path %q", p)
	}
	other := ep
	other.Secret = []byte("secret two")
	if channel.MirrorPath(other) == p {
		t.Fatal("two secrets, one path")
	}
	moved := ep
	moved.Address, moved.Path = "198.51.100.7:8443", "/ws"
	if channel.MirrorPath(moved) != p {
		t.Fatal("the path depends on more than the secret")
	}
	for _, none := range []manifest.Endpoint{
		{Transport: "wss", Address: "192.0.2.1:443"},
		{Transport: "tcp", Address: "192.0.2.1:443", Secret: []byte("x")},
		{Transport: "front", Address: "192.0.2.1:443", Host: "h", Secret: []byte("x")},
	} {
		if channel.MirrorPath(none) != "" || channel.Relay(none, nil) != nil {
			t.Errorf("%s: a mirror path", none)
		}
	}
}

// Relay fetches from the endpoint as its tunnel is dialed: its address,
// SNI, Host and pin; its name and errors never show the path.
func TestRelay(t *testing.T) {
	srv := channeltest.NewMirror("relay.example")
	defer srv.Close()
	blob := sign(t, serial(4))
	ep := manifest.Endpoint{Transport: "wss", Address: "203.0.113.5:443", SNI: "relay.example", Host: "relay.example",
		Path: "/tunnel", Secret: []byte("endpoint secret"), TLSPin: srv.Pin()}
	path := channel.MirrorPath(ep)
	srv.Put(path, blob)
	d := &mapDial{addrs: map[string]string{ep.Address: srv.Addr()}}
	ctx := ctxT(t)
	src := channel.Relay(ep, d.dial)
	got, err := src.Fetch(ctx)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("fetch: %v", err)
	}
	reqs := srv.Requests()
	if last := reqs[len(reqs)-1]; last.SNI != "relay.example" || last.Host != "relay.example" || last.Path != path {
		t.Fatalf("the relay saw %+v", last)
	}
	if strings.Contains(src.Name(), path) {
		t.Fatalf("the name %q shows the path", src.Name())
	}
	srv.Fail(path, 404)
	if _, err := src.Fetch(ctx); !errors.Is(err, channel.ErrNotFound) || strings.Contains(err.Error(), path) {
		t.Fatalf("missing: %v", err)
	}
	d.addrs = nil
	if _, err := src.Fetch(ctx); err == nil || strings.Contains(err.Error(), path) {
		t.Fatalf("unreachable: %v", err)
	}
	ep.TLSPin = bytes.Repeat([]byte{1}, 32)
	d.addrs = map[string]string{ep.Address: srv.Addr()}
	srv.Fail(path, 0)
	if _, err := channel.Relay(ep, d.dial).Fetch(ctx); !errors.Is(err, channel.ErrTLSPin) {
		t.Fatalf("wrong pin: %v", err)
	}
}
