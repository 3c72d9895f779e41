package senderkey

import (
	"bytes"
	"testing"
)

// FuzzParseDistributionMessage checks that parsing never panics and that a
// parsed message re-serializes from its own fields to a message that parses
// to the same fields.
func FuzzParseDistributionMessage(f *testing.F) {
	f.Add([]byte{0x33})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseDistributionMessage(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Bytes(), b) {
			t.Fatal("Bytes differs from input")
		}
		m2, err := newDistributionMessage(m.Version(), m.DistributionID(), m.ChainID(), m.Iteration(), m.ChainKey(), m.SigningKey())
		if err != nil {
			t.Fatal(err)
		}
		m3, err := ParseDistributionMessage(m2.Bytes())
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		if m3.DistributionID() != m.DistributionID() || m3.ChainID() != m.ChainID() || m3.Iteration() != m.Iteration() ||
			!bytes.Equal(m3.ChainKey(), m.ChainKey()) || !m3.SigningKey().Equal(m.SigningKey()) {
			t.Fatal("round trip changed fields")
		}
	})
}

// FuzzParseMessage checks that parsing never panics and keeps the input.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte{0x33})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Bytes(), b) || m.Version() != MessageVersion {
			t.Fatal("parsed message differs from input")
		}
	})
}

// FuzzParseRecord checks that stored records never panic the parser and
// round-trip through Bytes.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		raw, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseRecord(raw); err != nil {
			t.Fatalf("re-encoded record does not parse: %v", err)
		}
	})
}
