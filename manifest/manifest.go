// Package manifest signs and verifies network manifests, and reads and
// writes invite files.
//
// A manifest names a network and lists its relays: each relay's id, Noise
// static public key and endpoints (transport and address). It also carries
// the sealed-sender trust root, a serial, and issue and expiry times. An
// invite is the one file a user needs to join: the network's Ed25519
// public key and a signed manifest.
//
// # Key hierarchy
//
// The network key is the root of trust; the public half ships in every
// invite. It can sign a manifest itself (the blob format of version 1),
// but its usual job is to certify node keys for a limited time (Delegate:
// network name, node public key, not-before, not-after; at most
// MaxDelegationLifetime) and it can stay offline while nodes sign with
// their own keys (SignDelegated). A node-signed blob (version 2) carries
// the node key's certificate inside it, so it travels as one unit through
// any channel, an invite or a contact. A client accepts it only if the
// chain holds: the certificate is signed by the network key the client
// pins, names the manifest's network, is valid at the client's clock, and
// covers the manifest's issue time; the node key's signature covers the
// certificate's hash and the body. Once accepted, a manifest stays usable
// until it expires, even after its signer's certificate lapsed: a client
// whose delegation ran out keeps its endpoints while it fetches a newer
// manifest.
//
// A manifest signed by the network key may revoke node keys (Revoked). A
// Keeper remembers every revocation it sees, on disk, and refuses the
// revoked keys' manifests from then on, whatever their serial.
//
// # Serials
//
// A serial is the Unix time at which the manifest was signed, in seconds;
// a signer that signs twice in a second counts on (a relay signs
// max(previous+1, now)), and old networks' small serials stay valid. A
// client refuses a serial more than MaxSerialLead ahead of its own clock
// (ErrSerialAhead), so a stolen key cannot sign serial 2^64-1 and hold
// every client on it: at most it gets MaxSerialLead ahead of honest
// signers, and a revocation by the network key ends even that at once
// (see Keeper.Offer).
//
// # Security properties
//
// Verify accepts a manifest only if its chain of Ed25519 signatures back
// to the network key verifies over the exact encoded bytes, under
// domain-separation prefixes ("samizdat manifest v1", "samizdat manifest
// v2", "samizdat delegation v1", each followed by 0x00) so that no other
// signature by these keys can pass for a manifest or a certificate; only
// then does it decode the body, check its structure and check that it is
// valid at now. Any channel may therefore carry a manifest: none is
// trusted. An invite file is trusted on first use (it names the network
// key); ReadInvite checks that its manifest's chain leads to that key, so
// a corrupted or spliced file is refused.
//
// VerifyNetwork also checks that the manifest is for the expected
// network, so that a manifest of another network signed by the same key
// is refused. A Keeper holds the newest manifest accepted so far on disk
// and refuses rollback: a manifest is accepted only if its serial is
// strictly greater than the one held, so a censor replaying an old,
// validly signed manifest (with endpoints it has already blocked) changes
// nothing. Every refusal is a typed error that says why.
//
// # Cohorts
//
// Endpoints may be tagged with a cohort 1..Cohorts; cohort 0 means every
// client. A client's cohort is Slot.Cohort of the slot the relay assigned
// its account (along invitation trees, with a keyed function for root
// invites), and ForCohort gives it only the endpoints of its cohort and
// cohort 0. See Slot for what this buys against a censor that runs many
// clients, and what it does not.
//
// Endpoint secrets are part of the signed body: a manifest is not secret
// from whoever can fetch it, and secrets only keep casual probes out.
// String methods never print secrets.
//
// # Encoding
//
// The signed blob is a protobuf SignedManifest{version, body, signature,
// delegation} (manifest/internal/manifestpb); body is a deterministically
// encoded Body, and the signature covers those exact bytes, so
// verification never depends on re-encoding. A certificate is likewise a
// Delegation{version, body, signature}. Times are whole seconds.
package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/manifest/internal/manifestpb"
)

// Version is the format version of a blob signed by the network key,
// which Sign writes; Verify also accepts version 2, signed by a node key
// (SignDelegated).
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
	MaxChannels      = 64
	MaxCohorts       = 1 << 16
	maxTransportLen  = 16
	maxAddressLen    = 255
	maxPathLen       = 1024
	maxURLLen        = 2048
	maxSecretLen     = 256
	tlsPinSize       = 32 // SHA-256
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
	// ErrWrongNetwork means a manifest validly signed by the network key
	// but naming another network.
	ErrWrongNetwork = errors.New("manifest: wrong network")
	// ErrRollback means a manifest whose serial is not newer than the one
	// already held.
	ErrRollback = errors.New("manifest: rollback")
)

// Endpoint is one way to reach a relay. Transports use the fields they
// need and ignore the rest; a client skips endpoints whose transport it
// does not know.
type Endpoint struct {
	Transport string // "tcp" | "wss" | "front"
	Address   string // host:port dialed at the TCP level (front: the CDN edge's address)
	SNI       string // TLS server name sent (front: the innocuous front domain)
	Host      string // HTTP Host header (front: the hidden relay's name at the CDN; wss: usually = SNI)
	Path      string // HTTP path of the tunnel (wss, front)
	Secret    []byte // per-endpoint secret; without it wss/front serve only the decoy site
	TLSPin    []byte // optional SHA-256 of the server certificate's SubjectPublicKeyInfo; if empty, system roots
	Cohort    uint32 // 0 = all clients; else only clients of that cohort get it
	// Standby marks an endpoint the operator keeps ready for when the
	// others are blocked: clients dial it after them, so it carries no
	// traffic (and draws no attention) until it is needed. Older
	// clients ignore the mark and dial it like any other.
	Standby bool
}

// Relay is one relay of the network.
type Relay struct {
	ID        string
	NoiseKey  [32]byte // X25519 static public key, pinned by clients
	Endpoints []Endpoint
}

// Channel is a place where newer manifests can be fetched (package
// manifest/channel fetches them). None is trusted: whatever a channel
// returns must verify.
type Channel struct {
	Kind    string // "https" | "doh" | "front"; clients skip kinds they do not know
	URL     string // https: the mirror's URL; doh: the resolver's RFC 8484 URL
	Name    string // doh: the DNS name whose TXT records carry the blob
	Address string // front: the CDN edge's host:port
	SNI     string // front: the innocuous TLS server name
	Host    string // front: the Host header naming the mirror at the CDN
	Path    string // front: the blob's path
	TLSPin  []byte // optional SHA-256 of the server's SubjectPublicKeyInfo; if empty, system roots
}

// Manifest is the verified content of a signed manifest.
type Manifest struct {
	Network   string // [a-z0-9._-], 1 to 64 characters
	Serial    uint64 // strictly increasing, the Unix time of signing; clients never accept a lower or equal one
	Issued    time.Time
	Expires   time.Time
	Relays    []Relay
	TrustRoot []byte    // sealed-sender trust root public key, 33 bytes (type byte 5), or empty
	Channels  []Channel // where newer manifests can be fetched
	Cohorts   uint32    // clients divide into this many cohorts (see Slot); 0 = no cohorts
	// Revoked are node keys the network key revokes: clients remember them
	// and refuse their manifests from then on. Only a manifest signed by
	// the network key itself may revoke.
	Revoked []ed25519.PublicKey
}

// Sign checks m and returns the blob signed by the network key itself.
// key must be an Ed25519 private key (64 bytes). Nodes sign with a node
// key instead (SignDelegated).
func Sign(m *Manifest, key ed25519.PrivateKey) ([]byte, error) {
	if err := checkSigning(m, key); err != nil {
		return nil, err
	}
	body, err := encodeBody(m)
	if err != nil {
		return nil, err
	}
	return marshalSigned(&manifestpb.SignedManifest{
		Version:   Version,
		Body:      body,
		Signature: ed25519.Sign(key, signedMessage(body)),
	})
}

// checkSigning checks the arguments of Sign and SignDelegated.
func checkSigning(m *Manifest, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: private key of %d bytes", ErrBadKey, len(key))
	}
	if m == nil {
		return fmt.Errorf("%w: nil manifest", ErrInvalid)
	}
	return nil
}

// marshalSigned encodes the envelope and checks its size.
func marshalSigned(sm *manifestpb.SignedManifest) ([]byte, error) {
	blob, err := proto.MarshalOptions{Deterministic: true}.Marshal(sm)
	if err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	if len(blob) > MaxBlobSize {
		return nil, fmt.Errorf("%w: signed manifest of %d bytes (max %d)", ErrInvalid, len(blob), MaxBlobSize)
	}
	return blob, nil
}

// Verify checks blob's chain of signatures back to networkKey, decodes it,
// checks its structure, that it is valid at now and, if a node key signed
// it, that the node key's delegation is valid at now; and returns it.
func Verify(blob []byte, networkKey ed25519.PublicKey, now time.Time) (*Manifest, error) {
	m, d, err := open(blob, networkKey)
	if err != nil {
		return nil, err
	}
	if err := checkTimes(m, d, now); err != nil {
		return nil, err
	}
	return m, nil
}

// checkTimes is the acceptance check at now: the manifest's times and
// serial, and its delegation's validity.
func checkTimes(m *Manifest, d *Delegation, now time.Time) error {
	if err := m.CheckTime(now); err != nil {
		return err
	}
	if d != nil {
		return d.CheckTime(now)
	}
	return nil
}

// CheckTime checks that m is usable at now: not expired (ErrExpired), not
// issued more than ClockSkew ahead (ErrNotYetValid), and its serial not
// more than MaxSerialLead ahead (ErrSerialAhead). It does not look at the
// delegation, which matters only when a manifest is accepted: a client
// keeps using a manifest after its signer's delegation lapsed.
func (m *Manifest) CheckTime(now time.Time) error {
	if !now.Before(m.Expires) {
		return fmt.Errorf("%w: serial %d expired at %s", ErrExpired, m.Serial, m.Expires.Format(time.RFC3339))
	}
	if m.Issued.After(now.Add(ClockSkew)) {
		return fmt.Errorf("%w: serial %d issued at %s", ErrNotYetValid, m.Serial, m.Issued.Format(time.RFC3339))
	}
	if limit := now.Add(MaxSerialLead).Unix(); limit < 0 || m.Serial > uint64(limit) {
		return fmt.Errorf("%w: serial %d is later than %d, %s after the time now", ErrSerialAhead, m.Serial, max(limit, 0), MaxSerialLead)
	}
	return nil
}

// VerifyNetwork is Verify, and also checks that the manifest is for
// network; it returns ErrWrongNetwork if not.
func VerifyNetwork(blob []byte, networkKey ed25519.PublicKey, network string, now time.Time) (*Manifest, error) {
	m, err := Verify(blob, networkKey, now)
	if err != nil {
		return nil, err
	}
	if err := m.checkNetwork(network); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manifest) checkNetwork(network string) error {
	if m.Network != network {
		return fmt.Errorf("%w: manifest is for %q, want %q", ErrWrongNetwork, m.Network, network)
	}
	return nil
}

// Open checks blob's chain of signatures back to networkKey and its
// structure, but not its times: for operator tools that look at old
// manifests, and for rollback checks against a manifest that has since
// expired. Clients deciding what to dial use Verify or a Keeper.
func Open(blob []byte, networkKey ed25519.PublicKey) (*Manifest, error) {
	m, _, err := open(blob, networkKey)
	return m, err
}

// OpenChain is Open, and also returns the delegation of the node key that
// signed the manifest, or nil if the network key signed it itself.
func OpenChain(blob []byte, networkKey ed25519.PublicKey) (*Manifest, *Delegation, error) {
	return open(blob, networkKey)
}

// ParseUnverified decodes blob and checks its structure WITHOUT checking
// its signature, for showing a blob whose network key is not at hand.
// Nothing it returns may be trusted.
func ParseUnverified(blob []byte) (*Manifest, error) {
	sm, err := unmarshalSigned(blob)
	if err != nil {
		return nil, err
	}
	return decodeBody(sm.Body)
}

// open checks everything Verify checks except time, and returns the
// delegation of the node key that signed (nil: the network key did).
func open(blob []byte, networkKey ed25519.PublicKey) (*Manifest, *Delegation, error) {
	if len(networkKey) != ed25519.PublicKeySize {
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrBadKey, len(networkKey))
	}
	sm, err := unmarshalSigned(blob)
	if err != nil {
		return nil, nil, err
	}
	if len(sm.Signature) != ed25519.SignatureSize || len(sm.Body) == 0 {
		return nil, nil, fmt.Errorf("%w: missing body or signature", ErrMalformed)
	}
	if sm.Version == Version {
		if !ed25519.Verify(networkKey, signedMessage(sm.Body), sm.Signature) {
			return nil, nil, ErrBadSignature
		}
		m, err := decodeBody(sm.Body)
		return m, nil, err
	}
	d, err := ParseDelegation(sm.Delegation)
	if err != nil {
		return nil, nil, err
	}
	if err := d.checkIssuer(networkKey); err != nil {
		return nil, nil, err
	}
	if !ed25519.Verify(d.NodeKey, delegatedMessage(sm.Delegation, sm.Body), sm.Signature) {
		return nil, nil, fmt.Errorf("%w: by node key %s", ErrBadSignature, KeyID(d.NodeKey))
	}
	m, err := decodeBody(sm.Body)
	if err != nil {
		return nil, nil, err
	}
	if err := d.checkManifest(m); err != nil {
		return nil, nil, err
	}
	return m, d, nil
}

// unmarshalSigned decodes blob's envelope and checks its size and
// version, leaving the signatures and body to the caller.
func unmarshalSigned(blob []byte) (*manifestpb.SignedManifest, error) {
	if len(blob) > MaxBlobSize {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrMalformed, len(blob), MaxBlobSize)
	}
	var sm manifestpb.SignedManifest
	if err := proto.Unmarshal(blob, &sm); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch {
	case sm.Version != Version && sm.Version != delegatedVersion:
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedVersion, sm.Version)
	case sm.Version == Version && len(sm.Delegation) != 0:
		return nil, fmt.Errorf("%w: a delegation in a manifest signed by the network key", ErrMalformed)
	case sm.Version == delegatedVersion && len(sm.Delegation) == 0:
		return nil, fmt.Errorf("%w: a version %d manifest without its delegation", ErrMalformed, delegatedVersion)
	}
	return &sm, nil
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
		Cohorts:   m.Cohorts,
	}
	for _, k := range m.Revoked {
		body.Revoked = append(body.Revoked, bytes.Clone(k))
	}
	for _, r := range m.Relays {
		pr := &manifestpb.Relay{Id: r.ID, NoiseKey: bytes.Clone(r.NoiseKey[:])}
		for _, e := range r.Endpoints {
			pr.Endpoints = append(pr.Endpoints, &manifestpb.Endpoint{
				Transport: e.Transport,
				Address:   e.Address,
				Sni:       e.SNI,
				Host:      e.Host,
				Path:      e.Path,
				Secret:    bytes.Clone(e.Secret),
				TlsPin:    bytes.Clone(e.TLSPin),
				Cohort:    e.Cohort,
				Standby:   e.Standby,
			})
		}
		body.Relays = append(body.Relays, pr)
	}
	for _, c := range m.Channels {
		body.Channels = append(body.Channels, &manifestpb.Channel{
			Kind:    c.Kind,
			Url:     c.URL,
			Name:    c.Name,
			Address: c.Address,
			Sni:     c.SNI,
			Host:    c.Host,
			Path:    c.Path,
			TlsPin:  bytes.Clone(c.TLSPin),
		})
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
		Cohorts: body.Cohorts,
	}
	m.TrustRoot = nonEmpty(body.TrustRoot)
	if len(body.Revoked) > MaxRevoked {
		return nil, fmt.Errorf("%w: %d revoked keys (max %d)", ErrInvalid, len(body.Revoked), MaxRevoked)
	}
	for _, k := range body.Revoked {
		m.Revoked = append(m.Revoked, ed25519.PublicKey(k))
	}
	if len(body.Channels) > MaxChannels {
		return nil, fmt.Errorf("%w: %d channels (max %d)", ErrInvalid, len(body.Channels), MaxChannels)
	}
	for _, pc := range body.Channels {
		m.Channels = append(m.Channels, Channel{
			Kind:    pc.Kind,
			URL:     pc.Url,
			Name:    pc.Name,
			Address: pc.Address,
			SNI:     pc.Sni,
			Host:    pc.Host,
			Path:    pc.Path,
			TLSPin:  nonEmpty(pc.TlsPin),
		})
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
			r.Endpoints = append(r.Endpoints, Endpoint{
				Transport: pe.Transport,
				Address:   pe.Address,
				SNI:       pe.Sni,
				Host:      pe.Host,
				Path:      pe.Path,
				Secret:    nonEmpty(pe.Secret),
				TLSPin:    nonEmpty(pe.TlsPin),
				Cohort:    pe.Cohort,
				Standby:   pe.Standby,
			})
		}
		m.Relays = append(m.Relays, r)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// nonEmpty returns b, or nil if it is empty, so that decoded manifests
// compare equal to the ones that were signed.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
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
	if m.Cohorts > MaxCohorts {
		return fmt.Errorf("%w: %d cohorts (max %d)", ErrInvalid, m.Cohorts, MaxCohorts)
	}
	if len(m.Channels) > MaxChannels {
		return fmt.Errorf("%w: %d channels (max %d)", ErrInvalid, len(m.Channels), MaxChannels)
	}
	if len(m.Revoked) > MaxRevoked {
		return fmt.Errorf("%w: %d revoked keys (max %d)", ErrInvalid, len(m.Revoked), MaxRevoked)
	}
	for i, k := range m.Revoked {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: revoked key %d of %d bytes", ErrInvalid, i, len(k))
		}
	}
	for i, c := range m.Channels {
		if err := c.validate(); err != nil {
			return fmt.Errorf("%w: channel %d: %w", ErrInvalid, i, err)
		}
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
		for i, e := range r.Endpoints {
			if err := e.validate(m.Cohorts); err != nil {
				return fmt.Errorf("%w: relay %q: endpoint %d: %w", ErrInvalid, r.ID, i, err)
			}
		}
	}
	return nil
}

// errField is what validate's helpers return; the caller wraps it in
// ErrInvalid.
type errField string

func (e errField) Error() string { return string(e) }

func badField(format string, args ...any) error { return errField(fmt.Sprintf(format, args...)) }

func (e *Endpoint) validate(cohorts uint32) error {
	switch {
	case !validTransport(e.Transport):
		return badField("transport %q", e.Transport)
	case !validAddress(e.Address):
		return badField("address %q", e.Address)
	case e.SNI != "" && !validHostname(e.SNI):
		return badField("sni %q", e.SNI)
	case e.Host != "" && !validAddress(e.Host):
		return badField("host %q", e.Host)
	case e.Path != "" && !validPath(e.Path):
		return badField("path %q", e.Path)
	case len(e.Secret) > maxSecretLen:
		return badField("secret of %d bytes (max %d)", len(e.Secret), maxSecretLen)
	case len(e.TLSPin) != 0 && len(e.TLSPin) != tlsPinSize:
		return badField("tls pin of %d bytes (want %d)", len(e.TLSPin), tlsPinSize)
	case e.Cohort > cohorts:
		return badField("cohort %d of %d", e.Cohort, cohorts)
	}
	return nil
}

func (c *Channel) validate() error {
	// A placeholder stands for a number (see ForCohort).
	c0 := *c
	c0.URL = strings.ReplaceAll(c.URL, CohortPlaceholder, "0")
	c0.Name = strings.ReplaceAll(c.Name, CohortPlaceholder, "0")
	c0.Path = strings.ReplaceAll(c.Path, CohortPlaceholder, "0")
	c = &c0
	switch {
	case !validTransport(c.Kind):
		return badField("kind %q", c.Kind)
	case c.URL != "" && !validURL(c.URL):
		return badField("url %q", c.URL)
	case c.Name != "" && !validHostname(c.Name):
		return badField("name %q", c.Name)
	case c.Address != "" && !validAddress(c.Address):
		return badField("address %q", c.Address)
	case c.SNI != "" && !validHostname(c.SNI):
		return badField("sni %q", c.SNI)
	case c.Host != "" && !validAddress(c.Host):
		return badField("host %q", c.Host)
	case c.Path != "" && !validPath(c.Path):
		return badField("path %q", c.Path)
	case len(c.TLSPin) != 0 && len(c.TLSPin) != tlsPinSize:
		return badField("tls pin of %d bytes (want %d)", len(c.TLSPin), tlsPinSize)
	}
	switch c.Kind {
	case "https":
		if c.URL == "" {
			return badField("https channel without a url")
		}
	case "doh":
		if c.URL == "" || c.Name == "" {
			return badField("doh channel needs a url and a name")
		}
	case "front":
		if c.Address == "" || c.Host == "" || c.Path == "" {
			return badField("front channel needs an address, a host and a path")
		}
	}
	return nil
}

// validURL allows an absolute https URL of printable ASCII without spaces.
func validURL(s string) bool {
	if len(s) > maxURLLen || !printable(s) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

// validPath allows a path starting with '/' of printable ASCII without
// spaces.
func validPath(s string) bool {
	return len(s) <= maxPathLen && strings.HasPrefix(s, "/") && printable(s)
}

// validHostname allows 1 to 253 of [A-Za-z0-9.-_]: a DNS name, not
// checked further (SNI and DoH names are only strings to this package).
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
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
	return len(s) != 0 && len(s) <= maxAddressLen && printable(s)
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

// String summarizes the manifest for logs: addresses and names are
// included, endpoint secrets are not.
func (m *Manifest) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "manifest %s serial %d expires %s:", m.Network, m.Serial, m.Expires.Format(time.RFC3339))
	for _, r := range m.Relays {
		fmt.Fprintf(&b, " %s[", r.ID)
		for i, e := range r.Endpoints {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(e.String())
		}
		b.WriteByte(']')
	}
	if len(m.Revoked) > 0 {
		fmt.Fprintf(&b, " revokes %d node keys", len(m.Revoked))
	}
	if len(m.Channels) > 0 {
		fmt.Fprintf(&b, " channels[")
		for i, c := range m.Channels {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(c.String())
		}
		b.WriteByte(']')
	}
	return b.String()
}

// String describes the endpoint as transport:address followed by the
// fields that are set; a secret shows only as "secret=set".
func (e Endpoint) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%s", e.Transport, e.Address)
	opt(&b, "sni", e.SNI)
	opt(&b, "host", e.Host)
	opt(&b, "path", e.Path)
	if len(e.Secret) > 0 {
		b.WriteString(",secret=set")
	}
	if len(e.TLSPin) > 0 {
		fmt.Fprintf(&b, ",pin=%x", e.TLSPin[:min(4, len(e.TLSPin))])
	}
	if e.Cohort != 0 {
		fmt.Fprintf(&b, ",cohort=%d", e.Cohort)
	}
	if e.Standby {
		b.WriteString(",standby")
	}
	return b.String()
}

// GoString is String, so that %#v does not print the secret either.
func (e Endpoint) GoString() string { return "manifest.Endpoint{" + e.String() + "}" }

// Equal reports whether e and o are the same endpoint, field by field
// (the secrets compared in constant time).
func (e Endpoint) Equal(o Endpoint) bool {
	return e.Transport == o.Transport && e.Address == o.Address && e.SNI == o.SNI &&
		e.Host == o.Host && e.Path == o.Path && e.Cohort == o.Cohort && e.Standby == o.Standby &&
		bytes.Equal(e.TLSPin, o.TLSPin) &&
		len(e.Secret) == len(o.Secret) && subtle.ConstantTimeCompare(e.Secret, o.Secret) == 1
}

// String describes the channel as kind:url-or-address with its fields.
func (c Channel) String() string {
	var b strings.Builder
	b.WriteString(c.Kind)
	b.WriteByte(':')
	if c.URL != "" {
		b.WriteString(c.URL)
	} else {
		b.WriteString(c.Address)
	}
	opt(&b, "name", c.Name)
	if c.URL != "" {
		opt(&b, "address", c.Address)
	}
	opt(&b, "sni", c.SNI)
	opt(&b, "host", c.Host)
	opt(&b, "path", c.Path)
	if len(c.TLSPin) > 0 {
		fmt.Fprintf(&b, ",pin=%x", c.TLSPin[:min(4, len(c.TLSPin))])
	}
	return b.String()
}

func opt(b *strings.Builder, k, v string) {
	if v != "" {
		fmt.Fprintf(b, ",%s=%s", k, v)
	}
}
