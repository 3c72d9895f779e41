package session

import (
	"bytes"
	"fmt"
	"io"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"

	"samizdat/session/curve"
	"samizdat/session/kem"
)

// handshakeKeys is what PQXDH yields for the ratchets.
type handshakeKeys struct {
	rootKey   []byte
	chainKey  chainKey
	pqAuthKey []byte // SPQR auth key
}

// deriveHandshake expands the concatenated secrets with label. PQXDH uses
// 96 bytes (root, chain, SPQR auth key); X3DH used the first 64.
func deriveHandshake(label string, secrets []byte) handshakeKeys {
	okm := hkdfSHA256(secrets, nil, label, 96)
	return handshakeKeys{rootKey: okm[:32], chainKey: chainKey{key: okm[32:64]}, pqAuthKey: okm[64:96]}
}

// discontinuity is the 0xFF×32 prefix of the KDF input (it separates
// X25519-based inputs from XEdDSA's use of the same keys).
var discontinuity = bytes.Repeat([]byte{0xFF}, 32)

type initiatorParams struct {
	ourIdentity   curve.KeyPair
	ourBase       curve.KeyPair
	theirIdentity curve.PublicKey
	theirSigned   curve.PublicKey
	theirOneTime  *curve.PublicKey
	theirKyber    kem.PublicKey
}

// dh is one X25519 agreement of the secret input.
type dh struct {
	priv curve.PrivateKey
	pub  curve.PublicKey
}

// dhSecrets computes the X25519 part of the secret input.
func dhSecrets(pairs ...dh) ([]byte, error) {
	secrets := append(make([]byte, 0, 32*6), discontinuity...)
	for _, p := range pairs {
		s, err := p.priv.Agree(p.pub)
		if err != nil {
			return nil, fmt.Errorf("%w: key agreement: %w", ErrInvalidMessage, err)
		}
		secrets = append(secrets, s...)
	}
	return secrets, nil
}

// pqxdhInitiate is the initiator (Alice) side: four (or three) X25519
// agreements and a Kyber encapsulation.
func pqxdhInitiate(p initiatorParams, rand io.Reader) (handshakeKeys, []byte, error) {
	pairs := []dh{
		{p.ourIdentity.Private, p.theirSigned},
		{p.ourBase.Private, p.theirIdentity},
		{p.ourBase.Private, p.theirSigned},
	}
	if p.theirOneTime != nil {
		pairs = append(pairs, dh{p.ourBase.Private, *p.theirOneTime})
	}
	secrets, err := dhSecrets(pairs...)
	if err != nil {
		return handshakeKeys{}, nil, err
	}
	ct, ss, err := p.theirKyber.Encapsulate(rand)
	if err != nil {
		return handshakeKeys{}, nil, fmt.Errorf("session: kyber encapsulate: %w", err)
	}
	secrets = append(secrets, ss...)
	return deriveHandshake(labelPQXDH, secrets), ct, nil
}

type recipientParams struct {
	ourIdentity     curve.KeyPair
	ourSigned       curve.KeyPair
	ourOneTime      *curve.KeyPair
	ourKyber        kem.KeyPair
	theirIdentity   curve.PublicKey
	theirBase       curve.PublicKey
	kyberCiphertext []byte
}

// pqxdhAccept is the recipient (Bob) side.
func pqxdhAccept(p recipientParams) (handshakeKeys, error) {
	if !isCanonical(p.theirBase) {
		return handshakeKeys{}, fmt.Errorf("%w: incoming base key is invalid", ErrInvalidBaseKey)
	}
	pairs := []dh{
		{p.ourSigned.Private, p.theirIdentity},
		{p.ourIdentity.Private, p.theirBase},
		{p.ourSigned.Private, p.theirBase},
	}
	if p.ourOneTime != nil {
		pairs = append(pairs, dh{p.ourOneTime.Private, p.theirBase})
	}
	secrets, err := dhSecrets(pairs...)
	if err != nil {
		return handshakeKeys{}, err
	}
	ss, err := p.ourKyber.Secret.Decapsulate(p.kyberCiphertext)
	if err != nil {
		return handshakeKeys{}, fmt.Errorf("%w: kyber decapsulate: %w", ErrInvalidMessage, err)
	}
	secrets = append(secrets, ss...)
	return deriveHandshake(labelPQXDH, secrets), nil
}

// isCanonical mirrors libsignal's check on incoming base keys: the
// Montgomery u-coordinate must be below 2^255-19 (high bit clear, not a
// non-reduced encoding) and the point must lie in the prime-order
// subgroup (no torsion component).
func isCanonical(pub curve.PublicKey) bool {
	u := pub.Raw()
	if len(u) != 32 || u[31]&0x80 != 0 {
		return false
	}
	if u[0] >= 256-19 && u[31] == 0x7F && bytes.Equal(u[1:31], bytes.Repeat([]byte{0xFF}, 30)) {
		return false
	}
	return torsionFree(u)
}

// torsionFree maps u to the Edwards point with sign 0 (as
// curve25519-dalek's to_edwards(0)) and checks [L]P = identity.
func torsionFree(u []byte) bool {
	y := montgomeryToEdwardsY(u)
	if y == nil {
		return false
	}
	p, err := new(edwards25519.Point).SetBytes(y)
	if err != nil {
		return false
	}
	// [L]P = [L-1]P + P.
	lMinus1, err := edwards25519.NewScalar().SetCanonicalBytes(scalarLMinus1[:])
	if err != nil {
		return false
	}
	q := new(edwards25519.Point).ScalarMult(lMinus1, p)
	q.Add(q, p)
	return q.Equal(edwards25519.NewIdentityPoint()) == 1
}

// scalarLMinus1 is L-1 little-endian, L = 2^252 + 27742317777372353535851937790883648493.
var scalarLMinus1 = [32]byte{
	0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
}

// montgomeryToEdwardsY returns the encoded Edwards y = (u-1)/(u+1) with
// sign bit 0, or nil when u = -1 (which has no Edwards image).
func montgomeryToEdwardsY(u []byte) []byte {
	fu, err := new(field.Element).SetBytes(u)
	if err != nil {
		return nil
	}
	one := new(field.Element).One()
	den := new(field.Element).Add(fu, one)
	if den.Equal(new(field.Element).Zero()) == 1 {
		return nil
	}
	y := new(field.Element).Multiply(new(field.Element).Subtract(fu, one), new(field.Element).Invert(den))
	return y.Bytes()
}
