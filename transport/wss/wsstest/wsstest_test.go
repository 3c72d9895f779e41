package wsstest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"samizdat/transport/decoy/decoytest"
	"samizdat/transport/selfsigned"
	"samizdat/transport/wss"
	"samizdat/transport/wss/wsstest"
)

// TestUpgrade: a real wss listener opens a tunnel for Upgrade with a good
// cookie, and gives the decoy to the same cookie again and to none.
func TestUpgrade(t *testing.T) {
	id, err := selfsigned.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	const path = "/ws"
	l, err := wss.Listen(context.Background(), "127.0.0.1:0", wss.ServerConfig{TLS: id.Config("www.example.com"), Path: path, Secret: secret, Decoy: decoytest.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, err := wss.Cookie(secret, path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tok string
		want      int
	}{{"good token", tok, http.StatusSwitchingProtocols}, {"replay", tok, http.StatusNotFound}, {"no token", "", http.StatusNotFound}} {
		status, body, err := wsstest.Upgrade(ctx, l.Addr().String(), "www.example.com", id.Pin(), path, tc.tok)
		if err != nil || status != tc.want || (status == http.StatusNotFound && body == "") {
			t.Errorf("%s: status %d, body of %d bytes, %v; want %d", tc.name, status, len(body), err, tc.want)
		}
	}
	other, _ := selfsigned.New(nil, nil)
	if _, _, err := wsstest.Upgrade(ctx, l.Addr().String(), "www.example.com", other.Pin(), path, ""); err == nil {
		t.Error("a certificate that is not the pinned one was taken")
	}
}
