package wss

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"samizdat/transport/internal/testcert"
)

// TestKeyring: each caller opens the tunnel with its own secret and is
// named on the accepted conn; a removed or unknown secret gets the decoy.
func TestKeyring(t *testing.T) {
	cert, err := testcert.New("www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	kr := NewKeyring(path)
	alice, bob := []byte("alice-secret-0123456789abcdef012"), []byte("bob-secret-0123456789abcdef01234")
	if err := kr.Set("alice", alice); err != nil {
		t.Fatal(err)
	}
	if err := kr.Set("bob", bob); err != nil {
		t.Fatal(err)
	}
	if err := kr.Set("nobody", nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("empty secret: %v", err)
	}
	if _, err := Listen(context.Background(), "127.0.0.1:0", ServerConfig{TLS: cert.ServerConfig(), Path: "/other", Keyring: kr}); !errors.Is(err, ErrConfig) {
		t.Fatalf("keyring for another path: %v", err)
	}
	l, err := Listen(context.Background(), "127.0.0.1:0", ServerConfig{TLS: cert.ServerConfig(), Path: path, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := acceptAll(l, 4)
	cfg := ClientConfig{Address: l.Addr().String(), SNI: "www.example.com", Path: path, TLSPin: cert.Pin}
	dial := func(secret []byte) (net.Conn, error) {
		c := cfg
		c.Secret = secret
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return Dial(ctx, c)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
	}{{"alice", alice}, {"bob", bob}} {
		c, err := dial(tc.secret)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		defer c.Close()
		sc := <-accepted
		defer sc.Close()
		cc, ok := sc.(*CallerConn)
		if !ok || cc.Caller != tc.name {
			t.Fatalf("accepted %T %+v; want a CallerConn for %s", sc, sc, tc.name)
		}
	}
	kr.Remove("bob")
	if kr.Len() != 1 {
		t.Fatalf("Len %d", kr.Len())
	}
	if _, err := dial(bob); !errors.Is(err, ErrRejected) {
		t.Fatalf("removed secret: %v", err)
	}
	if _, err := dial([]byte("a stranger's secret 0123456789ab")); !errors.Is(err, ErrRejected) {
		t.Fatalf("unknown secret: %v", err)
	}
}
