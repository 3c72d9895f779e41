package senderkey

import (
	"errors"
	"fmt"

	"samizdat/session/internal/cbc"
	"samizdat/session/internal/kdf"
	"samizdat/session/internal/pb"
)

const (
	messageKeySeed = 0x01
	chainKeySeed   = 0x02
)

// chainKey is one link of a sender chain.
type chainKey struct {
	iteration uint32
	seed      []byte
}

func (c chainKey) derive(label byte) []byte {
	return kdf.HMAC(c.seed, []byte{label})
}

// next returns the following link; it fails at the end of the chain.
func (c chainKey) next() (chainKey, error) {
	if c.iteration == ^uint32(0) {
		return chainKey{}, fmt.Errorf("%w: sender chain is too long", ErrInvalidState)
	}
	return chainKey{iteration: c.iteration + 1, seed: c.derive(chainKeySeed)}, nil
}

// messageSeed returns the seed of this link's message key.
func (c chainKey) messageSeed() []byte { return c.derive(messageKeySeed) }

// messageKey holds the IV and AES key derived from a message key seed.
type messageKey struct {
	iv, key []byte
}

func newMessageKey(seed []byte) messageKey {
	out := kdf.HKDF(seed, nil, "WhisperGroup", 48)
	return messageKey{iv: out[:16], key: out[16:]}
}

// encrypt encrypts plaintext with AES-256-CBC and PKCS#7 padding.
func (k messageKey) encrypt(plaintext []byte) ([]byte, error) {
	ct, err := cbc.Encrypt(k.key, k.iv, plaintext)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidState, err)
	}
	return ct, nil
}

// decrypt decrypts AES-256-CBC and removes PKCS#7 padding. The message is
// signed before this is reached, so padding errors reveal nothing to an
// attacker who could not already forge messages.
func (k messageKey) decrypt(ciphertext []byte) ([]byte, error) {
	pt, err := cbc.Decrypt(k.key, k.iv, ciphertext)
	switch {
	case errors.Is(err, cbc.ErrCiphertext):
		return nil, fmt.Errorf("%w: bad ciphertext length or padding", ErrDecrypt)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalidState, err)
	}
	return pt, nil
}

// messageSeedFor returns the message key seed for iteration on state s,
// consuming a skipped key or advancing the chain (storing the keys it skips).
func messageSeedFor(s *pb.SenderKeyStateStructure, iteration uint32) ([]byte, error) {
	ck, ok := stateChainKey(s)
	if !ok {
		return nil, fmt.Errorf("%w: missing chain key", ErrInvalidState)
	}
	if ck.iteration > iteration {
		if seed, ok := takeSkippedKey(s, iteration); ok {
			return seed, nil
		}
		return nil, fmt.Errorf("%w: iteration %d, chain at %d", ErrDuplicateMessage, iteration, ck.iteration)
	}
	if iteration-ck.iteration > MaxForwardJumps {
		return nil, fmt.Errorf("%w: iteration %d, chain at %d", ErrTooFarInFuture, iteration, ck.iteration)
	}
	var err error
	for ck.iteration < iteration {
		addSkippedKey(s, ck.iteration, ck.messageSeed())
		if ck, err = ck.next(); err != nil {
			return nil, err
		}
	}
	trimSkippedKeys(s)
	next, err := ck.next()
	if err != nil {
		return nil, err
	}
	setStateChainKey(s, next)
	return ck.messageSeed(), nil
}
