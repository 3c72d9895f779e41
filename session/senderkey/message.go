package senderkey

import (
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/pb"
)

// MessageVersion is the only sender-key message version libsignal 0.103
// sends and accepts (its SENDERKEY_MESSAGE_CURRENT_VERSION).
const MessageVersion = 3

// SignatureSize is the size of the XEdDSA signature appended to a Message.
const SignatureSize = 64

const (
	chainKeySize  = 32
	publicKeySize = 33 // with the 0x05 type byte
)

// versionByte is the first byte of both message kinds: the message version
// in the high nibble, the current version in the low nibble.
func versionByte(v uint8) byte { return (v&0x0f)<<4 | MessageVersion }

// checkVersion applies libsignal's rule to a message's first byte.
func checkVersion(b byte) (uint8, error) {
	v := b >> 4
	if v < MessageVersion {
		return 0, fmt.Errorf("%w: legacy version %d", ErrVersion, v)
	}
	if v > MessageVersion {
		return 0, fmt.Errorf("%w: unrecognized version %d", ErrVersion, v)
	}
	return v, nil
}

// DistributionMessage is a SenderKeyDistributionMessage: everything a group
// member needs to decrypt a sender's messages on one chain, from the given
// iteration on. It carries the chain key, so it must only ever travel inside
// an end-to-end encrypted session; it never prints its key.
type DistributionMessage struct {
	version        uint8
	distributionID [16]byte
	chainID        uint32
	iteration      uint32
	chainKey       []byte
	signingKey     curve.PublicKey
	raw            []byte
}

func newDistributionMessage(version uint8, distributionID [16]byte, chainID, iteration uint32, chainKey []byte, signingKey curve.PublicKey) (*DistributionMessage, error) {
	body, err := proto.Marshal(&pb.SenderKeyDistributionMessage{
		DistributionUuid: distributionID[:],
		ChainId:          proto.Uint32(chainID),
		Iteration:        proto.Uint32(iteration),
		ChainKey:         chainKey,
		SigningKey:       signingKey.Bytes(),
	})
	if err != nil {
		return nil, fmt.Errorf("senderkey: encode distribution message: %w", err)
	}
	raw := make([]byte, 0, 1+len(body))
	raw = append(raw, versionByte(version))
	raw = append(raw, body...)
	return &DistributionMessage{
		version:        version,
		distributionID: distributionID,
		chainID:        chainID,
		iteration:      iteration,
		chainKey:       append([]byte(nil), chainKey...),
		signingKey:     signingKey,
		raw:            raw,
	}, nil
}

// ParseDistributionMessage parses a serialized SenderKeyDistributionMessage
// with libsignal's rules: version 3, all fields present, a 32-byte chain key
// and a 33-byte signing key.
func ParseDistributionMessage(b []byte) (*DistributionMessage, error) {
	// At least a version byte, an X25519 key and a chain key.
	if len(b) < 1+32+32 {
		return nil, fmt.Errorf("%w: distribution message of %d bytes", ErrTruncated, len(b))
	}
	v, err := checkVersion(b[0])
	if err != nil {
		return nil, err
	}
	var m pb.SenderKeyDistributionMessage
	if err := pb.UnmarshalStrict(b[1:], &m); err != nil {
		return nil, fmt.Errorf("%w: distribution message: %v", ErrMalformed, err)
	}
	if len(m.DistributionUuid) != 16 || m.ChainId == nil || m.Iteration == nil || m.ChainKey == nil || m.SigningKey == nil {
		return nil, fmt.Errorf("%w: distribution message lacks a field", ErrMalformed)
	}
	if len(m.ChainKey) != chainKeySize || len(m.SigningKey) != publicKeySize {
		return nil, fmt.Errorf("%w: distribution message key sizes", ErrMalformed)
	}
	pub, err := curve.DecodePublicKey(m.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("%w: distribution message signing key: %v", ErrMalformed, err)
	}
	d := &DistributionMessage{
		version:    v,
		chainID:    *m.ChainId,
		iteration:  *m.Iteration,
		chainKey:   append([]byte(nil), m.ChainKey...),
		signingKey: pub,
		raw:        append([]byte(nil), b...),
	}
	copy(d.distributionID[:], m.DistributionUuid)
	return d, nil
}

// Bytes returns the serialized message (the exact bytes parsed, for a parsed
// message). The caller must not modify the result.
func (d *DistributionMessage) Bytes() []byte { return d.raw }

// Version returns the message version (3).
func (d *DistributionMessage) Version() uint8 { return d.version }

// DistributionID returns the distribution (group) UUID.
func (d *DistributionMessage) DistributionID() [16]byte { return d.distributionID }

// ChainID returns the id of the sender chain.
func (d *DistributionMessage) ChainID() uint32 { return d.chainID }

// Iteration returns the chain iteration the chain key belongs to.
func (d *DistributionMessage) Iteration() uint32 { return d.iteration }

// ChainKey returns a copy of the 32-byte chain key. It is secret.
func (d *DistributionMessage) ChainKey() []byte { return append([]byte(nil), d.chainKey...) }

// SigningKey returns the public key that signs the chain's messages.
func (d *DistributionMessage) SigningKey() curve.PublicKey { return d.signingKey }

// Format prints the message's public fields only, never the chain key.
func (d DistributionMessage) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "senderkey.DistributionMessage{distribution:%x chain:%d iteration:%d}", d.distributionID, d.chainID, d.iteration)
}

// Message is a SenderKeyMessage: one group message encrypted under a sender
// chain and signed by the chain's signing key.
type Message struct {
	version        uint8
	distributionID [16]byte
	chainID        uint32
	iteration      uint32
	ciphertext     []byte
	raw            []byte // version byte || protobuf || signature
}

func newMessage(version uint8, distributionID [16]byte, chainID, iteration uint32, ciphertext []byte, signer curve.PrivateKey, rand io.Reader) (*Message, error) {
	body, err := proto.Marshal(&pb.SenderKeyMessage{
		DistributionUuid: distributionID[:],
		ChainId:          proto.Uint32(chainID),
		Iteration:        proto.Uint32(iteration),
		Ciphertext:       ciphertext,
	})
	if err != nil {
		return nil, fmt.Errorf("senderkey: encode message: %w", err)
	}
	raw := make([]byte, 0, 1+len(body)+SignatureSize)
	raw = append(raw, versionByte(version))
	raw = append(raw, body...)
	sig, err := signer.Sign(rand, raw)
	if err != nil {
		return nil, fmt.Errorf("senderkey: sign message: %w", err)
	}
	if len(sig) != SignatureSize {
		return nil, fmt.Errorf("senderkey: signature of %d bytes", len(sig))
	}
	raw = append(raw, sig...)
	return &Message{
		version:        MessageVersion,
		distributionID: distributionID,
		chainID:        chainID,
		iteration:      iteration,
		ciphertext:     ciphertext,
		raw:            raw,
	}, nil
}

// ParseMessage parses a serialized SenderKeyMessage with libsignal's rules. It
// does not verify the signature; see VerifySignature and Decrypt.
func ParseMessage(b []byte) (*Message, error) {
	if len(b) < 1+SignatureSize {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrTruncated, len(b))
	}
	v, err := checkVersion(b[0])
	if err != nil {
		return nil, err
	}
	var m pb.SenderKeyMessage
	if err := pb.UnmarshalStrict(b[1:len(b)-SignatureSize], &m); err != nil {
		return nil, fmt.Errorf("%w: message: %v", ErrMalformed, err)
	}
	if len(m.DistributionUuid) != 16 || m.ChainId == nil || m.Iteration == nil || m.Ciphertext == nil {
		return nil, fmt.Errorf("%w: message lacks a field", ErrMalformed)
	}
	msg := &Message{
		version:    v,
		chainID:    *m.ChainId,
		iteration:  *m.Iteration,
		ciphertext: m.Ciphertext,
		raw:        append([]byte(nil), b...),
	}
	copy(msg.distributionID[:], m.DistributionUuid)
	return msg, nil
}

// VerifySignature reports whether the message is signed by key.
func (m *Message) VerifySignature(key curve.PublicKey) bool {
	n := len(m.raw) - SignatureSize
	return key.VerifySignature(m.raw[n:], m.raw[:n])
}

// Bytes returns the serialized message, signature included. The caller must
// not modify the result.
func (m *Message) Bytes() []byte { return m.raw }

// Version returns the message version (3).
func (m *Message) Version() uint8 { return m.version }

// DistributionID returns the distribution (group) UUID.
func (m *Message) DistributionID() [16]byte { return m.distributionID }

// ChainID returns the id of the sender chain the message was encrypted on.
func (m *Message) ChainID() uint32 { return m.chainID }

// Iteration returns the message's position in its chain.
func (m *Message) Iteration() uint32 { return m.iteration }

// Ciphertext returns the AES-256-CBC ciphertext. The caller must not modify
// the result.
func (m *Message) Ciphertext() []byte { return m.ciphertext }
