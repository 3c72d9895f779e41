// Package channeltest runs manifest channels on loopback for tests: an
// HTTPS mirror (which can also stand in for a CDN edge, to test fetches
// through a front) and a DNS-over-HTTPS resolver serving TXT records.
// Both use a fresh self-signed certificate; tests pin its key (Pin) or
// trust it (CertPool). They can be told to fail or to lie, to play a
// censor's part.
package channeltest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// server is the TLS part shared by Mirror and DoH.
type server struct {
	srv  *httptest.Server
	cert *x509.Certificate

	seenMu sync.Mutex
	seen   []Request // guarded by seenMu
}

// Request is what a test server saw of one request.
type Request struct {
	SNI    string // TLS server name the client sent
	Host   string // HTTP Host header
	Method string
	Path   string
}

// start serves h with TLS on ln, or on a new loopback listener if ln is
// nil, for a certificate naming names (and 127.0.0.1).
func (s *server) start(ln net.Listener, h http.Handler, names []string) {
	cert, leaf := selfSigned(names)
	s.cert = leaf
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni := ""
		if r.TLS != nil {
			sni = r.TLS.ServerName
		}
		s.seenMu.Lock()
		s.seen = append(s.seen, Request{SNI: sni, Host: r.Host, Method: r.Method, Path: r.URL.Path})
		s.seenMu.Unlock()
		h.ServeHTTP(w, r)
	})
	if ln == nil {
		s.srv = httptest.NewUnstartedServer(handler)
	} else {
		s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler}}
	}
	// Clients refusing the certificate is what some tests are about.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.srv.StartTLS()
}

// Addr returns the server's host:port on loopback.
func (s *server) Addr() string { return s.srv.Listener.Addr().String() }

// Pin returns the SHA-256 of the server certificate's
// SubjectPublicKeyInfo, as manifests' TLSPin fields hold it.
func (s *server) Pin() []byte {
	sum := sha256.Sum256(s.cert.RawSubjectPublicKeyInfo)
	return sum[:]
}

// CertPool returns a pool that trusts the server's certificate.
func (s *server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.cert)
	return p
}

// Requests returns what the server has seen so far.
func (s *server) Requests() []Request {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	return append([]Request(nil), s.seen...)
}

// Close stops the server and waits for its handlers.
func (s *server) Close() { s.srv.Close() }

func selfSigned(names []string) (tls.Certificate, *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("channeltest: " + err.Error())
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "channeltest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic("channeltest: " + err.Error())
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic("channeltest: " + err.Error())
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// Mirror is an HTTPS server that serves blobs at paths, like a manifest
// mirror on a shared host. Requests may carry any SNI and Host, so it also
// stands in for a CDN edge in tests of fetches through a front (check
// Requests to see what the client sent); with RequireHost it answers 404
// unless the Host header matches, as a CDN routing on Host would.
type Mirror struct {
	server

	mu     sync.Mutex
	files  map[string][]byte // guarded by mu
	status map[string]int    // guarded by mu
	host   string            // guarded by mu
}

// NewMirror starts a mirror on loopback whose certificate names names
// (plus 127.0.0.1). Close it when done.
func NewMirror(names ...string) *Mirror { return NewMirrorOn(nil, names...) }

// NewMirrorOn is NewMirror serving on ln (an in-memory listener, say);
// nil means a new loopback listener.
func NewMirrorOn(ln net.Listener, names ...string) *Mirror {
	m := &Mirror{files: map[string][]byte{}, status: map[string]int{}}
	m.start(ln, http.HandlerFunc(m.serve), names)
	return m
}

// Put serves body at path from now on.
func (m *Mirror) Put(path string, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[path] = append([]byte(nil), body...)
}

// Fail makes path answer with an HTTP status (0 serves normally again).
func (m *Mirror) Fail(path string, status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if status == 0 {
		delete(m.status, path)
	} else {
		m.status[path] = status
	}
}

// RequireHost makes the mirror answer 404 to requests whose Host header is
// not host ("" accepts any).
func (m *Mirror) RequireHost(host string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.host = host
}

// URL returns the https URL of path on the mirror.
func (m *Mirror) URL(path string) string { return m.srv.URL + path }

func (m *Mirror) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	body, ok := m.files[r.URL.Path]
	status := m.status[r.URL.Path]
	host := m.host
	m.mu.Unlock()
	switch {
	case host != "" && r.Host != host:
		http.NotFound(w, r)
	case status != 0:
		http.Error(w, http.StatusText(status), status)
	case !ok:
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}
}
