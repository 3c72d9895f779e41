package incmlkem

import (
	"bytes"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/rand"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// standardEK rebuilds the FIPS 203 encapsulation key ByteEncode_12(t̂) ‖ ρ.
func standardEK(t testing.TB, keys Keys) *mlkem.EncapsulationKey768 {
	t.Helper()
	ek, err := mlkem.NewEncapsulationKey768(append(append([]byte(nil), keys.EK...), keys.Header[:32]...))
	if err != nil {
		t.Fatalf("standard encapsulation key: %v", err)
	}
	return ek
}

func mustGenerate(t testing.TB, seed []byte) Keys {
	t.Helper()
	keys, err := Generate(bytes.NewReader(seed))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return keys
}

func mustEncaps(t testing.TB, keys Keys, m []byte) (ct1, ct2, ss []byte) {
	t.Helper()
	ct1, es, ss, err := Encaps1(keys.Header, bytes.NewReader(m))
	if err != nil {
		t.Fatalf("Encaps1: %v", err)
	}
	if !EKMatchesHeader(keys.EK, keys.Header) {
		t.Fatal("EKMatchesHeader(own key) = false")
	}
	ct2, err = Encaps2(keys.EK, es)
	if err != nil {
		t.Fatalf("Encaps2: %v", err)
	}
	return ct1, ct2, ss
}

func TestSizes(t *testing.T) {
	keys := mustGenerate(t, make([]byte, 64))
	ct1, es, ss, err := Encaps1(keys.Header, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct2, err := Encaps2(keys.EK, es)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"header", len(keys.Header), 64},
		{"ek", len(keys.EK), 1152},
		{"dk", len(keys.DK), DecapsulationKeySize},
		{"ct1", len(ct1), 960},
		{"ct2", len(ct2), 128},
		{"state", len(es), EncapsulationStateSize},
		{"secret", len(ss), 32},
		{"ct1+ct2", Ciphertext1Size + Ciphertext2Size, mlkem.CiphertextSize768},
		{"ek+rho", EncapsulationKeySize + 32, mlkem.EncapsulationKeySize768},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.name, c.got, c.want)
		}
	}
}

// TestMatchesStandard checks, for many random keys and messages, that the
// header and EK are the split standard key and that Encaps1+Encaps2 give the
// same ciphertext and secret as derandomized standard ML-KEM-768.
func TestMatchesStandard(t *testing.T) {
	iters := 200
	if testing.Short() {
		iters = 20
	}
	for i := 0; i < iters; i++ {
		seed, m := make([]byte, 64), make([]byte, 32)
		rand.Read(seed)
		rand.Read(m)
		keys := mustGenerate(t, seed)

		dk, err := mlkem.NewDecapsulationKey768(seed)
		if err != nil {
			t.Fatal(err)
		}
		full := dk.EncapsulationKey().Bytes()
		if !bytes.Equal(keys.EK, full[:1152]) || !bytes.Equal(keys.Header[:32], full[1152:]) {
			t.Fatalf("seed %x: EK/ρ are not the standard key's parts", seed)
		}
		if h := sha3.Sum256(full); !bytes.Equal(keys.Header[32:], h[:]) {
			t.Fatalf("seed %x: header hash is not SHA3-256(ek)", seed)
		}

		ct1, ct2, ss := mustEncaps(t, keys, m)
		wantSS, wantCT, err := mlkemtest.Encapsulate768(standardEK(t, keys), m)
		if err != nil {
			t.Fatal(err)
		}
		if got := append(append([]byte(nil), ct1...), ct2...); !bytes.Equal(got, wantCT) {
			t.Fatalf("seed %x m %x: ciphertext differs from standard ML-KEM-768", seed, m)
		}
		if !bytes.Equal(ss, wantSS) {
			t.Fatalf("seed %x m %x: shared secret differs from standard ML-KEM-768", seed, m)
		}

		got, err := Decaps(keys.DK, ct1, ct2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, ss) {
			t.Fatalf("seed %x m %x: Decaps did not recover the secret", seed, m)
		}
	}
}

// TestEdgeMessages covers m with all bits clear and all bits set.
func TestEdgeMessages(t *testing.T) {
	keys := mustGenerate(t, bytes.Repeat([]byte{0xa5}, 64))
	for _, m := range [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xff}, 32)} {
		ct1, ct2, ss := mustEncaps(t, keys, m)
		wantSS, wantCT, err := mlkemtest.Encapsulate768(standardEK(t, keys), m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(ct1, ct2...), wantCT) || !bytes.Equal(ss, wantSS) {
			t.Fatalf("m %x: differs from standard ML-KEM-768", m)
		}
	}
}

// TestAccumulated replays the C2SP/CCTV accumulated ML-KEM-768 test (the
// one in Go's crypto/mlkem tests) with keys split into header and EK and
// encapsulation done in two steps. testdata/accumulated768.txt holds the
// expected SHAKE-128 digest for 100 iterations.
func TestAccumulated(t *testing.T) {
	want, err := os.ReadFile("testdata/accumulated768.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, o := sha3.NewSHAKE128(), sha3.NewSHAKE128()
	seed, m, bad1, bad2 := make([]byte, 64), make([]byte, 32), make([]byte, 960), make([]byte, 128)
	for i := 0; i < 100; i++ {
		s.Read(seed)
		keys := mustGenerate(t, seed)
		o.Write(keys.EK)
		o.Write(keys.Header[:32])

		s.Read(m)
		ct1, ct2, ss := mustEncaps(t, keys, m)
		o.Write(ct1)
		o.Write(ct2)
		o.Write(ss)

		got, err := Decaps(keys.DK, ct1, ct2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, ss) {
			t.Fatalf("iteration %d: Decaps did not recover the secret", i)
		}

		s.Read(bad1)
		s.Read(bad2)
		k, err := Decaps(keys.DK, bad1, bad2)
		if err != nil {
			t.Fatal(err)
		}
		o.Write(k)
	}
	digest := make([]byte, 32)
	o.Read(digest)
	if got := hex.EncodeToString(digest); got != strings.TrimSpace(string(want)) {
		t.Errorf("accumulated digest %s, want %s", got, want)
	}
}

func TestDecapsImplicitRejection(t *testing.T) {
	keys := mustGenerate(t, bytes.Repeat([]byte{1}, 64))
	ct1, ct2, ss := mustEncaps(t, keys, bytes.Repeat([]byte{2}, 32))
	ct2[0] ^= 1
	got, err := Decaps(keys.DK, ct1, ct2)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, ss) {
		t.Fatal("tampered ciphertext decapsulated to the original secret")
	}
	dk, _ := mlkem.NewDecapsulationKey768(keys.DK)
	want, _ := dk.Decapsulate(append(ct1, ct2...))
	if !bytes.Equal(got, want) {
		t.Fatal("implicit rejection differs from crypto/mlkem")
	}
}

func TestWrongSizes(t *testing.T) {
	keys := mustGenerate(t, make([]byte, 64))
	ct1, es, _, err := Encaps1(keys.Header, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct2, err := Encaps2(keys.EK, es)
	if err != nil {
		t.Fatal(err)
	}
	short := func(b []byte) []byte { return b[:len(b)-1] }
	long := func(b []byte) []byte { return append(append([]byte(nil), b...), 0) }
	badVersion := append([]byte(nil), es...)
	badVersion[0] = 2
	reducedEK := append([]byte(nil), keys.EK...)
	reducedEK[0], reducedEK[1] = 0x01, reducedEK[1]|0x0d // coefficient 0 = 0xd01 = q

	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"encaps1 nil header", func() error { _, _, _, err := Encaps1(nil, nil); return err }, ErrInvalidLength},
		{"encaps1 short header", func() error { _, _, _, err := Encaps1(short(keys.Header), nil); return err }, ErrInvalidLength},
		{"encaps1 long header", func() error { _, _, _, err := Encaps1(long(keys.Header), nil); return err }, ErrInvalidLength},
		{"encaps2 short ek", func() error { _, err := Encaps2(short(keys.EK), es); return err }, ErrInvalidLength},
		{"encaps2 long ek", func() error { _, err := Encaps2(long(keys.EK), es); return err }, ErrInvalidLength},
		{"encaps2 full standard ek", func() error { _, err := Encaps2(append(long(keys.EK), keys.Header[1:32]...), es); return err }, ErrInvalidLength},
		{"encaps2 nil state", func() error { _, err := Encaps2(keys.EK, nil); return err }, ErrInvalidLength},
		{"encaps2 libcrux-size state", func() error { _, err := Encaps2(keys.EK, make([]byte, 2080)); return err }, ErrInvalidLength},
		{"encaps2 state version", func() error { _, err := Encaps2(keys.EK, badVersion); return err }, ErrInvalidState},
		{"encaps2 unreduced ek", func() error { _, err := Encaps2(reducedEK, es); return err }, ErrInvalidEncapsulationKey},
		{"decaps short dk", func() error { _, err := Decaps(short(keys.DK), ct1, ct2); return err }, ErrInvalidLength},
		{"decaps libcrux-size dk", func() error { _, err := Decaps(make([]byte, 2400), ct1, ct2); return err }, ErrInvalidLength},
		{"decaps short ct1", func() error { _, err := Decaps(keys.DK, short(ct1), ct2); return err }, ErrInvalidLength},
		{"decaps long ct2", func() error { _, err := Decaps(keys.DK, ct1, long(ct2)); return err }, ErrInvalidLength},
		{"decaps swapped", func() error { _, err := Decaps(keys.DK, ct2, ct1); return err }, ErrInvalidLength},
		{"random error", func() error { _, err := Generate(bytes.NewReader(make([]byte, 63))); return err }, nil},
		{"encaps1 random error", func() error { _, _, _, err := Encaps1(keys.Header, bytes.NewReader(nil)); return err }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEKMatchesHeader(t *testing.T) {
	keys := mustGenerate(t, bytes.Repeat([]byte{7}, 64))
	other := mustGenerate(t, bytes.Repeat([]byte{8}, 64))
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		return c
	}
	// An EK with coefficient 0 = q and a header that hashes it correctly:
	// the hash matches, so only the modulus check rejects it.
	unreduced := append([]byte(nil), keys.EK...)
	unreduced[0], unreduced[1] = 0x01, unreduced[1]&0xf0|0x0d
	h := sha3.Sum256(append(append([]byte(nil), unreduced...), keys.Header[:32]...))
	unreducedHdr := append(append([]byte(nil), keys.Header[:32]...), h[:]...)
	// The same for the last coefficient (high nibble of the last 3 bytes).
	unreducedLast := append([]byte(nil), keys.EK...)
	unreducedLast[1150], unreducedLast[1151] = unreducedLast[1150]&0x0f|0xf0, 0xff // 0xfff
	h = sha3.Sum256(append(append([]byte(nil), unreducedLast...), keys.Header[:32]...))
	unreducedLastHdr := append(append([]byte(nil), keys.Header[:32]...), h[:]...)

	tests := []struct {
		name    string
		ek, hdr []byte
		want    bool
	}{
		{"own", keys.EK, keys.Header, true},
		{"other's own", other.EK, other.Header, true},
		{"other ek", other.EK, keys.Header, false},
		{"other header", keys.EK, other.Header, false},
		{"ek bit flipped", flip(keys.EK, 500), keys.Header, false},
		{"rho bit flipped", keys.EK, flip(keys.Header, 3), false},
		{"hash bit flipped", keys.EK, flip(keys.Header, 40), false},
		{"halves swapped", keys.EK, append(append([]byte(nil), keys.Header[32:]...), keys.Header[:32]...), false},
		{"unreduced first coefficient", unreduced, unreducedHdr, false},
		{"unreduced last coefficient", unreducedLast, unreducedLastHdr, false},
		{"short ek", keys.EK[:1151], keys.Header, false},
		{"long ek", append(append([]byte(nil), keys.EK...), 0), keys.Header, false},
		{"short header", keys.EK, keys.Header[:63], false},
		{"long header", keys.EK, append(append([]byte(nil), keys.Header...), 0), false},
		{"nil", nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EKMatchesHeader(tc.ek, tc.hdr); got != tc.want {
				t.Fatalf("EKMatchesHeader = %v, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkEncapsulate(b *testing.B) {
	keys := mustGenerate(b, make([]byte, 64))
	b.Run("incremental", func(b *testing.B) {
		for b.Loop() {
			_, es, _, err := Encaps1(keys.Header, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Encaps2(keys.EK, es); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crypto_mlkem", func(b *testing.B) {
		ek := standardEK(b, keys)
		for b.Loop() {
			ek.Encapsulate()
		}
	})
}
