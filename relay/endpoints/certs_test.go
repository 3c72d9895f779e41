package endpoints_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"testing"
	"time"

	"samizdat/relay/endpoints"
)

// fakeCA is an endpoints.Certificates with one certificate, for the names
// it was made for, issued by a root of its own.
type fakeCA struct {
	names []string
	roots *x509.CertPool
	cfg   *tls.Config
}

func (f *fakeCA) Manages(name string) bool { return slices.Contains(f.names, name) }
func (f *fakeCA) TLSConfig() *tls.Config   { return f.cfg }

func newFakeCA(t *testing.T, names ...string) *fakeCA {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake root"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = x509.ParseCertificate(rootDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCA{names: names, roots: x509.NewCertPool()}
	f.roots.AddCert(root)
	cert := tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	f.cfg = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }, NextProtos: []string{"acme-tls/1"}}
	return f
}

// TestWSSWithCACertificates checks that a wss endpoint on a name a
// certificate source manages presents its certificate, verified against
// its root without a pin, hands ACME challenge handshakes to it, and
// shows any other name the self-signed certificate.
func TestWSSWithCACertificates(t *testing.T) {
	ca := newFakeCA(t, "relay.example.org")
	r := newRelay(t)
	m := r.start(t, func(o *endpoints.Options) { o.Certificates = ca }, "wss://127.0.0.1:0?sni=relay.example.org&name=w")
	ep := r.verify(t, m.Manifest()).Relays[0].Endpoints[0]
	if len(ep.TLSPin) != 0 || ep.SNI != "relay.example.org" {
		t.Fatalf("announced %+v; want no pin for a CA-certified name", ep)
	}
	conn, err := tls.Dial("tcp", ep.Address, &tls.Config{ServerName: "relay.example.org", RootCAs: ca.roots})
	if err != nil {
		t.Fatalf("verifying the chain: %v", err)
	}
	conn.Close()
	if c, err := tls.Dial("tcp", ep.Address, &tls.Config{ServerName: "other.example", RootCAs: ca.roots}); err == nil {
		c.Close()
		t.Error("another name got the CA's certificate")
	}
	conn, err = tls.Dial("tcp", ep.Address, &tls.Config{ServerName: "relay.example.org", InsecureSkipVerify: true, NextProtos: []string{"acme-tls/1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "acme-tls/1" {
		t.Errorf("a TLS-ALPN-01 handshake negotiated %q", p)
	}
	conn.Close()
}
