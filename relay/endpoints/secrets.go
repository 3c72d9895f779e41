package endpoints

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Files in the relay's data directory.
const (
	SecretsFile  = "endpoint-secrets.json" // generated endpoint secrets and paths (0600)
	TLSKeyFile   = "tls-key.pem"           // the wss endpoints' TLS key (0600)
	SerialFile   = "manifest-serial"       // the last manifest serial used
	ManifestFile = "manifest.bin"          // the newest signed manifest, for mirrors
	AdminFile    = "endpoints-admin.json"  // endpoints added and retired by the admin command
	SocketFile   = "admin.sock"            // the admin socket (0600)
)

// generated is what the relay made up for one endpoint and keeps.
type generated struct {
	Secret []byte `json:"secret"`
	Path   string `json:"path"`
}

// secrets holds the generated secrets of every endpoint by name.
type secrets struct {
	path string
	rand io.Reader
	mu   sync.Mutex
	m    map[string]generated
}

func loadSecrets(dir string, rand io.Reader) (*secrets, error) {
	s := &secrets{path: filepath.Join(dir, SecretsFile), rand: rand, m: make(map[string]generated)}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("endpoints: reading secrets: %w", err)
	}
	if err := json.Unmarshal(b, &s.m); err != nil {
		return nil, fmt.Errorf("endpoints: %s is not valid json", s.path)
	}
	return s, nil
}

// get returns the endpoint's generated secret and path, creating and
// storing them on first use.
func (s *secrets) get(name string) (generated, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.m[name]; ok && len(g.Secret) >= 16 && strings.HasPrefix(g.Path, "/") {
		return g, nil
	}
	b := make([]byte, 32+6)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return generated{}, fmt.Errorf("endpoints: generating a secret: %w", err)
	}
	g := generated{Secret: b[:32], Path: "/" + hex.EncodeToString(b[32:])}
	s.m[name] = g
	out, err := json.MarshalIndent(s.m, "", "  ")
	if err != nil {
		return generated{}, err
	}
	if err := writeFileAtomic(s.path, append(out, '\n'), 0o600); err != nil {
		delete(s.m, name)
		return generated{}, fmt.Errorf("endpoints: storing secrets: %w", err)
	}
	return g, nil
}

// tlsIdentity is the relay's TLS key for wss endpoints. Certificates are
// self-signed and minted per server name on demand, all for the same key,
// so one SPKI pin covers every name.
type tlsIdentity struct {
	key  *ecdsa.PrivateKey
	pin  []byte // SHA-256 of the SubjectPublicKeyInfo
	rand io.Reader
	now  func() time.Time

	mu    sync.Mutex
	certs map[string]*tls.Certificate
}

// loadTLS reads dir/TLSKeyFile or creates it.
func loadTLS(dir string, rand io.Reader, now func() time.Time) (*tlsIdentity, error) {
	path := filepath.Join(dir, TLSKeyFile)
	var key *ecdsa.PrivateKey
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("endpoints: %s: no private key", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("endpoints: %s: bad private key", path)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("endpoints: %s: not an ecdsa key", path)
		}
		key = ek
	case errors.Is(err, fs.ErrNotExist):
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand)
		if err != nil {
			return nil, fmt.Errorf("endpoints: generating the tls key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("endpoints: encoding the tls key: %w", err)
		}
		if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("endpoints: storing the tls key: %w", err)
		}
	default:
		return nil, fmt.Errorf("endpoints: reading the tls key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("endpoints: encoding the tls key: %w", err)
	}
	pin := sha256.Sum256(spki)
	return &tlsIdentity{key: key, pin: pin[:], rand: rand, now: now, certs: make(map[string]*tls.Certificate)}, nil
}

// config returns a TLS server config that presents a certificate for
// whatever name the client asks for (defaultName when it sends none). The
// transport sets the versions.
func (t *tlsIdentity) config(defaultName string) *tls.Config {
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

func (t *tlsIdentity) cert(name string) (*tls.Certificate, error) {
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
		return nil, fmt.Errorf("endpoints: minting a certificate: %w", err)
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

// readSerial returns the last serial stored in dir, or 0.
func readSerial(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, SerialFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("endpoints: reading the manifest serial: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("endpoints: %s is not a number", SerialFile)
	}
	return n, nil
}

// writeSerial stores n durably before any manifest carries it.
func writeSerial(dir string, n uint64) error {
	if err := writeFileAtomic(filepath.Join(dir, SerialFile), []byte(strconv.FormatUint(n, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("endpoints: storing the manifest serial: %w", err)
	}
	return nil
}

// writeFileAtomic writes b to path through a synced temporary file and a
// rename, so that a reader or a crash sees the old file or the new one.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
