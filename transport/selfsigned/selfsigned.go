// Package selfsigned is the TLS identity of endpoints whose clients pin
// the key instead of trusting a certificate authority (wss endpoints of a
// relay, a user's bridge): one ECDSA P-256 key kept in a file, and
// self-signed certificates minted on demand for whatever server name a
// client sends, all for that key, so one SPKI pin covers every name.
// Certificates last 90 days and are minted again a day before they end.
package selfsigned

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"sync"
	"time"

	"samizdat/internal/atomicfile"
)

// Identity is a TLS key kept in a file, with certificates minted for it.
type Identity struct {
	key  *ecdsa.PrivateKey
	pin  []byte // SHA-256 of the SubjectPublicKeyInfo
	rand io.Reader
	now  func() time.Time

	mu    sync.Mutex
	certs map[string]*tls.Certificate
}

// Load reads the key in path (PKCS #8 PEM), or creates it (mode 0600).
// rand and now may be nil (crypto/rand, time.Now).
func Load(path string, rand io.Reader, now func() time.Time) (*Identity, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id, err := Parse(b, rand, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return id, nil
	case errors.Is(err, fs.ErrNotExist):
		id, err := New(rand, now)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(path, id.MarshalKey(), 0o600); err != nil {
			return nil, fmt.Errorf("selfsigned: storing the tls key: %w", err)
		}
		return id, nil
	default:
		return nil, fmt.Errorf("selfsigned: reading the tls key: %w", err)
	}
}

// New makes an identity with a new key (to hand on with MarshalKey: a
// bridge's credential). rand and now may be nil (crypto/rand, time.Now).
func New(rand io.Reader, now func() time.Time) (*Identity, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("selfsigned: generating the tls key: %w", err)
	}
	return fromKey(key, rand, now)
}

// errBadKey is wrapped by every reason Parse refuses a key.
var errBadKey = errors.New("selfsigned: bad key")

// Parse reads a key as MarshalKey writes it (PKCS #8 PEM). rand and now
// may be nil (crypto/rand, time.Now).
func Parse(pemKey []byte, rand io.Reader, now func() time.Time) (*Identity, error) {
	blk, _ := pem.Decode(pemKey)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: no private key", errBadKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: bad private key", errBadKey)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: not an ecdsa P-256 key", errBadKey)
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	return fromKey(key, rand, now)
}

func fromKey(key *ecdsa.PrivateKey, rand io.Reader, now func() time.Time) (*Identity, error) {
	if now == nil {
		now = time.Now
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("selfsigned: encoding the tls key: %w", err)
	}
	pin := sha256.Sum256(spki)
	return &Identity{key: key, pin: pin[:], rand: rand, now: now, certs: make(map[string]*tls.Certificate)}, nil
}

// MarshalKey returns the private key as PKCS #8 PEM, as Load keeps it in
// its file. It is secret.
func (t *Identity) MarshalKey() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(t.key)
	if err != nil {
		panic("selfsigned: a P-256 key does not encode: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Pin is the SHA-256 of the key's SubjectPublicKeyInfo, which clients pin
// (manifest.Endpoint.TLSPin).
func (t *Identity) Pin() []byte { return bytes.Clone(t.pin) }

// Config returns a TLS server config that presents a certificate for
// whatever name the client asks for (defaultName when it sends none). The
// transport sets the versions.
func (t *Identity) Config(defaultName string) *tls.Config {
	return &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := hello.ServerName
			if name == "" {
				name = defaultName
			}
			return t.cert(name)
		},
	}
}

// maxCerts bounds the per-name certificate cache against probes that
// send many names.
const maxCerts = 256

func (t *Identity) cert(name string) (*tls.Certificate, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.certs[name]; ok && t.now().Before(c.Leaf.NotAfter.Add(-24*time.Hour)) {
		return c, nil
	}
	serial := make([]byte, 16)
	if _, err := io.ReadFull(t.rand, serial); err != nil {
		return nil, err
	}
	now := t.now()
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(90 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if name != "" {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(t.rand, tmpl, tmpl, &t.key.PublicKey, t.key)
	if err != nil {
		return nil, fmt.Errorf("selfsigned: minting a certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: t.key, Leaf: leaf}
	if len(t.certs) >= maxCerts {
		clear(t.certs)
	}
	t.certs[name] = c
	return c, nil
}
