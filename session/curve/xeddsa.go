package curve

import (
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"io"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// This file implements XEdDSA (https://signal.org/docs/specifications/xeddsa/)
// in libsignal's variant: instead of negating the private scalar so that the
// Edwards public key has sign bit 0, the signer leaves the scalar alone and
// stores the public key's sign bit in the top bit of the signature, which is
// otherwise always zero because s < 2^253.

// hashPrefix domain-separates the nonce hash from ordinary Ed25519: the
// encoding of 2^256 - 2 (0xFE followed by 31 bytes 0xFF), as XEdDSA's hash_1.
var hashPrefix = func() [32]byte {
	var p [32]byte
	for i := range p {
		p[i] = 0xFF
	}
	p[0] = 0xFE
	return p
}()

// scalar returns k reduced modulo the group order.
func (k PrivateKey) scalar() *edwards25519.Scalar {
	var wide [64]byte
	copy(wide[:], k.key()[:])
	s, err := new(edwards25519.Scalar).SetUniformBytes(wide[:])
	if err != nil {
		panic("curve: unreachable: " + err.Error())
	}
	return s
}

// hashToScalar returns SHA-512 of the concatenated parts, reduced modulo the
// group order.
func hashToScalar(parts ...[]byte) *edwards25519.Scalar {
	h := sha512.New()
	for _, p := range parts {
		h.Write(p)
	}
	s, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	if err != nil {
		panic("curve: unreachable: " + err.Error())
	}
	return s
}

// Sign returns a 64-byte XEdDSA signature of the concatenation of msg,
// randomized with 64 bytes read from rand.
func (k PrivateKey) Sign(rand io.Reader, msg ...[]byte) ([]byte, error) {
	var z [64]byte
	if _, err := io.ReadFull(rand, z[:]); err != nil {
		return nil, fmt.Errorf("curve: reading randomness: %w", err)
	}
	defer clear(z[:])

	a := k.scalar()
	capA := new(edwards25519.Point).ScalarBaseMult(a).Bytes()
	signBit := capA[31] & 0x80

	parts := make([][]byte, 0, len(msg)+3)
	parts = append(parts, hashPrefix[:], k.key()[:])
	parts = append(parts, msg...)
	parts = append(parts, z[:])
	r := hashToScalar(parts...)
	capR := new(edwards25519.Point).ScalarBaseMult(r).Bytes()

	parts = append(parts[:0], capR, capA)
	parts = append(parts, msg...)
	h := hashToScalar(parts...)
	s := new(edwards25519.Scalar).MultiplyAdd(h, a, r)

	sig := make([]byte, 0, signatureSize)
	sig = append(sig, capR...)
	sig = append(sig, s.Bytes()...)
	sig[signatureSize-1] = sig[signatureSize-1]&0x7F | signBit
	return sig, nil
}

// edwardsFromMontgomery returns the Edwards point with the given sign whose
// Montgomery u-coordinate is u, mapping y = (u-1)/(u+1). Like libsignal it
// ignores the top bit of u, accepts non-canonical u, and rejects u = -1
// (where the map is undefined) and u that are not on the curve.
func edwardsFromMontgomery(u *[keySize]byte, sign byte) (*edwards25519.Point, bool) {
	fu, err := new(field.Element).SetBytes(u[:])
	if err != nil {
		return nil, false
	}
	one := new(field.Element).One()
	minusOne := new(field.Element).Negate(one)
	if fu.Equal(minusOne) == 1 {
		return nil, false
	}
	num := new(field.Element).Subtract(fu, one)
	den := new(field.Element).Add(fu, one)
	y := new(field.Element).Multiply(num, den.Invert(den))
	yb := y.Bytes()
	yb[31] |= sign << 7
	p, err := new(edwards25519.Point).SetBytes(yb)
	if err != nil {
		return nil, false
	}
	return p, true
}

// VerifySignature reports whether sig is a valid XEdDSA signature by k of the
// concatenation of msg, accepting exactly what libsignal accepts: 64 bytes,
// the top bit of the last byte selecting the sign of the Edwards public key,
// and the remaining s below 2^253 (then reduced modulo the group order).
func (k PublicKey) VerifySignature(sig []byte, msg ...[]byte) bool {
	if len(sig) != signatureSize {
		return false
	}
	capAPoint, ok := edwardsFromMontgomery(&k.u, sig[signatureSize-1]>>7)
	if !ok {
		return false
	}
	capA := capAPoint.Bytes()

	capR := sig[:32]
	var sBytes [64]byte
	copy(sBytes[:], sig[32:])
	sBytes[31] &= 0x7F
	if sBytes[31]&0xE0 != 0 {
		return false
	}
	s, err := new(edwards25519.Scalar).SetUniformBytes(sBytes[:])
	if err != nil {
		return false
	}

	parts := make([][]byte, 0, len(msg)+2)
	parts = append(parts, capR, capA)
	parts = append(parts, msg...)
	h := hashToScalar(parts...)

	minusA := new(edwards25519.Point).Negate(capAPoint)
	check := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(h, minusA, s).Bytes()
	return subtle.ConstantTimeCompare(check, capR) == 1
}

// lMinus1 is the group order minus one, ℓ - 1, where
// ℓ = 2^252 + 27742317777372353535851937790883648493.
var lMinus1 = func() *edwards25519.Scalar {
	b := [32]byte{
		0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	}
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(b[:])
	if err != nil {
		panic("curve: bad constant: " + err.Error())
	}
	return s
}()

// IsCanonical reports whether k passes libsignal's check on a peer's PQXDH
// base key: the u-coordinate is encoded below 2^255 - 19 (top bit clear, no
// non-reduced encoding) and the point lies in the prime-order subgroup
// (mapped to Edwards form with sign 0, ℓ·P is the identity).
func (k PublicKey) IsCanonical() bool {
	if k.u[31]&0x80 != 0 {
		return false
	}
	if k.u[31] == 0x7F && k.u[0] >= 256-19 {
		allOnes := true
		for _, c := range k.u[1:31] {
			allOnes = allOnes && c == 0xFF
		}
		if allOnes {
			return false
		}
	}
	p, ok := edwardsFromMontgomery(&k.u, 0)
	if !ok {
		return false
	}
	// ℓ·P = (ℓ-1)·P + P.
	q := new(edwards25519.Point).ScalarMult(lMinus1, p)
	q.Add(q, p)
	return q.Equal(edwards25519.NewIdentityPoint()) == 1
}
