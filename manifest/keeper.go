package manifest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"samizdat/internal/atomicfile"
)

// RevokedSuffix names the file, beside a Keeper's, that lists the node
// keys the network key has revoked.
const RevokedSuffix = ".revoked"

// maxRevokedFile bounds the revoked list read from disk.
const maxRevokedFile = 1 << 20

// Keeper holds the newest manifest a client has accepted, on disk, and
// decides whether a newly offered one replaces it. It also remembers every
// node key that a manifest signed by the network key revoked, in the file
// at its path plus RevokedSuffix, and refuses the manifests of those keys
// from then on. It is safe for concurrent use; manifests from every
// channel go through Offer.
type Keeper struct {
	path    string
	key     ed25519.PublicKey
	network string // "" until the first manifest when opened with ""

	mu      sync.Mutex
	cur     *Manifest           // guarded by mu; nil before the first
	curNode ed25519.PublicKey   // guarded by mu; the node key that signed cur, nil if the network key did
	blob    []byte              // guarded by mu; cur's signed blob
	revoked []ed25519.PublicKey // guarded by mu; as stored
}

// OpenKeeper opens the keeper whose state is the file at path (the signed
// blob of the newest accepted manifest) and the revoked list beside it. A
// missing file means none yet. A stored manifest must verify under
// networkKey and name network; it may have expired since, as may its
// signer's delegation (it still sets the serial floor, its endpoints
// still serve, and its channels still name where to look for a newer
// one). network "" accepts the network of the first manifest held and
// then sticks to it.
func OpenKeeper(path string, networkKey ed25519.PublicKey, network string) (*Keeper, error) {
	if len(networkKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadKey, len(networkKey))
	}
	k := &Keeper{path: path, key: bytes.Clone(networkKey), network: network}
	var err error
	if k.revoked, err = readRevoked(path + RevokedSuffix); err != nil {
		return nil, err
	}
	blob, err := readLimited(path, MaxBlobSize)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("manifest: keeper: %w", err)
	}
	m, d, err := open(blob, k.key)
	if err != nil {
		return nil, fmt.Errorf("manifest: keeper: stored manifest %s: %w", path, err)
	}
	if k.network == "" {
		k.network = m.Network
	}
	if err := m.checkNetwork(k.network); err != nil {
		return nil, fmt.Errorf("manifest: keeper: stored manifest %s: %w", path, err)
	}
	k.cur, k.curNode, k.blob = m, signerOf(d), blob
	return k, nil
}

// readLimited reads the file at path, at most limit+1 bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// readRevoked reads the revoked list at path: one base64 key a line, "#"
// lines are comments. A missing file is an empty list.
func readRevoked(path string) ([]ed25519.PublicKey, error) {
	text, err := readLimited(path, maxRevokedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil && len(text) > maxRevokedFile {
		err = errors.New("too large")
	}
	if err != nil {
		return nil, fmt.Errorf("manifest: keeper: revoked keys %s: %w", path, err)
	}
	var out []ed25519.PublicKey
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("manifest: keeper: revoked keys %s: line %d is not a base64 key", path, i+1)
		}
		out = append(out, ed25519.PublicKey(b))
	}
	return out, nil
}

// signerOf is the node key that d certifies, or nil.
func signerOf(d *Delegation) ed25519.PublicKey {
	if d == nil {
		return nil
	}
	return d.NodeKey
}

// Current returns the newest accepted manifest, or nil if there is none.
// It may have expired since it was accepted; callers that dial check
// Expires (or Verify the Blob) themselves. The caller must not modify it.
func (k *Keeper) Current() *Manifest {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cur
}

// Blob returns the signed blob of Current, or nil (to hand on to a
// contact, or to write into an invite). It carries its delegation.
func (k *Keeper) Blob() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return bytes.Clone(k.blob)
}

// Held returns Current and its Blob together, as one Offer left them:
// nil, nil before the first manifest.
func (k *Keeper) Held() (*Manifest, []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cur, bytes.Clone(k.blob)
}

// Network returns the network the keeper accepts ("" if it was opened
// with "" and holds nothing yet).
func (k *Keeper) Network() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.network
}

// Revoked reports whether the network key has revoked node, as far as the
// keeper has learnt.
func (k *Keeper) Revoked(node ed25519.PublicKey) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.isRevoked(node)
}

func (k *Keeper) isRevoked(node ed25519.PublicKey) bool {
	return node != nil && containsKey(k.revoked, node)
}

func containsKey(list []ed25519.PublicKey, key ed25519.PublicKey) bool {
	return slices.ContainsFunc(list, func(k ed25519.PublicKey) bool { return k.Equal(key) })
}

// Offer considers blob, from any channel. It accepts it only if its chain
// of signatures leads to the network key (else ErrBadSignature,
// ErrBadDelegation, ErrMalformed, ErrUnsupportedVersion or ErrInvalid),
// it names the keeper's network, as does its delegation (else
// ErrWrongNetwork), its signer is not revoked (else ErrRevoked), its
// serial is greater than the current one (else ErrRollback, "serial 41 is
// not newer than 42"), and it and its delegation are valid at now (else
// ErrExpired, ErrNotYetValid, ErrSerialAhead or ErrDelegationExpired). An
// accepted manifest is written to disk atomically before Offer returns it
// and becomes Current. If the write fails, nothing changes and the error
// says so.
//
// Revocations are permanent: those in a manifest signed by the network key
// for the keeper's network are remembered (on disk, before anything else)
// even if the manifest is then refused as older or expired. A current
// manifest whose signer is revoked sets no serial floor, so the network
// key's manifest that revokes it replaces it whatever the serials: a
// stolen node key cannot hold clients with a high serial.
func (k *Keeper) Offer(blob []byte, now time.Time) (*Manifest, error) {
	m, d, err := open(blob, k.key)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	network := k.network
	if network == "" {
		network = m.Network
	}
	if err := m.checkNetwork(network); err != nil {
		return nil, err
	}
	if d != nil && k.isRevoked(d.NodeKey) {
		return nil, fmt.Errorf("%w: node key %s, which signed serial %d", ErrRevoked, KeyID(d.NodeKey), m.Serial)
	}
	added, err := k.remember(m.Revoked)
	if err != nil {
		return nil, err
	}
	if err := k.admit(blob, m, d, now); err != nil {
		if added > 0 {
			err = fmt.Errorf("%w (its revocation of %d node keys is remembered)", err, added)
		}
		return nil, err
	}
	if err := atomicfile.Write(k.path, blob, 0o600); err != nil {
		return nil, fmt.Errorf("manifest: keeper: %w", err)
	}
	k.network = network
	k.cur, k.curNode, k.blob = m, signerOf(d), bytes.Clone(blob)
	return m, nil
}

// admit checks m against the current manifest and the time.
func (k *Keeper) admit(blob []byte, m *Manifest, d *Delegation, now time.Time) error {
	if k.cur != nil && !k.isRevoked(k.curNode) && m.Serial <= k.cur.Serial {
		if m.Serial == k.cur.Serial && bytes.Equal(blob, k.blob) {
			return fmt.Errorf("%w: serial %d is the current one", ErrRollback, m.Serial)
		}
		return fmt.Errorf("%w: serial %d is not newer than %d", ErrRollback, m.Serial, k.cur.Serial)
	}
	return checkTimes(m, d, now)
}

// remember adds the keys in revoked that are new to the list and stores
// it; it returns how many were new.
func (k *Keeper) remember(revoked []ed25519.PublicKey) (int, error) {
	list := k.revoked
	for _, r := range revoked {
		if !containsKey(list, r) {
			list = append(slices.Clip(list), r)
		}
	}
	added := len(list) - len(k.revoked)
	if added == 0 {
		return 0, nil
	}
	var b strings.Builder
	b.WriteString("# node keys revoked by the network key; manifests they sign are refused\n")
	for _, r := range list {
		b.WriteString(KeyID(r) + "\n")
	}
	if err := atomicfile.Write(k.path+RevokedSuffix, []byte(b.String()), 0o600); err != nil {
		return 0, fmt.Errorf("manifest: keeper: storing revoked keys: %w", err)
	}
	k.revoked = list
	return added, nil
}
