package sealed

import (
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"samizdat/session/curve"
	"samizdat/session/internal/kdf"
)

const (
	v2MajorVersion         = 2
	v2UUIDFullVersion      = 0x22 // sent messages with raw ACI UUIDs; every received message
	v2ServiceIDFullVersion = 0x23 // sent messages with fixed-width service ids

	v2MessageKeySize = 32
	v2AuthTagSize    = 16
	v2PublicKeySize  = 32 // raw X25519, no type byte

	v2LabelR  = "Sealed Sender v2: r (2023-08)"
	v2LabelK  = "Sealed Sender v2: K"
	v2LabelDH = "Sealed Sender v2: DH"
	v2LabelDS = "Sealed Sender v2: DH-sender"

	registrationIDMask = 0x3FFF // registration ids fit in 14 bits
)

// v2Derived derives the ephemeral key pair and the AEAD key from M.
func v2Derived(m []byte) (curve.KeyPair, []byte, error) {
	r := kdf.HKDF(m, nil, v2LabelR, 32)
	k := kdf.HKDF(m, nil, v2LabelK, 32)
	priv, err := curve.NewPrivateKey(r)
	if err != nil {
		return curve.KeyPair{}, nil, err
	}
	return curve.KeyPair{Private: priv, Public: priv.PublicKey()}, k, nil
}

// v2XOR computes KDF(DH || sender-side public || recipient-side public) XOR
// in. ePub is the ephemeral public key, rPub the recipient's identity key.
func v2XOR(shared []byte, ePub, rPub curve.PublicKey, in []byte) []byte {
	ikm := append(append(append([]byte(nil), shared...), ePub.Bytes()...), rPub.Bytes()...)
	out := kdf.HKDF(ikm, nil, v2LabelDH, v2MessageKeySize)
	subtle.XORBytes(out, out, in)
	return out
}

// v2AuthTag computes the tag that binds C to the sender's identity.
func v2AuthTag(shared []byte, ePub curve.PublicKey, c []byte, sPub, rPub curve.PublicKey) []byte {
	ikm := append([]byte(nil), shared...)
	ikm = append(ikm, ePub.Bytes()...)
	ikm = append(ikm, c...)
	ikm = append(ikm, sPub.Bytes()...)
	ikm = append(ikm, rPub.Bytes()...)
	return kdf.HKDF(ikm, nil, v2LabelDS, v2AuthTagSize)
}

// Destination is one recipient device of a v2 message.
type Destination struct {
	ServiceID      ServiceID
	DeviceID       uint32          // 1..127
	RegistrationID uint32          // 14 bits, from the session with the device
	IdentityKey    curve.PublicKey // the recipient account's identity key
}

// EncryptV2 seals content once for many recipients with sealed sender v2
// and returns the SentMessage the relay splits (see ParseSentMessage).
// Consecutive destinations with the same service id are grouped and use the
// first one's identity key, as libsignal does; put each recipient's devices
// together. excluded lists recipients (with no devices) that the relay
// should know were left out on purpose.
func EncryptV2(rand io.Reader, dests []Destination, excluded []ServiceID, content *Content, sender curve.KeyPair) ([]byte, error) {
	m := make([]byte, v2MessageKeySize)
	if _, err := io.ReadFull(rand, m); err != nil {
		return nil, fmt.Errorf("sealed: read random: %w", err)
	}
	e, k, err := v2Derived(m)
	if err != nil {
		return nil, fmt.Errorf("sealed: derive keys: %w", err)
	}
	ct, err := sivSeal(k, make([]byte, sivNonceSize), content.raw)
	if err != nil {
		return nil, fmt.Errorf("sealed: encrypt: %w", err)
	}

	var groups [][]Destination
	for i, d := range dests {
		if i > 0 && d.ServiceID == dests[i-1].ServiceID {
			groups[len(groups)-1] = append(groups[len(groups)-1], d)
			continue
		}
		groups = append(groups, []Destination{d})
	}

	out := []byte{v2ServiceIDFullVersion}
	out = protowire.AppendVarint(out, uint64(len(groups)+len(excluded)))
	for _, g := range groups {
		out = append(out, g[0].ServiceID[:]...)
		for i, d := range g {
			if d.DeviceID < 1 || d.DeviceID > 127 {
				return nil, fmt.Errorf("%w: device id %d", ErrInvalidRecipient, d.DeviceID)
			}
			if d.RegistrationID&registrationIDMask != d.RegistrationID {
				return nil, fmt.Errorf("%w: registration id %d of %s.%d", ErrInvalidRecipient, d.RegistrationID, d.ServiceID, d.DeviceID)
			}
			reg := uint16(d.RegistrationID)
			if i < len(g)-1 {
				reg |= 0x8000
			}
			out = append(out, byte(d.DeviceID), byte(reg>>8), byte(reg))
		}
		their := g[0].IdentityKey
		shared, err := e.Private.Agree(their)
		if err != nil {
			return nil, fmt.Errorf("%w: agreement with %s: %v", ErrInvalidRecipient, g[0].ServiceID, err)
		}
		c := v2XOR(shared, e.Public, their, m)
		shared2, err := sender.Private.Agree(their)
		if err != nil {
			return nil, fmt.Errorf("%w: agreement with %s: %v", ErrInvalidRecipient, g[0].ServiceID, err)
		}
		at := v2AuthTag(shared2, e.Public, c, sender.Public, their)
		out = append(out, c...)
		out = append(out, at...)
	}
	for _, x := range excluded {
		out = append(out, x[:]...)
		out = append(out, 0)
	}
	out = append(out, e.Public.Raw()...)
	return append(out, ct...), nil
}

// v2Received is the parsed form of a received v2 message:
// version || C || AT || E.pub || ciphertext.
type v2Received struct {
	c, at      []byte
	ephemeral  curve.PublicKey
	ciphertext []byte
}

func parseV2Received(body []byte) (*v2Received, error) {
	if len(body) < v2MessageKeySize+v2AuthTagSize+v2PublicKeySize {
		return nil, fmt.Errorf("%w: sealed v2 message too short", ErrMalformed)
	}
	eph, err := curve.NewPublicKey(body[v2MessageKeySize+v2AuthTagSize : v2MessageKeySize+v2AuthTagSize+v2PublicKeySize])
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %v", ErrMalformed, err)
	}
	return &v2Received{
		c:          body[:v2MessageKeySize],
		at:         body[v2MessageKeySize : v2MessageKeySize+v2AuthTagSize],
		ephemeral:  eph,
		ciphertext: body[v2MessageKeySize+v2AuthTagSize+v2PublicKeySize:],
	}, nil
}

func decryptV2(r *v2Received, us curve.KeyPair) (*Content, error) {
	shared, err := us.Private.Agree(r.ephemeral)
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral agreement: %v", ErrInvalidMessage, err)
	}
	m := v2XOR(shared, r.ephemeral, us.Public, r.c)
	e, k, err := v2Derived(m)
	if err != nil {
		return nil, fmt.Errorf("sealed: derive keys: %w", err)
	}
	if subtle.ConstantTimeCompare(e.Public.Bytes(), r.ephemeral.Bytes()) != 1 {
		return nil, fmt.Errorf("%w: derived ephemeral key did not match key provided in message", ErrInvalidMessage)
	}
	body, err := sivOpen(k, make([]byte, sivNonceSize), r.ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: failed to decrypt inner message", ErrInvalidMessage)
	}
	c, err := ParseContent(body)
	if err != nil {
		return nil, err
	}
	shared2, err := us.Private.Agree(c.sender.key)
	if err != nil {
		return nil, fmt.Errorf("%w: identity agreement: %v", ErrInvalidMessage, err)
	}
	if !hmac.Equal(v2AuthTag(shared2, r.ephemeral, r.c, c.sender.key, us.Public), r.at) {
		return nil, fmt.Errorf("%w: sender certificate key does not match authentication tag", ErrInvalidMessage)
	}
	return c, nil
}
