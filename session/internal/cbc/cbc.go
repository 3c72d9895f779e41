// Package cbc is AES-256-CBC with PKCS#7 padding, the cipher of the Signal
// protocol's pairwise messages (SignalMessage) and group messages
// (SenderKeyMessage).
//
// Security properties: CBC is unauthenticated. Callers must verify the
// message's MAC or signature before they call Decrypt, so that a padding
// error tells nothing to anyone who cannot already forge messages; the
// padding check is constant time all the same. Errors carry no key,
// plaintext or ciphertext bytes.
package cbc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
)

// KeySize and IVSize are the sizes Encrypt and Decrypt require.
const (
	KeySize = 32
	IVSize  = aes.BlockSize
)

var (
	// ErrCiphertext means the ciphertext is not a whole, non-zero number of
	// blocks or its padding is wrong.
	ErrCiphertext = errors.New("cbc: bad ciphertext length or padding")
	// ErrKeySize means the key or IV has the wrong size.
	ErrKeySize = errors.New("cbc: bad key or iv size")
)

func newCipher(key, iv []byte) (cipher.Block, error) {
	if len(key) != KeySize || len(iv) != IVSize {
		return nil, fmt.Errorf("%w: key %d bytes, iv %d bytes", ErrKeySize, len(key), len(iv))
	}
	return aes.NewCipher(key)
}

// Encrypt pads plaintext with PKCS#7 and encrypts it.
func Encrypt(key, iv, plaintext []byte) ([]byte, error) {
	block, err := newCipher(key, iv)
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

// Decrypt decrypts ciphertext and removes its PKCS#7 padding.
func Decrypt(key, iv, ciphertext []byte) ([]byte, error) {
	block, err := newCipher(key, iv)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, ErrCiphertext
	}
	buf := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, ciphertext)
	pad := int(buf[len(buf)-1])
	// Check the last block whole, in constant time: byte i is padding when
	// i+pad >= BlockSize and must then equal pad.
	last := buf[len(buf)-aes.BlockSize:]
	good := 1 - subtle.ConstantTimeByteEq(byte(pad), 0)
	good &= subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
	for i, b := range last {
		inPad := subtle.ConstantTimeLessOrEq(aes.BlockSize, i+pad)
		good &= subtle.ConstantTimeSelect(inPad, subtle.ConstantTimeByteEq(b, byte(pad)), 1)
	}
	if good != 1 {
		return nil, ErrCiphertext
	}
	return buf[:len(buf)-pad], nil
}
