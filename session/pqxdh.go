package session

import (
	"bytes"
	"fmt"
	"io"

	"samizdat/session/curve"
	"samizdat/session/internal/kdf"
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
	okm := kdf.HKDF(secrets, nil, label, 96)
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
	if !p.theirBase.IsCanonical() {
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
