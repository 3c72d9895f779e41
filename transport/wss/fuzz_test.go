package wss

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"samizdat/clock"
	"samizdat/transport/decoy/decoytest"
	"samizdat/transport/internal/token"
)

// FuzzServeHTTP sends requests with arbitrary paths and cookies to the
// tunnel handler: none may open a tunnel, and all get the decoy.
func FuzzServeHTTP(f *testing.F) {
	f.Add(path, "sid=AAAA")
	f.Add("/", "")
	f.Add(path, "sid="+strings.Repeat("A", token.Len))
	v, err := token.NewVerifier(secret, path)
	if err != nil {
		f.Fatal(err)
	}
	l := &listener{path: path, verify: v, decoy: decoytest.Handler(), closed: make(chan struct{}), clk: clock.Real}
	f.Fuzz(func(t *testing.T, p, cookie string) {
		req := httptest.NewRequest(http.MethodGet, "https://www.example.com/", nil)
		req.URL.Path = p
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		w := httptest.NewRecorder()
		l.ServeHTTP(w, req)
		if w.Code == http.StatusSwitchingProtocols || w.Header().Get("Server") != decoytest.Profile.Server {
			t.Fatalf("status %d for %q %q", w.Code, p, cookie)
		}
	})
}
