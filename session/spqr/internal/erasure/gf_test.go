package erasure

import (
	"math/rand/v2"
	"testing"
)

// refTables builds log/antilog tables from the generator x, independently of
// gf.mul's shift-and-reduce, and fails if x does not generate the whole
// multiplicative group (that is, if the polynomial were not primitive).
func refTables(t testing.TB) (exp []uint16, log []int) {
	t.Helper()
	exp = make([]uint16, 65535)
	log = make([]int, 65536)
	for i := range log {
		log[i] = -1
	}
	v := uint32(1)
	for i := range 65535 {
		if log[v] != -1 {
			t.Fatalf("x has order %d, want 65535", i)
		}
		exp[i] = uint16(v)
		log[v] = i
		v <<= 1
		if v&0x10000 != 0 {
			v ^= gfPoly
		}
	}
	if v != 1 {
		t.Fatalf("x^65535 = %#x, want 1", v)
	}
	return exp, log
}

func refMul(exp []uint16, log []int, a, b gf) gf {
	if a == 0 || b == 0 {
		return 0
	}
	return gf(exp[(log[a]+log[b])%65535])
}

func TestGFHandDerived(t *testing.T) {
	tests := []struct {
		name    string
		a, b, p gf
	}{
		// x^15 · x = x^16 ≡ x^12 + x^3 + x + 1.
		{"x15 times x", 0x8000, 0x0002, 0x100b},
		// (x + 1)(x + 1) = x^2 + 1 in characteristic 2.
		{"x+1 squared", 0x0003, 0x0003, 0x0005},
		// x^8 · x^8 = x^16.
		{"x8 squared", 0x0100, 0x0100, 0x100b},
		// x^15 · x^2 = x^17 ≡ x^13 + x^4 + x^2 + x.
		{"x15 times x2", 0x8000, 0x0004, 0x2016},
		{"zero", 0x0000, 0xffff, 0x0000},
		{"one", 0x0001, 0xbeef, 0xbeef},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.mul(tt.b); got != tt.p {
				t.Errorf("%#04x · %#04x = %#04x, want %#04x", tt.a, tt.b, got, tt.p)
			}
		})
	}
	if got := gf(0).inv(); got != 0 {
		t.Errorf("inv(0) = %#04x, want 0 (the crate's convention)", got)
	}
}

func TestGFMatchesLogTables(t *testing.T) {
	exp, log := refTables(t)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		a, b := gf(r.Uint32()), gf(r.Uint32())
		if got, want := a.mul(b), refMul(exp, log, a, b); got != want {
			t.Fatalf("%#04x · %#04x = %#04x, want %#04x", a, b, got, want)
		}
	}
}

func TestGFInverseExhaustive(t *testing.T) {
	step := 1
	if testing.Short() {
		step = 97
	}
	for a := 1; a < 65536; a += step {
		if p := gf(a).mul(gf(a).inv()); p != 1 {
			t.Fatalf("%#04x · inv = %#04x, want 1", a, p)
		}
	}
}

func TestGFFieldLaws(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		a, b, c := gf(r.Uint32()), gf(r.Uint32()), gf(r.Uint32())
		if a.mul(b) != b.mul(a) {
			t.Fatalf("mul not commutative at %#04x, %#04x", a, b)
		}
		if a.mul(b).mul(c) != a.mul(b.mul(c)) {
			t.Fatalf("mul not associative at %#04x, %#04x, %#04x", a, b, c)
		}
		if a.mul(b.add(c)) != a.mul(b).add(a.mul(c)) {
			t.Fatalf("mul does not distribute at %#04x, %#04x, %#04x", a, b, c)
		}
		if b != 0 && a.div(b).mul(b) != a {
			t.Fatalf("(%#04x / %#04x) · %#04x != %#04x", a, b, b, a)
		}
	}
}

func TestBasis(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 3, 5, 30, 36} {
		// 2n random distinct xs, random ys for the first n.
		seen := map[gf]bool{}
		var xs []gf
		for len(xs) < 2*n {
			x := gf(r.Uint32())
			if !seen[x] {
				seen[x] = true
				xs = append(xs, x)
			}
		}
		ys := make([]gf, n)
		for j := range ys {
			ys[j] = gf(r.Uint32())
		}
		b := newBasis(xs[:n])
		// The polynomial passes through its own points...
		for j := range n {
			if got := dot(ys, b.weights(xs[j])); got != ys[j] {
				t.Fatalf("n=%d: p(%#04x) = %#04x, want %#04x", n, xs[j], got, ys[j])
			}
		}
		// ...and n of its values elsewhere determine the same polynomial.
		ys2 := make([]gf, n)
		for j := range n {
			ys2[j] = dot(ys, b.weights(xs[n+j]))
		}
		b2 := newBasis(xs[n:])
		for j := range n {
			if got := dot(ys2, b2.weights(xs[j])); got != ys[j] {
				t.Fatalf("n=%d: re-interpolated p(%#04x) = %#04x, want %#04x", n, xs[j], got, ys[j])
			}
		}
		// A polynomial with no points is zero.
		if n == 0 && dot(nil, b.weights(7)) != 0 {
			t.Fatal("empty polynomial is not zero")
		}
	}
}
