package wss

import (
	"context"
	mrand "math/rand/v2"
	"net"
	"testing"
	"time"

	"samizdat/transport/internal/token"
	"samizdat/transport/transporttest"
)

// TestTokenFloodFromOneAddress: a holder of the endpoint's secret
// presents more valid, distinct tokens from one address than the replay
// cache could hold (it used to refuse every token once 65,536 were
// remembered). The flooder is held to its share; a real client on
// loopback still opens its tunnel.
func TestTokenFloodFromOneAddress(t *testing.T) {
	ln, cfg, _ := start(t)
	defer ln.Close()
	l := ln.(*listener)
	flooder := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 40000}
	nonces := mrand.NewChaCha8([32]byte{1}) // cheaper than crypto/rand for a flood
	accepted := 0
	const n = 70000
	for i := range n {
		now := time.Now()
		tok, err := token.New(secret, path, now.Add(-token.Window+2*token.Window*time.Duration(i)/n), nonces)
		if err != nil {
			t.Fatal(err)
		}
		req := upgradeRequest(t, path, tok)
		req = req.WithContext(context.WithValue(req.Context(), remoteAddrKey{}, net.Addr(flooder)))
		if _, ok := l.authorized(req); ok {
			accepted++
		}
	}
	if accepted == 0 || accepted == n {
		t.Fatalf("the flooder had %d of %d tokens accepted; want some, not all", accepted, n)
	}
	transporttest.Opens(t, ln, Dialer{Config: cfg}, cfg.Address)
}
