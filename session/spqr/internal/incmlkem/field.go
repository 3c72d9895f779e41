package incmlkem

import "crypto/sha3"

// This file holds the ML-KEM-768 building blocks (FIPS 203 §4) that the
// standard library does not export: arithmetic in Z_q, the NTT and its
// inverse, SampleNTT, SamplePolyCBD, Compress and the byte encodings.
//
// Coefficients are uint16 values kept fully reduced to [0, q). Every routine
// that touches secret values (r, e1, e2, m and everything derived from them)
// uses only additions, multiplications, shifts and masks: no branches and no
// table lookups depend on secrets. Tables are indexed by loop counters only.
// The only data-dependent branches are in sampleNTT and decodeEK, which work
// on public data (the seed ρ and the encapsulation key).

const (
	q    = 3329 // the ML-KEM modulus
	n    = 256  // coefficients per polynomial
	rank = 3    // k for ML-KEM-768

	du = 10 // d_u: bits per coefficient of u in the ciphertext
	dv = 4  // d_v: bits per coefficient of v in the ciphertext
	// η1 = η2 = 2 for ML-KEM-768; samplePolyCBD2 implements η = 2 only.

	encodedPolySize = n * 12 / 8 // 384 bytes, ByteEncode_12
	prfOutputSize   = 64 * 2     // 64·η bytes of PRF output for η = 2

	// Barrett reduction: for x < 2^24, (x·barrettMul) >> barrettShift is
	// floor(x/q) or one less.
	barrettMul   = 5039 // floor(2^24 / q)
	barrettShift = 24

	invN = 3303 // 128^-1 mod q, the scaling of the inverse NTT
)

// poly is an element of R_q (or of T_q when in NTT form), coefficients in [0, q).
type poly [n]uint16

// reduceOnce maps a in [0, 2q) to a mod q without branching.
func reduceOnce(a uint16) uint16 {
	x := a - q
	x += (x >> 15) * q // x wrapped below zero iff a < q
	return x
}

func fieldAdd(a, b uint16) uint16 { return reduceOnce(a + b) }
func fieldSub(a, b uint16) uint16 { return reduceOnce(a - b + q) }

// fieldReduce returns x mod q for x < 2q², in constant time.
func fieldReduce(x uint32) uint16 {
	quo := uint32((uint64(x) * barrettMul) >> barrettShift)
	return reduceOnce(uint16(x - quo*q))
}

func fieldMul(a, b uint16) uint16 { return fieldReduce(uint32(a) * uint32(b)) }

// zetas[i] = 17^BitRev7(i) mod q, used by the NTT (FIPS 203 Algorithms 9–10).
// gammas[i] = 17^(2·BitRev7(i)+1) mod q, used by MultiplyNTTs (Algorithm 11).
var zetas, gammas = nttTables()

func nttTables() (z, g [128]uint16) {
	var pow [256]uint16 // pow[e] = 17^e mod q
	pow[0] = 1
	for e := 1; e < 256; e++ {
		pow[e] = uint16(uint32(pow[e-1]) * 17 % q)
	}
	for i := 0; i < 128; i++ {
		br := 0 // BitRev7(i)
		for b := 0; b < 7; b++ {
			br |= (i >> b & 1) << (6 - b)
		}
		z[i] = pow[br]
		g[i] = pow[2*br+1]
	}
	return z, g
}

// ntt computes the NTT of f in place (FIPS 203 Algorithm 9).
func ntt(f *poly) {
	i := 1
	for length := 128; length >= 2; length /= 2 {
		for start := 0; start < n; start += 2 * length {
			zeta := zetas[i]
			i++
			for j := start; j < start+length; j++ {
				t := fieldMul(zeta, f[j+length])
				f[j+length] = fieldSub(f[j], t)
				f[j] = fieldAdd(f[j], t)
			}
		}
	}
}

// invNTT computes the inverse NTT of f in place (FIPS 203 Algorithm 10).
func invNTT(f *poly) {
	i := 127
	for length := 2; length <= 128; length *= 2 {
		for start := 0; start < n; start += 2 * length {
			zeta := zetas[i]
			i--
			for j := start; j < start+length; j++ {
				t := f[j]
				f[j] = fieldAdd(t, f[j+length])
				f[j+length] = fieldMul(zeta, fieldSub(f[j+length], t))
			}
		}
	}
	for j := range f {
		f[j] = fieldMul(f[j], invN)
	}
}

// mulAccNTT adds f∘g (the product in T_q, FIPS 203 Algorithm 11) to acc.
func mulAccNTT(acc, f, g *poly) {
	for i := 0; i < 128; i++ {
		a0, a1 := uint32(f[2*i]), uint32(f[2*i+1])
		b0, b1 := uint32(g[2*i]), uint32(g[2*i+1])
		a1b1 := uint32(fieldReduce(a1 * b1))
		c0 := fieldReduce(a0*b0 + a1b1*uint32(gammas[i])) // < 2q²
		c1 := fieldReduce(a0*b1 + a1*b0)                  // < 2q²
		acc[2*i] = fieldAdd(acc[2*i], c0)
		acc[2*i+1] = fieldAdd(acc[2*i+1], c1)
	}
}

// addTo sets f = f + g.
func addTo(f, g *poly) {
	for i := range f {
		f[i] = fieldAdd(f[i], g[i])
	}
}

// sampleNTT returns the element of T_q sampled by SHAKE128(ρ ‖ a ‖ b)
// (FIPS 203 Algorithm 7). In K-PKE the matrix entry Â[i][j] is
// sampleNTT(ρ, j, i). ρ is public, so rejection sampling may branch.
func sampleNTT(rho []byte, a, b byte) poly {
	var in [34]byte
	copy(in[:32], rho)
	in[32], in[33] = a, b
	xof := sha3.NewSHAKE128()
	xof.Write(in[:])

	var f poly
	var buf [168]byte // one SHAKE128 block, a multiple of 3
	j := 0
	for {
		xof.Read(buf[:])
		for off := 0; off < len(buf); off += 3 {
			d1 := uint16(buf[off]) | uint16(buf[off+1]&0x0f)<<8
			d2 := uint16(buf[off+1])>>4 | uint16(buf[off+2])<<4
			if d1 < q {
				f[j] = d1
				j++
				if j == n {
					return f
				}
			}
			if d2 < q {
				f[j] = d2
				j++
				if j == n {
					return f
				}
			}
		}
	}
}

// samplePolyCBD2 returns the polynomial sampled from the centered binomial
// distribution with η = 2 on PRF_2(s, b) = SHAKE256(s ‖ b, 128) (FIPS 203
// Algorithm 8 and §4.1). s is secret; the sampling is branch-free.
func samplePolyCBD2(s []byte, b byte) poly {
	var in [33]byte
	copy(in[:32], s)
	in[32] = b
	var buf [prfOutputSize]byte
	h := sha3.NewSHAKE256()
	h.Write(in[:])
	h.Read(buf[:])

	var f poly
	for i, x := range buf {
		// Each nibble yields one coefficient: (bit0+bit1) - (bit2+bit3).
		lo := uint16(x&1) + uint16(x>>1&1) + q - uint16(x>>2&1) - uint16(x>>3&1)
		hi := uint16(x>>4&1) + uint16(x>>5&1) + q - uint16(x>>6&1) - uint16(x>>7&1)
		f[2*i] = reduceOnce(lo)
		f[2*i+1] = reduceOnce(hi)
	}
	clear(in[:])
	clear(buf[:])
	return f
}

// compress returns Compress_d(x) = round(2^d·x / q) mod 2^d for x in [0, q)
// and 1 ≤ d ≤ 11 (FIPS 203 §4.2.1), in constant time.
func compress(x uint16, d uint) uint16 {
	// q is odd, so 2^d·x/q is never exactly halfway between integers and
	// round(2^d·x/q) = floor((2^d·x + (q-1)/2) / q).
	num := uint32(x)<<d + (q-1)/2 // < 2^24
	quo := uint32((uint64(num) * barrettMul) >> barrettShift)
	rem := num - quo*q         // in [0, 2q)
	quo += (q - 1 - rem) >> 31 // one more if rem ≥ q
	return uint16(quo & (1<<d - 1))
}

// decompress1 returns Decompress_1(bit) = bit·⌈q/2⌉ for bit in {0, 1},
// in constant time.
func decompress1(bit uint16) uint16 {
	return -bit & ((q + 1) / 2)
}

// encodeU appends ByteEncode_10(Compress_10(u_i)) for each polynomial of u.
func encodeU(out []byte, u *[rank]poly) []byte {
	for i := range u {
		f := &u[i]
		for j := 0; j < n; j += 4 {
			c0 := compress(f[j], du)
			c1 := compress(f[j+1], du)
			c2 := compress(f[j+2], du)
			c3 := compress(f[j+3], du)
			out = append(out,
				byte(c0),
				byte(c0>>8|c1<<2),
				byte(c1>>6|c2<<4),
				byte(c2>>4|c3<<6),
				byte(c3>>2))
		}
	}
	return out
}

// encodeV appends ByteEncode_4(Compress_4(v)).
func encodeV(out []byte, v *poly) []byte {
	for j := 0; j < n; j += 2 {
		out = append(out, byte(compress(v[j], dv)|compress(v[j+1], dv)<<4))
	}
	return out
}

// decodeEK parses ByteDecode_12 of the 1152-byte encoding of t̂ and reports
// whether every coefficient is below q (the FIPS 203 §7.2 modulus check).
// The encapsulation key is public, so the check may branch.
func decodeEK(ek []byte) (t [rank]poly, ok bool) {
	for i := range t {
		b := ek[i*encodedPolySize : (i+1)*encodedPolySize]
		for j := 0; j < n/2; j++ {
			x0, x1, x2 := uint16(b[3*j]), uint16(b[3*j+1]), uint16(b[3*j+2])
			d1 := x0 | (x1&0x0f)<<8
			d2 := x1>>4 | x2<<4
			if d1 >= q || d2 >= q {
				return t, false
			}
			t[i][2*j] = d1
			t[i][2*j+1] = d2
		}
	}
	return t, true
}
