package endpoints_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"samizdat/manifest"
	"samizdat/relay/endpoints"
	"samizdat/transport/wss"
)

func wssTo(e manifest.Endpoint) dialer {
	return func(ctx context.Context) (net.Conn, error) {
		return wss.Dial(ctx, wss.ClientConfig{Address: e.Address, SNI: e.SNI, Host: e.Host, Path: e.Path, Secret: e.Secret, TLSPin: e.TLSPin})
	}
}

func TestWSSEndpoint(t *testing.T) {
	r := newRelay(t)
	m := r.start(t, nil, "wss://127.0.0.1:0?sni=www.example.org&name=w", "tcp://127.0.0.1:0?name=t")
	man := r.verify(t, m.Manifest())
	var ep manifest.Endpoint
	for _, e := range man.Relays[0].Endpoints {
		if e.Transport == "wss" {
			ep = e
		}
	}
	if ep.SNI != "www.example.org" || ep.Host != "www.example.org" || len(ep.Secret) != 32 || len(ep.TLSPin) != 32 || len(ep.Path) < 2 {
		t.Fatalf("wss endpoint: %v", ep)
	}

	// A client that follows the manifest gets through, and gets it pushed.
	c := registerVia(t, wssTo(ep), r.keys.Noise.Public, "alice")
	if got := r.verify(t, c.nextManifest()); got.Serial != man.Serial {
		t.Fatalf("pushed serial %d", got.Serial)
	}

	// The certificate is for the name asked and carries the pinned key.
	for _, name := range []string{"www.example.org", "other.example"} {
		conn, err := tls.Dial("tcp", ep.Address, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		cert := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		pin := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		if !bytes.Equal(pin[:], ep.TLSPin) || cert.VerifyHostname(name) != nil {
			t.Fatalf("%s: certificate for %v, pin mismatch %v", name, cert.DNSNames, !bytes.Equal(pin[:], ep.TLSPin))
		}
	}
	if fi, err := os.Stat(filepath.Join(r.dir, endpoints.TLSKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tls key file: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(r.dir, endpoints.SecretsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v", err)
	}

	// Without the secret the tunnel does not open.
	bad := ep
	bad.Secret = bytes.Repeat([]byte{1}, 32)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := wssTo(bad)(ctx); err == nil {
		conn.Close()
		t.Fatal("tunnel opened with a wrong secret")
	}

	// A restart keeps the secret, path and pin; retiring closes it.
	m.Close()
	m2 := r.start(t, nil, "wss://127.0.0.1:0?sni=www.example.org&name=w", "tcp://127.0.0.1:0?name=t")
	var ep2 manifest.Endpoint
	for _, e := range r.verify(t, m2.Manifest()).Relays[0].Endpoints {
		if e.Transport == "wss" {
			ep2 = e
		}
	}
	if !bytes.Equal(ep2.Secret, ep.Secret) || ep2.Path != ep.Path || !bytes.Equal(ep2.TLSPin, ep.TLSPin) {
		t.Fatal("restart changed the wss secret, path or pin")
	}
	c2 := registerVia(t, wssTo(ep2), r.keys.Noise.Public, "bob")
	c2.nextManifest()
	if _, err := m2.Retire("w"); err != nil {
		t.Fatal(err)
	}
	if got := r.verify(t, c2.nextManifest()); len(got.Relays[0].Endpoints) != 1 || got.Relays[0].Endpoints[0].Transport != "tcp" {
		t.Fatalf("after retiring wss: %v", got)
	}
	if conn, err := net.DialTimeout("tcp", ep2.Address, time.Second); err == nil {
		conn.Close()
		t.Fatal("retired wss endpoint still listens")
	}
}
