package selfsigned

import (
	"bytes"
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
