package manifest

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"samizdat/internal/atomicfile"
)

// Keeper holds the newest manifest a client has accepted, on disk, and
// decides whether a newly offered one replaces it. It is safe for
// concurrent use; manifests from every channel go through Offer.
type Keeper struct {
	path    string
	key     ed25519.PublicKey
	network string // "" until the first manifest when opened with ""

	mu   sync.Mutex
	cur  *Manifest // guarded by mu; nil before the first
	blob []byte    // guarded by mu; cur's signed blob
}

// OpenKeeper opens the keeper whose state is the file at path (the signed
// blob of the newest accepted manifest). A missing file means none yet. A
// stored manifest must verify under networkKey and name network; it may
// have expired since (it still sets the serial floor, and its channels
// still name where to look for a newer one). network "" accepts the
// network of the first manifest held and then sticks to it.
func OpenKeeper(path string, networkKey ed25519.PublicKey, network string) (*Keeper, error) {
	if len(networkKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadKey, len(networkKey))
	}
	k := &Keeper{path: path, key: bytes.Clone(networkKey), network: network}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("manifest: keeper: %w", err)
	}
	defer f.Close()
	blob, err := io.ReadAll(io.LimitReader(f, MaxBlobSize+1))
	if err != nil {
		return nil, fmt.Errorf("manifest: keeper: %w", err)
	}
	m, err := open(blob, k.key)
	if err != nil {
		return nil, fmt.Errorf("manifest: keeper: stored manifest %s: %w", path, err)
	}
	if k.network == "" {
		k.network = m.Network
	}
	if err := m.checkNetwork(k.network); err != nil {
		return nil, fmt.Errorf("manifest: keeper: stored manifest %s: %w", path, err)
	}
	k.cur, k.blob = m, blob
	return k, nil
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
// contact, or to write into an invite).
func (k *Keeper) Blob() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return bytes.Clone(k.blob)
}

// Network returns the network the keeper accepts ("" if it was opened
// with "" and holds nothing yet).
func (k *Keeper) Network() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.network
}

// Offer considers blob, from any channel. It accepts it only if the
// signature verifies under the network key (else ErrBadSignature,
// ErrMalformed, ErrUnsupportedVersion or ErrInvalid), it names the
// keeper's network (else ErrWrongNetwork), its serial is greater than the
// current one (else ErrRollback, "serial 41 is not newer than 42"), and it
// is valid at now (else ErrExpired or ErrNotYetValid). An accepted
// manifest is written to disk atomically before Offer returns it and
// becomes Current. If the write fails, nothing changes and the error says
// so.
func (k *Keeper) Offer(blob []byte, now time.Time) (*Manifest, error) {
	m, err := open(blob, k.key)
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
	if k.cur != nil && m.Serial <= k.cur.Serial {
		if m.Serial == k.cur.Serial && bytes.Equal(blob, k.blob) {
			return nil, fmt.Errorf("%w: serial %d is the current one", ErrRollback, m.Serial)
		}
		return nil, fmt.Errorf("%w: serial %d is not newer than %d", ErrRollback, m.Serial, k.cur.Serial)
	}
	if err := m.CheckTime(now); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(k.path, blob, 0o600); err != nil {
		return nil, fmt.Errorf("manifest: keeper: %w", err)
	}
	k.network = network
	k.cur, k.blob = m, bytes.Clone(blob)
	return m, nil
}
