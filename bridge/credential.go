package bridge

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/bridge/internal/bridgepb"
	"samizdat/internal/atomicfile"
	"samizdat/manifest"
	"samizdat/transport/selfsigned"
)

// ErrBadCredential is wrapped by every reason a credential is refused.
var ErrBadCredential = errors.New("bridge: bad credential")

// credentialType is the PEM-style block type of a credential.
const credentialType = "SAMIZDAT BRIDGE CREDENTIAL"

// credentialVersion is the version of Credential on the wire.
const credentialVersion = 1

// MaxCredentialSize bounds a credential file.
const MaxCredentialSize = 2*manifest.MaxBlobSize + 8192

// Credential is what a bridge needs to run away from the user's home (a
// friend abroad, a VPS), and nothing more: the network it leads to (its
// key and a manifest to start from), the cohort whose endpoints it dials,
// the bridge key and its TLS key. Never the user's identity keys, sessions,
// contacts or messages: whoever takes the machine learns the network's
// (public) manifest and can run or impersonate this one bridge, and that
// is all. The user's home keeps the same bridge key (Issuer) to mint the
// contacts' offers.
type Credential struct {
	Network    string
	NetworkKey ed25519.PublicKey
	Manifest   []byte // signed by NetworkKey
	Cohort     uint32
	Key        []byte // KeySize bytes
	TLSKey     []byte // PKCS #8 PEM (selfsigned.Identity.MarshalKey)
	SNI        string
}

// NewCredential makes the credential of a new bridge, with a new bridge
// key and TLS key from rand, for the network of blob (a manifest signed by
// networkKey) and cohort, whose callers send sni (SNIFor of the new bridge key if empty).
func NewCredential(networkKey ed25519.PublicKey, blob []byte, cohort uint32, sni string, rand io.Reader) (Credential, error) {
	m, err := manifest.Open(blob, networkKey)
	if err != nil {
		return Credential{}, fmt.Errorf("bridge: the network's manifest: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(rand, key); err != nil {
		return Credential{}, err
	}
	if sni == "" {
		sni = SNIFor(key)
	}
	id, err := selfsigned.New(rand, nil)
	if err != nil {
		return Credential{}, err
	}
	c := Credential{Network: m.Network, NetworkKey: bytes.Clone(networkKey), Manifest: bytes.Clone(blob), Cohort: cohort,
		Key: key, TLSKey: id.MarshalKey(), SNI: sni}
	return c, c.check()
}

// ID names the bridge to the user: the start of its TLS pin, in hex.
func (c Credential) ID() string {
	iss, err := c.Issuer()
	if err != nil {
		return "?"
	}
	return ID(iss.Pin)
}

// ID names a bridge by its TLS pin: the first 8 bytes, in hex.
func ID(pin []byte) string {
	return hex.EncodeToString(pin[:min(len(pin), 8)])
}

// Identity is the bridge's TLS identity; now may be nil (time.Now).
func (c Credential) Identity(now func() time.Time) (*selfsigned.Identity, error) {
	id, err := selfsigned.Parse(c.TLSKey, nil, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	return id, nil
}

// Issuer mints the bridge's offers.
func (c Credential) Issuer() (Issuer, error) {
	id, err := c.Identity(nil)
	if err != nil {
		return Issuer{}, err
	}
	return Issuer{Key: bytes.Clone(c.Key), Pin: id.Pin(), SNI: c.SNI}, nil
}

// check says what is wrong with c, or nil.
func (c Credential) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadCredential, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Network == "" || len(c.Network) > 64:
		return bad("network %q", c.Network)
	case len(c.NetworkKey) != ed25519.PublicKeySize:
		return bad("a network key of %d bytes", len(c.NetworkKey))
	case len(c.Key) != KeySize:
		return bad("a bridge key of %d bytes, want %d", len(c.Key), KeySize)
	case c.Cohort > manifest.MaxCohorts:
		return bad("cohort %d", c.Cohort)
	case c.SNI == "" || len(c.SNI) > maxField || strings.ContainsAny(c.SNI, " /:\x00"):
		return bad("server name %q", c.SNI)
	}
	m, err := manifest.Open(c.Manifest, c.NetworkKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	if m.Network != c.Network {
		return bad("the manifest is for the network %q, not %q", m.Network, c.Network)
	}
	if _, err := selfsigned.Parse(c.TLSKey, nil, nil); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	return nil
}

// MarshalCredential encodes c as credential text: a short note for humans,
// then
//
//	-----BEGIN SAMIZDAT BRIDGE CREDENTIAL-----
//	base64 of a protobuf Credential (bridgepb)
//	-----END SAMIZDAT BRIDGE CREDENTIAL-----
func MarshalCredential(c Credential) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	der, err := proto.MarshalOptions{Deterministic: true}.Marshal(&bridgepb.Credential{
		Version: credentialVersion, Network: c.Network, NetworkKey: c.NetworkKey, Manifest: c.Manifest,
		Cohort: c.Cohort, Key: c.Key, TlsKey: c.TLSKey, Sni: c.SNI,
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: encode credential: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "samizdat bridge credential for the network %q (bridge %s).\n", c.Network, c.ID())
	fmt.Fprintf(&b, "Run it with: samizdat bridge --credential THIS-FILE --listen HOST:PORT\n")
	fmt.Fprintf(&b, "It holds no identity of yours, only this bridge's keys: whoever has it can run the bridge.\n\n")
	if err := pem.Encode(&b, &pem.Block{Type: credentialType, Bytes: der}); err != nil {
		return nil, fmt.Errorf("bridge: encode credential: %w", err)
	}
	return b.Bytes(), nil
}

// ParseCredential decodes credential text (see MarshalCredential). Text
// before the block is ignored. It checks every field, and that the
// manifest is signed by the network key, not the manifest's expiry.
func ParseCredential(text []byte) (Credential, error) {
	if len(text) > MaxCredentialSize {
		return Credential{}, fmt.Errorf("%w: %d bytes (max %d)", ErrBadCredential, len(text), MaxCredentialSize)
	}
	block, _ := pem.Decode(text)
	if block == nil || block.Type != credentialType {
		return Credential{}, fmt.Errorf("%w: no %q block found", ErrBadCredential, credentialType)
	}
	var pb bridgepb.Credential
	if err := proto.Unmarshal(block.Bytes, &pb); err != nil {
		return Credential{}, fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	if pb.Version != credentialVersion {
		return Credential{}, fmt.Errorf("%w: version %d, want %d", ErrBadCredential, pb.Version, credentialVersion)
	}
	c := Credential{Network: pb.Network, NetworkKey: ed25519.PublicKey(pb.NetworkKey), Manifest: pb.Manifest,
		Cohort: pb.Cohort, Key: pb.Key, TLSKey: pb.TlsKey, SNI: pb.Sni}
	if err := c.check(); err != nil {
		return Credential{}, err
	}
	return c, nil
}

// WriteCredential writes c to path (mode 0600: it is secret), atomically.
func WriteCredential(path string, c Credential) error {
	text, err := MarshalCredential(c)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, text, 0o600)
}

// ReadCredential reads and parses the credential file at path.
func ReadCredential(path string) (Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credential{}, fmt.Errorf("bridge: read credential: %w", err)
	}
	defer f.Close()
	text, err := io.ReadAll(io.LimitReader(f, MaxCredentialSize+1))
	if err != nil {
		return Credential{}, fmt.Errorf("bridge: read credential: %w", err)
	}
	c, err := ParseCredential(text)
	if err != nil {
		return Credential{}, fmt.Errorf("%w (%s)", err, path)
	}
	return c, nil
}
