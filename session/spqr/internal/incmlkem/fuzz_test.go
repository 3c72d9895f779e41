package incmlkem

import (
	"bytes"
	"crypto/mlkem/mlkemtest"
	"testing"
)

// FuzzEncaps2 feeds arbitrary encapsulation keys and states to Encaps2. It
// must never panic; when it accepts the input, ct2 must be 128 bytes, and
// for a header-consistent key it must agree with standard ML-KEM-768.
func FuzzEncaps2(f *testing.F) {
	keys := mustGenerate(f, bytes.Repeat([]byte{3}, 64))
	m := bytes.Repeat([]byte{4}, 32)
	_, es, _, err := Encaps1(keys.Header, bytes.NewReader(m))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(keys.EK, es)
	f.Add(keys.EK[:100], es[:10])
	f.Fuzz(func(t *testing.T, ek, state []byte) {
		ct2, err := Encaps2(ek, state)
		if err != nil {
			if ct2 != nil {
				t.Fatal("ciphertext returned with an error")
			}
			return
		}
		if len(ct2) != Ciphertext2Size {
			t.Fatalf("ct2 is %d bytes", len(ct2))
		}
		if !bytes.Equal(state, es) || !EKMatchesHeader(ek, keys.Header) {
			return
		}
		ct1, _, _, err := Encaps1(keys.Header, bytes.NewReader(m))
		if err != nil {
			t.Fatal(err)
		}
		_, want, err := mlkemtest.Encapsulate768(standardEK(t, keys), m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(ct1, ct2...), want) {
			t.Fatal("ciphertext differs from standard ML-KEM-768")
		}
	})
}

// FuzzEKMatchesHeader feeds arbitrary key and header bytes to
// EKMatchesHeader and Encaps1. Neither may panic, and a key accepted by
// EKMatchesHeader must be accepted by Encaps2.
func FuzzEKMatchesHeader(f *testing.F) {
	keys := mustGenerate(f, bytes.Repeat([]byte{5}, 64))
	f.Add(keys.EK, keys.Header)
	f.Add(keys.EK[1:], keys.Header[:63])
	f.Fuzz(func(t *testing.T, ek, hdr []byte) {
		ct1, es, ss, err := Encaps1(hdr, bytes.NewReader(make([]byte, 32)))
		if (err == nil) != (len(hdr) == HeaderSize) {
			t.Fatalf("Encaps1 on a %d-byte header: err %v", len(hdr), err)
		}
		if err == nil && (len(ct1) != Ciphertext1Size || len(es) != EncapsulationStateSize || len(ss) != SharedSecretSize) {
			t.Fatal("Encaps1 output sizes")
		}
		if !EKMatchesHeader(ek, hdr) {
			return
		}
		if _, err := Encaps2(ek, es); err != nil {
			t.Fatalf("Encaps2 rejected a key EKMatchesHeader accepted: %v", err)
		}
	})
}

// FuzzDecaps feeds arbitrary inputs to Decaps, which must not panic and
// must accept every correctly sized input.
func FuzzDecaps(f *testing.F) {
	keys := mustGenerate(f, bytes.Repeat([]byte{6}, 64))
	ct1, ct2, _ := mustEncaps(f, keys, bytes.Repeat([]byte{7}, 32))
	f.Add(keys.DK, ct1, ct2)
	f.Add(keys.DK[:5], ct1[:5], ct2[:5])
	f.Fuzz(func(t *testing.T, dk, ct1, ct2 []byte) {
		ss, err := Decaps(dk, ct1, ct2)
		sized := len(dk) == DecapsulationKeySize && len(ct1) == Ciphertext1Size && len(ct2) == Ciphertext2Size
		if (err == nil) != sized {
			t.Fatalf("sized %v, err %v", sized, err)
		}
		if err == nil && len(ss) != SharedSecretSize {
			t.Fatalf("secret is %d bytes", len(ss))
		}
	})
}
