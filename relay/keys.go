package relay

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/session/curve"
	"samizdat/session/sealed"
)

// KeysFile is the name of the file, in a relay's data directory, that
// holds its secret keys.
const KeysFile = "keys.json"

// serverCertificateKeyID names the relay's sealed-sender server key in the
// certificates it issues. (libsignal revokes a few well-known ids; 1 is not
// one of them.)
const serverCertificateKeyID = 1

// Keys are a relay's long-term secrets: its Noise static key (clients pin
// the public half), the network's Ed25519 key (which certifies the node
// keys that sign manifests), and the sealed-sender trust root with the
// server certificate it signed. A single-relay network keeps them all in
// the relay's data directory. Network is nil where the operator keeps the
// network key offline and hands each node a delegation certificate
// instead. Keys never print.
type Keys struct {
	RelayID              string
	Noise                noisechan.KeyPair
	Network              ed25519.PrivateKey
	TrustRoot            curve.KeyPair
	ServerCertificate    *sealed.ServerCertificate
	ServerCertificateKey curve.PrivateKey
}

// String hides the keys.
func (k Keys) String() string { return "relay.Keys{" + k.RelayID + "}" }

// GoString hides the keys.
func (k Keys) GoString() string { return k.String() }

// keysJSON is the keys file's format, version 1.
type keysJSON struct {
	Version              int    `json:"version"`
	RelayID              string `json:"relay_id"`
	NoisePrivate         []byte `json:"noise_private"`
	NetworkSeed          []byte `json:"network_ed25519_seed,omitempty"` // absent: the network key is offline
	TrustRootPrivate     []byte `json:"trust_root_private"`
	ServerCertificateKey []byte `json:"server_certificate_private"`
	ServerCertificate    []byte `json:"server_certificate"`
}

// GenerateKeys creates fresh relay keys.
func GenerateKeys(rand io.Reader) (Keys, error) {
	var k Keys
	var err error
	if k.Noise, err = noisechan.GenerateKeyPair(rand); err != nil {
		return k, fmt.Errorf("relay: noise key: %w", err)
	}
	if _, k.Network, err = ed25519.GenerateKey(rand); err != nil {
		return k, fmt.Errorf("relay: network key: %w", err)
	}
	if k.TrustRoot, err = curve.GenerateKeyPair(rand); err != nil {
		return k, fmt.Errorf("relay: trust root: %w", err)
	}
	signer, err := curve.GenerateKeyPair(rand)
	if err != nil {
		return k, fmt.Errorf("relay: server certificate key: %w", err)
	}
	k.ServerCertificateKey = signer.Private
	if k.ServerCertificate, err = sealed.NewServerCertificate(serverCertificateKeyID, signer.Public, k.TrustRoot.Private, rand); err != nil {
		return k, fmt.Errorf("relay: server certificate: %w", err)
	}
	k.RelayID = "relay-" + hex.EncodeToString(k.Noise.Public[:4])
	return k, nil
}

// LoadOrCreateKeys reads dir/KeysFile, or on first start creates dir (mode
// 0700) and the file (mode 0600) with fresh keys. created says which.
func LoadOrCreateKeys(dir string, rand io.Reader) (k Keys, created bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, KeysFile)); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Keys{}, false, fmt.Errorf("relay: creating data directory: %w", err)
		}
	}
	return LoadOrCreateKeysFile(filepath.Join(dir, KeysFile), rand)
}

// LoadOrCreateKeysFile reads the keys file at path, or creates it (mode
// 0600; its directory must exist) with fresh keys. Several relay nodes
// starting at once with the same path all end up with the same keys: the
// file is created exclusively, and a node that loses the race reads the
// winner's. created says whether this call wrote the file.
func LoadOrCreateKeysFile(path string, rand io.Reader) (k Keys, created bool, err error) {
	return loadOrCreateKeysFile(path, rand, true)
}

// LoadOrCreateNodeKeysFile is LoadOrCreateKeysFile for a node of a
// network whose key is kept offline: keys it creates hold no network key.
// A file that holds one is read as it is.
func LoadOrCreateNodeKeysFile(path string, rand io.Reader) (k Keys, created bool, err error) {
	return loadOrCreateKeysFile(path, rand, false)
}

func loadOrCreateKeysFile(path string, rand io.Reader, network bool) (k Keys, created bool, err error) {
	for range 2 {
		k, err = ReadKeysFile(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return k, false, err
		}
		k, err = GenerateKeys(rand)
		if err != nil {
			return Keys{}, false, err
		}
		if !network {
			k.Network = nil
		}
		err = writeKeys(path, k)
		if err == nil {
			return k, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return Keys{}, false, err
		}
		// Another node created it first: read theirs.
	}
	return Keys{}, false, errors.New("relay: the keys file keeps changing")
}

// ReadKeysFile reads the keys file at path, creating nothing.
func ReadKeysFile(path string) (Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Keys{}, fmt.Errorf("relay: reading keys: %w", err)
	}
	k, err := parseKeys(b)
	if err != nil {
		return Keys{}, fmt.Errorf("relay: %s: %w", path, err)
	}
	return k, nil
}

func parseKeys(b []byte) (Keys, error) {
	var j keysJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Keys{}, errors.New("keys file is not valid json")
	}
	if j.Version != 1 {
		return Keys{}, fmt.Errorf("keys file version %d is not supported", j.Version)
	}
	var k Keys
	k.RelayID = j.RelayID
	if len(j.NoisePrivate) != 32 {
		return Keys{}, errors.New("bad noise key")
	}
	xk, err := ecdh.X25519().NewPrivateKey(j.NoisePrivate)
	if err != nil {
		return Keys{}, errors.New("bad noise key")
	}
	copy(k.Noise.Private[:], j.NoisePrivate)
	copy(k.Noise.Public[:], xk.PublicKey().Bytes())
	switch len(j.NetworkSeed) {
	case 0: // kept offline
	case ed25519.SeedSize:
		k.Network = ed25519.NewKeyFromSeed(j.NetworkSeed)
	default:
		return Keys{}, errors.New("bad network key")
	}
	root, err := curve.NewPrivateKey(j.TrustRootPrivate)
	if err != nil {
		return Keys{}, errors.New("bad trust root key")
	}
	k.TrustRoot = curve.KeyPair{Private: root, Public: root.PublicKey()}
	if k.ServerCertificateKey, err = curve.NewPrivateKey(j.ServerCertificateKey); err != nil {
		return Keys{}, errors.New("bad server certificate key")
	}
	if k.ServerCertificate, err = sealed.ParseServerCertificate(j.ServerCertificate); err != nil {
		return Keys{}, errors.New("bad server certificate")
	}
	if err := k.ServerCertificate.Validate(k.TrustRoot.Public); err != nil || !k.ServerCertificate.Key().Equal(k.ServerCertificateKey.PublicKey()) {
		return Keys{}, errors.New("server certificate does not match the keys")
	}
	if k.RelayID == "" {
		return Keys{}, errors.New("no relay id")
	}
	return k, nil
}

// networkSeed is key's seed, or nil if there is no key.
func networkSeed(key ed25519.PrivateKey) []byte {
	if key == nil {
		return nil
	}
	return key.Seed()
}

// writeKeys creates path with k, atomically with mode 0600; if path exists
// it fails with an error wrapping fs.ErrExist and leaves it alone.
func writeKeys(path string, k Keys) error {
	b, err := json.MarshalIndent(keysJSON{
		Version:              1,
		RelayID:              k.RelayID,
		NoisePrivate:         k.Noise.Private[:],
		NetworkSeed:          networkSeed(k.Network),
		TrustRootPrivate:     k.TrustRoot.Private.Bytes(),
		ServerCertificateKey: k.ServerCertificateKey.Bytes(),
		ServerCertificate:    k.ServerCertificate.Bytes(),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("relay: encoding keys: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keys-*")
	if err != nil {
		return fmt.Errorf("relay: writing keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("relay: writing keys: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("relay: writing keys: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("relay: writing keys: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("relay: writing keys: %w", err)
	}
	// A hard link, unlike a rename, never replaces a file that another
	// node created meanwhile.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("relay: writing keys: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Invite returns an invite to a one-relay network named network, reached
// at endpoints, with a manifest signed now and valid for ttl.
func (k Keys) Invite(network string, endpoints []manifest.Endpoint, now time.Time, ttl time.Duration) (manifest.Invite, error) {
	m := &manifest.Manifest{
		Network: network,
		Serial:  uint64(max(now.Unix(), 1)),
		Issued:  now,
		Expires: now.Add(ttl),
		Relays: []manifest.Relay{{
			ID:        k.RelayID,
			NoiseKey:  k.Noise.Public,
			Endpoints: endpoints,
		}},
		TrustRoot: k.TrustRoot.Public.Bytes(),
	}
	blob, err := manifest.Sign(m, k.Network)
	if err != nil {
		return manifest.Invite{}, fmt.Errorf("relay: signing manifest: %w", err)
	}
	return manifest.Invite{NetworkKey: k.Network.Public().(ed25519.PublicKey), Manifest: blob}, nil
}
