package endpoints

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"samizdat/internal/atomicfile"
)

// Files in the relay's data directory.
const (
	SecretsFile  = "endpoint-secrets.json" // generated endpoint secrets and paths (0600)
	TLSKeyFile   = "tls-key.pem"           // the wss endpoints' TLS key (0600)
	SerialFile   = "manifest-serial"       // the last manifest serial used
	ManifestFile = "manifest.bin"          // the newest signed manifest, for mirrors
	AdminFile    = "endpoints-admin.json"  // endpoints added and retired by the admin command
	SocketFile   = "admin.sock"            // the admin socket (0600)
	DisguiseFile = "disguise.json"         // the node's seed and drawn look: decoy profile, certificate shape (0600)
	DecoySiteDir = "decoy-site"            // the generated decoy site, served unless the operator names one
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
	if err := atomicfile.Write(s.path, append(out, '\n'), 0o600); err != nil {
		delete(s.m, name)
		return generated{}, fmt.Errorf("endpoints: storing secrets: %w", err)
	}
	return g, nil
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
	if err := atomicfile.Write(filepath.Join(dir, SerialFile), []byte(strconv.FormatUint(n, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("endpoints: storing the manifest serial: %w", err)
	}
	return nil
}
