// Package broadcast is the cryptography and the encodings of broadcast
// channels: one author (or a few admins sharing a signing key) posts, many
// subscribers read the channel's log from the relay.
//
// A channel has an Ed25519 admin key and a 32-byte content key. Its id is a
// hash of the admin public key, so no one can claim another channel's id with
// a key of their own. From the content key come the post key (XChaCha20-
// Poly1305) and the read token (HKDF-SHA256, both bound to the channel id);
// the relay keeps only a hash of the read token. So:
//
//   - the relay stores ciphertext it cannot read, and lets a reader in by the
//     token, which is the same for every subscriber (a credential, not an
//     identity) and from which the content key cannot be derived;
//   - every post carries the admin key's signature over the channel id, the
//     post id and the ciphertext: the relay refuses a post not signed by the
//     channel's admin key, and subscribers check the signature again with
//     the admin public key from their join code, so a relay that forges or
//     moves a post is caught;
//   - a subscriber, who holds the content key, can decrypt but not post.
//
// A join code (Code) is one line of text that carries the network's tag,
// the channel's name as its creator gave it, the admin public key and the
// content key; an admin code also carries the admin key's seed. It is a
// secret: whoever holds it reads the channel (or posts to it).
//
// Nothing here does I/O or logs.
package broadcast

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// ID identifies a channel: the first 16 bytes of a hash of its admin public
// key.
type ID [16]byte

// PostID names one post; the author chooses it at random and a retry reuses
// it, so the relay stores a post once.
type PostID [16]byte

// ContentKey is a channel's symmetric secret. It does not print.
type ContentKey struct{ b [32]byte }

// String hides the key.
func (ContentKey) String() string { return "broadcast.ContentKey(…)" }

// GoString hides the key.
func (k ContentKey) GoString() string { return k.String() }

// Equal compares two keys in constant time.
func (k ContentKey) Equal(o ContentKey) bool { return subtle.ConstantTimeCompare(k.b[:], o.b[:]) == 1 }

// NewContentKey draws a content key from rand.
func NewContentKey(rand io.Reader) (ContentKey, error) {
	var k ContentKey
	if _, err := io.ReadFull(rand, k.b[:]); err != nil {
		return ContentKey{}, fmt.Errorf("broadcast: content key: %w", err)
	}
	return k, nil
}

// Token is a channel's read token, presented to the relay by readers.
type Token [32]byte

// Sizes.
const (
	AdminKeySize  = ed25519.PublicKeySize
	SignatureSize = ed25519.SignatureSize
	TokenSize     = 32
	// MaxText bounds a post's text, in bytes.
	MaxText = 16 << 10
	// MaxCiphertext bounds a sealed post: the largest text, its header
	// and padding, nonce and tag.
	MaxCiphertext = MaxText + 2*padBlock + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
)

// Errors callers branch on.
var (
	// ErrBadPost: a post did not decrypt, or its plaintext is malformed.
	ErrBadPost = errors.New("broadcast: malformed or forged post")
	// ErrBadCode: a join code does not parse.
	ErrBadCode = errors.New("broadcast: not a channel join code")
)

// ChannelID is the id of the channel whose admin public key is adminKey.
func ChannelID(adminKey ed25519.PublicKey) ID {
	h := sha256.New()
	h.Write([]byte("samizdat channel id v1\x00"))
	h.Write(adminKey)
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// derive is HKDF-SHA256 of the content key, salted with the channel id.
func derive(k ContentKey, id ID, info string) [32]byte {
	b, err := hkdf.Key(sha256.New, k.b[:], id[:], info, 32)
	if err != nil {
		panic("broadcast: hkdf: " + err.Error()) // only for lengths HKDF cannot give
	}
	return [32]byte(b)
}

// ReadToken is the token readers of channel id present to the relay.
func ReadToken(k ContentKey, id ID) Token {
	return Token(derive(k, id, "samizdat channel read token v1"))
}

// TokenHash is what the relay stores of a read token.
func TokenHash(t Token) [32]byte {
	h := sha256.New()
	h.Write([]byte("samizdat channel token hash v1\x00"))
	h.Write(t[:])
	return [32]byte(h.Sum(nil))
}

// CheckToken reports, in constant time, whether t hashes to hash.
func CheckToken(t Token, hash [32]byte) bool {
	h := TokenHash(t)
	return subtle.ConstantTimeCompare(h[:], hash[:]) == 1
}

// createMessage is what the admin key signs to create a channel.
func createMessage(id ID, tokenHash [32]byte) []byte {
	m := make([]byte, 0, 64+len(id)+len(tokenHash))
	m = append(m, "samizdat channel create v1\x00"...)
	m = append(m, id[:]...)
	return append(m, tokenHash[:]...)
}

// SignCreate signs the creation of the channel of admin with this token
// hash.
func SignCreate(admin ed25519.PrivateKey, tokenHash [32]byte) []byte {
	pub := admin.Public().(ed25519.PublicKey)
	return ed25519.Sign(admin, createMessage(ChannelID(pub), tokenHash))
}

// VerifyCreate reports whether sig is adminKey's signature creating its
// channel with tokenHash.
func VerifyCreate(adminKey ed25519.PublicKey, tokenHash [32]byte, sig []byte) bool {
	return len(adminKey) == AdminKeySize && len(sig) == SignatureSize &&
		ed25519.Verify(adminKey, createMessage(ChannelID(adminKey), tokenHash), sig)
}

// postHeader begins what the admin key signs of a post and is the AEAD's
// associated data: the ciphertext belongs to this channel
// and this post id.
func postHeader(id ID, post PostID) []byte {
	m := make([]byte, 0, 64)
	m = append(m, "samizdat channel post v1\x00"...)
	m = append(m, id[:]...)
	return append(m, post[:]...)
}

// SignPost signs a sealed post.
func SignPost(admin ed25519.PrivateKey, id ID, post PostID, ciphertext []byte) []byte {
	return ed25519.Sign(admin, append(postHeader(id, post), ciphertext...))
}

// VerifyPost reports whether sig is adminKey's signature of the post.
func VerifyPost(adminKey ed25519.PublicKey, id ID, post PostID, ciphertext, sig []byte) bool {
	return len(adminKey) == AdminKeySize && len(sig) == SignatureSize &&
		ed25519.Verify(adminKey, append(postHeader(id, post), ciphertext...), sig)
}

// Body is a post's plaintext.
type Body struct {
	SentAt uint64 // the author's clock, ms since the epoch
	Text   string
}

// Plaintext layout: version byte 1, SentAt (8 bytes big-endian), the text's
// length (4 bytes), the text, then zeros up to a multiple of padBlock, so
// that the ciphertext's length says little about the text.
const (
	bodyVersion = 1
	bodyHeader  = 1 + 8 + 4
	padBlock    = 160
)

// encodeBody lays out b, padded.
func encodeBody(b Body) ([]byte, error) {
	if len(b.Text) > MaxText {
		return nil, fmt.Errorf("broadcast: a post holds at most %d bytes of text", MaxText)
	}
	n := bodyHeader + len(b.Text)
	out := make([]byte, (n+padBlock-1)/padBlock*padBlock)
	out[0] = bodyVersion
	binary.BigEndian.PutUint64(out[1:], b.SentAt)
	binary.BigEndian.PutUint32(out[9:], uint32(len(b.Text)))
	copy(out[bodyHeader:], b.Text)
	return out, nil
}

// ParseBody parses a decrypted post's plaintext: the version, a text
// length that fits, and padding that is all zeros.
func ParseBody(p []byte) (Body, error) {
	if len(p) < bodyHeader || p[0] != bodyVersion {
		return Body{}, ErrBadPost
	}
	n := binary.BigEndian.Uint32(p[9:])
	if n > MaxText || uint64(n) > uint64(len(p)-bodyHeader) {
		return Body{}, ErrBadPost
	}
	rest := p[bodyHeader+int(n):]
	if len(rest) >= padBlock || len(p)%padBlock != 0 || bytes.Count(rest, []byte{0}) != len(rest) {
		return Body{}, ErrBadPost
	}
	return Body{SentAt: binary.BigEndian.Uint64(p[1:]), Text: string(p[bodyHeader : bodyHeader+int(n)])}, nil
}

// Seal encrypts b as post post of channel id: a random nonce, then the
// XChaCha20-Poly1305 ciphertext.
func Seal(k ContentKey, id ID, post PostID, b Body, rand io.Reader) ([]byte, error) {
	pt, err := encodeBody(b)
	if err != nil {
		return nil, err
	}
	key := derive(k, id, "samizdat channel post key v1")
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(pt)+aead.Overhead())
	if _, err := io.ReadFull(rand, out); err != nil {
		return nil, fmt.Errorf("broadcast: nonce: %w", err)
	}
	return aead.Seal(out, out, pt, postHeader(id, post)), nil
}

// Open decrypts and parses post post of channel id. It does not check the
// signature (VerifyPost does).
func Open(k ContentKey, id ID, post PostID, ciphertext []byte) (Body, error) {
	key := derive(k, id, "samizdat channel post key v1")
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return Body{}, err
	}
	if len(ciphertext) < aead.NonceSize()+aead.Overhead() || len(ciphertext) > MaxCiphertext {
		return Body{}, ErrBadPost
	}
	ns := aead.NonceSize()
	pt, err := aead.Open(nil, ciphertext[:ns], ciphertext[ns:], postHeader(id, post))
	if err != nil {
		return Body{}, ErrBadPost
	}
	return ParseBody(pt)
}
