package session

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/kdf"
	"samizdat/session/internal/pb"
)

// Message versions, as libsignal numbers them.
const (
	// CurrentVersion is the version of messages this package sends (PQXDH).
	CurrentVersion = 4
	// preKyberVersion is the X3DH version: parsed, but refused for new sessions.
	preKyberVersion = 3
)

// CiphertextMessage types, as libsignal numbers them (they travel in
// envelopes and sealed-sender contents).
const (
	TypeWhisper   = 2 // SignalMessage
	TypePreKey    = 3 // PreKeySignalMessage
	TypeSenderKey = 7 // SenderKeyMessage (package senderkey)
	TypePlaintext = 8 // PlaintextContent
)

// CiphertextMessage is a serialized message of one of the types above.
type CiphertextMessage interface {
	// Type is one of TypeWhisper, TypePreKey, TypeSenderKey, TypePlaintext.
	Type() int
	// Bytes is the serialized message; callers must not modify it.
	Bytes() []byte
}

// ParseCiphertextMessage parses a serialized SignalMessage (TypeWhisper) or
// PreKeySignalMessage (TypePreKey). Other types belong to other packages
// and are reported as ErrMalformed.
func ParseCiphertextMessage(typ int, b []byte) (CiphertextMessage, error) {
	switch typ {
	case TypeWhisper:
		return ParseSignalMessage(b)
	case TypePreKey:
		return ParsePreKeySignalMessage(b)
	default:
		return nil, fmt.Errorf("%w: message type %d is not a pairwise message", ErrMalformed, typ)
	}
}

const macLength = 8

// SignalMessage is one Double Ratchet message: the version byte, the
// protobuf body and an 8-byte truncated HMAC-SHA256.
type SignalMessage struct {
	version         uint8
	ratchetKey      curve.PublicKey
	counter         uint32
	previousCounter uint32
	ciphertext      []byte
	pqRatchet       []byte
	addresses       []byte
	serialized      []byte
}

var _ CiphertextMessage = (*SignalMessage)(nil)

// Type returns TypeWhisper.
func (m *SignalMessage) Type() int { return TypeWhisper }

// Bytes returns the serialized message.
func (m *SignalMessage) Bytes() []byte { return m.serialized }

// Version is the message version (CurrentVersion for messages we accept).
func (m *SignalMessage) Version() uint8 { return m.version }

// Counter is the message's index in the sender's chain.
func (m *SignalMessage) Counter() uint32 { return m.counter }

// PreviousCounter is the length of the sender's previous chain.
func (m *SignalMessage) PreviousCounter() uint32 { return m.previousCounter }

// RatchetKey is the sender's current ratchet public key.
func (m *SignalMessage) RatchetKey() curve.PublicKey { return m.ratchetKey }

// PQRatchet is the SPQR message carried along (empty when SPQR is off).
func (m *SignalMessage) PQRatchet() []byte { return m.pqRatchet }

func versionByte(v uint8) byte { return (v&0xF)<<4 | CurrentVersion }

// newSignalMessage builds and MACs a message. addresses may be nil.
func newSignalMessage(version uint8, macKey []byte, addresses []byte, ratchetKey curve.PublicKey,
	counter, previousCounter uint32, ciphertext []byte, senderIdentity, receiverIdentity curve.PublicKey,
	pqRatchet []byte) (*SignalMessage, error) {
	body := &pb.SignalMessage{
		RatchetKey:      ratchetKey.Bytes(),
		Counter:         proto.Uint32(counter),
		PreviousCounter: proto.Uint32(previousCounter),
		Ciphertext:      ciphertext,
		Addresses:       addresses,
	}
	if len(pqRatchet) > 0 {
		body.PqRatchet = pqRatchet
	}
	enc, err := proto.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("session: encode signal message: %w", err)
	}
	serialized := make([]byte, 0, 1+len(enc)+macLength)
	serialized = append(serialized, versionByte(version))
	serialized = append(serialized, enc...)
	mac := signalMAC(senderIdentity, receiverIdentity, macKey, serialized)
	serialized = append(serialized, mac...)
	return &SignalMessage{
		version:         version,
		ratchetKey:      ratchetKey,
		counter:         counter,
		previousCounter: previousCounter,
		ciphertext:      ciphertext,
		pqRatchet:       pqRatchet,
		addresses:       addresses,
		serialized:      serialized,
	}, nil
}

func signalMAC(sender, receiver curve.PublicKey, macKey, content []byte) []byte {
	return kdf.HMAC(macKey, sender.Bytes(), receiver.Bytes(), content)[:macLength]
}

// verifyMAC checks the MAC and, when the sender included addresses, that
// they name sender and recipient, as libsignal does.
func (m *SignalMessage) verifyMAC(senderAddr, recipientAddr Address, sender, receiver curve.PublicKey, macKey []byte) bool {
	content := m.serialized[:len(m.serialized)-macLength]
	their := m.serialized[len(m.serialized)-macLength:]
	if !constantTimeEqual(signalMAC(sender, receiver, macKey, content), their) {
		return false
	}
	if m.addresses == nil {
		return true
	}
	expected := addressesBinary(senderAddr, recipientAddr)
	return expected != nil && constantTimeEqual(expected, m.addresses)
}

func checkVersion(b byte) (uint8, error) {
	v := b >> 4
	if v < preKyberVersion {
		return 0, fmt.Errorf("%w: %d", ErrLegacyVersion, v)
	}
	if v > CurrentVersion {
		return 0, fmt.Errorf("%w: %d", ErrUnknownVersion, v)
	}
	return v, nil
}

// ParseSignalMessage parses a serialized SignalMessage. It checks the
// structure as strictly as libsignal does (a known field with the wrong
// wire type is refused), not the MAC (which needs the session's keys).
func ParseSignalMessage(b []byte) (*SignalMessage, error) {
	if len(b) < macLength+1 {
		return nil, fmt.Errorf("%w: signal message of %d bytes", ErrTruncated, len(b))
	}
	version, err := checkVersion(b[0])
	if err != nil {
		return nil, err
	}
	var body pb.SignalMessage
	if err := pb.UnmarshalStrict(b[1:len(b)-macLength], &body); err != nil {
		return nil, fmt.Errorf("%w: signal message protobuf", ErrMalformed)
	}
	if body.RatchetKey == nil || body.Counter == nil || body.Ciphertext == nil {
		return nil, fmt.Errorf("%w: signal message lacks a required field", ErrMalformed)
	}
	rk, err := curve.DecodePublicKey(body.RatchetKey)
	if err != nil {
		return nil, fmt.Errorf("%w: signal message ratchet key: %w", ErrMalformed, err)
	}
	return &SignalMessage{
		version:         version,
		ratchetKey:      rk,
		counter:         body.GetCounter(),
		previousCounter: body.GetPreviousCounter(),
		ciphertext:      body.Ciphertext,
		pqRatchet:       body.PqRatchet,
		addresses:       body.Addresses,
		serialized:      append([]byte(nil), b...),
	}, nil
}

// PreKeySignalMessage opens a session: it carries the PQXDH inputs (base
// key, identity, prekey ids, Kyber ciphertext) and the first SignalMessage.
type PreKeySignalMessage struct {
	version         uint8
	registrationID  uint32
	preKeyID        *uint32
	signedPreKeyID  uint32
	kyberPreKeyID   *uint32
	kyberCiphertext []byte
	baseKey         curve.PublicKey
	identityKey     curve.PublicKey
	message         *SignalMessage
	serialized      []byte
}

var _ CiphertextMessage = (*PreKeySignalMessage)(nil)

// Type returns TypePreKey.
func (m *PreKeySignalMessage) Type() int { return TypePreKey }

// Bytes returns the serialized message.
func (m *PreKeySignalMessage) Bytes() []byte { return m.serialized }

// Version is the message version.
func (m *PreKeySignalMessage) Version() uint8 { return m.version }

// RegistrationID is the sender's registration id.
func (m *PreKeySignalMessage) RegistrationID() uint32 { return m.registrationID }

// PreKeyID is the one-time prekey used, if any.
func (m *PreKeySignalMessage) PreKeyID() (uint32, bool) {
	if m.preKeyID == nil {
		return 0, false
	}
	return *m.preKeyID, true
}

// SignedPreKeyID is the signed prekey used.
func (m *PreKeySignalMessage) SignedPreKeyID() uint32 { return m.signedPreKeyID }

// KyberPreKeyID is the Kyber prekey used, if any (always, for version 4).
func (m *PreKeySignalMessage) KyberPreKeyID() (uint32, bool) {
	if m.kyberPreKeyID == nil {
		return 0, false
	}
	return *m.kyberPreKeyID, true
}

// BaseKey is the sender's ephemeral (base) key.
func (m *PreKeySignalMessage) BaseKey() curve.PublicKey { return m.baseKey }

// IdentityKey is the sender's identity key.
func (m *PreKeySignalMessage) IdentityKey() curve.PublicKey { return m.identityKey }

// Message is the embedded SignalMessage.
func (m *PreKeySignalMessage) Message() *SignalMessage { return m.message }

func newPreKeySignalMessage(version uint8, registrationID uint32, preKeyID *uint32, signedPreKeyID uint32,
	kyberPreKeyID *uint32, kyberCiphertext []byte, baseKey, identityKey curve.PublicKey, msg *SignalMessage) (*PreKeySignalMessage, error) {
	body := &pb.PreKeySignalMessage{
		RegistrationId: proto.Uint32(registrationID),
		PreKeyId:       preKeyID,
		SignedPreKeyId: proto.Uint32(signedPreKeyID),
		BaseKey:        baseKey.Bytes(),
		IdentityKey:    identityKey.Bytes(),
		Message:        msg.Bytes(),
	}
	if kyberPreKeyID != nil {
		body.KyberPreKeyId = kyberPreKeyID
		body.KyberCiphertext = kyberCiphertext
		if body.KyberCiphertext == nil {
			body.KyberCiphertext = []byte{}
		}
	}
	enc, err := proto.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("session: encode prekey message: %w", err)
	}
	serialized := append([]byte{versionByte(version)}, enc...)
	return &PreKeySignalMessage{
		version:         version,
		registrationID:  registrationID,
		preKeyID:        preKeyID,
		signedPreKeyID:  signedPreKeyID,
		kyberPreKeyID:   kyberPreKeyID,
		kyberCiphertext: kyberCiphertext,
		baseKey:         baseKey,
		identityKey:     identityKey,
		message:         msg,
		serialized:      serialized,
	}, nil
}

// ParsePreKeySignalMessage parses a serialized PreKeySignalMessage and the
// SignalMessage inside it.
func ParsePreKeySignalMessage(b []byte) (*PreKeySignalMessage, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty prekey message", ErrTruncated)
	}
	version, err := checkVersion(b[0])
	if err != nil {
		return nil, err
	}
	var body pb.PreKeySignalMessage
	if err := pb.UnmarshalStrict(b[1:], &body); err != nil {
		return nil, fmt.Errorf("%w: prekey message protobuf", ErrMalformed)
	}
	if body.BaseKey == nil || body.IdentityKey == nil || body.Message == nil || body.SignedPreKeyId == nil {
		return nil, fmt.Errorf("%w: prekey message lacks a required field", ErrMalformed)
	}
	baseKey, err := curve.DecodePublicKey(body.BaseKey)
	if err != nil {
		return nil, fmt.Errorf("%w: prekey message base key: %w", ErrMalformed, err)
	}
	hasID, hasCT := body.KyberPreKeyId != nil, body.KyberCiphertext != nil
	switch {
	case hasID && hasCT:
	case !hasID && !hasCT && version <= preKyberVersion:
	case !hasID && !hasCT:
		return nil, fmt.Errorf("%w: kyber prekey required for version %d", ErrMalformed, version)
	default:
		return nil, fmt.Errorf("%w: kyber prekey id and ciphertext must come together", ErrMalformed)
	}
	identity, err := curve.DecodePublicKey(body.IdentityKey)
	if err != nil {
		return nil, fmt.Errorf("%w: prekey message identity key: %w", ErrMalformed, err)
	}
	inner, err := ParseSignalMessage(body.Message)
	if err != nil {
		return nil, err
	}
	return &PreKeySignalMessage{
		version:         version,
		registrationID:  body.GetRegistrationId(),
		preKeyID:        body.PreKeyId,
		signedPreKeyID:  body.GetSignedPreKeyId(),
		kyberPreKeyID:   body.KyberPreKeyId,
		kyberCiphertext: body.KyberCiphertext,
		baseKey:         baseKey,
		identityKey:     identity,
		message:         inner,
		serialized:      append([]byte(nil), b...),
	}, nil
}
