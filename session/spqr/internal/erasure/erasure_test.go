package erasure

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
)

type katFile struct {
	GFMul  [][3]uint16 `json:"gf_mul"`
	GFInv  [][2]uint16 `json:"gf_inv"`
	Encode []struct {
		Name   string `json:"name"`
		Msg    string `json:"msg"`
		Chunks []struct {
			Index uint16 `json:"index"`
			Data  string `json:"data"`
		} `json:"chunks"`
	} `json:"encode"`
}

// loadKAT reads testdata/kat.json, produced by testdata/genkat.py, an
// independent implementation of the encoding described in doc.go.
func loadKAT(t *testing.T) katFile {
	t.Helper()
	b, err := os.ReadFile("testdata/kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var k katFile
	if err := json.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKnownAnswers(t *testing.T) {
	k := loadKAT(t)
	for _, v := range k.GFMul {
		if got := gf(v[0]).mul(gf(v[1])); got != gf(v[2]) {
			t.Errorf("%#04x · %#04x = %#04x, want %#04x", v[0], v[1], got, v[2])
		}
	}
	for _, v := range k.GFInv {
		if got := gf(v[0]).inv(); got != gf(v[1]) {
			t.Errorf("inv(%#04x) = %#04x, want %#04x", v[0], got, v[1])
		}
	}
	for _, c := range k.Encode {
		t.Run(c.Name, func(t *testing.T) {
			msg := mustHex(t, c.Msg)
			enc, err := NewEncoder(msg)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := NewDecoder(len(msg))
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range c.Chunks {
				got := enc.ChunkAt(ch.Index)
				if got.Index != ch.Index {
					t.Fatalf("chunk %d has index %d", ch.Index, got.Index)
				}
				if want := mustHex(t, ch.Data); !bytes.Equal(got.Data[:], want) {
					t.Fatalf("chunk %d:\n got %x\nwant %x", ch.Index, got.Data, want)
				}
				var in Chunk
				in.Index = ch.Index
				copy(in.Data[:], mustHex(t, ch.Data))
				dec.AddChunk(in)
			}
			// Vectors with enough distinct chunks must decode.
			m, ok := dec.DecodedMessage()
			if ok != (len(c.Chunks) >= chunksNeeded(len(msg))) {
				t.Fatalf("decoded=%v from %d chunks", ok, len(c.Chunks))
			}
			if ok && !bytes.Equal(m, msg) {
				t.Fatalf("decoded %x, want %x", m, msg)
			}
		})
	}
}

// message returns n deterministic pseudo-random bytes.
func message(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Sizes SPQR v1 encodes: header+MAC (64+32), ct2+MAC (128+32), ct1 (960),
// encapsulation key (1152); plus the crate tests' 10 and 1088 and a few
// awkward ones.
var testSizes = []int{0, 2, 10, 30, 32, 34, 62, 96, 160, 960, 1088, 1152, 1154, 4096}

func chunksNeeded(n int) int { return (n + ChunkDataSize - 1) / ChunkDataSize }

func TestRoundTrip(t *testing.T) {
	for _, size := range testSizes {
		msg := message(size, uint64(size))
		need := chunksNeeded(size)
		subsets := map[string][]uint16{}
		var sys, parity, far []uint16
		for i := range need {
			sys = append(sys, uint16(i))
			parity = append(parity, uint16(need+i))
			far = append(far, uint16(65535-3*i))
		}
		subsets["systematic"] = sys
		subsets["parity only"] = parity
		subsets["far indices"] = far
		r := rand.New(rand.NewPCG(uint64(size), 9))
		mixed := r.Perm(4 * (need + 1))[:need]
		subsets["random mix"] = nil
		for _, i := range mixed {
			subsets["random mix"] = append(subsets["random mix"], uint16(i))
		}
		for name, idx := range subsets {
			t.Run(name, func(t *testing.T) {
				enc, err := NewEncoder(msg)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := NewDecoder(size)
				if err != nil {
					t.Fatal(err)
				}
				for n, i := range idx {
					if _, ok := dec.DecodedMessage(); ok && size > 0 {
						t.Fatalf("size %d: decoded after only %d chunks", size, n)
					}
					dec.AddChunk(enc.ChunkAt(i))
				}
				got, ok := dec.DecodedMessage()
				if !ok {
					t.Fatalf("size %d: not decoded from %d chunks %v", size, len(idx), idx)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("size %d: decoded message differs", size)
				}
			})
		}
	}
}

// TestAnyOrderWithNoise feeds random chunks, with repeats, in random order
// and checks the decoder succeeds exactly when enough distinct chunks have
// arrived.
func TestAnyOrderWithNoise(t *testing.T) {
	for _, size := range []int{96, 160, 960, 1152} {
		msg := message(size, 77)
		need := chunksNeeded(size)
		enc, _ := NewEncoder(msg)
		dec, _ := NewDecoder(size)
		r := rand.New(rand.NewPCG(uint64(size), 1))
		distinct := map[uint16]bool{}
		for len(distinct) < need {
			i := uint16(r.IntN(3 * need))
			if len(distinct) > 0 && r.IntN(4) == 0 {
				// Re-send some chunk already seen.
				for j := range distinct {
					i = j
					break
				}
			}
			dec.AddChunk(enc.ChunkAt(i))
			distinct[i] = true
			got, ok := dec.DecodedMessage()
			if ok != (len(distinct) >= need) {
				t.Fatalf("size %d: ok=%v after %d distinct chunks, need %d", size, ok, len(distinct), need)
			}
			if ok && !bytes.Equal(got, msg) {
				t.Fatalf("size %d: wrong message", size)
			}
		}
	}
}

// TestCrateSmall mirrors the crate's encode_and_decode_small test.
func TestCrateSmall(t *testing.T) {
	enc, err := NewEncoder([]byte("abcdefghij"))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(10)
	if err != nil {
		t.Fatal(err)
	}
	dec.AddChunk(enc.ChunkAt(1))
	dec.AddChunk(enc.ChunkAt(2))
	got, ok := dec.DecodedMessage()
	if !ok || string(got) != "abcdefghij" {
		t.Fatalf("got %q, %v", got, ok)
	}
}

// TestCrateLarge mirrors the crate's encode_and_decode_large test: none of
// the chunks carries the message itself.
func TestCrateLarge(t *testing.T) {
	msg := bytes.Repeat([]byte{3}, 1088)
	need := 1088/32 + 1
	enc, _ := NewEncoder(msg)
	dec, _ := NewDecoder(1088)
	for i := need; i < 2*need+1; i++ {
		dec.AddChunk(enc.ChunkAt(uint16(i)))
		if got, ok := dec.DecodedMessage(); ok {
			if !bytes.Equal(got, msg) {
				t.Fatal("wrong message")
			}
			return
		}
	}
	t.Fatal("never decoded")
}

// TestCratePersist mirrors the crate's to_and_from_pb test with our own
// state format.
func TestCratePersist(t *testing.T) {
	msg := bytes.Repeat([]byte{3}, 1088)
	need := 1088 / 32
	enc, _ := NewEncoder(msg)
	dec, _ := NewDecoder(1088)
	for i := 2; i < need; i++ {
		dec.AddChunk(enc.ChunkAt(uint16(i)))
	}
	eb, err := enc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	db, err := dec.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var enc2 Encoder
	var dec2 Decoder
	if err := enc2.UnmarshalBinary(eb); err != nil {
		t.Fatal(err)
	}
	if err := dec2.UnmarshalBinary(db); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		dec2.AddChunk(enc2.ChunkAt(uint16(i + need)))
	}
	got, ok := dec2.DecodedMessage()
	if !ok || !bytes.Equal(got, msg) {
		t.Fatal("restored decoder did not decode")
	}
}

func TestNextChunk(t *testing.T) {
	msg := message(160, 5)
	enc, _ := NewEncoder(msg)
	for i := range 12 {
		c := enc.NextChunk()
		if c != enc.ChunkAt(uint16(i)) {
			t.Fatalf("NextChunk #%d differs from ChunkAt(%d)", i, i)
		}
	}
	// Persisting keeps the position.
	b, _ := enc.MarshalBinary()
	var enc2 Encoder
	if err := enc2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if c := enc2.NextChunk(); c.Index != 12 || c != enc.ChunkAt(12) {
		t.Fatalf("restored encoder produced chunk %d", c.Index)
	}
	// The position wraps from 65535 to 0.
	b[2], b[3], b[4], b[5] = 0, 0, 0xff, 0xff
	if err := enc2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if c := enc2.NextChunk(); c.Index != 65535 {
		t.Fatalf("got chunk %d, want 65535", c.Index)
	}
	if c := enc2.NextChunk(); c.Index != 0 || c != enc.ChunkAt(0) {
		t.Fatalf("got chunk %d after 65535, want 0", c.Index)
	}
}

func TestSystematic(t *testing.T) {
	msg := message(1152, 8)
	enc, _ := NewEncoder(msg)
	for i := range 36 {
		c := enc.NextChunk()
		if !bytes.Equal(c.Data[:], msg[32*i:32*i+32]) {
			t.Fatalf("chunk %d is not message bytes [%d, %d)", i, 32*i, 32*i+32)
		}
	}
}

// TestRepeatedIndex pins the crate's rule that a chunk re-sent with the same
// index replaces the points it carried before.
func TestRepeatedIndex(t *testing.T) {
	msg := message(96, 9)
	enc, _ := NewEncoder(msg)
	bad := enc.ChunkAt(1)
	for i := range bad.Data {
		bad.Data[i] ^= 0x5a
	}

	dec, _ := NewDecoder(96)
	dec.AddChunk(bad)
	dec.AddChunk(enc.ChunkAt(1))
	dec.AddChunk(enc.ChunkAt(0))
	dec.AddChunk(enc.ChunkAt(7))
	if got, ok := dec.DecodedMessage(); !ok || !bytes.Equal(got, msg) {
		t.Fatal("good chunk did not replace bad one")
	}

	dec, _ = NewDecoder(96)
	dec.AddChunk(enc.ChunkAt(1))
	dec.AddChunk(bad)
	dec.AddChunk(enc.ChunkAt(0))
	dec.AddChunk(enc.ChunkAt(7))
	got, ok := dec.DecodedMessage()
	if !ok {
		t.Fatal("not decoded")
	}
	if bytes.Equal(got, msg) {
		t.Fatal("bad chunk sent last did not replace the good one")
	}
	// The held point at x=1 is used verbatim.
	if !bytes.Equal(got[32:64], bad.Data[:]) {
		t.Fatal("held point not used verbatim")
	}
}

// TestExtraPointsIgnored checks that once a polynomial has enough points,
// far chunks are not stored but low-index ones still are.
func TestExtraPointsIgnored(t *testing.T) {
	msg := message(96, 10)
	enc, _ := NewEncoder(msg)
	dec, _ := NewDecoder(96)
	for _, i := range []uint16{10, 11, 12, 13, 14} {
		dec.AddChunk(enc.ChunkAt(i))
	}
	for p := range numPolys {
		if len(dec.pts[p]) != 3 {
			t.Fatalf("poly %d holds %d points, want 3", p, len(dec.pts[p]))
		}
	}
	dec.AddChunk(enc.ChunkAt(2))
	for p := range numPolys {
		if len(dec.pts[p]) != 4 {
			t.Fatalf("poly %d holds %d points, want 4", p, len(dec.pts[p]))
		}
	}
	if got, ok := dec.DecodedMessage(); !ok || !bytes.Equal(got, msg) {
		t.Fatal("wrong message")
	}
}

func TestLengthErrors(t *testing.T) {
	for _, n := range []int{-2, -1, 1, 3, 1151, MaxMessageLen + 1, MaxMessageLen + 2, 1 << 40} {
		if _, err := NewDecoder(n); !errors.Is(err, ErrMessageLength) {
			t.Errorf("NewDecoder(%d) error %v, want ErrMessageLength", n, err)
		}
		if n >= 0 && n <= MaxMessageLen+2 {
			if _, err := NewEncoder(make([]byte, n)); !errors.Is(err, ErrMessageLength) {
				t.Errorf("NewEncoder(%d bytes) error %v, want ErrMessageLength", n, err)
			}
		}
	}
	if _, err := NewEncoder(make([]byte, MaxMessageLen)); err != nil {
		t.Errorf("NewEncoder(MaxMessageLen): %v", err)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	enc, _ := NewEncoder(message(96, 1))
	goodEnc, _ := enc.MarshalBinary()
	dec, _ := NewDecoder(96)
	dec.AddChunk(enc.ChunkAt(0))
	goodDec, _ := dec.MarshalBinary()

	edit := func(b []byte, f func([]byte) []byte) []byte {
		return f(bytes.Clone(b))
	}
	tests := []struct {
		name string
		enc  bool
		in   []byte
	}{
		{"encoder empty", true, nil},
		{"encoder wrong tag", true, edit(goodEnc, func(b []byte) []byte { b[0] = 'D'; return b })},
		{"encoder wrong version", true, edit(goodEnc, func(b []byte) []byte { b[1] = 2; return b })},
		{"encoder truncated", true, goodEnc[:len(goodEnc)-1]},
		{"encoder trailing", true, append(bytes.Clone(goodEnc), 0)},
		{"encoder odd length", true, edit(goodEnc, func(b []byte) []byte { b[9] = 95; return b[:len(b)-1] })},
		{"encoder huge length", true, edit(goodEnc, func(b []byte) []byte { b[6] = 0xff; return b })},
		{"decoder empty", false, nil},
		{"decoder wrong tag", false, edit(goodDec, func(b []byte) []byte { b[0] = 'E'; return b })},
		{"decoder truncated", false, goodDec[:len(goodDec)-1]},
		{"decoder trailing", false, append(bytes.Clone(goodDec), 0)},
		{"decoder odd length", false, edit(goodDec, func(b []byte) []byte { b[5] = 95; return b })},
		{"decoder huge length", false, edit(goodDec, func(b []byte) []byte { b[2] = 0x7f; return b })},
		{"decoder too many points", false, func() []byte {
			b := []byte{'D', 1, 0, 0, 0, 2, 0, 3} // 1 word: poly 0 may hold 2 points
			for i := range 3 {
				b = append(b, 0, byte(i), 0, 0)
			}
			return append(b, make([]byte, 2*15)...)
		}()},
		{"decoder points out of order", false, func() []byte {
			b := []byte{'D', 1, 0, 0, 0, 2, 0, 2, 0, 1, 0, 0, 0, 1, 0, 0}
			return append(b, make([]byte, 2*15)...)
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.enc {
				e := *enc
				err = e.UnmarshalBinary(tt.in)
			} else {
				d := Decoder{}
				err = d.UnmarshalBinary(tt.in)
			}
			if !errors.Is(err, ErrInvalidState) {
				t.Fatalf("error %v, want ErrInvalidState", err)
			}
		})
	}
	// The good states still parse, and re-marshal to the same bytes.
	var e Encoder
	if err := e.UnmarshalBinary(goodEnc); err != nil {
		t.Fatal(err)
	}
	var d Decoder
	if err := d.UnmarshalBinary(goodDec); err != nil {
		t.Fatal(err)
	}
	if b, _ := d.MarshalBinary(); !bytes.Equal(b, goodDec) {
		t.Fatal("decoder state does not round-trip")
	}
}

func TestZeroValues(t *testing.T) {
	var e Encoder
	if c := e.NextChunk(); c != (Chunk{}) {
		t.Fatalf("zero encoder chunk %v", c)
	}
	var d Decoder
	d.AddChunk(Chunk{Index: 3, Data: [32]byte{1}})
	if m, ok := d.DecodedMessage(); !ok || len(m) != 0 {
		t.Fatalf("zero decoder: %x, %v", m, ok)
	}
}

func BenchmarkEncode1152(b *testing.B) {
	msg := message(1152, 1)
	b.SetBytes(1152)
	for b.Loop() {
		enc, _ := NewEncoder(msg)
		for i := range 36 {
			enc.ChunkAt(uint16(36 + i)) // parity chunks: worst case
		}
	}
}

func BenchmarkDecode1152(b *testing.B) {
	msg := message(1152, 1)
	enc, _ := NewEncoder(msg)
	var chunks []Chunk
	for i := range 36 {
		chunks = append(chunks, enc.ChunkAt(uint16(36+i)))
	}
	b.SetBytes(1152)
	for b.Loop() {
		dec, _ := NewDecoder(1152)
		for _, c := range chunks {
			dec.AddChunk(c)
		}
		if _, ok := dec.DecodedMessage(); !ok {
			b.Fatal("not decoded")
		}
	}
}
