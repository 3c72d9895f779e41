package erasure

// gf is an element of GF(2^16): bit i is the coefficient of x^i.
type gf uint16

// gfPoly is the reduction polynomial x^16 + x^12 + x^3 + x + 1.
const gfPoly = 0x1100b

// add returns a + b (which is also a - b).
func (a gf) add(b gf) gf { return a ^ b }

// reduceTab[n] is the carry-less product n·gfPoly: XORing reduceTab[n]<<s
// into a value whose bits 16+s..19+s hold n clears those bits without
// changing the value modulo gfPoly.
var reduceTab = func() (t [16]uint32) {
	for n := range t {
		for i := range 4 {
			if n>>i&1 != 0 {
				t[n] ^= gfPoly << i
			}
		}
	}
	return t
}()

// mul returns a·b. It has no data-dependent branches; its only
// data-dependent memory accesses are into two 64-byte tables.
func (a gf) mul(b gf) gf {
	// t[n] is the carry-less product a·n for every nibble n.
	var t [16]uint32
	aa := uint32(a)
	t[1] = aa
	for i := 2; i < 16; i += 2 {
		t[i] = t[i/2] << 1
		t[i+1] = t[i] ^ aa
	}
	// Carry-less product, degree at most 30, one nibble of b at a time.
	p := t[b>>12]<<12 ^ t[b>>8&15]<<8 ^ t[b>>4&15]<<4 ^ t[b&15]
	// Reduce bits 31..16, the top nibble first.
	for s := 12; s >= 0; s -= 4 {
		p ^= reduceTab[p>>(16+s)&15] << s
	}
	return gf(p)
}

// inv returns a^(2^16-2), the multiplicative inverse of a nonzero a, and 0
// for 0.
func (a gf) inv() gf {
	// 2^16-2 = 2 + 4 + ... + 2^15, so multiply a^(2^i) for i = 1..15.
	r := gf(1)
	s := a
	for range 15 {
		s = s.mul(s)
		r = r.mul(s)
	}
	return r
}

// div returns a / b, with a / 0 = 0 as in the spqr crate.
func (a gf) div(b gf) gf { return a.mul(b.inv()) }
