package front

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"samizdat/transport/decoy/decoytest"
	"samizdat/transport/internal/token"
)

func post(o *Origin, body []byte, tok string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, tunnelPath, bytes.NewReader(body))
	if tok != "" {
		req.Header.Set("Cookie", cookieName+"="+tok)
	}
	w := httptest.NewRecorder()
	o.ServeHTTP(w, req)
	return w
}

func TestOriginIdleAndReplay(t *testing.T) {
	o := NewOrigin(OriginConfig{Path: tunnelPath, Secret: secret, IdleTimeout: 100 * time.Millisecond, Decoy: decoytest.Handler()})
	defer o.Close()
	accepted := acceptOne(o)
	tok, _ := token.New(secret, tunnelPath, time.Now(), rand.Reader)
	open := request{op: opOpen, sid: [sidSize]byte{1}}.marshal()
	if w := post(o, open, tok); w.Code != http.StatusOK {
		t.Fatalf("open: %d", w.Code)
	}
	c := <-accepted
	defer c.Close()

	// the same token again, for another session: a replay, so the decoy
	replay := request{op: opOpen, sid: [sidSize]byte{2}}.marshal()
	if w := post(o, replay, tok); w.Code != http.StatusNotFound || w.Header().Get("Server") != decoytest.Profile.Server {
		t.Fatalf("replayed open: %d %v", w.Code, w.Header())
	}

	// nobody polls: the session expires and the relay side sees it end
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, errIdle) {
		t.Fatalf("got %v, want the idle error", err)
	}
	// and the session id no longer opens anything
	push := request{op: opPush, sid: [sidSize]byte{1}, data: []byte("x")}.marshal()
	if w := post(o, push, ""); w.Code == http.StatusOK {
		t.Fatal("push to an expired session accepted")
	}
}

func TestNetDialUsed(t *testing.T) {
	e := setup(t, false, Poll)
	go func() {
		if c, err := e.origin.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	real := e.cfg.Address
	var (
		mu     sync.Mutex
		dialed []string
	)
	e.cfg.Address = "198.51.100.9:443"
	e.cfg.NetDial = func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, network+" "+address)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, real)
	}
	c, err := Dial(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) == 0 {
		t.Fatal("NetDial not used")
	}
	for _, d := range dialed {
		if d != "tcp 198.51.100.9:443" {
			t.Fatalf("dialed %q", d)
		}
	}
}

func TestListenOrigin(t *testing.T) {
	l, err := ListenOrigin(context.Background(), "127.0.0.1:0", OriginConfig{Path: tunnelPath, Secret: secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := setup(t, false, Auto)
	e.cdn.Route("other-relay.example", "http://"+l.Addr().String())
	e.cfg.Host = "other-relay.example"
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			io.Copy(c, c)
		}
	}()
	c, err := Dial(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("%q %v", buf, err)
	}
}
