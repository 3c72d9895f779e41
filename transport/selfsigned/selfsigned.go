// Package selfsigned is the TLS identity of endpoints whose clients pin
// the key instead of trusting a certificate authority (wss endpoints of a
// relay, a user's bridge): one key kept in a file, and certificates
// minted on demand for whatever server name a client sends, all for that
// key, so one SPKI pin covers every name.
//
// A Shape says how the certificates look: the key's type, the subject's
// attributes besides the name, an issuer other than the subject (signed
// by an issuing key derived from the identity's, with or without the
// issuer's certificate in the chain), the validity period and its
// renewal, and the serial's length. A relay draws its shape per
// deployment (see transport/decoy) so that its certificates share no
// constant with other relays'. The zero Shape is the plain one: ECDSA
// P-256, the name alone as subject and issuer, 16-byte serials, 90 days
// from an hour before minting, minted again a day before they end.
//
// With an anchored Shape the certificates do not depend on when the
// process started: each validity period begins at the anchor plus a
// whole number of renewal periods, so a restart mints certificates with
// the same dates.
package selfsigned

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
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

// Key types a Shape may ask for.
const (
	P256    = "p256"
	P384    = "p384"
	RSA2048 = "rsa2048"
)

// Shape is how an identity's certificates look; zero fields take the
// plain defaults (see the package doc).
type Shape struct {
	// Key is the type of key made when the file holds none: P256 (the
	// default), P384 or RSA2048. A key already in the file is kept.
	Key string `json:"key,omitempty"`
	// Subject holds the subject's attributes besides its common name,
	// which is the requested server name.
	Subject Name `json:"subject,omitzero"`
	// Issuer, if set, names the issuer; nil means the subject.
	Issuer *Name `json:"issuer,omitempty"`
	// Chain sends the issuer's certificate after the leaf.
	Chain bool `json:"chain,omitempty"`
	// Anchor, if set, is when the first validity period begins; each
	// later one begins Renew after the one before. Zero: an hour before
	// each certificate is minted.
	Anchor time.Time `json:"anchor,omitzero"`
	// Validity is how long a certificate is valid; zero means 90 days.
	Validity time.Duration `json:"validity,omitempty"`
	// Renew is the time between anchored validity periods; zero means
	// two thirds of Validity. It must be shorter than Validity.
	Renew time.Duration `json:"renew,omitempty"`
	// SerialBytes is the length of serial numbers; zero means 16.
	SerialBytes int `json:"serial_bytes,omitempty"`
}

// Name is the attributes of a distinguished name.
type Name struct {
	CommonName         string `json:"cn,omitempty"`
	Organization       string `json:"o,omitempty"`
	OrganizationalUnit string `json:"ou,omitempty"`
	Locality           string `json:"l,omitempty"`
	Province           string `json:"st,omitempty"`
	Country            string `json:"c,omitempty"`
}

// pkix returns n as a pkix.Name with common name cn.
func (n Name) pkix(cn string) pkix.Name {
	var p pkix.Name
	p.CommonName = cn
	add := func(dst *[]string, v string) {
		if v != "" {
			*dst = []string{v}
		}
	}
	add(&p.Organization, n.Organization)
	add(&p.OrganizationalUnit, n.OrganizationalUnit)
	add(&p.Locality, n.Locality)
	add(&p.Province, n.Province)
	add(&p.Country, n.Country)
	return p
}

// Identity is a TLS key kept in a file, with certificates minted for it.
type Identity struct {
	key   crypto.Signer
	pin   []byte // SHA-256 of the SubjectPublicKeyInfo
	shape Shape
	rand  io.Reader
	now   func() time.Time

	issuerKey  crypto.Signer     // signs the leaves; key itself without an issuer
	issuer     *x509.Certificate // the issuer's certificate; nil without an issuer
	issuerRaws [][]byte          // sent after the leaf (Shape.Chain)

	mu    sync.Mutex
	certs map[string]minted // guarded by mu
}

// minted is a cached certificate and when to mint it again.
type minted struct {
	cert    *tls.Certificate
	renewAt time.Time
}

// Load reads the key in path (PKCS #8 PEM), or creates it (mode 0600),
// with the plain shape. rand and now may be nil (crypto/rand, time.Now).
func Load(path string, rand io.Reader, now func() time.Time) (*Identity, error) {
	return LoadShape(path, Shape{}, rand, now)
}

// LoadShape is Load with certificates of the given shape.
func LoadShape(path string, shape Shape, rand io.Reader, now func() time.Time) (*Identity, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := parseKey(b)
		if err != nil {
			return nil, fmt.Errorf("selfsigned: %s: %w", path, err)
		}
		return fromKey(key, shape, rand, now)
	case errors.Is(err, fs.ErrNotExist):
		key, err := newKey(shape.Key, rand)
		if err != nil {
			return nil, err
		}
		t, err := fromKey(key, shape, rand, now)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(path, t.MarshalKey(), 0o600); err != nil {
			return nil, fmt.Errorf("selfsigned: storing the tls key: %w", err)
		}
		return t, nil
	default:
		return nil, fmt.Errorf("selfsigned: reading the tls key: %w", err)
	}
}

// New makes an identity with a new P-256 key and the plain shape, kept in
// no file (to hand on with MarshalKey: a bridge's credential). rand and
// now may be nil (crypto/rand, time.Now).
func New(rand io.Reader, now func() time.Time) (*Identity, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	key, err := newKey(P256, rand)
	if err != nil {
		return nil, err
	}
	return fromKey(key, Shape{}, rand, now)
}

// Parse reads a key as MarshalKey writes it (PKCS #8 PEM), for an identity
// of the plain shape. rand and now may be nil (crypto/rand, time.Now).
func Parse(pemKey []byte, rand io.Reader, now func() time.Time) (*Identity, error) {
	key, err := parseKey(pemKey)
	if err != nil {
		return nil, fmt.Errorf("selfsigned: %w", err)
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	return fromKey(key, Shape{}, rand, now)
}

// MarshalKey returns the private key as PKCS #8 PEM, as Load keeps it in
// its file. It is secret.
func (t *Identity) MarshalKey() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(t.key)
	if err != nil {
		panic("selfsigned: a key of a supported type does not encode: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// fromKey makes the identity of key, with certificates of shape.
func fromKey(key crypto.Signer, shape Shape, rand io.Reader, now func() time.Time) (*Identity, error) {
	if now == nil {
		now = time.Now
	}
	if shape.Validity <= 0 {
		shape.Validity = 90 * 24 * time.Hour
	}
	if shape.Renew <= 0 || shape.Renew >= shape.Validity {
		shape.Renew = shape.Validity * 2 / 3
	}
	if shape.SerialBytes <= 0 {
		shape.SerialBytes = 16
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("selfsigned: encoding the tls key: %w", err)
	}
	pin := sha256.Sum256(spki)
	t := &Identity{key: key, pin: pin[:], shape: shape, rand: rand, now: now, issuerKey: key, certs: make(map[string]minted)}
	if shape.Issuer != nil {
		if err := t.makeIssuer(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// parseKey reads a PKCS #8 PEM private key of a supported type.
func parseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("no private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("bad private key")
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	}
	return nil, errors.New("not an ecdsa or rsa key")
}

// newKey makes a key of type kind.
func newKey(kind string, rand io.Reader) (crypto.Signer, error) {
	var key crypto.Signer
	var err error
	switch kind {
	case "", P256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand)
	case P384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand)
	case RSA2048:
		key, err = rsa.GenerateKey(rand, 2048)
	default:
		return nil, fmt.Errorf("selfsigned: unknown key type %q", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("selfsigned: generating the tls key: %w", err)
	}
	return key, nil
}

// makeIssuer derives the issuing key from the identity's key (so it needs
// no file of its own and is the same after a restart) and makes the
// issuer's certificate.
func (t *Identity) makeIssuer() error {
	der, err := x509.MarshalPKCS8PrivateKey(t.key)
	if err != nil {
		return fmt.Errorf("selfsigned: encoding the tls key: %w", err)
	}
	derive := func(label string) []byte {
		m := hmac.New(sha512.New, der)
		m.Write([]byte("samizdat selfsigned: " + label))
		return m.Sum(nil)
	}
	curve, size := elliptic.P256(), 32
	if ek, ok := t.key.(*ecdsa.PrivateKey); ok && ek.Curve == elliptic.P384() {
		curve, size = elliptic.P384(), 48
	}
	ik, err := ecdsa.ParseRawPrivateKey(curve, derive("issuer key")[:size])
	if err != nil {
		return fmt.Errorf("selfsigned: deriving the issuer key: %w", err)
	}
	ipub, err := x509.MarshalPKIXPublicKey(&ik.PublicKey)
	if err != nil {
		return err
	}
	ski := sha256.Sum256(ipub)
	name := *t.shape.Issuer
	anchor := t.shape.Anchor
	if anchor.IsZero() {
		anchor = t.now()
	}
	// The issuer was set up some time before the first leaf, for years.
	lead := time.Duration(binary.BigEndian.Uint64(derive("issuer lead"))%(400*24)) * time.Hour
	tmpl := &x509.Certificate{
		SerialNumber:          serial(derive("issuer serial"), t.shape.SerialBytes),
		Subject:               name.pkix(name.CommonName),
		NotBefore:             anchor.Add(-lead - 24*time.Hour).Truncate(time.Hour),
		NotAfter:              anchor.AddDate(10, 0, 0).Truncate(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski[:20],
	}
	raw, err := x509.CreateCertificate(t.rand, tmpl, tmpl, &ik.PublicKey, ik)
	if err != nil {
		return fmt.Errorf("selfsigned: making the issuer's certificate: %w", err)
	}
	if t.issuer, err = x509.ParseCertificate(raw); err != nil {
		return err
	}
	t.issuerKey = ik
	if t.shape.Chain {
		t.issuerRaws = [][]byte{raw}
	}
	return nil
}

// serial returns a positive serial of n bytes from b (whose first n are
// used), its first byte never zero so that every serial has n bytes.
func serial(b []byte, n int) *big.Int {
	s := bytes.Clone(b[:n])
	if s[0] == 0 {
		s[0] = 1
	}
	return new(big.Int).SetBytes(s)
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

// window returns the validity of a certificate minted at now, and when to
// mint the next one.
func (t *Identity) window(now time.Time) (notBefore, notAfter, renewAt time.Time) {
	if t.shape.Anchor.IsZero() {
		notAfter = now.Add(t.shape.Validity)
		return now.Add(-time.Hour), notAfter, notAfter.Add(-24 * time.Hour)
	}
	k := now.Sub(t.shape.Anchor) / t.shape.Renew
	if now.Before(t.shape.Anchor.Add(k * t.shape.Renew)) {
		k-- // division rounds toward zero; periods before the anchor round down
	}
	notBefore = t.shape.Anchor.Add(k * t.shape.Renew)
	return notBefore, notBefore.Add(t.shape.Validity), notBefore.Add(t.shape.Renew)
}

func (t *Identity) cert(name string) (*tls.Certificate, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if c, ok := t.certs[name]; ok && !now.Before(c.cert.Leaf.NotBefore) && now.Before(c.renewAt) {
		return c.cert, nil
	}
	nb, na, renewAt := t.window(now)
	rnd := make([]byte, t.shape.SerialBytes)
	if _, err := io.ReadFull(t.rand, rnd); err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := t.key.(*rsa.PrivateKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(rnd, len(rnd)),
		Subject:               t.shape.Subject.pkix(name),
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if name != "" {
		tmpl.DNSNames = []string{name}
	}
	parent := tmpl
	if t.issuer != nil {
		parent = t.issuer
	}
	der, err := x509.CreateCertificate(t.rand, tmpl, parent, t.key.Public(), t.issuerKey)
	if err != nil {
		return nil, fmt.Errorf("selfsigned: minting a certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: append([][]byte{der}, t.issuerRaws...), PrivateKey: t.key, Leaf: leaf}
	if len(t.certs) >= maxCerts {
		clear(t.certs)
	}
	t.certs[name] = minted{cert: c, renewAt: renewAt}
	return c, nil
}
