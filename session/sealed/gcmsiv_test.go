package sealed

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPolyval(t *testing.T) {
	// RFC 8452, Appendix A.
	h := unhex(t, "25629347589242761d31f826ba4b757b")
	x := append(unhex(t, "4f4f95668c83dfb6401762bb2d01a262"), unhex(t, "d1a24ddd2721d006bbe45f20d3c9f362")...)
	hx := mul(loadElement(h), xInv128)
	var s fieldElement
	for i := 0; i < len(x); i += 16 {
		e := loadElement(x[i:])
		s = mul(fieldElement{s.lo ^ e.lo, s.hi ^ e.hi}, hx)
	}
	var got [16]byte
	s.put(got[:])
	if want := unhex(t, "f7a3b47b846119fae5b7866cf5e5b77e"); !bytes.Equal(got[:], want) {
		t.Fatalf("POLYVAL = %x, want %x", got, want)
	}
}

func TestGCMSIVVectors(t *testing.T) {
	var file struct {
		Vectors []struct{ Key, Nonce, Plaintext, Sealed string }
	}
	readJSON(t, "testdata/aes256gcmsiv.json", &file)
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for i, v := range file.Vectors {
		key, nonce, pt, want := unhex(t, v.Key), unhex(t, v.Nonce), unhex(t, v.Plaintext), unhex(t, v.Sealed)
		got, err := sivSeal(key, nonce, pt)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("vector %d: seal = %x, %v; want %x", i, got, err, want)
		}
		back, err := sivOpen(key, nonce, want)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("vector %d: open = %x, %v", i, back, err)
		}
		for j := range want {
			bad := bytes.Clone(want)
			bad[j] ^= 0x40
			if _, err := sivOpen(key, nonce, bad); err == nil {
				t.Fatalf("vector %d: flipped byte %d accepted", i, j)
			}
		}
	}
	if _, err := sivOpen(make([]byte, 32), make([]byte, 12), make([]byte, 15)); err == nil {
		t.Fatal("short input accepted")
	}
}
