package senderkey

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

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
	m := hmac.New(sha256.New, c.seed)
	m.Write([]byte{label})
	return m.Sum(nil)
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
	iteration uint32
	iv        []byte
	key       []byte
}

func newMessageKey(iteration uint32, seed []byte) (messageKey, error) {
	out, err := hkdf.Key(sha256.New, seed, nil, "WhisperGroup", 48)
	if err != nil {
		return messageKey{}, fmt.Errorf("senderkey: derive message key: %w", err)
	}
	return messageKey{iteration: iteration, iv: out[:16], key: out[16:]}, nil
}

// encryptCBC encrypts with AES-256-CBC and PKCS#7 padding.
func encryptCBC(key, iv, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidState, err)
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+pad)
	copy(buf, plaintext)
	copy(buf[len(plaintext):], bytes.Repeat([]byte{byte(pad)}, pad))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return buf, nil
}

// decryptCBC decrypts AES-256-CBC and removes PKCS#7 padding. The message
// is signed before this is reached, so padding errors reveal nothing to an
// attacker who could not already forge messages.
func decryptCBC(key, iv, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext length must be a non-zero multiple of 16", ErrDecrypt)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidState, err)
	}
	buf := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, ciphertext)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
	}
	want := bytes.Repeat([]byte{byte(pad)}, pad)
	if subtle.ConstantTimeCompare(buf[len(buf)-pad:], want) != 1 {
		return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
	}
	return buf[:len(buf)-pad], nil
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
