package wss

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"samizdat/transport/internal/testcert"
	"samizdat/transport/internal/token"
	"samizdat/transport/wss/wsstest"
)

// TestDerivedKeyring: the keyring holds no secrets; each path below the
// prefix names its caller and its secret. A path it does not know, a
// wrong secret, a path outside the prefix and a replayed token get the
// decoy; so does a path that secretFor stops knowing (withdrawn).
func TestDerivedKeyring(t *testing.T) {
	cert, err := testcert.New("www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	withdrawn := map[string]bool{}
	secretOf := func(p string) []byte { return []byte("secret of " + p + " 0123456789abcdef") }
	kr := NewDerivedKeyring(path, func(p string, now time.Time) (string, []byte, bool) {
		mu.Lock()
		defer mu.Unlock()
		name := strings.TrimPrefix(p, path+"/")
		if !strings.HasPrefix(name, "callers-") || withdrawn[name] {
			return "", nil, false
		}
		return name, secretOf(p), true
	})
	if _, err := Listen(context.Background(), "127.0.0.1:0", ServerConfig{TLS: cert.ServerConfig(), Path: "/other", Keyring: kr}); !errors.Is(err, ErrConfig) {
		t.Fatalf("keyring for another path: %v", err)
	}
	l, err := Listen(context.Background(), "127.0.0.1:0", ServerConfig{TLS: cert.ServerConfig(), Path: path, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := acceptAll(l, 8)
	addr := l.Addr().String()
	upgrade := func(p, tok string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		status, _, err := wsstest.Upgrade(ctx, addr, "www.example.com", cert.Pin, p, tok)
		if err != nil {
			t.Fatal(err)
		}
		return status
	}
	tokenFor := func(p string, secret []byte) string {
		tok, err := Cookie(secret, p, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice, bob := path+"/callers-alice", path+"/callers-bob"
	for _, p := range []string{alice, bob} {
		c, err := Dial(context.Background(), ClientConfig{Address: addr, SNI: "www.example.com", Path: p, Secret: secretOf(p), TLSPin: cert.Pin})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		defer c.Close()
		sc := <-accepted
		defer sc.Close()
		if cc, ok := sc.(*CallerConn); !ok || cc.Caller != strings.TrimPrefix(p, path+"/") {
			t.Fatalf("accepted %T %+v for %s", sc, sc, p)
		}
	}
	tok := tokenFor(alice, secretOf(alice))
	if got := upgrade(alice, tok); got != http.StatusSwitchingProtocols {
		t.Fatalf("a good token: status %d", got)
	}
	(<-accepted).Close()
	for _, tc := range []struct {
		name, path, tok string
	}{
		{"replayed token", alice, tok},
		{"wrong secret", alice, tokenFor(alice, secretOf(bob))},
		{"bob's token on alice's path", alice, tokenFor(bob, secretOf(bob))},
		{"unknown path", path + "/strangers-eve", tokenFor(path+"/strangers-eve", secretOf(path+"/strangers-eve"))},
		{"the prefix itself", path, tokenFor(path, secretOf(path))},
		{"outside the prefix", path + "x/callers-alice", tokenFor(path+"x/callers-alice", secretOf(path+"x/callers-alice"))},
		{"no token", alice, ""},
	} {
		if got := upgrade(tc.path, tc.tok); got != http.StatusNotFound {
			t.Errorf("%s: status %d, want the decoy's 404", tc.name, got)
		}
	}
	mu.Lock()
	withdrawn["callers-bob"] = true
	mu.Unlock()
	if got := upgrade(bob, tokenFor(bob, secretOf(bob))); got != http.StatusNotFound {
		t.Errorf("withdrawn path: status %d, want the decoy's 404", got)
	}
}

// TestDerivedKeyringForgets: a derived keyring remembers a path's tokens
// only while they could be replayed, and when it holds maxDerived paths
// it refuses new ones (failing closed) until old ones are forgotten; a
// path it remembers still takes fresh tokens.
func TestDerivedKeyringForgets(t *testing.T) {
	kr := NewDerivedKeyring(path, func(p string, _ time.Time) (string, []byte, bool) {
		return p, []byte("secret of " + p), true
	})
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tok := func(p string, at time.Time) string {
		s, err := token.New([]byte("secret of "+p), p, at, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p := func(i int) string { return fmt.Sprintf("%s/%d", path, i) }
	for i := range maxDerived {
		if _, ok := kr.verify(p(i), tok(p(i), t0), t0, token.Source{}); !ok {
			t.Fatalf("path %d refused", i)
		}
	}
	if _, ok := kr.verify(p(maxDerived), tok(p(maxDerived), t0), t0, token.Source{}); ok {
		t.Fatal("a full keyring took a new path")
	}
	if _, ok := kr.verify(p(0), tok(p(0), t0), t0, token.Source{}); !ok {
		t.Fatal("a full keyring refused a fresh token on a path it holds")
	}
	// Once every token taken has expired, the paths are forgotten.
	later := t0.Add(2*token.Window + time.Second)
	if _, ok := kr.verify(p(maxDerived), tok(p(maxDerived), later), later, token.Source{}); !ok {
		t.Fatal("a new path is refused after the old ones expired")
	}
	kr.mu.Lock()
	n := len(kr.derived)
	kr.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d paths remembered, want 1", n)
	}
}
