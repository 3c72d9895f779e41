package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"samizdat/session/curve"
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

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// hkdfSHA256 is RFC 5869 HKDF; a nil salt means HashLen zero bytes.
func hkdfSHA256(secret, salt []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, secret, salt, info, n)
	if err != nil {
		// Only possible for n > 255*32, which no caller asks for.
		panic("session: hkdf: " + err.Error())
	}
	return out
}

// chainKey is one step of a sending or receiving chain.
type chainKey struct {
	key   []byte // 32 bytes
	index uint32
}

func (c chainKey) next() chainKey {
	return chainKey{key: hmacSHA256(c.key, chainKeySeed), index: c.index + 1}
}

// messageSeed is the per-message input to the message-key KDF: the chain's
// HMAC output. It is what libsignal stores for skipped messages, because
// the final keys also depend on the SPQR key that arrives with the message.
func (c chainKey) messageSeed() []byte {
	return hmacSHA256(c.key, messageKeySeed)
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
	okm := hkdfSHA256(seed, pqKey, labelMessageKeys, 80)
	return messageKeys{cipherKey: okm[:32], macKey: okm[32:64], iv: okm[64:80]}
}

// rootStep is the Diffie-Hellman ratchet step: it mixes DH(our, their) into
// the root key and returns the new root key and a fresh chain key.
func rootStep(root []byte, their curve.PublicKey, our curve.PrivateKey) (newRoot []byte, ck chainKey, err error) {
	shared, err := our.Agree(their)
	if err != nil {
		return nil, chainKey{}, fmt.Errorf("%w: ratchet key agreement: %w", ErrInvalidMessage, err)
	}
	okm := hkdfSHA256(shared, root, labelRatchet, 64)
	return okm[:32], chainKey{key: okm[32:64], index: 0}, nil
}

var errBadPadding = errors.New("bad padding")

func aesCBCEncrypt(key, iv, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+pad)
	copy(buf, plaintext)
	for i := len(plaintext); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return buf, nil
}

func aesCBCDecrypt(key, iv, ciphertext []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, errBadPadding
	}
	buf := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, ciphertext)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errBadPadding
	}
	var bad byte
	for _, b := range buf[len(buf)-pad:] {
		bad |= b ^ byte(pad)
	}
	if bad != 0 {
		return nil, errBadPadding
	}
	return buf[:len(buf)-pad], nil
}

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
