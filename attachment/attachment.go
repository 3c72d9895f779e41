// Package attachment is the encrypted format of file attachments.
//
// A file is encrypted with a fresh random 32-byte key in chunks of
// ChunkSize plaintext bytes (the last may be shorter; an empty file is one
// empty chunk), each sealed with ChaCha20-Poly1305 under the STREAM
// construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): the nonce of
// chunk i is the 64-bit big-endian i followed by a byte that is 1 for the
// file's last chunk and 0 otherwise, and every chunk's associated data is
// the file's plaintext size. A chunk therefore opens only at its own
// position of its own file: a reordered, replayed, dropped or altered chunk
// fails authentication, and a file cut short lacks the chunk sealed as last.
// The sealed chunks, concatenated, are the blob the relay stores; its
// SHA-256 (the digest) travels with the key inside the end-to-end message,
// as Signal's attachment digest does, and pins the exact blob the sender
// uploaded.
//
// Why chunks and not Signal's AES-256-CBC + HMAC-SHA256 over the whole
// blob: each chunk is verified as it arrives, so a download keeps only one
// chunk in memory, writes nothing unauthenticated to disk, and resumes at
// any chunk boundary; a single MAC over the whole blob would have the
// receiver store up to 2 GiB of unverified plaintext before learning it is
// forged. Sealing is deterministic in (key, index), so an upload that
// resumes re-seals the chunks it already sent to the same bytes.
package attachment

import (
	"crypto/cipher"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// ChunkSize is the number of plaintext bytes in every chunk but the last.
	ChunkSize = 256 << 10
	// Overhead is what sealing adds to each chunk (the Poly1305 tag).
	Overhead = chacha20poly1305.Overhead
	// SealedChunkSize is the size of every sealed chunk but the last.
	SealedChunkSize = ChunkSize + Overhead
	// MaxSize is the largest file, in plaintext bytes.
	MaxSize = 2 << 30
	// KeySize and DigestSize are the sizes of a file's key and digest.
	KeySize    = chacha20poly1305.KeySize
	DigestSize = sha256.Size
)

// Errors of opening a blob. Every refusal wraps ErrRefused.
var (
	ErrRefused  = errors.New("attachment refused")
	ErrTampered = fmt.Errorf("%w: a chunk failed authentication (tampered, reordered or replayed)", ErrRefused)
	ErrTooShort = fmt.Errorf("%w: the blob ended before its last chunk (truncated)", ErrRefused)
	ErrTooLong  = fmt.Errorf("%w: data after the last chunk", ErrRefused)
	ErrDigest   = fmt.Errorf("%w: the blob does not match its digest", ErrRefused)
	ErrSize     = fmt.Errorf("%w: a chunk has the wrong size", ErrRefused)
)

// Chunks returns how many chunks a file of size plaintext bytes has.
func Chunks(size int64) uint32 {
	if size <= 0 {
		return 1
	}
	return uint32((size + ChunkSize - 1) / ChunkSize)
}

// SealedSize returns the size of the blob of a file of size bytes.
func SealedSize(size int64) int64 {
	return size + int64(Chunks(size))*Overhead
}

// PlainLen returns the plaintext length of chunk i of a file of size bytes
// (0 past the end).
func PlainLen(size int64, i uint32) int {
	start := int64(i) * ChunkSize
	if start >= size {
		return 0
	}
	return int(min(size-start, ChunkSize))
}

// checkKey checks a key's length and makes its cipher.
func checkKey(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: a key of %d bytes", ErrRefused, len(key))
	}
	return chacha20poly1305.New(key)
}

// stream is the state both directions share: the cipher, the file's size,
// the next chunk's index and the running digest of the sealed chunks.
type stream struct {
	aead   cipher.AEAD
	size   int64
	chunks uint32
	next   uint32
	digest hash.Hash
	ad     [8]byte
}

func newStream(key []byte, size int64) (stream, error) {
	if size < 0 || size > MaxSize {
		return stream{}, fmt.Errorf("%w: a size of %d bytes (at most %d)", ErrRefused, size, int64(MaxSize))
	}
	aead, err := checkKey(key)
	if err != nil {
		return stream{}, err
	}
	s := stream{aead: aead, size: size, chunks: Chunks(size), digest: sha256.New()}
	binary.BigEndian.PutUint64(s.ad[:], uint64(size))
	return s, nil
}

// nonce returns chunk i's nonce.
func (s *stream) nonce(i uint32) []byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[3:11], uint64(i))
	if i == s.chunks-1 {
		n[11] = 1
	}
	return n[:]
}

// Next returns the index of the next chunk; Chunks() once all are done.
func (s *stream) Next() uint32 { return s.next }

// Done reports whether every chunk has been sealed or opened.
func (s *stream) Done() bool { return s.next == s.chunks }

// Sealer seals a file chunk by chunk, in order.
type Sealer struct{ stream }

// NewSealer starts sealing a file of size bytes with key.
func NewSealer(key []byte, size int64) (*Sealer, error) {
	s, err := newStream(key, size)
	if err != nil {
		return nil, err
	}
	return &Sealer{s}, nil
}

// Seal appends the next sealed chunk to dst; plain must be that chunk's
// plaintext (PlainLen bytes).
func (s *Sealer) Seal(dst, plain []byte) ([]byte, error) {
	if s.Done() {
		return nil, errors.New("attachment: every chunk is sealed already")
	}
	if len(plain) != PlainLen(s.size, s.next) {
		return nil, fmt.Errorf("attachment: chunk %d has %d bytes, want %d", s.next, len(plain), PlainLen(s.size, s.next))
	}
	start := len(dst)
	dst = s.aead.Seal(dst, s.nonce(s.next), plain, s.ad[:])
	s.digest.Write(dst[start:])
	s.next++
	return dst, nil
}

// Digest returns the SHA-256 of the blob, once every chunk is sealed.
func (s *Sealer) Digest() ([]byte, error) {
	if !s.Done() {
		return nil, errors.New("attachment: not every chunk is sealed")
	}
	return s.digest.Sum(nil), nil
}

// Opener opens a blob chunk by chunk, in order, and checks its digest at
// the end.
type Opener struct {
	stream
	want []byte
}

// NewOpener starts opening the blob of a file of size bytes sealed with
// key, whose digest must be digest.
func NewOpener(key []byte, size int64, digest []byte) (*Opener, error) {
	if len(digest) != DigestSize {
		return nil, fmt.Errorf("%w: a digest of %d bytes", ErrRefused, len(digest))
	}
	s, err := newStream(key, size)
	if err != nil {
		return nil, err
	}
	return &Opener{stream: s, want: append([]byte(nil), digest...)}, nil
}

// SealedLen returns the length the sealed chunk i must have.
func (o *Opener) SealedLen(i uint32) int { return PlainLen(o.size, i) + Overhead }

// Open authenticates the next sealed chunk and appends its plaintext to
// dst. A refused chunk leaves the Opener where it was.
func (o *Opener) Open(dst, sealed []byte) ([]byte, error) {
	if o.Done() {
		return nil, ErrTooLong
	}
	if len(sealed) != o.SealedLen(o.next) {
		return nil, fmt.Errorf("%w: chunk %d has %d bytes, want %d", ErrSize, o.next, len(sealed), o.SealedLen(o.next))
	}
	out, err := o.aead.Open(dst, o.nonce(o.next), sealed, o.ad[:])
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d", ErrTampered, o.next)
	}
	o.digest.Write(sealed)
	o.next++
	return out, nil
}

// Finish checks that every chunk was opened and that the blob matches its
// digest. Only then is the file complete.
func (o *Opener) Finish() error {
	if !o.Done() {
		return fmt.Errorf("%w: %d of %d chunks", ErrTooShort, o.next, o.chunks)
	}
	if got := o.digest.Sum(nil); string(got) != string(o.want) {
		return ErrDigest
	}
	return nil
}

// State returns where the Opener is (the next chunk and the digest of the
// chunks before it), for ResumeOpener after a restart.
func (o *Opener) State() ([]byte, error) {
	h, err := o.digest.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint32(h, o.next), nil
}

// ResumeOpener is NewOpener continuing from a State.
func ResumeOpener(key []byte, size int64, digest, state []byte) (*Opener, error) {
	o, err := NewOpener(key, size, digest)
	if err != nil {
		return nil, err
	}
	if len(state) < 4 {
		return nil, errors.New("attachment: malformed download state")
	}
	next := binary.BigEndian.Uint32(state[len(state)-4:])
	if next > o.chunks {
		return nil, errors.New("attachment: malformed download state")
	}
	if err := o.digest.(encoding.BinaryUnmarshaler).UnmarshalBinary(state[:len(state)-4]); err != nil {
		return nil, fmt.Errorf("attachment: malformed download state: %w", err)
	}
	o.next = next
	return o, nil
}
