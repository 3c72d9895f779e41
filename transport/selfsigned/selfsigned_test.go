package selfsigned

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadKeepsTheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tls-key.pem")
	a, err := Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode().Perm())
	}
	b, err := Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Pin(), b.Pin()) || len(a.Pin()) != 32 {
		t.Fatal("the pin changed when the key was loaded again")
	}
	// A certificate for any name, for the pinned key.
	for _, name := range []string{"www.example.org", ""} {
		c, err := b.Config("default.example").GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		want := name
		if want == "" {
			want = "default.example"
		}
		if leaf.Subject.CommonName != want || !leaf.NotAfter.After(time.Now().Add(80*24*time.Hour)) {
			t.Fatalf("certificate for %q: %s until %v", name, leaf.Subject.CommonName, leaf.NotAfter)
		}
		if pin := sha256.Sum256(leaf.RawSubjectPublicKeyInfo); !bytes.Equal(pin[:], a.Pin()) {
			t.Fatal("the certificate is not for the pinned key")
		}
	}
}

func TestLoadRefusesDamagedKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tls-key.pem")
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, err := Load(path, nil, nil); err == nil {
		t.Fatal("loaded a damaged key file")
	}
}

// mint returns the chain minted for name at now.
func mint(t *testing.T, id *Identity, name string) []*x509.Certificate {
	t.Helper()
	c, err := id.Config("").GetCertificate(&tls.ClientHelloInfo{ServerName: name})
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// TestShape: the certificates take the shape's key type, names, issuer,
// chain, validity and serial length, and the dates of an anchored shape
// do not move when the key is loaded again (a restart).
func TestShape(t *testing.T) {
	anchor := time.Date(2025, 11, 3, 7, 0, 0, 0, time.UTC)
	shape := Shape{
		Key:         P384,
		Subject:     Name{Organization: "Brightwater Media", Country: "NL"},
		Issuer:      &Name{CommonName: "Brightwater Media Internal CA", Organization: "Brightwater Media"},
		Chain:       true,
		Anchor:      anchor,
		Validity:    397 * 24 * time.Hour,
		Renew:       200 * 24 * time.Hour,
		SerialBytes: 11,
	}
	now := anchor.Add(250 * 24 * time.Hour) // in the second period
	clock := func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "tls-key.pem")
	id, err := LoadShape(path, shape, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	chain := mint(t, id, "www.example.org")
	leaf := chain[0]
	if len(chain) != 2 {
		t.Fatalf("chain of %d", len(chain))
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve.Params().Name != "P-384" {
		t.Errorf("key %T", leaf.PublicKey)
	}
	if got := leaf.Subject.String(); got != "CN=www.example.org,O=Brightwater Media,C=NL" {
		t.Errorf("subject %s", got)
	}
	if got := leaf.Issuer.String(); got != "CN=Brightwater Media Internal CA,O=Brightwater Media" || got != chain[1].Subject.String() {
		t.Errorf("issuer %s, issuer's certificate %s", got, chain[1].Subject)
	}
	if err := leaf.CheckSignatureFrom(chain[1]); err != nil {
		t.Errorf("the leaf is not signed by the issuer: %v", err)
	}
	if selfSigned(leaf) {
		t.Error("the leaf is signed by its own key")
	}
	if want := anchor.Add(200 * 24 * time.Hour); !leaf.NotBefore.Equal(want) || !leaf.NotAfter.Equal(want.Add(397*24*time.Hour)) {
		t.Errorf("valid %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	if n := len(leaf.SerialNumber.Bytes()); n != 11 {
		t.Errorf("serial of %d bytes", n)
	}
	if pin := sha256.Sum256(leaf.RawSubjectPublicKeyInfo); !bytes.Equal(pin[:], id.Pin()) {
		t.Error("the leaf is not for the pinned key")
	}

	// A restart: the same key, issuer and dates.
	again, err := LoadShape(path, shape, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	chain2 := mint(t, again, "www.example.org")
	if !chain2[0].NotBefore.Equal(leaf.NotBefore) || !bytes.Equal(chain2[1].RawSubjectPublicKeyInfo, chain[1].RawSubjectPublicKeyInfo) ||
		!chain2[1].NotBefore.Equal(chain[1].NotBefore) || !bytes.Equal(again.Pin(), id.Pin()) {
		t.Error("a restart changed the certificates' key, issuer or dates")
	}

	// The next period brings a new certificate.
	now = anchor.Add(410 * 24 * time.Hour)
	if nb := mint(t, id, "www.example.org")[0].NotBefore; !nb.Equal(anchor.Add(400 * 24 * time.Hour)) {
		t.Errorf("next period from %v", nb)
	}
}

// TestShapeKeysAndIssuers: every key type works, and without an issuer
// the certificate is self-issued and alone.
func TestShapeKeysAndIssuers(t *testing.T) {
	for _, key := range []string{P256, P384, RSA2048} {
		t.Run(key, func(t *testing.T) {
			id, err := LoadShape(filepath.Join(t.TempDir(), "k.pem"), Shape{Key: key}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			chain := mint(t, id, "a.example")
			if len(chain) != 1 || chain[0].Issuer.String() != chain[0].Subject.String() {
				t.Fatalf("chain %d, issuer %s", len(chain), chain[0].Issuer)
			}
			if !selfSigned(chain[0]) {
				t.Fatal("not signed by its own key")
			}
			// with an issuer but no chain, the leaf is alone and not self-signed
			id, err = LoadShape(filepath.Join(t.TempDir(), "k.pem"), Shape{Key: key, Issuer: &Name{CommonName: "X CA"}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			chain = mint(t, id, "a.example")
			if len(chain) != 1 || chain[0].Issuer.CommonName != "X CA" || selfSigned(chain[0]) {
				t.Fatalf("chain %d, issuer %s", len(chain), chain[0].Issuer)
			}
		})
	}
}

// selfSigned reports whether c is signed by its own key.
func selfSigned(c *x509.Certificate) bool {
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// TestMarshalParse: a key handed on (a bridge's credential) is the same
// key, with the same pin; anything else is refused.
func TestMarshalParse(t *testing.T) {
	a, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(a.MarshalKey(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Pin(), b.Pin()) {
		t.Fatal("the pin changed through MarshalKey and Parse")
	}
	path := filepath.Join(t.TempDir(), "tls-key.pem")
	os.WriteFile(path, a.MarshalKey(), 0o600)
	if c, err := Load(path, nil, nil); err != nil || !bytes.Equal(c.Pin(), a.Pin()) {
		t.Fatalf("Load of a marshalled key: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("not a key"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")} {
		if _, err := Parse(bad, nil, nil); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}
