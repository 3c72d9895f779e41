package manifest

import (
	"bytes"
	"testing"
)

func TestDecodeBytes(t *testing.T) {
	want := []byte{0xfb, 0xff, 0x00, 0x10}
	for _, in := range []string{"fbff0010", "+/8AEA==", "+/8AEA", "-_8AEA==", "-_8AEA"} {
		got, err := DecodeBytes(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("DecodeBytes(%q) = %x, %v; want %x", in, got, err, want)
		}
	}
	for _, in := range []string{"not*valid", "a", "é"} {
		if _, err := DecodeBytes(in); err == nil {
			t.Errorf("DecodeBytes(%q) accepted", in)
		}
	}
}
