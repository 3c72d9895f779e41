package incmlkem

import "testing"

func TestFieldReduce(t *testing.T) {
	for x := uint32(0); x < 2*q*q; x++ {
		if got, want := fieldReduce(x), uint16(x%q); got != want {
			t.Fatalf("fieldReduce(%d) = %d, want %d", x, got, want)
		}
	}
}

func TestReduceOnce(t *testing.T) {
	for a := uint16(0); a < 2*q; a++ {
		if got, want := reduceOnce(a), a%q; got != want {
			t.Fatalf("reduceOnce(%d) = %d, want %d", a, got, want)
		}
	}
}

func TestCompress(t *testing.T) {
	for _, d := range []uint{1, 4, 10, 11} {
		for x := uint32(0); x < q; x++ {
			// round(2^d·x/q) = floor((2^(d+1)·x + q) / 2q), computed with division.
			want := uint16(((x<<(d+1) + q) / (2 * q)) % (1 << d))
			if got := compress(uint16(x), d); got != want {
				t.Fatalf("compress(%d, %d) = %d, want %d", x, d, got, want)
			}
		}
	}
}

func TestDecompress1(t *testing.T) {
	if decompress1(0) != 0 || decompress1(1) != 1665 {
		t.Fatalf("decompress1: got %d, %d", decompress1(0), decompress1(1))
	}
}

func TestNTTTables(t *testing.T) {
	// Spot values from FIPS 203 Appendix A.
	if zetas[0] != 1 || zetas[1] != 1729 || zetas[127] != 2154 {
		t.Errorf("zetas: got %d %d %d", zetas[0], zetas[1], zetas[127])
	}
	if gammas[0] != 17 || gammas[1] != q-17 || gammas[127] != 1175 {
		t.Errorf("gammas: got %d %d %d", gammas[0], gammas[1], gammas[127])
	}
}

func TestNTTRoundTrip(t *testing.T) {
	var f poly
	for i := range f {
		f[i] = uint16((i*i*7 + 3*i + 11) % q)
	}
	g := f
	ntt(&g)
	if g == f {
		t.Fatal("ntt is the identity")
	}
	invNTT(&g)
	if g != f {
		t.Fatal("invNTT(ntt(f)) != f")
	}
}

// TestNTTMultiply checks that pointwise multiplication in T_q is
// multiplication in Z_q[X]/(X^256+1), against a schoolbook product.
func TestNTTMultiply(t *testing.T) {
	var f, g, want poly
	for i := range f {
		f[i] = uint16((i*31 + 5) % q)
		g[i] = uint16((i*i + 1000) % q)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			p := uint16(uint32(f[i]) * uint32(g[j]) % q)
			if k := i + j; k < n {
				want[k] = fieldAdd(want[k], p)
			} else {
				want[k-n] = fieldSub(want[k-n], p)
			}
		}
	}
	fh, gh := f, g
	ntt(&fh)
	ntt(&gh)
	var got poly
	mulAccNTT(&got, &fh, &gh)
	invNTT(&got)
	if got != want {
		t.Fatal("NTT product differs from schoolbook product")
	}
}

func TestSamplePolyCBD2Range(t *testing.T) {
	s := make([]byte, 32)
	for b := 0; b < 7; b++ {
		f := samplePolyCBD2(s, byte(b))
		for i, c := range f {
			if c > 2 && c < q-2 {
				t.Fatalf("coefficient %d = %d out of [-2, 2]", i, c)
			}
		}
	}
}
