package cbc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	iv := bytes.Repeat([]byte{9}, IVSize)
	for n := 0; n <= 3*aes.BlockSize; n++ {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		ct, err := Encrypt(key, iv, pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != (n/aes.BlockSize+1)*aes.BlockSize {
			t.Fatalf("%d bytes: ciphertext of %d bytes", n, len(ct))
		}
		got, err := Decrypt(key, iv, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: Decrypt = %x, %v", n, got, err)
		}
	}
}

// rawEncrypt encrypts whole blocks without padding, to build bad padding.
func rawEncrypt(t *testing.T, key, iv, blocks []byte) []byte {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(blocks))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, blocks)
	return out
}

func TestDecryptRefuses(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	iv := bytes.Repeat([]byte{9}, IVSize)
	block := func(last ...byte) []byte {
		b := bytes.Repeat([]byte{0xAA}, aes.BlockSize)
		copy(b[aes.BlockSize-len(last):], last)
		return b
	}
	tests := []struct {
		name    string
		key, iv []byte
		ct      []byte
		want    error
	}{
		{"empty", key, iv, nil, ErrCiphertext},
		{"partial block", key, iv, make([]byte, 17), ErrCiphertext},
		{"pad zero", key, iv, rawEncrypt(t, key, iv, block(0)), ErrCiphertext},
		{"pad too large", key, iv, rawEncrypt(t, key, iv, block(17)), ErrCiphertext},
		{"pad inconsistent", key, iv, rawEncrypt(t, key, iv, block(3, 2, 3)), ErrCiphertext},
		{"short key", key[:16], iv, make([]byte, 16), ErrKeySize},
		{"short iv", key, iv[:8], make([]byte, 16), ErrKeySize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decrypt(tt.key, tt.iv, tt.ct); !errors.Is(err, tt.want) {
				t.Fatalf("Decrypt: %v, want %v", err, tt.want)
			}
		})
	}
	if got, err := Decrypt(key, iv, rawEncrypt(t, key, iv, block(2, 2))); err != nil || len(got) != 14 {
		t.Fatalf("valid two-byte padding: %d bytes, %v", len(got), err)
	}
	if got, err := Decrypt(key, iv, rawEncrypt(t, key, iv, bytes.Repeat([]byte{16}, 16))); err != nil || len(got) != 0 {
		t.Fatalf("full block of padding: %d bytes, %v", len(got), err)
	}
	if _, err := Encrypt(key, iv[:1], nil); !errors.Is(err, ErrKeySize) {
		t.Fatalf("Encrypt with short iv: %v", err)
	}
}
