package erasure

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

const (
	// ChunkDataSize is the number of data bytes in a chunk.
	ChunkDataSize = 32

	// numPolys is the number of polynomials a message is spread over: one per
	// 16-bit word of chunk data.
	numPolys = ChunkDataSize / 2

	// MaxMessageLen is the largest message, in bytes, that an Encoder or
	// Decoder accepts. The spqr crate allows up to 1 MiB; SPQR v1 never sends
	// more than 1152 bytes, and the bound keeps decoding cost (quadratic in
	// the points per polynomial) and decoder memory small.
	MaxMessageLen = 1 << 14
)

var (
	// ErrMessageLength reports a message length that is odd, negative or
	// larger than MaxMessageLen.
	ErrMessageLength = errors.New("erasure: invalid message length")
	// ErrInvalidState reports persisted encoder or decoder state that does
	// not parse.
	ErrInvalidState = errors.New("erasure: invalid state")
)

// Chunk is one piece of an encoded message: the points with x = Index of all
// sixteen polynomials, as big-endian 16-bit words in Data.
type Chunk struct {
	Index uint16
	Data  [ChunkDataSize]byte
}

func checkLength(n int) error {
	switch {
	case n < 0 || n > MaxMessageLen:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageLength, n, MaxMessageLen)
	case n%2 != 0:
		return fmt.Errorf("%w: %d bytes is odd", ErrMessageLength, n)
	}
	return nil
}

// pointsFor returns how many points polynomial p carries for a message of
// the given number of 16-bit words.
func pointsFor(words, p int) int {
	n := words / numPolys
	if p < words%numPolys {
		n++
	}
	return n
}

// Encoder produces the chunks of one message. It is not safe for concurrent
// use: ChunkAt caches interpolation data.
type Encoder struct {
	msg  []byte
	next uint32 // index of the chunk NextChunk returns, modulo 2^16
	// bases[k] is the Lagrange basis for the points 0..n-1 with
	// n = len(msg)/32 + k, built when a parity chunk first needs it.
	bases [2]*basis
}

// NewEncoder returns an Encoder for a copy of msg, positioned at chunk 0.
func NewEncoder(msg []byte) (*Encoder, error) {
	if err := checkLength(len(msg)); err != nil {
		return nil, err
	}
	return &Encoder{msg: slices.Clone(msg)}, nil
}

// NextChunk returns the chunk at the encoder's position and advances it;
// after chunk 65535 it starts again at chunk 0.
func (e *Encoder) NextChunk() Chunk {
	c := e.ChunkAt(uint16(e.next))
	e.next++
	return c
}

// ChunkAt returns chunk i without moving the encoder's position.
func (e *Encoder) ChunkAt(i uint16) Chunk {
	c := Chunk{Index: i}
	words := len(e.msg) / 2
	for p := range numPolys {
		j := int(i)*numPolys + p
		if j < words {
			copy(c.Data[2*p:2*p+2], e.msg[2*j:2*j+2])
			continue
		}
		// Polynomial p's value at x = i, from its points at 0..n-1.
		n := pointsFor(words, p)
		w := e.basis(n).weights(gf(i))
		var y gf
		for k := range n {
			y = y.add(e.word(k*numPolys + p).mul(w[k]))
		}
		binary.BigEndian.PutUint16(c.Data[2*p:], uint16(y))
	}
	return c
}

// word returns the message's j-th big-endian 16-bit word.
func (e *Encoder) word(j int) gf {
	return gf(binary.BigEndian.Uint16(e.msg[2*j:]))
}

// basis returns the Lagrange basis for the points 0..n-1, where n is the
// number of points of some polynomial of the message.
func (e *Encoder) basis(n int) *basis {
	k := n - len(e.msg)/(2*numPolys)
	if e.bases[k] == nil {
		xs := make([]gf, n)
		for x := range xs {
			xs[x] = gf(x)
		}
		e.bases[k] = newBasis(xs)
	}
	return e.bases[k]
}

// Encoder state format, version 1:
//
//	'E' 0x01 | next uint32 | len uint32 | message
//
// with big-endian integers.
const (
	encoderTag     = 'E'
	decoderTag     = 'D'
	stateVersion   = 1
	encoderHdrSize = 2 + 4 + 4
	decoderHdrSize = 2 + 4
)

// MarshalBinary encodes the encoder's message and position.
func (e *Encoder) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, encoderHdrSize+len(e.msg))
	out = append(out, encoderTag, stateVersion)
	out = binary.BigEndian.AppendUint32(out, e.next)
	out = binary.BigEndian.AppendUint32(out, uint32(len(e.msg)))
	return append(out, e.msg...), nil
}

// UnmarshalBinary restores state written by MarshalBinary. On error the
// encoder is left unchanged.
func (e *Encoder) UnmarshalBinary(b []byte) error {
	if len(b) < encoderHdrSize || b[0] != encoderTag || b[1] != stateVersion {
		return fmt.Errorf("%w: bad encoder header", ErrInvalidState)
	}
	next := binary.BigEndian.Uint32(b[2:])
	n := binary.BigEndian.Uint32(b[6:])
	if n > MaxMessageLen || checkLength(int(n)) != nil {
		return fmt.Errorf("%w: bad encoder message length", ErrInvalidState)
	}
	if uint32(len(b)-encoderHdrSize) != n {
		return fmt.Errorf("%w: encoder state has %d bytes, want %d", ErrInvalidState, len(b), encoderHdrSize+int(n))
	}
	*e = Encoder{msg: slices.Clone(b[encoderHdrSize:]), next: next}
	return nil
}

type point struct{ x, y gf }

// Decoder rebuilds a message of known length from its chunks. It is not safe
// for concurrent use. The zero Decoder expects an empty message.
type Decoder struct {
	words int               // message length in 16-bit words
	pts   [numPolys][]point // per polynomial, sorted by x, distinct x
}

// NewDecoder returns a Decoder for a message of lenBytes bytes.
func NewDecoder(lenBytes int) (*Decoder, error) {
	if err := checkLength(lenBytes); err != nil {
		return nil, err
	}
	return &Decoder{words: lenBytes / 2}, nil
}

// AddChunk records the points a chunk carries that the decoder may need.
// Any chunk is accepted; a repeated index overwrites the points it carried
// before, as in the spqr crate.
func (d *Decoder) AddChunk(c Chunk) {
	x := gf(c.Index)
	for p := range numPolys {
		need := pointsFor(d.words, p)
		if int(c.Index) >= need && len(d.pts[p]) >= need {
			continue
		}
		pt := point{x: x, y: gf(binary.BigEndian.Uint16(c.Data[2*p:]))}
		d.pts[p] = insertPoint(d.pts[p], pt)
	}
}

// insertPoint adds pt to the x-sorted set pts, replacing a point with the
// same x.
func insertPoint(pts []point, pt point) []point {
	i, found := slices.BinarySearchFunc(pts, pt.x, func(q point, x gf) int {
		return int(q.x) - int(x)
	})
	if found {
		pts[i] = pt
		return pts
	}
	return slices.Insert(pts, i, pt)
}

// lookup returns the y of the point with the given x in the sorted set pts.
func lookup(pts []point, x gf) (gf, bool) {
	i, found := slices.BinarySearchFunc(pts, x, func(q point, x gf) int {
		return int(q.x) - int(x)
	})
	if !found {
		return 0, false
	}
	return pts[i].y, true
}

// DecodedMessage returns the message once enough chunks have been added,
// and false before then. It does not change the decoder.
func (d *Decoder) DecodedMessage() ([]byte, bool) {
	for p := range numPolys {
		if len(d.pts[p]) < pointsFor(d.words, p) {
			return nil, false
		}
	}
	var bases [numPolys]*basis
	var ys [numPolys][]gf
	out := make([]byte, 2*d.words)
	// Words are visited in order, so x only grows and each basis computes
	// its weights once per x.
	for j := range d.words {
		p, x := j%numPolys, gf(j/numPolys)
		y, ok := lookup(d.pts[p], x)
		if !ok {
			if bases[p] == nil {
				bases[p], ys[p] = d.prepare(p, &bases)
			}
			y = dot(ys[p], bases[p].weights(x))
		}
		binary.BigEndian.PutUint16(out[2*j:], uint16(y))
	}
	return out, true
}

// prepare returns the basis and y-values for interpolating polynomial p
// from the points it needs with the smallest x, sharing a basis already in
// bases when another polynomial uses the same x-coordinates.
func (d *Decoder) prepare(p int, bases *[numPolys]*basis) (*basis, []gf) {
	use := d.pts[p][:pointsFor(d.words, p)]
	xs := make([]gf, len(use))
	ys := make([]gf, len(use))
	for k, pt := range use {
		xs[k], ys[k] = pt.x, pt.y
	}
	for _, b := range bases {
		if b != nil && slices.Equal(b.xs, xs) {
			return b, ys
		}
	}
	return newBasis(xs), ys
}

// Decoder state format, version 1:
//
//	'D' 0x01 | len uint32 | 16 × ( count uint16 | count × ( x uint16 | y uint16 ) )
//
// with big-endian integers, points in strictly increasing x.

// MarshalBinary encodes the decoder's expected length and held points.
func (d *Decoder) MarshalBinary() ([]byte, error) {
	size := decoderHdrSize
	for p := range numPolys {
		size += 2 + 4*len(d.pts[p])
	}
	out := make([]byte, 0, size)
	out = append(out, decoderTag, stateVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(2*d.words))
	for p := range numPolys {
		out = binary.BigEndian.AppendUint16(out, uint16(len(d.pts[p])))
		for _, pt := range d.pts[p] {
			out = binary.BigEndian.AppendUint16(out, uint16(pt.x))
			out = binary.BigEndian.AppendUint16(out, uint16(pt.y))
		}
	}
	return out, nil
}

// UnmarshalBinary restores state written by MarshalBinary. It rejects state
// that the decoder could not have reached: points out of order or more than
// twice as many as a polynomial needs. On error the decoder is left
// unchanged.
func (d *Decoder) UnmarshalBinary(b []byte) error {
	if len(b) < decoderHdrSize || b[0] != decoderTag || b[1] != stateVersion {
		return fmt.Errorf("%w: bad decoder header", ErrInvalidState)
	}
	n := binary.BigEndian.Uint32(b[2:])
	if n > MaxMessageLen || checkLength(int(n)) != nil {
		return fmt.Errorf("%w: bad decoder message length", ErrInvalidState)
	}
	nd := Decoder{words: int(n) / 2}
	rest := b[decoderHdrSize:]
	for p := range numPolys {
		if len(rest) < 2 {
			return fmt.Errorf("%w: decoder state truncated", ErrInvalidState)
		}
		count := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if count > 2*pointsFor(nd.words, p) {
			return fmt.Errorf("%w: too many points for polynomial %d", ErrInvalidState, p)
		}
		if len(rest) < 4*count {
			return fmt.Errorf("%w: decoder state truncated", ErrInvalidState)
		}
		if count > 0 {
			pts := make([]point, count)
			for k := range pts {
				pts[k] = point{
					x: gf(binary.BigEndian.Uint16(rest[4*k:])),
					y: gf(binary.BigEndian.Uint16(rest[4*k+2:])),
				}
				if k > 0 && pts[k].x <= pts[k-1].x {
					return fmt.Errorf("%w: points out of order", ErrInvalidState)
				}
			}
			nd.pts[p] = pts
		}
		rest = rest[4*count:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrInvalidState, len(rest))
	}
	*d = nd
	return nil
}
