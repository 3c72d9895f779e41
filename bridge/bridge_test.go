package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samizdat/transport/selfsigned"
	"samizdat/transport/wss"
)

func TestOfferCheck(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	good := Offer{Network: "net", RelayID: "relay-1", Address: "127.0.0.1:7600", SNI: "www.example.com", Path: "/abc",
		Secret: make([]byte, 32), TLSPin: make([]byte, 32), Expires: now.Add(24 * time.Hour)}
	if err := good.Check("net", now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Offer)
		want string
	}{
		{"other network", func(o *Offer) { o.Network = "elsewhere" }, "for network"},
		{"expired", func(o *Offer) { o.Expires = now.Add(-time.Second) }, "expired"},
		{"too long", func(o *Offer) { o.Expires = now.Add(60 * 24 * time.Hour) }, "longer than"},
		{"no port", func(o *Offer) { o.Address = "127.0.0.1" }, "not host:port"},
		{"bad port", func(o *Offer) { o.Address = "127.0.0.1:0" }, "no valid port"},
		{"short secret", func(o *Offer) { o.Secret = o.Secret[:16] }, "secret of 16 bytes"},
		{"no pin", func(o *Offer) { o.TLSPin = nil }, "certificate pin"},
		{"bad path", func(o *Offer) { o.Path = "abc" }, "path"},
		{"bad sni", func(o *Offer) { o.SNI = "a b" }, "server name"},
		{"no relay", func(o *Offer) { o.RelayID = "" }, "relay id"},
	} {
		o := good
		o.Secret, o.TLSPin = bytes.Clone(good.Secret), bytes.Clone(good.TLSPin)
		tc.mod(&o)
		err := o.Check("net", now)
		if !errors.Is(err, ErrBadOffer) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	withdraw := Offer{Network: "net"}
	if !withdraw.Withdrawn() || withdraw.Check("net", now) != nil || withdraw.Check("other", now) == nil {
		t.Error("a withdrawal is checked for its network only")
	}
}

// echoRelay stands in for the relay: it echoes every stream.
func echoRelay(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func startBridge(t *testing.T, cfg Config) *Server {
	t.Helper()
	relay := echoRelay(t)
	id, err := selfsigned.Load(filepath.Join(t.TempDir(), "key.pem"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	cfg.Listen, cfg.Identity, cfg.Key = []string{"127.0.0.1:0"}, id, key
	if cfg.Upstream == nil {
		cfg.Upstream = func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", relay)
		}
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dialOffer(o Offer) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ep := o.Endpoint()
	return wss.Dial(ctx, wss.ClientConfig{Address: ep.Address, SNI: ep.SNI, Host: ep.Host, Path: ep.Path, Secret: ep.Secret, TLSPin: ep.TLSPin})
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

// TestBridgeCarries: an allowed contact's tunnel reaches the relay; a
// stranger and a denied contact get the decoy; a contact over its limit is
// refused without touching the others.
func TestBridgeCarries(t *testing.T) {
	s := startBridge(t, Config{PerCaller: 1})
	addr := s.Addrs()[0].String()
	exp := time.Now().Add(time.Hour)
	alice, err := s.Allow("alice", "net", "relay-1", addr, exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Check("net", time.Now()); err != nil {
		t.Fatalf("the bridge's own offer: %v", err)
	}
	bob, _ := s.Allow("bob", "net", "relay-1", addr, exp)
	if bytes.Equal(alice.Secret, bob.Secret) {
		t.Fatal("two contacts share a secret")
	}
	c, err := dialOffer(alice)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "hello relay")

	// A second tunnel of alice's is over her limit: closed at once.
	c2, err := dialOffer(alice)
	if err == nil {
		c2.SetReadDeadline(time.Now().Add(time.Minute))
		if n, rerr := c2.Read(make([]byte, 1)); rerr == nil {
			t.Fatalf("a tunnel over the limit carried %d bytes", n)
		}
		c2.Close()
	}
	// Bob is not limited by alice.
	cb, err := dialOffer(bob)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, cb, "bob here")
	cb.Close()

	stranger := alice
	stranger.Secret = bytes.Repeat([]byte{7}, 32)
	if _, err := dialOffer(stranger); !errors.Is(err, wss.ErrRejected) {
		t.Fatalf("stranger: %v", err)
	}
	s.Deny("bob")
	if _, err := dialOffer(bob); !errors.Is(err, wss.ErrRejected) {
		t.Fatalf("denied contact: %v", err)
	}
	roundTrip(t, c, "alice still here")
	st := s.Stats()
	if st.Refused < 1 || st.Tunnels < 2 || st.Bytes < int64(2*len("hello relay")) {
		t.Fatalf("stats %+v", st)
	}
}

// TestBridgeRate: a contact's bytes per second are bounded (a lower bound
// on the time, which no load can break).
func TestBridgeRate(t *testing.T) {
	s := startBridge(t, Config{Rate: 16 << 10})
	o, _ := s.Allow("alice", "net", "relay-1", s.Addrs()[0].String(), time.Now().Add(time.Hour))
	c, err := dialOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := bytes.Repeat([]byte("x"), 64<<10)
	start := time.Now()
	go c.Write(payload)
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if _, err := io.ReadFull(c, make([]byte, len(payload))); err != nil {
		t.Fatal(err)
	}
	// 64 KiB each way at 16 KiB/s with a 16 KiB burst: at least 3 s.
	if took := time.Since(start); took < 2500*time.Millisecond {
		t.Fatalf("64 KiB went through in %v at 16 KiB/s", took)
	}
}

func TestBridgeUpstreamDown(t *testing.T) {
	s := startBridge(t, Config{Upstream: func(ctx context.Context) (net.Conn, error) { return nil, errors.New("blocked") }})
	o, _ := s.Allow("alice", "net", "relay-1", s.Addrs()[0].String(), time.Now().Add(time.Hour))
	c, err := dialOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a tunnel without a relay stream stayed open")
	}
	if s.Stats().Upstream != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
}
