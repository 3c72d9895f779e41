package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// AES-256-GCM-SIV (RFC 8452) with no associated data, as sealed sender v2
// uses it. Go's standard library has no GCM-SIV, so it is built here from
// crypto/aes and a constant-time POLYVAL. Only what v2 needs is provided:
// a 32-byte key, a 12-byte nonce, empty associated data.

const (
	sivTagSize   = 16
	sivNonceSize = 12
)

var errSIVOpen = errors.New("message authentication failed")

// fieldElement is an element of POLYVAL's field GF(2^128), as the
// little-endian 128-bit integer lo + hi·2^64 whose bit i is the coefficient
// of x^i, reduced modulo x^128 + x^127 + x^126 + x^121 + 1.
type fieldElement struct{ lo, hi uint64 }

func loadElement(b []byte) fieldElement {
	return fieldElement{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:16])}
}

func (e fieldElement) put(b []byte) {
	binary.LittleEndian.PutUint64(b[:8], e.lo)
	binary.LittleEndian.PutUint64(b[8:16], e.hi)
}

// mulX returns e·x, reducing x^128 to x^127 + x^126 + x^121 + 1.
func (e fieldElement) mulX() fieldElement {
	mask := -(e.hi >> 63)
	return fieldElement{
		lo: e.lo<<1 ^ mask&1,
		hi: (e.hi<<1 | e.lo>>63) ^ mask&(1<<63|1<<62|1<<57),
	}
}

// mul returns a·b in constant time (shift-and-add over b's bits, high first).
func mul(a, b fieldElement) fieldElement {
	var r fieldElement
	for i := 127; i >= 0; i-- {
		r = r.mulX()
		var bit uint64
		if i >= 64 {
			bit = b.hi >> (i - 64) & 1
		} else {
			bit = b.lo >> i & 1
		}
		m := -bit
		r.lo ^= a.lo & m
		r.hi ^= a.hi & m
	}
	return r
}

// xInv128 is x^-128: POLYVAL's dot(a, b) is a·b·x^-128.
var xInv128 = func() fieldElement {
	// x·(x^127 + x^126 + x^125 + x^120) = x^128 + x^127 + x^126 + x^121 = 1.
	xInv := fieldElement{hi: 1<<63 | 1<<62 | 1<<61 | 1<<56}
	r := fieldElement{lo: 1}
	for range 128 {
		r = mul(r, xInv)
	}
	return r
}()

// polyval computes POLYVAL(h, blocks) over the zero-padded blocks of data
// followed by the length block for empty associated data and data.
func polyval(h []byte, data []byte) [16]byte {
	hx := mul(loadElement(h), xInv128)
	var s fieldElement
	absorb := func(x fieldElement) {
		s = mul(fieldElement{s.lo ^ x.lo, s.hi ^ x.hi}, hx)
	}
	bits := uint64(len(data)) * 8
	var blk [16]byte
	for len(data) > 0 {
		n := copy(blk[:], data)
		clear(blk[n:])
		data = data[n:]
		absorb(loadElement(blk[:]))
	}
	absorb(fieldElement{lo: 0, hi: bits}) // le64(aad bits) || le64(data bits)
	var out [16]byte
	s.put(out[:])
	return out
}

// sivKeys derives the per-nonce authentication key and the cipher of the
// per-nonce encryption key.
func sivKeys(key, nonce []byte) (auth [16]byte, enc cipher.Block, err error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return auth, nil, err
	}
	var in, out [16]byte
	copy(in[4:], nonce)
	var material [48]byte
	for i := range uint32(6) {
		binary.LittleEndian.PutUint32(in[:4], i)
		block.Encrypt(out[:], in[:])
		copy(material[8*i:], out[:8])
	}
	copy(auth[:], material[:16])
	enc, err = aes.NewCipher(material[16:])
	clear(material[:])
	return auth, enc, err
}

// sivTag computes the tag over plaintext.
func sivTag(enc cipher.Block, auth []byte, nonce, plaintext []byte) [16]byte {
	s := polyval(auth, plaintext)
	for i := range sivNonceSize {
		s[i] ^= nonce[i]
	}
	s[15] &= 0x7f
	var tag [16]byte
	enc.Encrypt(tag[:], s[:])
	return tag
}

// sivCTR XORs in with the keystream that starts at counter block tag|0x80,
// whose first 32 bits count up little-endian.
func sivCTR(enc cipher.Block, tag [16]byte, dst, in []byte) {
	ctr := tag
	ctr[15] |= 0x80
	n := binary.LittleEndian.Uint32(ctr[:4])
	var ks [16]byte
	for len(in) > 0 {
		binary.LittleEndian.PutUint32(ctr[:4], n)
		enc.Encrypt(ks[:], ctr[:])
		k := subtle.XORBytes(dst, in, ks[:])
		dst, in = dst[k:], in[k:]
		n++
	}
}

// sivSeal returns AES-256-GCM-SIV(key, nonce, plaintext) as ciphertext || tag.
func sivSeal(key, nonce, plaintext []byte) ([]byte, error) {
	auth, enc, err := sivKeys(key, nonce)
	if err != nil {
		return nil, err
	}
	tag := sivTag(enc, auth[:], nonce, plaintext)
	out := make([]byte, len(plaintext)+sivTagSize)
	sivCTR(enc, tag, out, plaintext)
	copy(out[len(plaintext):], tag[:])
	return out, nil
}

// sivOpen authenticates and decrypts ciphertext || tag.
func sivOpen(key, nonce, sealed []byte) ([]byte, error) {
	if len(sealed) < sivTagSize {
		return nil, errSIVOpen
	}
	auth, enc, err := sivKeys(key, nonce)
	if err != nil {
		return nil, err
	}
	n := len(sealed) - sivTagSize
	var tag [16]byte
	copy(tag[:], sealed[n:])
	out := make([]byte, n)
	sivCTR(enc, tag, out, sealed[:n])
	want := sivTag(enc, auth[:], nonce, out)
	if subtle.ConstantTimeCompare(want[:], tag[:]) != 1 {
		clear(out)
		return nil, errSIVOpen
	}
	return out, nil
}
