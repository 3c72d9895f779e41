package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/manifest/internal/manifestpb"
)

// DelegationVersion is the certificate format version that Delegate writes
// and ParseDelegation accepts.
const DelegationVersion = 1

// delegatedVersion is the SignedManifest version of a manifest signed by
// a node key; Version (1) is one signed by the network key itself.
const delegatedVersion = 2

// Domain separation for what the network key and node keys sign.
const (
	delegationPrefix  = "samizdat delegation v1\x00"
	delegatedPrefix   = "samizdat manifest v2\x00"
	delegationType    = "SAMIZDAT DELEGATION" // the PEM block of MarshalDelegationText
	MaxDelegationSize = 1024                  // an encoded certificate
)

// MaxDelegationLifetime bounds how long one certificate may be valid, so
// that a stolen node key is useful for a limited time even if nobody
// revokes it.
const MaxDelegationLifetime = 366 * 24 * time.Hour

// MaxRevoked bounds the node keys one manifest may revoke.
const MaxRevoked = 256

// MaxSerialLead is how far a manifest's serial may lie ahead of the
// client's clock, in seconds: a serial is the Unix time at which it was
// signed (a relay signs max(previous+1, now)), and a client whose clock is
// up to ClockSkew slow must still accept a fresh one. So a stolen key
// cannot sign a serial that stays ahead of every honest one for longer
// than MaxSerialLead.
const MaxSerialLead = ClockSkew + time.Hour

// Errors about the key hierarchy; returned errors wrap them with the
// reason.
var (
	// ErrBadDelegation means a delegation certificate that is malformed,
	// whose own signature fails, that certifies another node key, or that
	// does not cover the manifest's issue time. A certificate signed by
	// another network key than the one trusted is ErrBadSignature.
	ErrBadDelegation = errors.New("manifest: bad delegation")
	// ErrDelegationExpired means now is past the certificate's not-after
	// time.
	ErrDelegationExpired = errors.New("manifest: delegation expired")
	// ErrRevoked means a manifest signed by a node key that the network
	// key has revoked.
	ErrRevoked = errors.New("manifest: node key revoked")
	// ErrSerialAhead means a serial more than MaxSerialLead ahead of now.
	ErrSerialAhead = errors.New("manifest: serial too far ahead of the time")
)

// Delegation is a network key's certificate that a node key may sign the
// manifests of Network from NotBefore until NotAfter. A client accepts a
// manifest signed by the node key only while the certificate is valid at
// its own clock; a manifest it accepted stays usable after that, until
// the manifest itself expires.
type Delegation struct {
	Network    string
	NetworkKey ed25519.PublicKey // the key that signed the certificate
	NodeKey    ed25519.PublicKey // the key it certifies
	NotBefore  time.Time
	NotAfter   time.Time
}

// Delegate checks d and returns its certificate signed by networkKey;
// d.NetworkKey is ignored (the certificate names networkKey's public
// half).
func Delegate(d Delegation, networkKey ed25519.PrivateKey) ([]byte, error) {
	if len(networkKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key of %d bytes", ErrBadKey, len(networkKey))
	}
	d.NetworkKey = networkKey.Public().(ed25519.PublicKey)
	if err := d.validate(); err != nil {
		return nil, err
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(d.body())
	if err != nil {
		return nil, fmt.Errorf("manifest: encode delegation: %w", err)
	}
	cert, err := proto.MarshalOptions{Deterministic: true}.Marshal(&manifestpb.Delegation{
		Version:   DelegationVersion,
		Body:      body,
		Signature: ed25519.Sign(networkKey, delegationMessage(body)),
	})
	if err != nil {
		return nil, fmt.Errorf("manifest: encode delegation: %w", err)
	}
	return cert, nil
}

// ParseDelegation decodes a certificate and checks its structure and its
// signature by the network key it names. It does not check that this is
// the key a client trusts, nor times: VerifyDelegation does.
func ParseDelegation(cert []byte) (*Delegation, error) {
	if len(cert) > MaxDelegationSize {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrBadDelegation, len(cert), MaxDelegationSize)
	}
	var pc manifestpb.Delegation
	if err := proto.Unmarshal(cert, &pc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadDelegation, err)
	}
	if pc.Version != DelegationVersion {
		return nil, fmt.Errorf("%w: %w: %d", ErrBadDelegation, ErrUnsupportedVersion, pc.Version)
	}
	if len(pc.Signature) != ed25519.SignatureSize || len(pc.Body) == 0 {
		return nil, fmt.Errorf("%w: missing body or signature", ErrBadDelegation)
	}
	d, err := decodeDelegationBody(pc.Body)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(d.NetworkKey, delegationMessage(pc.Body), pc.Signature) {
		return nil, fmt.Errorf("%w: %w", ErrBadDelegation, ErrBadSignature)
	}
	return d, nil
}

// VerifyDelegation is ParseDelegation, and checks that networkKey signed
// the certificate, that it is for network, and that it is valid at now.
func VerifyDelegation(cert []byte, networkKey ed25519.PublicKey, network string, now time.Time) (*Delegation, error) {
	d, err := ParseDelegation(cert)
	if err != nil {
		return nil, err
	}
	if err := d.checkIssuer(networkKey); err != nil {
		return nil, err
	}
	if d.Network != network {
		return nil, fmt.Errorf("%w: delegation is for %q, want %q", ErrWrongNetwork, d.Network, network)
	}
	if err := d.CheckTime(now); err != nil {
		return nil, err
	}
	return d, nil
}

// CheckTime checks that d is valid at now: ErrDelegationExpired once
// NotAfter has passed, ErrNotYetValid if NotBefore is more than ClockSkew
// ahead.
func (d *Delegation) CheckTime(now time.Time) error {
	if !now.Before(d.NotAfter) {
		return fmt.Errorf("%w: node key %s was delegated until %s", ErrDelegationExpired, KeyID(d.NodeKey), d.NotAfter.Format(time.RFC3339))
	}
	if d.NotBefore.After(now.Add(ClockSkew)) {
		return fmt.Errorf("%w: delegation of node key %s starts at %s", ErrNotYetValid, KeyID(d.NodeKey), d.NotBefore.Format(time.RFC3339))
	}
	return nil
}

// covers reports whether a manifest issued at t may be signed under d:
// within its validity, allowing ClockSkew between the clocks of the
// machine that delegated and the node that signs.
func (d *Delegation) covers(t time.Time) bool {
	return !t.Before(d.NotBefore.Add(-ClockSkew)) && t.Before(d.NotAfter)
}

// checkIssuer checks that networkKey, the key a client trusts, signed d.
func (d *Delegation) checkIssuer(networkKey ed25519.PublicKey) error {
	if len(networkKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes", ErrBadKey, len(networkKey))
	}
	if !d.NetworkKey.Equal(networkKey) {
		return fmt.Errorf("%w: the certificate of node key %s is signed by the network key %s, not %s", ErrBadSignature,
			KeyID(d.NodeKey), KeyID(d.NetworkKey), KeyID(networkKey))
	}
	return nil
}

// String describes d for logs and operators.
func (d *Delegation) String() string {
	return fmt.Sprintf("delegation of node key %s for %s by network key %s, %s to %s", KeyID(d.NodeKey), d.Network,
		KeyID(d.NetworkKey), d.NotBefore.Format(time.RFC3339), d.NotAfter.Format(time.RFC3339))
}

// KeyID is how a public key shows in errors and logs: its base64.
func KeyID(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

func (d *Delegation) validate() error {
	switch {
	case !validName(d.Network):
		return fmt.Errorf("%w: network name %q", ErrBadDelegation, d.Network)
	case len(d.NetworkKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: network key of %d bytes", ErrBadDelegation, len(d.NetworkKey))
	case len(d.NodeKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: node key of %d bytes", ErrBadDelegation, len(d.NodeKey))
	case d.NotBefore.IsZero() || d.NotAfter.IsZero():
		return fmt.Errorf("%w: not-before and not-after times are required", ErrBadDelegation)
	case d.NotBefore.Unix() >= d.NotAfter.Unix():
		return fmt.Errorf("%w: ends before it starts", ErrBadDelegation)
	case d.NotAfter.Sub(d.NotBefore) > MaxDelegationLifetime:
		return fmt.Errorf("%w: valid for %s (max %s)", ErrBadDelegation, d.NotAfter.Sub(d.NotBefore), MaxDelegationLifetime)
	}
	return nil
}

func (d *Delegation) body() *manifestpb.DelegationBody {
	return &manifestpb.DelegationBody{
		Network:    d.Network,
		NetworkKey: bytes.Clone(d.NetworkKey),
		NodeKey:    bytes.Clone(d.NodeKey),
		NotBefore:  d.NotBefore.Unix(),
		NotAfter:   d.NotAfter.Unix(),
	}
}

func decodeDelegationBody(b []byte) (*Delegation, error) {
	var pb manifestpb.DelegationBody
	if err := proto.Unmarshal(b, &pb); err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrBadDelegation, err)
	}
	d := &Delegation{
		Network:    pb.Network,
		NetworkKey: ed25519.PublicKey(nonEmpty(pb.NetworkKey)),
		NodeKey:    ed25519.PublicKey(nonEmpty(pb.NodeKey)),
		NotBefore:  time.Unix(pb.NotBefore, 0).UTC(),
		NotAfter:   time.Unix(pb.NotAfter, 0).UTC(),
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

func delegationMessage(body []byte) []byte {
	return append([]byte(delegationPrefix), body...)
}

// delegatedMessage is what a node key signs: the prefix, the hash of the
// certificate it signs under (so that a manifest cannot be moved under
// another certificate of the same key) and the body.
func delegatedMessage(cert, body []byte) []byte {
	sum := sha256.Sum256(cert)
	msg := make([]byte, 0, len(delegatedPrefix)+len(sum)+len(body))
	msg = append(msg, delegatedPrefix...)
	msg = append(msg, sum[:]...)
	return append(msg, body...)
}

// SignDelegated checks m and returns the blob signed by nodeKey, carrying
// cert, the delegation certificate of nodeKey (from Delegate). It refuses
// a certificate for another key or network, or one whose validity does
// not cover m.Issued, and a manifest that revokes keys (only the network
// key revokes).
func SignDelegated(m *Manifest, nodeKey ed25519.PrivateKey, cert []byte) ([]byte, error) {
	if err := checkSigning(m, nodeKey); err != nil {
		return nil, err
	}
	d, err := ParseDelegation(cert)
	if err != nil {
		return nil, err
	}
	if pub := nodeKey.Public().(ed25519.PublicKey); !d.NodeKey.Equal(pub) {
		return nil, fmt.Errorf("%w: it certifies node key %s, not %s", ErrBadDelegation, KeyID(d.NodeKey), KeyID(pub))
	}
	body, err := encodeBody(m)
	if err != nil {
		return nil, err
	}
	if err := d.checkManifest(m); err != nil {
		return nil, err
	}
	return marshalSigned(&manifestpb.SignedManifest{
		Version:    delegatedVersion,
		Body:       body,
		Signature:  ed25519.Sign(nodeKey, delegatedMessage(cert, body)),
		Delegation: cert,
	})
}

// checkManifest checks what d allows m to be: a manifest of d's network,
// issued while d is valid, revoking nothing.
func (d *Delegation) checkManifest(m *Manifest) error {
	if d.Network != m.Network {
		return fmt.Errorf("%w: delegation is for %q, the manifest for %q", ErrWrongNetwork, d.Network, m.Network)
	}
	if len(m.Revoked) > 0 {
		return fmt.Errorf("%w: a node key revokes keys; only the network key may", ErrInvalid)
	}
	if !d.covers(m.Issued) {
		return fmt.Errorf("%w: serial %d issued at %s, outside the delegation of node key %s (%s to %s)", ErrBadDelegation,
			m.Serial, m.Issued.Format(time.RFC3339), KeyID(d.NodeKey), d.NotBefore.Format(time.RFC3339), d.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// maxDelegationText bounds the text ParseDelegationText reads.
const maxDelegationText = 4 * MaxDelegationSize

// MarshalDelegationText encodes cert as text to copy to a node: a comment
// for humans, then a PEM block "SAMIZDAT DELEGATION".
func MarshalDelegationText(cert []byte) ([]byte, error) {
	d, err := ParseDelegation(cert)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "samizdat delegation: node key %s may sign manifests of %q\nfrom %s until %s (network key %s).\n\n",
		KeyID(d.NodeKey), d.Network, d.NotBefore.Format(time.RFC3339), d.NotAfter.Format(time.RFC3339), KeyID(d.NetworkKey))
	if err := pem.Encode(&b, &pem.Block{Type: delegationType, Bytes: cert}); err != nil {
		return nil, fmt.Errorf("manifest: encode delegation: %w", err)
	}
	return b.Bytes(), nil
}

// ParseDelegationText reads a certificate from text written by
// MarshalDelegationText (text before the block is ignored) or from the
// raw certificate, and parses it (see ParseDelegation).
func ParseDelegationText(text []byte) ([]byte, *Delegation, error) {
	if len(text) > maxDelegationText {
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrBadDelegation, len(text))
	}
	cert := text
	if bytes.Contains(text, []byte("-----BEGIN "+delegationType+"-----")) {
		block, _ := pem.Decode(text)
		if block == nil || block.Type != delegationType {
			return nil, nil, fmt.Errorf("%w: no well-formed %q block", ErrBadDelegation, delegationType)
		}
		cert = block.Bytes
	}
	d, err := ParseDelegation(cert)
	if err != nil {
		return nil, nil, err
	}
	return bytes.Clone(cert), d, nil
}

// ReadDelegation reads the certificate file at path (see
// ParseDelegationText). A missing file is an error wrapping
// fs.ErrNotExist.
func ReadDelegation(path string) ([]byte, *Delegation, error) {
	text, err := readLimited(path, maxDelegationText)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: reading the delegation: %w", err)
	}
	cert, d, err := ParseDelegationText(text)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (%s)", err, path)
	}
	return cert, d, nil
}
