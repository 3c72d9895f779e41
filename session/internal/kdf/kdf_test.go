package kdf

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 5869, test cases 1 and 3; RFC 4231, test case 2.
func TestVectors(t *testing.T) {
	tests := []struct {
		name      string
		ikm, salt string
		info      string
		n         int
		want      string
	}{
		{"rfc5869 case 1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9", 42,
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
		{"rfc5869 case 3 (no salt)", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HKDF(unhex(t, tt.ikm), unhex(t, tt.salt), tt.info, tt.n)
			if !bytes.Equal(got, unhex(t, tt.want)) {
				t.Fatalf("HKDF = %x", got)
			}
		})
	}
	mac := HMAC([]byte("Jefe"), []byte("what do ya want "), []byte("for nothing?"))
	if want := unhex(t, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"); !bytes.Equal(mac, want) {
		t.Fatalf("HMAC = %x", mac)
	}
}
