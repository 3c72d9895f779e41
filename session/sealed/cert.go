package sealed

import (
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/pb"
)

// revokedServerCertificateIDs lists revoked server certificate key ids.
// 0xDEADC357 is libsignal's test id for the revocation logic.
var revokedServerCertificateIDs = []uint32{0xDEADC357}

// ServerCertificate binds a server's signing key to a key id, signed by a
// trust root.
type ServerCertificate struct {
	keyID       uint32
	key         curve.PublicKey
	certificate []byte // the signed, serialized inner Certificate
	signature   []byte
	raw         []byte
}

// NewServerCertificate issues a server certificate for key under keyID,
// signed by the trust root's private key.
func NewServerCertificate(keyID uint32, key curve.PublicKey, trustRoot curve.PrivateKey, rand io.Reader) (*ServerCertificate, error) {
	inner, err := proto.Marshal(&pb.ServerCertificate_Certificate{Id: proto.Uint32(keyID), Key: key.Bytes()})
	if err != nil {
		return nil, fmt.Errorf("sealed: encode server certificate: %w", err)
	}
	sig, err := trustRoot.Sign(rand, inner)
	if err != nil {
		return nil, fmt.Errorf("sealed: sign server certificate: %w", err)
	}
	raw, err := proto.Marshal(&pb.ServerCertificate{Certificate: inner, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("sealed: encode server certificate: %w", err)
	}
	return &ServerCertificate{keyID: keyID, key: key, certificate: inner, signature: sig, raw: raw}, nil
}

// ParseServerCertificate parses a serialized ServerCertificate. It does not
// validate it; see Validate.
func ParseServerCertificate(b []byte) (*ServerCertificate, error) {
	var outer pb.ServerCertificate
	if err := pb.UnmarshalStrict(b, &outer); err != nil {
		return nil, fmt.Errorf("%w: server certificate: %v", ErrMalformed, err)
	}
	if outer.Certificate == nil || outer.Signature == nil {
		return nil, fmt.Errorf("%w: server certificate lacks a field", ErrMalformed)
	}
	var inner pb.ServerCertificate_Certificate
	if err := pb.UnmarshalStrict(outer.Certificate, &inner); err != nil {
		return nil, fmt.Errorf("%w: server certificate body: %v", ErrMalformed, err)
	}
	if inner.Key == nil || inner.Id == nil {
		return nil, fmt.Errorf("%w: server certificate lacks a field", ErrMalformed)
	}
	key, err := curve.DecodePublicKey(inner.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: server certificate key: %v", ErrMalformed, err)
	}
	return &ServerCertificate{
		keyID:       *inner.Id,
		key:         key,
		certificate: outer.Certificate,
		signature:   outer.Signature,
		raw:         append([]byte(nil), b...),
	}, nil
}

// Validate checks that the certificate is not revoked and is signed by
// trustRoot.
func (c *ServerCertificate) Validate(trustRoot curve.PublicKey) error {
	for _, id := range revokedServerCertificateIDs {
		if c.keyID == id {
			return fmt.Errorf("%w: id %#x", ErrRevoked, id)
		}
	}
	if !trustRoot.VerifySignature(c.signature, c.certificate) {
		return ErrUntrusted
	}
	return nil
}

// KeyID returns the certificate's key id.
func (c *ServerCertificate) KeyID() uint32 { return c.keyID }

// Key returns the server's signing key.
func (c *ServerCertificate) Key() curve.PublicKey { return c.key }

// Bytes returns the serialized certificate. The caller must not modify it.
func (c *ServerCertificate) Bytes() []byte { return c.raw }

// knownServerCertificates are server certificates that sender certificates
// may name by id instead of embedding, as libsignal ships them: its staging
// (2) and production (3) certificates and its test certificate, signed by
// the trust root whose private key is all zeros for a server key whose
// private key is all 0xFF bytes.
var knownServerCertificates = func() map[uint32]*ServerCertificate {
	certs := map[uint32]string{
		2:          "0a25080212210539450d63ebd0752c0fd4038b9d07a916f5e174b756d409b5ca79f4c97400631e124064c5a38b1e927497d3d4786b101a623ab34a7da3954fae126b04dba9d7a3604ed88cdc8550950f0d4a9134ceb7e19b94139151d2c3d6e1c81e9d1128aafca806",
		3:          "0a250803122105bc9d1d290be964810dfa7e94856480a3f7060d004c9762c24c575a1522353a5a1240c11ec3c401eb0107ab38f8600e8720a63169e0e2eb8a3fae24f63099f85ea319c3c1c46d3454706ae2a679d1fee690a488adda98a2290b66c906bb60295ed781",
		0x7357C357: "0a2908d786df9a07122105847c0d2c375234f365e660955187a3735a0f7613d1609d3a6a4d8c53aeaa5a221240e0b9ebacdfc3aa2827f7924b697784d1c25e44ca05dd433e1a38dc6382eb2730d419ca9a250b1be9d5a9463e61efd6781777a91b83c97b844d014206e2829785",
	}
	m := make(map[uint32]*ServerCertificate, len(certs))
	for id, h := range certs {
		b, err := hex.DecodeString(h)
		if err != nil {
			panic("sealed: bad built-in server certificate")
		}
		c, err := ParseServerCertificate(b)
		if err != nil || c.keyID != id {
			panic("sealed: bad built-in server certificate")
		}
		m[id] = c
	}
	return m
}()

// SenderCertificate is the service's statement that an identity key belongs
// to a sender's device, valid until an expiry time.
type SenderCertificate struct {
	senderUUID  string
	senderE164  *string
	deviceID    uint32
	expiration  uint64 // milliseconds since the epoch
	key         curve.PublicKey
	signer      *ServerCertificate // nil when referenced by id
	signerID    uint32
	certificate []byte
	signature   []byte
	raw         []byte
}

// SenderCertificateParams describes a sender certificate to issue.
type SenderCertificateParams struct {
	SenderUUID string          // the sender's ACI as a UUID string
	SenderE164 string          // the sender's phone number; empty for none
	DeviceID   uint32          // 1..127
	Key        curve.PublicKey // the sender's identity key
	Expiration time.Time       // stored with millisecond precision
}

// NewSenderCertificate issues a sender certificate embedding signer, signed
// with the server's private key.
func NewSenderCertificate(p SenderCertificateParams, signer *ServerCertificate, signerKey curve.PrivateKey, rand io.Reader) (*SenderCertificate, error) {
	if p.DeviceID < 1 || p.DeviceID > 127 {
		return nil, fmt.Errorf("%w: device id %d", ErrInvalidRecipient, p.DeviceID)
	}
	ms := p.Expiration.UnixMilli()
	if ms < 0 {
		return nil, fmt.Errorf("sealed: expiration before 1970")
	}
	cert := &pb.SenderCertificate_Certificate{
		SenderUuid:   &pb.SenderCertificate_Certificate_UuidString{UuidString: p.SenderUUID},
		SenderDevice: proto.Uint32(p.DeviceID),
		Expires:      proto.Uint64(uint64(ms)),
		IdentityKey:  p.Key.Bytes(),
		Signer:       &pb.SenderCertificate_Certificate_Certificate{Certificate: signer.raw},
	}
	var e164 *string
	if p.SenderE164 != "" {
		e164 = proto.String(p.SenderE164)
		cert.SenderE164 = e164
	}
	inner, err := proto.Marshal(cert)
	if err != nil {
		return nil, fmt.Errorf("sealed: encode sender certificate: %w", err)
	}
	sig, err := signerKey.Sign(rand, inner)
	if err != nil {
		return nil, fmt.Errorf("sealed: sign sender certificate: %w", err)
	}
	raw, err := proto.Marshal(&pb.SenderCertificate{Certificate: inner, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("sealed: encode sender certificate: %w", err)
	}
	return &SenderCertificate{
		senderUUID:  p.SenderUUID,
		senderE164:  e164,
		deviceID:    p.DeviceID,
		expiration:  uint64(ms),
		key:         p.Key,
		signer:      signer,
		certificate: inner,
		signature:   sig,
		raw:         raw,
	}, nil
}

// ParseSenderCertificate parses a serialized SenderCertificate with
// libsignal's rules. It does not validate it; see Validate.
func ParseSenderCertificate(b []byte) (*SenderCertificate, error) {
	var outer pb.SenderCertificate
	if err := pb.UnmarshalStrict(b, &outer); err != nil {
		return nil, fmt.Errorf("%w: sender certificate: %v", ErrMalformed, err)
	}
	if outer.Certificate == nil || outer.Signature == nil {
		return nil, fmt.Errorf("%w: sender certificate lacks a field", ErrMalformed)
	}
	var inner pb.SenderCertificate_Certificate
	if err := pb.UnmarshalStrict(outer.Certificate, &inner); err != nil {
		return nil, fmt.Errorf("%w: sender certificate body: %v", ErrMalformed, err)
	}
	if inner.SenderDevice == nil || *inner.SenderDevice < 1 || *inner.SenderDevice > 127 {
		return nil, fmt.Errorf("%w: sender certificate device id", ErrMalformed)
	}
	if inner.Expires == nil {
		return nil, fmt.Errorf("%w: sender certificate lacks an expiry", ErrMalformed)
	}
	c := &SenderCertificate{
		deviceID:    *inner.SenderDevice,
		expiration:  *inner.Expires,
		certificate: outer.Certificate,
		signature:   outer.Signature,
		raw:         append([]byte(nil), b...),
	}
	switch s := inner.Signer.(type) {
	case *pb.SenderCertificate_Certificate_Certificate:
		signer, err := ParseServerCertificate(s.Certificate)
		if err != nil {
			return nil, err
		}
		c.signer = signer
	case *pb.SenderCertificate_Certificate_Id:
		c.signerID = s.Id
	default:
		return nil, fmt.Errorf("%w: sender certificate lacks a signer", ErrMalformed)
	}
	switch u := inner.SenderUuid.(type) {
	case *pb.SenderCertificate_Certificate_UuidString:
		if !utf8.ValidString(u.UuidString) {
			return nil, fmt.Errorf("%w: sender uuid is not utf-8", ErrMalformed)
		}
		c.senderUUID = u.UuidString
	case *pb.SenderCertificate_Certificate_UuidBytes:
		if len(u.UuidBytes) != 16 {
			return nil, fmt.Errorf("%w: sender uuid bytes", ErrMalformed)
		}
		c.senderUUID = formatUUID([16]byte(u.UuidBytes))
	default:
		return nil, fmt.Errorf("%w: sender certificate lacks a uuid", ErrMalformed)
	}
	if inner.SenderE164 != nil {
		if !utf8.ValidString(*inner.SenderE164) {
			return nil, fmt.Errorf("%w: sender e164 is not utf-8", ErrMalformed)
		}
		c.senderE164 = inner.SenderE164
	}
	if inner.IdentityKey == nil {
		return nil, fmt.Errorf("%w: sender certificate lacks an identity key", ErrMalformed)
	}
	key, err := curve.DecodePublicKey(inner.IdentityKey)
	if err != nil {
		return nil, fmt.Errorf("%w: sender certificate identity key: %v", ErrMalformed, err)
	}
	c.key = key
	return c, nil
}

// Signer returns the server certificate that signed this one: the embedded
// one, or the well-known one it names by id.
func (c *SenderCertificate) Signer() (*ServerCertificate, error) {
	if c.signer != nil {
		return c.signer, nil
	}
	if s, ok := knownServerCertificates[c.signerID]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: %#x", ErrUnknownServerCertificate, c.signerID)
}

// Validate checks the certificate chain against trustRoot and the expiry
// against now; see ValidateWithTrustRoots.
func (c *SenderCertificate) Validate(trustRoot curve.PublicKey, now time.Time) error {
	return c.ValidateWithTrustRoots([]curve.PublicKey{trustRoot}, now)
}

// ValidateWithTrustRoots checks, as libsignal does, that the signer is not
// revoked and is signed by one of trustRoots (all are tried, so timing does
// not tell which), that the sender certificate is signed by the signer, and
// that now is not after the expiry.
func (c *SenderCertificate) ValidateWithTrustRoots(trustRoots []curve.PublicKey, now time.Time) error {
	signer, err := c.Signer()
	if err != nil {
		return err
	}
	anyValid := 0
	var firstErr error
	for _, root := range trustRoots {
		err := signer.Validate(root)
		ok := 0
		if err == nil {
			ok = 1
		} else if firstErr == nil {
			firstErr = err
		}
		anyValid |= subtle.ConstantTimeByteEq(uint8(ok), 1)
	}
	if anyValid == 0 {
		if firstErr == nil {
			firstErr = ErrUntrusted
		}
		return firstErr
	}
	if !signer.key.VerifySignature(c.signature, c.certificate) {
		return ErrBadSignature
	}
	if ms := now.UnixMilli(); ms > 0 && uint64(ms) > c.expiration {
		return fmt.Errorf("%w: at %d, expired at %d", ErrExpired, ms, c.expiration)
	}
	return nil
}

// SenderUUID returns the sender's UUID string.
func (c *SenderCertificate) SenderUUID() string { return c.senderUUID }

// SenderE164 returns the sender's phone number, if the certificate has one.
func (c *SenderCertificate) SenderE164() (string, bool) {
	if c.senderE164 == nil {
		return "", false
	}
	return *c.senderE164, true
}

// DeviceID returns the sender's device id.
func (c *SenderCertificate) DeviceID() uint32 { return c.deviceID }

// Key returns the sender's identity key.
func (c *SenderCertificate) Key() curve.PublicKey { return c.key }

// Expiration returns the expiry time.
func (c *SenderCertificate) Expiration() time.Time {
	return time.UnixMilli(int64(min(c.expiration, 1<<63-1)))
}

// ExpirationMillis returns the expiry in milliseconds since the epoch, as
// stored.
func (c *SenderCertificate) ExpirationMillis() uint64 { return c.expiration }

// Bytes returns the serialized certificate. The caller must not modify it.
func (c *SenderCertificate) Bytes() []byte { return c.raw }

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
