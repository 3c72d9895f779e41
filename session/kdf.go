package session

import (
	"crypto/subtle"
	"fmt"

	"samizdat/session/curve"
	"samizdat/session/internal/kdf"
)

// Limits from libsignal's consts.rs.
const (
	// MaxForwardJumps is how far a message counter may run ahead of its
	// receiving chain (except in a session with oneself).
	MaxForwardJumps = 25_000
	// MaxMessageKeys is how many skipped message keys a receiving chain keeps.
	MaxMessageKeys = 2000
	// MaxReceiverChains is how many receiving chains a session keeps.
	MaxReceiverChains = 5
	// ArchivedStatesMaxLength is how many previous sessions a record keeps.
	ArchivedStatesMaxLength = 40
)

// KDF labels, as libsignal spells them.
const (
	labelMessageKeys = "WhisperMessageKeys"
	labelRatchet     = "WhisperRatchet"
	labelPQXDH       = "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024"
)

var (
	messageKeySeed = []byte{0x01}
	chainKeySeed   = []byte{0x02}
)

// chainKey is one step of a sending or receiving chain.
type chainKey struct {
	key   []byte // 32 bytes
	index uint32
}

func (c chainKey) next() chainKey {
	return chainKey{key: kdf.HMAC(c.key, chainKeySeed), index: c.index + 1}
}

// messageSeed is the per-message input to the message-key KDF: the chain's
// HMAC output. It is what libsignal stores for skipped messages, because
// the final keys also depend on the SPQR key that arrives with the message.
func (c chainKey) messageSeed() []byte {
	return kdf.HMAC(c.key, messageKeySeed)
}

// messageKeys are the AES-256-CBC and HMAC keys of one message.
type messageKeys struct {
	cipherKey []byte // 32
	macKey    []byte // 32
	iv        []byte // 16
}

// deriveMessageKeys expands a message seed, salted with the SPQR message
// key when there is one (the triple ratchet's mixing step).
func deriveMessageKeys(seed, pqKey []byte) messageKeys {
	okm := kdf.HKDF(seed, pqKey, labelMessageKeys, 80)
	return messageKeys{cipherKey: okm[:32], macKey: okm[32:64], iv: okm[64:80]}
}

// rootStep is the Diffie-Hellman ratchet step: it mixes DH(our, their) into
// the root key and returns the new root key and a fresh chain key.
func rootStep(root []byte, their curve.PublicKey, our curve.PrivateKey) (newRoot []byte, ck chainKey, err error) {
	shared, err := our.Agree(their)
	if err != nil {
		return nil, chainKey{}, fmt.Errorf("%w: ratchet key agreement: %w", ErrInvalidMessage, err)
	}
	okm := kdf.HKDF(shared, root, labelRatchet, 64)
	return okm[:32], chainKey{key: okm[32:64], index: 0}, nil
}

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
