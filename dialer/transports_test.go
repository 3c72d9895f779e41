package dialer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/manifest"
	"samizdat/transport/front"
	"samizdat/transport/front/cdntest"
	"samizdat/transport/wss"
)

// selfSigned returns a TLS config presenting a throwaway certificate for
// names, and its SPKI pin.
func selfSigned(t testing.TB, names ...string) (*tls.Config, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pin := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}}, pin[:]
}

var (
	wssSecret   = []byte("0123456789abcdef0123456789abcdef")
	frontSecret = []byte("fedcba9876543210fedcba9876543210")
)

// transportRelay serves one relay over tcp, wss and front (through a test
// CDN), each behind a blocker proxy, and returns the proxies and the
// candidates in that order.
func transportRelay(t *testing.T) (*testRelay, []*blocktest.Proxy, []Candidate) {
	r := newTestRelay(t)
	b := blocktest.New()
	t.Cleanup(func() { b.Close() })
	add := func(target string) *blocktest.Proxy {
		p, err := b.Add(target)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	pTCP := add(r.listen())

	tlsCfg, wssPin := selfSigned(t, "www.relay.example")
	wl, err := wss.Listen(context.Background(), "127.0.0.1:0", wss.ServerConfig{TLS: tlsCfg, Path: "/ws", Secret: wssSecret})
	if err != nil {
		t.Fatal(err)
	}
	r.serve(wl)
	pWSS := add(wl.Addr().String())

	o := front.NewOrigin(front.OriginConfig{Path: "/f", Secret: frontSecret})
	ol, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: o, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ol)
	r.serve(o)
	cdn, err := cdntest.Start("127.0.0.1:0", cdntest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cdn.Route("hidden.relay.example", "http://"+ol.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(); cdn.Close(); srv.Close() })
	pCDN := add(cdn.Addr())

	cands := []Candidate{
		r.candidate("r1", pTCP.Addr()),
		{RelayID: "r1", RelayKey: r.key.Public, Endpoint: manifest.Endpoint{Transport: "wss", Address: pWSS.Addr(),
			SNI: "www.relay.example", Path: "/ws", Secret: wssSecret, TLSPin: wssPin}},
		{RelayID: "r1", RelayKey: r.key.Public, Endpoint: manifest.Endpoint{Transport: "front", Address: pCDN.Addr(),
			SNI: "cdn.big.example", Host: "hidden.relay.example", Path: "/f", Secret: frontSecret, TLSPin: cdn.Pin()}},
	}
	return r, []*blocktest.Proxy{pTCP, pWSS, pCDN}, cands
}

// TestDialTransports: with tcp reset and the relay's TLS name filtered,
// the race gets through the front, and says how the others failed.
func TestDialTransports(t *testing.T) {
	_, ps, cs := transportRelay(t)
	for i, c := range cs {
		t.Run("open/"+c.Endpoint.Transport, func(t *testing.T) {
			nc, won, err := Dial(context.Background(), Config{Local: clientKey(t)}, cs[i:i+1])
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if won.Endpoint.Transport != c.Endpoint.Transport {
				t.Fatalf("won via %s", won)
			}
			if err := nc.WriteFrame([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if f, err := nc.ReadFrame(); err != nil || string(f) != "pong" {
				t.Fatalf("got %q, %v", f, err)
			}
		})
	}

	ps[0].Set(blocktest.Reset)
	ps[1].FilterSNI("relay.example")
	ps[2].FilterSNI("relay.example") // the front's SNI is the CDN's, so it passes
	var log eventLog
	cfg := Config{Local: clientKey(t), Events: log.add, Stagger: 50 * time.Millisecond, Memory: NewMemory()}
	nc, won, err := Dial(context.Background(), cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if won.Endpoint.Transport != "front" {
		t.Fatalf("won via %s", won)
	}
	if got := log.failures(cs[0].Endpoint.Address); !slices.Equal(got, []FailureClass{ClassReset}) {
		t.Errorf("tcp: %v", got)
	}
	if got := log.failures(cs[1].Endpoint.Address); !slices.Equal(got, []FailureClass{ClassReset}) {
		t.Errorf("wss behind an sni filter: %v", got)
	}
	if ps[1].Counts().Filtered != 1 || ps[2].Counts().Filtered != 0 {
		t.Errorf("filter counts: wss %+v, cdn %+v", ps[1].Counts(), ps[2].Counts())
	}
	// The memory puts the front first next time.
	if o := cfg.Memory.Order(cs); o[0].Endpoint.Transport != "front" {
		t.Errorf("memory order %v", o)
	}
}

// TestDialTransportClasses: a wss endpoint answering as a web site is
// probe-like; a TLS pin mismatch is tls; a front the CDN does not know is
// http.
func TestDialTransportClasses(t *testing.T) {
	_, _, cs := transportRelay(t)
	wrongSecret := cs[1]
	wrongSecret.Endpoint.Secret = []byte("not the secret, not the secret!!")
	wrongPin := cs[1]
	wrongPin.Endpoint.TLSPin = make([]byte, 32)
	unknownHost := cs[2]
	unknownHost.Endpoint.Host = "nobody.example"
	for _, tt := range []struct {
		name string
		c    Candidate
		want FailureClass
	}{
		{"wss wrong secret", wrongSecret, ClassProbeLike},
		{"wss wrong pin", wrongPin, ClassTLS},
		{"front unknown host", unknownHost, ClassHTTP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log eventLog
			_, _, err := Dial(context.Background(), Config{Local: clientKey(t), Events: log.add}, []Candidate{tt.c})
			if err == nil {
				t.Fatal("connected")
			}
			if got := log.failures(tt.c.Endpoint.Address); !slices.Equal(got, []FailureClass{tt.want}) {
				t.Fatalf("classes %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}
