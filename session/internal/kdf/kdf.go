// Package kdf holds the two keyed hash constructions that every part of the
// Signal protocol derives keys with: HKDF-SHA256 (RFC 5869) and
// HMAC-SHA256. It exists so that the session, sender-key, sealed-sender and
// SPQR packages share one implementation of each.
//
// Security properties: both are the standard library's constructions, run
// in constant time with respect to the key. Outputs are secret; callers
// compare MACs with hmac.Equal or crypto/subtle, never with bytes.Equal.
package kdf

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
)

// MaxHKDFLength is the longest output HKDF-SHA256 can produce (255 blocks).
const MaxHKDFLength = 255 * sha256.Size

// HKDF returns n bytes of HKDF-SHA256 (extract, then expand) of secret with
// salt and info. A nil or empty salt means 32 zero bytes, as RFC 5869 says.
//
// n is a constant at every call site; asking for more than MaxHKDFLength
// bytes is a programming error and panics.
func HKDF(secret, salt []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, secret, salt, info, n)
	if err != nil {
		// hkdf.Key fails only for n > MaxHKDFLength (or in FIPS 140-only
		// mode, which this module does not support: X25519 is not
		// approved there).
		panic("kdf: hkdf: " + err.Error())
	}
	return out
}

// HMAC returns HMAC-SHA256 under key of the concatenation of parts.
func HMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}
