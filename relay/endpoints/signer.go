package endpoints

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"samizdat/internal/atomicfile"
	"samizdat/manifest"
)

// Files in the data directory for signing manifests.
const (
	NodeKeyFile    = "node-key.pem"   // this node's manifest signing key (0600)
	DelegationFile = "delegation.txt" // the node key's certificate by the network key
)

// DefaultDelegationTTL is how long a certificate that a relay holding the
// network key makes for its own node key is valid. It renews it when a
// third of that is left.
const DefaultDelegationTTL = 30 * 24 * time.Hour

// signer signs a node's manifests with its node key under the network
// key's certificate for it. With the network key at hand it certifies its
// node key itself and renews the certificate before it lapses; without,
// it reads the certificate the operator made offline from a file, again
// whenever refresh runs, so a renewed one is taken without a restart.
// Its fields after log are guarded by the Manager's mu.
type signer struct {
	key     ed25519.PrivateKey // the node key
	network ed25519.PrivateKey // nil: the network key is offline
	netPub  ed25519.PublicKey  // the network key; nil until the first certificate when offline and not given
	name    string             // the network's name
	path    string             // the certificate file
	ttl     time.Duration      // of the certificates it makes
	log     *slog.Logger

	cert []byte
	d    *manifest.Delegation
	next time.Time // when refresh next has something to do
}

// recheck is how soon refresh runs again when a renewal is due but did not
// happen (the operator has not copied a new certificate yet, or writing
// one failed).
const recheck = time.Hour

// newSigner loads or creates the node key (unless opts gives one).
func newSigner(opts Options, network string, log *slog.Logger) (*signer, error) {
	s := &signer{network: opts.Keys.Network, name: network, path: opts.DelegationFile, ttl: opts.DelegationTTL, log: log}
	if s.path == "" {
		s.path = filepath.Join(opts.Dir, DelegationFile)
	}
	if s.ttl <= 0 {
		s.ttl = DefaultDelegationTTL
	}
	switch {
	case s.network != nil:
		if len(s.network) != ed25519.PrivateKeySize {
			return nil, configErrorf("the network key is not an Ed25519 key")
		}
		s.netPub = s.network.Public().(ed25519.PublicKey)
		if opts.NetworkKey != nil && !s.netPub.Equal(opts.NetworkKey) {
			return nil, configErrorf("the keys file holds another network key than the one given")
		}
	case opts.NetworkKey != nil:
		s.netPub = opts.NetworkKey
	}
	if s.key = opts.NodeKey; s.key == nil {
		var err error
		if s.key, err = loadOrCreateNodeKey(filepath.Join(opts.Dir, NodeKeyFile), opts.Rand); err != nil {
			return nil, err
		}
	}
	if len(s.key) != ed25519.PrivateKeySize {
		return nil, configErrorf("the node key is not an Ed25519 key")
	}
	return s, nil
}

// loadOrCreateNodeKey reads the node key at path, or creates it.
func loadOrCreateNodeKey(path string, rand io.Reader) (ed25519.PrivateKey, error) {
	k, err := manifest.ReadSigningKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	_, k, err = ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("endpoints: generating the node key: %w", err)
	}
	note := "samizdat node signing key (Ed25519, PKCS #8): signs this node's manifests under the\nnetwork key's delegation. Keep it on this node.\n\n"
	if err := manifest.WriteSigningKey(path, k, note); err != nil {
		return nil, err
	}
	return k, nil
}

// nodePub is the node key's public half.
func (s *signer) nodePub() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// renewAt is when a certificate is due for renewal: when a third of its
// life is left.
func renewAt(d *manifest.Delegation) time.Time {
	return d.NotAfter.Add(-d.NotAfter.Sub(d.NotBefore) / 3)
}

// due is when refresh next has something to do.
func (s *signer) due() time.Time { return s.next }

// refresh makes sure the signer holds a certificate valid at now and
// reports whether it changed. With the network key it makes a new one
// when there is none or a third of its life is left; without, it re-reads
// the file and takes a different valid certificate that lasts longer, and
// fails once the one it holds has lapsed, saying how to renew it.
func (s *signer) refresh(now time.Time) (bool, error) {
	changed, err := s.refreshAt(now)
	s.next = now.Add(recheck)
	if s.d != nil && err == nil && renewAt(s.d).After(now) {
		s.next = renewAt(s.d)
	}
	return changed, err
}

func (s *signer) refreshAt(now time.Time) (bool, error) {
	if s.network != nil {
		return s.renewOwn(now)
	}
	cert, d, ferr := s.readFile()
	if ferr == nil && d != nil && !bytes.Equal(cert, s.cert) {
		if ferr = s.check(cert, d, now); ferr == nil && (s.d == nil || d.NotAfter.After(s.d.NotAfter)) {
			s.adopt(cert, d)
			return true, nil
		}
	}
	if ferr != nil && s.d != nil {
		s.log.Warn("the delegation file is not usable; keeping the delegation held", "file", s.path, "err", ferr)
	}
	if s.d == nil {
		if ferr == nil {
			ferr = fmt.Errorf("%s is missing", s.path)
		}
		return false, configErrorf("no usable delegation for this node's key (%v); make one where the network key is kept:\n  %s\nand copy it to %s", ferr, s.command(), s.path)
	}
	if err := s.d.CheckTime(now); err != nil {
		return false, configErrorf("%v; renew it where the network key is kept:\n  %s\nand copy it to %s", err, s.command(), s.path)
	}
	if !now.Before(renewAt(s.d)) {
		s.log.Warn("the delegation of this node's key will lapse; renew it", "until", s.d.NotAfter, "file", s.path, "command", s.command())
	}
	return false, nil
}

// renewOwn certifies the node key with the network key when needed.
func (s *signer) renewOwn(now time.Time) (bool, error) {
	if s.d != nil && now.Before(renewAt(s.d)) {
		return false, nil
	}
	if s.d == nil {
		// After a restart: the certificate made before, if still good.
		if cert, d, err := s.readFile(); err == nil && d != nil && s.check(cert, d, now) == nil && now.Before(renewAt(d)) {
			s.adopt(cert, d)
			return true, nil
		}
	}
	cert, err := manifest.Delegate(manifest.Delegation{Network: s.name, NodeKey: s.nodePub(), NotBefore: now, NotAfter: now.Add(s.ttl)}, s.network)
	if err != nil {
		return false, fmt.Errorf("endpoints: delegating the node key: %w", err)
	}
	text, err := manifest.MarshalDelegationText(cert)
	if err != nil {
		return false, err
	}
	if err := atomicfile.Write(s.path, text, 0o644); err != nil {
		return false, fmt.Errorf("endpoints: writing the delegation: %w", err)
	}
	d, err := manifest.ParseDelegation(cert)
	if err != nil {
		return false, err
	}
	s.adopt(cert, d)
	s.log.Info("delegated this node's key", "node_key", manifest.KeyID(d.NodeKey), "until", d.NotAfter)
	return true, nil
}

func (s *signer) adopt(cert []byte, d *manifest.Delegation) {
	s.cert, s.d = cert, d
	if s.netPub == nil {
		s.netPub = d.NetworkKey
	}
}

// check reports whether d (whose encoding is cert) can sign at now: for
// this node key, this network and the network key, and valid.
func (s *signer) check(cert []byte, d *manifest.Delegation, now time.Time) error {
	if !d.NodeKey.Equal(s.nodePub()) {
		return fmt.Errorf("it certifies node key %s, not this node's", manifest.KeyID(d.NodeKey))
	}
	netPub := s.netPub
	if netPub == nil {
		netPub = d.NetworkKey
	}
	_, err := manifest.VerifyDelegation(cert, netPub, s.name, now)
	return err
}

// readFile reads the certificate file; a missing file is no certificate
// and no error.
func (s *signer) readFile() ([]byte, *manifest.Delegation, error) {
	cert, d, err := manifest.ReadDelegation(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	return cert, d, err
}

// command is the command line that makes this node's certificate.
func (s *signer) command() string {
	return fmt.Sprintf("samizdat manifest delegate --network-key NETWORK.key --node-key %s --network %s --for 30d --out %s",
		manifest.KeyID(s.nodePub()), s.name, filepath.Base(s.path))
}

// sign signs m with the node key under the certificate.
func (s *signer) sign(m *manifest.Manifest) ([]byte, error) {
	if s.cert == nil {
		return nil, configErrorf("no delegation for this node's key")
	}
	return manifest.SignDelegated(m, s.key, s.cert)
}
