package erasure

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// fuzzMaxLen keeps fuzz executions fast; decoding cost grows with the square
// of the message length.
const fuzzMaxLen = 2048

// FuzzDecoder feeds arbitrary chunks to a decoder. The first two input bytes
// pick the message length, the rest are chunks of 2 index bytes (big-endian)
// and 32 data bytes.
func FuzzDecoder(f *testing.F) {
	enc, _ := NewEncoder(message(96, 1))
	seed := []byte{0, 96}
	for _, i := range []uint16{5, 0, 5, 900} {
		c := enc.ChunkAt(i)
		seed = binary.BigEndian.AppendUint16(seed, c.Index)
		seed = append(seed, c.Data[:]...)
	}
	f.Add(seed)
	f.Add([]byte{0, 10, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		size := int(binary.BigEndian.Uint16(in)) % (fuzzMaxLen + 1) &^ 1
		dec, err := NewDecoder(size)
		if err != nil {
			t.Fatal(err)
		}
		in = in[2:]
		for len(in) >= 2+ChunkDataSize {
			var c Chunk
			c.Index = binary.BigEndian.Uint16(in)
			copy(c.Data[:], in[2:])
			in = in[2+ChunkDataSize:]
			dec.AddChunk(c)
			if m, ok := dec.DecodedMessage(); ok && len(m) != size {
				t.Fatalf("decoded %d bytes, want %d", len(m), size)
			}
		}
		b, err := dec.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var dec2 Decoder
		if err := dec2.UnmarshalBinary(b); err != nil {
			t.Fatalf("own state rejected: %v", err)
		}
		m1, ok1 := dec.DecodedMessage()
		m2, ok2 := dec2.DecodedMessage()
		if ok1 != ok2 || !bytes.Equal(m1, m2) {
			t.Fatal("restored decoder decodes differently")
		}
	})
}

// FuzzDecoderUnmarshal feeds arbitrary bytes to Decoder.UnmarshalBinary;
// whatever parses must re-marshal to the same bytes and stay usable.
func FuzzDecoderUnmarshal(f *testing.F) {
	enc, _ := NewEncoder(message(160, 2))
	dec, _ := NewDecoder(160)
	for _, i := range []uint16{0, 9, 3} {
		dec.AddChunk(enc.ChunkAt(i))
	}
	b, _ := dec.MarshalBinary()
	f.Add(b)
	f.Add([]byte{'D', 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		if err := d.UnmarshalBinary(in); err != nil {
			return
		}
		out, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(in, out) {
			t.Fatalf("re-marshal differs:\n in %x\nout %x", in, out)
		}
		if 2*d.words > fuzzMaxLen {
			return
		}
		d.AddChunk(Chunk{Index: 1})
		d.DecodedMessage()
	})
}

// FuzzEncoderUnmarshal feeds arbitrary bytes to Encoder.UnmarshalBinary.
func FuzzEncoderUnmarshal(f *testing.F) {
	enc, _ := NewEncoder(message(96, 3))
	enc.NextChunk()
	b, _ := enc.MarshalBinary()
	f.Add(b)
	f.Add([]byte{'E', 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var e Encoder
		if err := e.UnmarshalBinary(in); err != nil {
			return
		}
		out, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(in, out) {
			t.Fatalf("re-marshal differs:\n in %x\nout %x", in, out)
		}
		if len(e.msg) > fuzzMaxLen {
			return
		}
		e.NextChunk()
		e.ChunkAt(65535)
	})
}

// FuzzRoundTrip checks that a message decodes from the chunks start,
// start+step, start+2·step, ... for any start and step.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("abcdefghij"), uint16(0), uint8(0))
	f.Add(message(1152, 4), uint16(65530), uint8(6))
	f.Add(message(96, 5), uint16(3), uint8(255))
	f.Fuzz(func(t *testing.T, msg []byte, start uint16, step uint8) {
		if len(msg) > fuzzMaxLen {
			msg = msg[:fuzzMaxLen]
		}
		msg = msg[:len(msg)&^1]
		enc, err := NewEncoder(msg)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := NewDecoder(len(msg))
		if err != nil {
			t.Fatal(err)
		}
		// At most 64 chunks with step ≤ 256 never wrap onto a repeated index.
		idx := start
		for range chunksNeeded(len(msg)) {
			dec.AddChunk(enc.ChunkAt(idx))
			idx += uint16(step) + 1
		}
		got, ok := dec.DecodedMessage()
		if !ok || !bytes.Equal(got, msg) {
			t.Fatalf("round trip failed: ok=%v", ok)
		}
	})
}
