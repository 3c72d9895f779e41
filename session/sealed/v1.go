package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/kdf"
	"samizdat/session/internal/pb"
)

const (
	v1MajorVersion   = 1
	v1FullVersion    = 0x11
	v1MACSize        = 10
	v1SaltPrefix     = "UnidentifiedDelivery"
	v1DerivedKeySize = 96
)

// v1Keys are the chain, cipher and MAC keys of one v1 key agreement.
type v1Keys struct {
	chain, cipher, mac []byte
}

// v1EphemeralKeys derives the keys that protect the sender's identity key.
// recipient and ephemeral are the public keys in wire form (33 bytes).
func v1EphemeralKeys(shared, recipient, ephemeral []byte) v1Keys {
	salt := make([]byte, 0, len(v1SaltPrefix)+len(recipient)+len(ephemeral))
	salt = append(salt, v1SaltPrefix...)
	salt = append(salt, recipient...)
	salt = append(salt, ephemeral...)
	return v1Derive(shared, salt)
}

// v1StaticKeys derives the keys that protect the content from the identity
// agreement, salted with the ephemeral chain key and the encrypted static key.
func v1StaticKeys(shared, chainKey, encryptedStatic []byte) v1Keys {
	salt := append(append([]byte(nil), chainKey...), encryptedStatic...)
	return v1Derive(shared, salt)
}

func v1Derive(shared, salt []byte) v1Keys {
	k := kdf.HKDF(shared, salt, "", v1DerivedKeySize)
	return v1Keys{chain: k[:32], cipher: k[32:64], mac: k[64:]}
}

// ctrHMACSeal encrypts with AES-256-CTR (zero IV) and appends the first 10
// bytes of HMAC-SHA256 over the ciphertext.
func ctrHMACSeal(cipherKey, macKey, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(cipherKey)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(plaintext), len(plaintext)+v1MACSize)
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out, plaintext)
	return append(out, kdf.HMAC(macKey, out)[:v1MACSize]...), nil
}

func ctrHMACOpen(cipherKey, macKey, sealed []byte) ([]byte, error) {
	if len(sealed) < v1MACSize {
		return nil, fmt.Errorf("%w: truncated ciphertext", ErrInvalidMessage)
	}
	n := len(sealed) - v1MACSize
	if !hmac.Equal(kdf.HMAC(macKey, sealed[:n])[:v1MACSize], sealed[n:]) {
		return nil, fmt.Errorf("%w: mac verification failed", ErrInvalidMessage)
	}
	block, err := aes.NewCipher(cipherKey)
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out, sealed[:n])
	return out, nil
}

// EncryptV1 seals content to one recipient with sealed sender v1. sender is
// the sender's identity key pair, whose public key must be the one in the
// content's sender certificate; recipient is the recipient's identity key.
func EncryptV1(rand io.Reader, content *Content, sender curve.KeyPair, recipient curve.PublicKey) ([]byte, error) {
	eph, err := curve.GenerateKeyPair(rand)
	if err != nil {
		return nil, fmt.Errorf("sealed: generate ephemeral key: %w", err)
	}
	shared, err := eph.Private.Agree(recipient)
	if err != nil {
		return nil, fmt.Errorf("sealed: ephemeral agreement: %w", err)
	}
	ek := v1EphemeralKeys(shared, recipient.Bytes(), eph.Public.Bytes())
	encStatic, err := ctrHMACSeal(ek.cipher, ek.mac, sender.Public.Bytes())
	if err != nil {
		return nil, err
	}
	shared2, err := sender.Private.Agree(recipient)
	if err != nil {
		return nil, fmt.Errorf("sealed: identity agreement: %w", err)
	}
	sk := v1StaticKeys(shared2, ek.chain, encStatic)
	encMessage, err := ctrHMACSeal(sk.cipher, sk.mac, content.raw)
	if err != nil {
		return nil, err
	}
	body, err := proto.Marshal(&pb.UnidentifiedSenderMessage{
		EphemeralPublic:  eph.Public.Bytes(),
		EncryptedStatic:  encStatic,
		EncryptedMessage: encMessage,
	})
	if err != nil {
		return nil, fmt.Errorf("sealed: encode message: %w", err)
	}
	return append([]byte{v1FullVersion}, body...), nil
}

// v1Message is the parsed outer form of a v1 message.
type v1Message struct {
	ephemeral        curve.PublicKey
	encryptedStatic  []byte
	encryptedMessage []byte
}

// parseV1 parses the outer v1 message after the version byte.
func parseV1(body []byte) (*v1Message, error) {
	var m pb.UnidentifiedSenderMessage
	if err := pb.UnmarshalStrict(body, &m); err != nil {
		return nil, fmt.Errorf("%w: sealed message: %v", ErrMalformed, err)
	}
	if m.EphemeralPublic == nil || m.EncryptedStatic == nil || m.EncryptedMessage == nil {
		return nil, fmt.Errorf("%w: sealed message lacks a field", ErrMalformed)
	}
	eph, err := curve.DecodePublicKey(m.EphemeralPublic)
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %v", ErrMalformed, err)
	}
	return &v1Message{ephemeral: eph, encryptedStatic: m.EncryptedStatic, encryptedMessage: m.EncryptedMessage}, nil
}

func decryptV1(m *v1Message, us curve.KeyPair) (*Content, error) {
	shared, err := us.Private.Agree(m.ephemeral)
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral agreement: %v", ErrInvalidMessage, err)
	}
	ek := v1EphemeralKeys(shared, us.Public.Bytes(), m.ephemeral.Bytes())
	staticBytes, err := ctrHMACOpen(ek.cipher, ek.mac, m.encryptedStatic)
	if err != nil {
		return nil, fmt.Errorf("message key: %w", err)
	}
	static, err := curve.DecodePublicKey(staticBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: sender key: %v", ErrInvalidMessage, err)
	}
	shared2, err := us.Private.Agree(static)
	if err != nil {
		return nil, fmt.Errorf("%w: identity agreement: %v", ErrInvalidMessage, err)
	}
	sk := v1StaticKeys(shared2, ek.chain, m.encryptedStatic)
	body, err := ctrHMACOpen(sk.cipher, sk.mac, m.encryptedMessage)
	if err != nil {
		return nil, fmt.Errorf("message contents: %w", err)
	}
	c, err := ParseContent(body)
	if err != nil {
		return nil, err
	}
	// The decrypted key bytes, trailing bytes and all, must be exactly the
	// certificate's key.
	if subtle.ConstantTimeCompare(staticBytes, c.sender.key.Bytes()) != 1 {
		return nil, fmt.Errorf("%w: sender certificate key does not match message key", ErrInvalidMessage)
	}
	return c, nil
}
