// Package manifest signs and verifies network manifests, and reads and
// writes invite files.
//
// A manifest names a network and lists its relays: each relay's id, Noise
// static public key and endpoints (transport and address). It also carries
// the sealed-sender trust root, a serial, and issue and expiry times. The
// network's Ed25519 key signs it; the public half ships in every invite and
// in the client. An invite is the one file a user needs to join: the network
// key and a signed manifest.
//
// # Security properties
//
// Verify accepts a manifest only if its Ed25519 signature by the network key
// verifies over the exact encoded body, under a domain-separation prefix
// ("samizdat manifest v1" || 0x00) so that no other signature by that key
// can pass for a manifest; only then does it decode the body, check its
// structure and check that it is not expired. Any channel may therefore
// carry a manifest: none is trusted. An invite file is trusted on first use
// (it names the network key); ReadInvite checks that its manifest is signed
// by that key, so a corrupted or spliced file is refused.
//
// This package does not yet refuse rollback to an older serial; callers
// that hold a manifest compare serials themselves (issue 4 adds that here).
//
// # Encoding
//
// The signed blob is a protobuf SignedManifest{version=1, body, signature}
// (manifest/internal/manifestpb); body is a deterministically encoded Body,
// and the signature covers those exact bytes, so verification never depends
// on re-encoding. Times are whole seconds.
package manifest

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/manifest/internal/manifestpb"
)

// Version is the manifest format version that Sign writes and Verify
// accepts.
const Version = 1

// signingPrefix separates manifest signatures from anything else the
// network key might sign.
const signingPrefix = "samizdat manifest v1\x00"

// Limits on what Verify accepts.
const (
	MaxBlobSize      = 64 << 10 // a signed manifest
	MaxRelays        = 256
	MaxEndpoints     = 32 // per relay
	maxNameLen       = 64 // network name, relay id
	maxTransportLen  = 16
	maxAddressLen    = 255
	trustRootSize    = 33
	trustRootKeyType = 0x05
)

// ClockSkew is how far in the future a manifest's issue time may lie, to
// tolerate clients whose clocks run slow.
const ClockSkew = 24 * time.Hour

// Errors callers may branch on; returned errors wrap them with the reason.
var (
	// ErrMalformed means the blob is not a signed manifest at all.
	ErrMalformed = errors.New("manifest: malformed")
	// ErrUnsupportedVersion means a format version this code does not know.
	ErrUnsupportedVersion = errors.New("manifest: unsupported version")
	// ErrBadKey means the network key is not a 32-byte Ed25519 public key.
	ErrBadKey = errors.New("manifest: bad network key")
	// ErrBadSignature means the signature does not verify under the network key.
	ErrBadSignature = errors.New("manifest: bad signature")
	// ErrInvalid means a signed manifest whose content breaks the rules
	// (no relays, bad key sizes, bad names, expiry before issue, ...), or
	// a Manifest that Sign refuses for the same reasons.
	ErrInvalid = errors.New("manifest: invalid")
	// ErrExpired means now is past the manifest's expiry.
	ErrExpired = errors.New("manifest: expired")
	// ErrNotYetValid means the manifest was issued more than ClockSkew
	// after now.
	ErrNotYetValid = errors.New("manifest: not yet valid")
)

// Endpoint is one way to reach a relay.
type Endpoint struct {
	Transport string // "tcp"
	Address   string // for tcp, "host:port"
}

// Relay is one relay of the network.
type Relay struct {
	ID        string
	NoiseKey  [32]byte // X25519 static public key, pinned by clients
	Endpoints []Endpoint
}

// Manifest is the verified content of a signed manifest.
type Manifest struct {
	Network   string // [a-z0-9._-], 1 to 64 characters
	Serial    uint64
	Issued    time.Time
	Expires   time.Time
	Relays    []Relay
	TrustRoot []byte // sealed-sender trust root public key, 33 bytes (type byte 5), or empty
}

// Sign checks m and returns the signed blob. key must be an Ed25519
// private key (64 bytes).
func Sign(m *Manifest, key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key of %d bytes", ErrBadKey, len(key))
	}
	if m == nil {
		return nil, fmt.Errorf("%w: nil manifest", ErrInvalid)
	}
	body, err := encodeBody(m)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(key, signedMessage(body))
	blob, err := proto.MarshalOptions{Deterministic: true}.Marshal(&manifestpb.SignedManifest{
		Version:   Version,
		Body:      body,
		Signature: sig,
	})
	if err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	if len(blob) > MaxBlobSize {
		return nil, fmt.Errorf("%w: signed manifest of %d bytes (max %d)", ErrInvalid, len(blob), MaxBlobSize)
	}
	return blob, nil
}

// Verify checks blob's signature under networkKey, decodes it, checks its
// structure and that it is valid at now, and returns it.
func Verify(blob []byte, networkKey ed25519.PublicKey, now time.Time) (*Manifest, error) {
	m, err := open(blob, networkKey)
	if err != nil {
		return nil, err
	}
	if !now.Before(m.Expires) {
		return nil, fmt.Errorf("%w: expired at %s", ErrExpired, m.Expires.Format(time.RFC3339))
	}
	if m.Issued.After(now.Add(ClockSkew)) {
		return nil, fmt.Errorf("%w: issued at %s", ErrNotYetValid, m.Issued.Format(time.RFC3339))
	}
	return m, nil
}

// open checks everything Verify checks except time.
func open(blob []byte, networkKey ed25519.PublicKey) (*Manifest, error) {
	if len(networkKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadKey, len(networkKey))
	}
	if len(blob) > MaxBlobSize {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrMalformed, len(blob), MaxBlobSize)
	}
	var sm manifestpb.SignedManifest
	if err := proto.Unmarshal(blob, &sm); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if sm.Version != Version {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedVersion, sm.Version)
	}
	if len(sm.Signature) != ed25519.SignatureSize || len(sm.Body) == 0 {
		return nil, fmt.Errorf("%w: missing body or signature", ErrMalformed)
	}
	if !ed25519.Verify(networkKey, signedMessage(sm.Body), sm.Signature) {
		return nil, ErrBadSignature
	}
	return decodeBody(sm.Body)
}

func signedMessage(body []byte) []byte {
	msg := make([]byte, 0, len(signingPrefix)+len(body))
	msg = append(msg, signingPrefix...)
	return append(msg, body...)
}

func encodeBody(m *Manifest) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	body := &manifestpb.Body{
		Network:   m.Network,
		Serial:    m.Serial,
		Issued:    m.Issued.Unix(),
		Expires:   m.Expires.Unix(),
		TrustRoot: bytes.Clone(m.TrustRoot),
	}
	for _, r := range m.Relays {
		pr := &manifestpb.Relay{Id: r.ID, NoiseKey: bytes.Clone(r.NoiseKey[:])}
		for _, e := range r.Endpoints {
			pr.Endpoints = append(pr.Endpoints, &manifestpb.Endpoint{Transport: e.Transport, Address: e.Address})
		}
		body.Relays = append(body.Relays, pr)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	return b, nil
}

func decodeBody(b []byte) (*Manifest, error) {
	var body manifestpb.Body
	if err := proto.Unmarshal(b, &body); err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrInvalid, err)
	}
	m := &Manifest{
		Network: body.Network,
		Serial:  body.Serial,
		Issued:  time.Unix(body.Issued, 0).UTC(),
		Expires: time.Unix(body.Expires, 0).UTC(),
	}
	if len(body.TrustRoot) > 0 {
		m.TrustRoot = body.TrustRoot
	}
	if len(body.Relays) > MaxRelays {
		return nil, fmt.Errorf("%w: %d relays (max %d)", ErrInvalid, len(body.Relays), MaxRelays)
	}
	for _, pr := range body.Relays {
		if len(pr.NoiseKey) != 32 {
			return nil, fmt.Errorf("%w: relay %q: noise key of %d bytes", ErrInvalid, pr.Id, len(pr.NoiseKey))
		}
		r := Relay{ID: pr.Id}
		copy(r.NoiseKey[:], pr.NoiseKey)
		if len(pr.Endpoints) > MaxEndpoints {
			return nil, fmt.Errorf("%w: relay %q: %d endpoints (max %d)", ErrInvalid, pr.Id, len(pr.Endpoints), MaxEndpoints)
		}
		for _, pe := range pr.Endpoints {
			r.Endpoints = append(r.Endpoints, Endpoint{Transport: pe.Transport, Address: pe.Address})
		}
		m.Relays = append(m.Relays, r)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// validate checks the structural rules that Sign and Verify enforce.
func (m *Manifest) validate() error {
	if !validName(m.Network) {
		return fmt.Errorf("%w: network name %q", ErrInvalid, m.Network)
	}
	if m.Issued.IsZero() || m.Expires.IsZero() {
		return fmt.Errorf("%w: issue and expiry times are required", ErrInvalid)
	}
	if m.Issued.Unix() >= m.Expires.Unix() {
		return fmt.Errorf("%w: expires before it is issued", ErrInvalid)
	}
	if n := len(m.TrustRoot); n != 0 && (n != trustRootSize || m.TrustRoot[0] != trustRootKeyType) {
		return fmt.Errorf("%w: trust root must be a %d-byte key with type byte %d", ErrInvalid, trustRootSize, trustRootKeyType)
	}
	if len(m.Relays) == 0 {
		return fmt.Errorf("%w: no relays", ErrInvalid)
	}
	if len(m.Relays) > MaxRelays {
		return fmt.Errorf("%w: %d relays (max %d)", ErrInvalid, len(m.Relays), MaxRelays)
	}
	seen := make(map[string]bool, len(m.Relays))
	for _, r := range m.Relays {
		if !validName(r.ID) {
			return fmt.Errorf("%w: relay id %q", ErrInvalid, r.ID)
		}
		if seen[r.ID] {
			return fmt.Errorf("%w: duplicate relay id %q", ErrInvalid, r.ID)
		}
		seen[r.ID] = true
		if r.NoiseKey == ([32]byte{}) {
			return fmt.Errorf("%w: relay %q: zero noise key", ErrInvalid, r.ID)
		}
		if len(r.Endpoints) == 0 {
			return fmt.Errorf("%w: relay %q has no endpoints", ErrInvalid, r.ID)
		}
		if len(r.Endpoints) > MaxEndpoints {
			return fmt.Errorf("%w: relay %q: %d endpoints (max %d)", ErrInvalid, r.ID, len(r.Endpoints), MaxEndpoints)
		}
		for _, e := range r.Endpoints {
			if !validTransport(e.Transport) {
				return fmt.Errorf("%w: relay %q: transport %q", ErrInvalid, r.ID, e.Transport)
			}
			if !validAddress(e.Address) {
				return fmt.Errorf("%w: relay %q: address %q", ErrInvalid, r.ID, e.Address)
			}
		}
	}
	return nil
}

// validName allows 1 to 64 of [a-z0-9._-].
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validTransport allows 1 to 16 of [a-z0-9-].
func validTransport(s string) bool {
	if len(s) == 0 || len(s) > maxTransportLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validAddress allows 1 to 255 printable ASCII characters without spaces.
func validAddress(s string) bool {
	if len(s) == 0 || len(s) > maxAddressLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Relay returns the relay with the given id.
func (m *Manifest) Relay(id string) (Relay, bool) {
	for _, r := range m.Relays {
		if r.ID == id {
			return r, true
		}
	}
	return Relay{}, false
}

// String summarizes the manifest for logs (no endpoints' secrets exist yet;
// addresses are included).
func (m *Manifest) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "manifest %s serial %d expires %s:", m.Network, m.Serial, m.Expires.Format(time.RFC3339))
	for _, r := range m.Relays {
		fmt.Fprintf(&b, " %s[", r.ID)
		for i, e := range r.Endpoints {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s:%s", e.Transport, e.Address)
		}
		b.WriteByte(']')
	}
	return b.String()
}
