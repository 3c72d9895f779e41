package broadcast

import (
	"bytes"
	"crypto/rand"
	"testing"
)

// FuzzParseCode: a code that parses encodes back to the same bytes.
func FuzzParseCode(f *testing.F) {
	c := newTestChannel(f)
	f.Add(c.String())
	f.Add(c.Subscriber().String())
	f.Add(codePrefix)
	f.Fuzz(func(t *testing.T, s string) {
		code, err := ParseCode(s)
		if err != nil {
			return
		}
		again, err := ParseCode(code.String())
		if err != nil || !bytes.Equal(again.Marshal(), code.Marshal()) || !ValidName(code.Name) {
			t.Fatalf("a parsed code does not round-trip: %v", err)
		}
	})
}

// FuzzParseBody: a body that parses encodes back to the same bytes.
func FuzzParseBody(f *testing.F) {
	for _, text := range []string{"", "hi", string(make([]byte, 300))} {
		b, _ := encodeBody(Body{SentAt: 9, Text: text})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := ParseBody(p)
		if err != nil {
			return
		}
		again, err := encodeBody(b)
		if err != nil || !bytes.Equal(again, p) {
			t.Fatalf("a parsed body does not round-trip: %v", err)
		}
	})
}

// FuzzOpen: no ciphertext but the one sealed opens under the channel's key.
func FuzzOpen(f *testing.F) {
	c := newTestChannel(f)
	ct, _ := Seal(c.ContentKey, c.ID(), PostID{}, Body{Text: "x"}, rand.Reader)
	f.Add(ct)
	f.Fuzz(func(t *testing.T, p []byte) {
		if _, err := Open(c.ContentKey, c.ID(), PostID{}, p); err == nil && !bytes.Equal(p, ct) {
			t.Fatal("a ciphertext nobody sealed opened")
		}
	})
}
