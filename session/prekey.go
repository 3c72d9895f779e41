package session

import (
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/pb"
	"samizdat/session/kem"
)

// PreKeyRecord is a one-time X25519 prekey and its id.
type PreKeyRecord struct {
	ID      uint32
	KeyPair curve.KeyPair
}

// Marshal encodes the record as libsignal's PreKeyRecordStructure.
func (r *PreKeyRecord) Marshal() ([]byte, error) {
	return proto.Marshal(&pb.PreKeyRecordStructure{
		Id:         r.ID,
		PublicKey:  r.KeyPair.Public.Bytes(),
		PrivateKey: r.KeyPair.Private.Bytes(),
	})
}

// UnmarshalPreKeyRecord decodes a PreKeyRecordStructure.
func UnmarshalPreKeyRecord(b []byte) (*PreKeyRecord, error) {
	var s pb.PreKeyRecordStructure
	if err := proto.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: prekey record", ErrMalformed)
	}
	kp, err := decodeKeyPair(s.PublicKey, s.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%w: prekey record: %w", ErrMalformed, err)
	}
	return &PreKeyRecord{ID: s.Id, KeyPair: kp}, nil
}

func decodeKeyPair(pub, priv []byte) (curve.KeyPair, error) {
	p, err := curve.DecodePublicKey(pub)
	if err != nil {
		return curve.KeyPair{}, err
	}
	k, err := curve.NewPrivateKey(priv)
	if err != nil {
		return curve.KeyPair{}, err
	}
	return curve.KeyPair{Public: p, Private: k}, nil
}

// GeneratePreKeys makes count one-time prekeys with ids start, start+1, ...
// (wrapping as libsignal's clients do is the caller's business).
func GeneratePreKeys(start, count uint32, rand io.Reader) ([]*PreKeyRecord, error) {
	out := make([]*PreKeyRecord, 0, count)
	for i := uint32(0); i < count; i++ {
		kp, err := curve.GenerateKeyPair(rand)
		if err != nil {
			return nil, fmt.Errorf("session: generate prekey: %w", err)
		}
		out = append(out, &PreKeyRecord{ID: start + i, KeyPair: kp})
	}
	return out, nil
}

// SignedPreKeyRecord is a medium-term X25519 prekey signed by the identity
// key. The signature is XEdDSA over the serialized public key (with its
// 0x05 type byte).
type SignedPreKeyRecord struct {
	ID        uint32
	Timestamp time.Time // millisecond precision on the wire
	KeyPair   curve.KeyPair
	Signature []byte
}

// Marshal encodes the record as libsignal's SignedPreKeyRecordStructure.
func (r *SignedPreKeyRecord) Marshal() ([]byte, error) {
	return proto.Marshal(&pb.SignedPreKeyRecordStructure{
		Id:         r.ID,
		PublicKey:  r.KeyPair.Public.Bytes(),
		PrivateKey: r.KeyPair.Private.Bytes(),
		Signature:  r.Signature,
		Timestamp:  uint64(r.Timestamp.UnixMilli()),
	})
}

// UnmarshalSignedPreKeyRecord decodes a SignedPreKeyRecordStructure.
func UnmarshalSignedPreKeyRecord(b []byte) (*SignedPreKeyRecord, error) {
	var s pb.SignedPreKeyRecordStructure
	if err := proto.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: signed prekey record", ErrMalformed)
	}
	kp, err := decodeKeyPair(s.PublicKey, s.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%w: signed prekey record: %w", ErrMalformed, err)
	}
	return &SignedPreKeyRecord{
		ID:        s.Id,
		Timestamp: time.UnixMilli(int64(s.Timestamp)),
		KeyPair:   kp,
		Signature: s.Signature,
	}, nil
}

// GenerateSignedPreKey makes a signed prekey with the given id, signed by
// identity, stamped with now.
func GenerateSignedPreKey(identity curve.KeyPair, id uint32, now time.Time, rand io.Reader) (*SignedPreKeyRecord, error) {
	kp, err := curve.GenerateKeyPair(rand)
	if err != nil {
		return nil, fmt.Errorf("session: generate signed prekey: %w", err)
	}
	sig, err := identity.Private.Sign(rand, kp.Public.Bytes())
	if err != nil {
		return nil, fmt.Errorf("session: sign prekey: %w", err)
	}
	return &SignedPreKeyRecord{ID: id, Timestamp: now, KeyPair: kp, Signature: sig}, nil
}

// KyberPreKeyRecord is a Kyber-1024 prekey signed by the identity key
// (XEdDSA over the serialized public key with its 0x08 type byte).
//
// LastResort marks a key that stays usable after use. libsignal's storage
// format has no field for it (clients keep it beside the record), so
// Marshal does not encode it; the stores keep it.
type KyberPreKeyRecord struct {
	ID         uint32
	Timestamp  time.Time
	KeyPair    kem.KeyPair
	Signature  []byte
	LastResort bool
}

// Marshal encodes the record as libsignal does: a
// SignedPreKeyRecordStructure holding the Kyber keys. LastResort is not
// encoded.
func (r *KyberPreKeyRecord) Marshal() ([]byte, error) {
	return proto.Marshal(&pb.SignedPreKeyRecordStructure{
		Id:         r.ID,
		PublicKey:  r.KeyPair.Public.Bytes(),
		PrivateKey: r.KeyPair.Secret.Bytes(),
		Signature:  r.Signature,
		Timestamp:  uint64(r.Timestamp.UnixMilli()),
	})
}

// UnmarshalKyberPreKeyRecord decodes a record written by Marshal (or by
// libsignal). LastResort comes back false.
func UnmarshalKyberPreKeyRecord(b []byte) (*KyberPreKeyRecord, error) {
	var s pb.SignedPreKeyRecordStructure
	if err := proto.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: kyber prekey record", ErrMalformed)
	}
	pub, err := kem.DecodePublicKey(s.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: kyber prekey record: %w", ErrMalformed, err)
	}
	sec, err := kem.DecodeSecretKey(s.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%w: kyber prekey record: %w", ErrMalformed, err)
	}
	return &KyberPreKeyRecord{
		ID:        s.Id,
		Timestamp: time.UnixMilli(int64(s.Timestamp)),
		KeyPair:   kem.KeyPair{Public: pub, Secret: sec},
		Signature: s.Signature,
	}, nil
}

// GenerateKyberPreKey makes a Kyber-1024 prekey signed by identity.
func GenerateKyberPreKey(identity curve.KeyPair, id uint32, lastResort bool, now time.Time, rand io.Reader) (*KyberPreKeyRecord, error) {
	kp, err := kem.GenerateKeyPair(rand)
	if err != nil {
		return nil, fmt.Errorf("session: generate kyber prekey: %w", err)
	}
	sig, err := identity.Private.Sign(rand, kp.Public.Bytes())
	if err != nil {
		return nil, fmt.Errorf("session: sign kyber prekey: %w", err)
	}
	return &KyberPreKeyRecord{ID: id, Timestamp: now, KeyPair: kp, Signature: sig, LastResort: lastResort}, nil
}

// PreKeyBundle is what a server hands out to open a session with one
// device: its identity, a signed prekey, a Kyber prekey and optionally a
// one-time prekey.
type PreKeyBundle struct {
	RegistrationID uint32
	DeviceID       uint32

	HasPreKey bool // whether PreKeyID/PreKey are set
	PreKeyID  uint32
	PreKey    curve.PublicKey

	SignedPreKeyID        uint32
	SignedPreKey          curve.PublicKey
	SignedPreKeySignature []byte

	KyberPreKeyID        uint32
	KyberPreKey          kem.PublicKey
	KyberPreKeySignature []byte

	IdentityKey curve.PublicKey
}

// Verify checks both prekey signatures against the bundle's identity key,
// over the serialized keys exactly as libsignal signs them.
func (b *PreKeyBundle) Verify() error {
	if !b.IdentityKey.VerifySignature(b.SignedPreKeySignature, b.SignedPreKey.Bytes()) {
		return fmt.Errorf("%w: signed prekey %d", ErrBadSignature, b.SignedPreKeyID)
	}
	if !b.IdentityKey.VerifySignature(b.KyberPreKeySignature, b.KyberPreKey.Bytes()) {
		return fmt.Errorf("%w: kyber prekey %d", ErrBadSignature, b.KyberPreKeyID)
	}
	return nil
}
