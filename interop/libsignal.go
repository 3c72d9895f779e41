package interop

import (
	"context"
	"time"
)

// Peer names a remote device as libsignal's ProtocolAddress does.
type Peer struct {
	Name   string `json:"name"`
	Device uint32 `json:"device"`
}

// PartyOptions configure a new libsignal party. Zero values pick defaults:
// a random UUID address, device 1, a random registration id, a fresh identity.
type PartyOptions struct {
	Address         string `json:"address,omitempty"`
	DeviceID        uint32 `json:"deviceId,omitempty"`
	RegistrationID  uint32 `json:"registrationId,omitempty"`
	IdentityPrivate []byte `json:"identityPrivate,omitempty"` // 32 bytes
	TrustAll        bool   `json:"trustAll,omitempty"`        // accept changed identities
}

// Party is a named libsignal party living in the harness.
type Party struct {
	d              *Driver
	Name           string // harness-side handle
	Address        string `json:"address"`
	DeviceID       uint32 `json:"deviceId"`
	RegistrationID uint32 `json:"registrationId"`
	IdentityKey    []byte `json:"identityKey"` // 33 bytes, 0x05 prefix
}

// Peer returns the party's address for others to use.
func (p *Party) Peer() Peer { return Peer{Name: p.Address, Device: p.DeviceID} }

// Bundle is a prekey bundle with every key serialized as libsignal does
// (EC keys 33 bytes with 0x05, Kyber keys 1569 bytes with 0x08).
type Bundle struct {
	RegistrationID        uint32  `json:"registrationId"`
	DeviceID              uint32  `json:"deviceId"`
	PreKeyID              *uint32 `json:"preKeyId"`
	PreKey                []byte  `json:"preKey"`
	SignedPreKeyID        uint32  `json:"signedPreKeyId"`
	SignedPreKey          []byte  `json:"signedPreKey"`
	SignedPreKeySignature []byte  `json:"signedPreKeySignature"`
	IdentityKey           []byte  `json:"identityKey"`
	KyberPreKeyID         uint32  `json:"kyberPreKeyId"`
	KyberPreKey           []byte  `json:"kyberPreKey"`
	KyberPreKeySignature  []byte  `json:"kyberPreKeySignature"`
}

// BundleOptions choose which keys a bundle carries.
type BundleOptions struct {
	NoPreKey        bool // omit the one-time EC prekey
	LastResortKyber bool // use the last-resort Kyber key instead of a one-time one
	NewSignedPreKey bool // rotate the signed prekey first
}

// Ciphertext is a CiphertextMessage: its type (2 Whisper, 3 PreKey,
// 7 SenderKey) and serialized body.
type Ciphertext struct {
	Type int    `json:"type"`
	Body []byte `json:"body"`
}

// NewParty creates a libsignal party named name in the harness.
func (d *Driver) NewParty(ctx context.Context, name string, o PartyOptions) (*Party, error) {
	args := struct {
		Party string `json:"party"`
		PartyOptions
	}{name, o}
	p := &Party{d: d, Name: name}
	if err := d.Call(ctx, "createParty", args, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Bundle hands out a bundle with fresh one-time keys (per o).
func (p *Party) Bundle(ctx context.Context, o BundleOptions) (Bundle, error) {
	kyber := "onetime"
	if o.LastResortKyber {
		kyber = "lastresort"
	}
	args := map[string]any{"party": p.Name, "preKey": !o.NoPreKey, "kyber": kyber, "newSignedPreKey": o.NewSignedPreKey}
	var b Bundle
	err := p.d.Call(ctx, "bundle", args, &b)
	return b, err
}

// IdentityPrivate returns the party's 32-byte identity private key (tests
// use it to compute the same fingerprint from both sides).
func (p *Party) IdentityPrivate(ctx context.Context) ([]byte, error) {
	var r struct {
		IdentityPrivate []byte `json:"identityPrivate"`
	}
	err := p.d.Call(ctx, "identityPrivate", map[string]any{"party": p.Name}, &r)
	return r.IdentityPrivate, err
}

// ProcessBundle starts a session with peer from its bundle.
func (p *Party) ProcessBundle(ctx context.Context, peer Peer, b Bundle) error {
	return p.d.Call(ctx, "processBundle", map[string]any{"party": p.Name, "peer": peer, "bundle": b}, nil)
}

// Encrypt encrypts plaintext for peer in the current session.
func (p *Party) Encrypt(ctx context.Context, peer Peer, plaintext []byte) (Ciphertext, error) {
	var c Ciphertext
	err := p.d.Call(ctx, "encrypt", map[string]any{"party": p.Name, "peer": peer, "plaintext": plaintext}, &c)
	return c, err
}

// Decrypt decrypts a PreKey or Whisper message from peer.
func (p *Party) Decrypt(ctx context.Context, peer Peer, c Ciphertext) ([]byte, error) {
	var r struct {
		Plaintext []byte `json:"plaintext"`
	}
	err := p.d.Call(ctx, "decrypt", map[string]any{"party": p.Name, "peer": peer, "type": c.Type, "body": c.Body}, &r)
	return r.Plaintext, err
}

// MessageInfo is what libsignal parses out of a message's header.
type MessageInfo struct {
	Version        int     `json:"version"`
	Counter        uint32  `json:"counter"`
	PQRatchetLen   int     `json:"pqRatchetLen"`
	PreKeyID       *uint32 `json:"preKeyId"`
	SignedPreKeyID uint32  `json:"signedPreKeyId"`
	RegistrationID uint32  `json:"registrationId"`
}

// Inspect parses c with libsignal's deserializers.
func (d *Driver) Inspect(ctx context.Context, c Ciphertext) (MessageInfo, error) {
	var m MessageInfo
	err := d.Call(ctx, "inspect", map[string]any{"type": c.Type, "body": c.Body}, &m)
	return m, err
}

// SessionState summarises p's session record for peer.
type SessionState struct {
	Exists               bool   `json:"exists"`
	HasCurrent           bool   `json:"hasCurrent"`
	LocalRegistrationID  uint32 `json:"localRegistrationId"`
	RemoteRegistrationID uint32 `json:"remoteRegistrationId"`
}

// SessionState reports p's session with peer.
func (p *Party) SessionState(ctx context.Context, peer Peer) (SessionState, error) {
	var s SessionState
	err := p.d.Call(ctx, "sessionState", map[string]any{"party": p.Name, "peer": peer}, &s)
	return s, err
}

// Establish sets up a session between two libsignal parties (a initiates,
// b answers once).
func (d *Driver) Establish(ctx context.Context, a, b *Party) error {
	return d.Call(ctx, "establish", map[string]any{"a": a.Name, "b": b.Name}, nil)
}

// SenderKeyCreate makes (or reuses) p's sender key for distributionID (a
// UUID string) and returns the serialized SenderKeyDistributionMessage.
func (p *Party) SenderKeyCreate(ctx context.Context, distributionID string) ([]byte, error) {
	var r struct {
		SKDM []byte `json:"skdm"`
	}
	err := p.d.Call(ctx, "senderKeyCreate", map[string]any{"party": p.Name, "distributionId": distributionID}, &r)
	return r.SKDM, err
}

// SenderKeyProcess stores sender's distribution message.
func (p *Party) SenderKeyProcess(ctx context.Context, sender Peer, skdm []byte) error {
	return p.d.Call(ctx, "senderKeyProcess", map[string]any{"party": p.Name, "sender": sender, "skdm": skdm}, nil)
}

// GroupEncrypt encrypts with p's sender key for distributionID.
func (p *Party) GroupEncrypt(ctx context.Context, distributionID string, plaintext []byte) ([]byte, error) {
	var c Ciphertext
	err := p.d.Call(ctx, "groupEncrypt", map[string]any{"party": p.Name, "distributionId": distributionID, "plaintext": plaintext}, &c)
	return c.Body, err
}

// GroupDecrypt decrypts a SenderKeyMessage from sender.
func (p *Party) GroupDecrypt(ctx context.Context, sender Peer, body []byte) ([]byte, error) {
	var r struct {
		Plaintext []byte `json:"plaintext"`
	}
	err := p.d.Call(ctx, "groupDecrypt", map[string]any{"party": p.Name, "sender": sender, "body": body}, &r)
	return r.Plaintext, err
}

// SealedSetup is a trust root and a server certificate signed by it.
type SealedSetup struct {
	TrustRootPublic   []byte `json:"trustRootPublic"`
	TrustRootPrivate  []byte `json:"trustRootPrivate"`
	ServerPrivate     []byte `json:"serverPrivate"`
	ServerCertificate []byte `json:"serverCertificate"`
}

// SealedSetup makes a fresh trust root and server certificate (key id keyID).
func (d *Driver) SealedSetup(ctx context.Context, keyID uint32) (SealedSetup, error) {
	var s SealedSetup
	err := d.Call(ctx, "sealedSetup", map[string]any{"keyId": keyID}, &s)
	return s, err
}

// SenderCertificateRequest describes a sender certificate to sign.
type SenderCertificateRequest struct {
	SenderUUID        string `json:"senderUuid"`
	SenderE164        string `json:"senderE164,omitempty"`
	SenderDeviceID    uint32 `json:"senderDeviceId"`
	SenderKey         []byte `json:"senderKey"`
	Expiration        int64  `json:"expiration"` // ms since the epoch
	ServerCertificate []byte `json:"serverCertificate"`
	ServerPrivate     []byte `json:"serverPrivate"`
}

// SenderCertificate has libsignal sign a sender certificate.
func (d *Driver) SenderCertificate(ctx context.Context, r SenderCertificateRequest) ([]byte, error) {
	var out struct {
		Certificate []byte `json:"certificate"`
	}
	err := d.Call(ctx, "senderCertificate", r, &out)
	return out.Certificate, err
}

// CertificateInfo is libsignal's view of a sender certificate.
type CertificateInfo struct {
	Valid          bool    `json:"valid"`
	SenderUUID     string  `json:"senderUuid"`
	SenderE164     *string `json:"senderE164"`
	SenderDeviceID uint32  `json:"senderDeviceId"`
	SenderKey      []byte  `json:"senderKey"`
	Expiration     int64   `json:"expiration"`
}

// ValidateSenderCertificate checks cert against trustRoot at time now.
func (d *Driver) ValidateSenderCertificate(ctx context.Context, cert, trustRoot []byte, now time.Time) (CertificateInfo, error) {
	var ci CertificateInfo
	err := d.Call(ctx, "senderCertificateValidate", map[string]any{"certificate": cert, "trustRoot": trustRoot, "time": now.UnixMilli()}, &ci)
	return ci, err
}

// SealedEncrypt encrypts plaintext for peer in the session, wraps it with
// senderCert and seals it (sealed sender v1).
func (p *Party) SealedEncrypt(ctx context.Context, peer Peer, senderCert, plaintext []byte) ([]byte, error) {
	var r struct {
		Body []byte `json:"body"`
	}
	err := p.d.Call(ctx, "sealedEncrypt", map[string]any{"party": p.Name, "peer": peer, "senderCertificate": senderCert, "plaintext": plaintext}, &r)
	return r.Body, err
}

// SealedEncryptGroup seals a sender-key message (p's chain for
// distributionID) to peer with sealed sender v1; peer's identity must be known
// to p (from a session).
func (p *Party) SealedEncryptGroup(ctx context.Context, peer Peer, distributionID string, senderCert, groupID, plaintext []byte) ([]byte, error) {
	var r struct {
		Body []byte `json:"body"`
	}
	err := p.d.Call(ctx, "sealedEncrypt", map[string]any{
		"party": p.Name, "peer": peer, "distributionId": distributionID,
		"senderCertificate": senderCert, "groupId": groupID, "plaintext": plaintext,
	}, &r)
	return r.Body, err
}

// SealedResult is what sealed-sender decryption reveals.
type SealedResult struct {
	Plaintext  []byte  `json:"plaintext"`
	SenderUUID string  `json:"senderUuid"`
	SenderE164 *string `json:"senderE164"`
	DeviceID   uint32  `json:"deviceId"`
}

// SealedDecrypt opens a sealed-sender message (v1 or v2 single-recipient
// copy), validates the certificate against trustRoot at now and decrypts the
// inner message.
func (p *Party) SealedDecrypt(ctx context.Context, body, trustRoot []byte, now time.Time) (SealedResult, error) {
	var r SealedResult
	err := p.d.Call(ctx, "sealedDecrypt", map[string]any{"party": p.Name, "body": body, "trustRoot": trustRoot, "timestamp": now.UnixMilli()}, &r)
	return r, err
}

// USMC is an UnidentifiedSenderMessageContent as libsignal parses it.
type USMC struct {
	MsgType           int    `json:"msgType"`
	Contents          []byte `json:"contents"`
	SenderCertificate []byte `json:"senderCertificate"`
	ContentHint       int    `json:"contentHint"`
	GroupID           []byte `json:"groupId"`
}

// SealedDecryptToUSMC opens the outer layers only.
func (p *Party) SealedDecryptToUSMC(ctx context.Context, body []byte) (USMC, error) {
	var u USMC
	err := p.d.Call(ctx, "sealedDecryptToUsmc", map[string]any{"party": p.Name, "body": body}, &u)
	return u, err
}

// SealedGroupEncrypt group-encrypts plaintext and seals it for recipients
// with sealed sender v2; it returns the multi-recipient message as sent to
// the server.
func (p *Party) SealedGroupEncrypt(ctx context.Context, distributionID string, recipients []Peer, senderCert, groupID, plaintext []byte) ([]byte, error) {
	var r struct {
		Sent []byte `json:"sent"`
	}
	err := p.d.Call(ctx, "sealedGroupEncrypt", map[string]any{
		"party": p.Name, "distributionId": distributionID, "recipients": recipients,
		"senderCertificate": senderCert, "groupId": groupID, "plaintext": plaintext,
	}, &r)
	return r.Sent, err
}

// SplitRecipient is one recipient's part of a multi-recipient message.
type SplitRecipient struct {
	DeviceIDs       []uint32 `json:"deviceIds"`
	RegistrationIDs []uint32 `json:"registrationIds"`
	Message         []byte   `json:"message"`
}

// SealedMultiSplit runs libsignal's server-side parser over a sealed sender
// v2 message and returns each recipient's copy, keyed by service id string.
func (d *Driver) SealedMultiSplit(ctx context.Context, sent []byte) (map[string]SplitRecipient, error) {
	r, _, err := d.SealedMultiSplitExcluded(ctx, sent)
	return r, err
}

// SealedMultiSplitExcluded is SealedMultiSplit that also returns the
// service ids the sender marked as excluded.
func (d *Driver) SealedMultiSplitExcluded(ctx context.Context, sent []byte) (map[string]SplitRecipient, []string, error) {
	var r struct {
		Recipients map[string]SplitRecipient `json:"recipients"`
		Excluded   []string                  `json:"excluded"`
	}
	err := d.Call(ctx, "sealedMultiSplit", map[string]any{"sent": sent}, &r)
	return r.Recipients, r.Excluded, err
}

// Fingerprint is a safety number as libsignal computes it.
type Fingerprint struct {
	Displayable string `json:"displayable"`
	Scannable   []byte `json:"scannable"`
}

// Fingerprint computes the version-2 fingerprint with 5200 iterations.
func (d *Driver) Fingerprint(ctx context.Context, localID, localKey, remoteID, remoteKey []byte) (Fingerprint, error) {
	var f Fingerprint
	err := d.Call(ctx, "fingerprint", map[string]any{
		"iterations": 5200, "version": 2,
		"localId": localID, "localKey": localKey, "remoteId": remoteID, "remoteKey": remoteKey,
	}, &f)
	return f, err
}

// FingerprintCompare has libsignal compare two scannable fingerprints (its
// own and the other side's, as scanned).
func (d *Driver) FingerprintCompare(ctx context.Context, local, remote []byte) (bool, error) {
	var r struct {
		Match bool `json:"match"`
	}
	err := d.Call(ctx, "fingerprintCompare", map[string]any{"local": local, "remote": remote}, &r)
	return r.Match, err
}

// BenchResult is a harness timing: n iterations in elapsed wall time.
type BenchResult struct {
	N         int   `json:"n"`
	ElapsedNs int64 `json:"elapsedNs"`
}

// PerOp is the mean time of one iteration.
func (b BenchResult) PerOp() time.Duration {
	if b.N == 0 {
		return 0
	}
	return time.Duration(b.ElapsedNs / int64(b.N))
}

// BenchEncrypt times n encrypt+decrypt round trips of size bytes between two
// libsignal parties in an established session (always the same direction).
func (d *Driver) BenchEncrypt(ctx context.Context, n, size int) (BenchResult, error) {
	var r BenchResult
	err := d.Call(ctx, "benchEncrypt", map[string]any{"n": n, "size": size}, &r)
	return r, err
}

// BenchSetup times n session setups: process a fresh bundle, encrypt one
// PreKey message of size bytes, decrypt it on the other side.
func (d *Driver) BenchSetup(ctx context.Context, n, size int) (BenchResult, error) {
	var r BenchResult
	err := d.Call(ctx, "benchSetup", map[string]any{"n": n, "size": size}, &r)
	return r, err
}

// SPQRProbe is the outcome of libsignal receiving a message without SPQR
// data on a session whose SPQR version is still open to negotiation.
type SPQRProbe struct {
	Accepted bool     `json:"accepted"`
	Error    string   `json:"error"`
	Logs     []string `json:"logs"` // libsignal's log lines during the attempt
}

// SPQRProbe checks whether libsignal refuses a peer that does not speak SPQR.
func (d *Driver) SPQRProbe(ctx context.Context) (SPQRProbe, error) {
	var p SPQRProbe
	err := d.Call(ctx, "spqrProbe", nil, &p)
	return p, err
}

// SaveIdentity records peer's identity key in p's identity store.
func (p *Party) SaveIdentity(ctx context.Context, peer Peer, identityKey []byte) error {
	return p.d.Call(ctx, "saveIdentity", map[string]any{"party": p.Name, "peer": peer, "identityKey": identityKey}, nil)
}

// RecordRef names one of a party's stored records for ExportRecord.
type RecordRef struct {
	Kind           string `json:"kind"` // session, prekey, signedPrekey, kyberPrekey, senderKey
	Peer           *Peer  `json:"peer,omitempty"`
	ID             uint32 `json:"id,omitempty"`
	Sender         *Peer  `json:"sender,omitempty"`
	DistributionID string `json:"distributionId,omitempty"`
}

// ExportRecord returns a record as libsignal serialized it in p's store.
func (p *Party) ExportRecord(ctx context.Context, ref RecordRef) ([]byte, error) {
	args := struct {
		Party string `json:"party"`
		RecordRef
	}{p.Name, ref}
	var r struct {
		Record []byte `json:"record"`
	}
	err := p.d.Call(ctx, "exportRecord", args, &r)
	return r.Record, err
}

// RecordInfo is what libsignal reads from a serialized record.
type RecordInfo struct {
	ID                   uint32 `json:"id"`
	PublicKey            []byte `json:"publicKey"`
	Signature            []byte `json:"signature"`
	Timestamp            int64  `json:"timestamp"`
	PrivateMatches       bool   `json:"privateMatches"`
	LocalRegistrationID  uint32 `json:"localRegistrationId"`
	RemoteRegistrationID uint32 `json:"remoteRegistrationId"`
	HasCurrent           bool   `json:"hasCurrent"`
}

// ParseRecord has libsignal deserialize a record of the given kind.
func (d *Driver) ParseRecord(ctx context.Context, kind string, record []byte) (RecordInfo, error) {
	var ri RecordInfo
	err := d.Call(ctx, "parseRecord", map[string]any{"kind": kind, "record": record}, &ri)
	return ri, err
}

// GroupSkip advances p's sender chain for distributionID by n discarded
// messages.
func (p *Party) GroupSkip(ctx context.Context, distributionID string, n int) error {
	return p.d.Call(ctx, "groupSkip", map[string]any{"party": p.Name, "distributionId": distributionID, "n": n}, nil)
}
