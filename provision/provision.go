// Package provision is the cryptography of linking a device on another
// machine: a pairing code, and a key exchange authenticated by it that
// carries the account's identity key from an existing device to the new
// one through a relay that sees only ciphertext.
//
// The new device draws a code of 20 symbols of a 32-symbol alphabet
// (shown as abcd-efgh-jkmn-pqrs-tvwx): 4 symbols (20 bits) name the
// rendezvous at the relay, the other 16 (80 bits) are a secret the relay
// never sees. The new device publishes a hello: an ephemeral X25519 key and
// an HMAC over it under a key derived from the secret. The existing device,
// given the code, checks the hello (a mistyped code is caught here, before
// anything is sent), draws its own ephemeral key and derives the channel's
// keys from the X25519 secret and the code's secret together. Its first
// message carries its ephemeral key and the first sealed payload; from then
// on each direction is ChaCha20-Poly1305 with a counter nonce, so a
// reordered, replayed, truncated or altered message fails to open.
//
// Who can get in the middle: the relay sees the rendezvous id, the hello
// and the ciphertext. To pass its own key off as the new device's it must
// forge the hello's HMAC, and to pass its own as the existing device's it
// must seal under a key that needs the secret: either way it needs the 80
// bits. It can check a guess offline against the hello, but only a guess
// made before the pairing ends (5 minutes) is of any use; at 10^12 guesses
// a second that is 3·10^14 of 1.2·10^24, one chance in 4·10^9. A third
// party who does not see the relay's traffic has only online guesses: one
// per rendezvous it binds, after which the new device refuses the pairing.
//
// Signal's provisioning (ProvisioningCipher) puts the new device's whole
// public key in a QR code, so the primary needs no shared secret; a code a
// person types cannot carry 32 bytes, so here the key is authenticated by
// the secret instead.
package provision

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// The code's shape.
const (
	// Alphabet holds the code's symbols: digits and lowercase letters
	// without i, l, o and u (ParseCode reads I and L as 1, O as 0).
	Alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	// RendezvousSymbols and SecretSymbols split a code's symbols.
	RendezvousSymbols = 4
	SecretSymbols     = 16
	// SecretBits is the entropy of the secret part.
	SecretBits = SecretSymbols * 5
	codeGroup  = 4
)

// Errors callers branch on.
var (
	// ErrBadCode: not a pairing code.
	ErrBadCode = errors.New("provision: not a pairing code")
	// ErrMismatch: the hello was not made with this code (mistyped, or
	// someone else's pairing).
	ErrMismatch = errors.New("provision: the pairing code does not match the new device")
	// ErrAuth: a message that did not open under the pairing's keys
	// (someone without the code, a replay, a reordering or tampering).
	ErrAuth = errors.New("provision: a message did not authenticate")
)

// Code is a pairing code: a rendezvous id and a secret, each as symbols.
type Code struct {
	Rendezvous string // RendezvousSymbols symbols
	Secret     string // SecretSymbols symbols
}

// NewCode draws a code from r.
func NewCode(r io.Reader) (Code, error) {
	b := make([]byte, RendezvousSymbols+SecretSymbols)
	if _, err := io.ReadFull(r, b); err != nil {
		return Code{}, err
	}
	for i := range b {
		b[i] = Alphabet[b[i]&31]
	}
	return Code{Rendezvous: string(b[:RendezvousSymbols]), Secret: string(b[RendezvousSymbols:])}, nil
}

// String writes the code in groups of 4 symbols joined by '-'.
func (c Code) String() string {
	s := c.Rendezvous + c.Secret
	var sb strings.Builder
	for i := 0; i < len(s); i += codeGroup {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(s[i:min(i+codeGroup, len(s))])
	}
	return sb.String()
}

// ParseCode reads a code as String writes it, forgiving case, missing or
// extra '-' and spaces, and I, L, O for 1, 1, 0.
func ParseCode(s string) (Code, error) {
	var b []byte
	for _, r := range s {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'I' || r == 'i' || r == 'L' || r == 'l':
			r = '1'
		case r == 'O' || r == 'o':
			r = '0'
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		}
		if r > 127 || !strings.ContainsRune(Alphabet, r) {
			return Code{}, fmt.Errorf("%w: %q is not one of its symbols", ErrBadCode, r)
		}
		b = append(b, byte(r))
		if len(b) > RendezvousSymbols+SecretSymbols {
			break
		}
	}
	if len(b) != RendezvousSymbols+SecretSymbols {
		return Code{}, fmt.Errorf("%w: it has %d symbols (letters and digits), not %d", ErrBadCode, len(b), RendezvousSymbols+SecretSymbols)
	}
	return Code{Rendezvous: string(b[:RendezvousSymbols]), Secret: string(b[RendezvousSymbols:])}, nil
}

// RendezvousID is the id the relay knows the pairing by.
func (c Code) RendezvousID() []byte { return []byte(c.Rendezvous) }

const (
	infoHello   = "samizdat provision v1 hello"
	infoSession = "samizdat provision v1 session"
	helloLen    = 32 + sha256.Size
)

// helloKey derives the hello's MAC key from the secret (bound to the
// rendezvous id).
func (c Code) helloKey() []byte {
	k, err := hkdf.Key(sha256.New, []byte(c.Secret), []byte(c.Rendezvous), infoHello, 32)
	if err != nil {
		panic(err) // only for lengths hkdf cannot give
	}
	return k
}

func (c Code) helloTag(pub []byte) []byte {
	m := hmac.New(sha256.New, c.helloKey())
	m.Write(pub)
	return m.Sum(nil)
}

// NewDevice is the new device's side of a pairing.
type NewDevice struct {
	code Code
	priv *ecdh.PrivateKey
}

// Start draws the new device's ephemeral key and returns its side and the
// hello to publish under the code's rendezvous id.
func Start(r io.Reader, code Code) (*NewDevice, []byte, error) {
	priv, err := ecdh.X25519().GenerateKey(r)
	if err != nil {
		return nil, nil, err
	}
	pub := priv.PublicKey().Bytes()
	return &NewDevice{code: code, priv: priv}, append(pub, code.helloTag(pub)...), nil
}

// Accept opens the existing device's first message: it returns the
// channel and the first payload, or ErrAuth.
func (n *NewDevice) Accept(first []byte) (*Channel, []byte, error) {
	if len(first) < 32 {
		return nil, nil, ErrAuth
	}
	peer, err := ecdh.X25519().NewPublicKey(first[:32])
	if err != nil {
		return nil, nil, ErrAuth
	}
	shared, err := n.priv.ECDH(peer)
	if err != nil {
		return nil, nil, ErrAuth // a low-order point
	}
	ch, err := newChannel(n.code, shared, n.priv.PublicKey().Bytes(), first[:32], false)
	if err != nil {
		return nil, nil, err
	}
	pt, err := ch.Open(first[32:])
	if err != nil {
		return nil, nil, err
	}
	return ch, pt, nil
}

// Approve is the existing device's side: it checks hello against the code
// (ErrMismatch) and returns the channel and the prefix its first sealed
// message must carry (SealFirst does that).
func Approve(r io.Reader, code Code, hello []byte) (*Channel, error) {
	if len(hello) != helloLen || !hmac.Equal(code.helloTag(hello[:32]), hello[32:]) {
		return nil, ErrMismatch
	}
	peer, err := ecdh.X25519().NewPublicKey(hello[:32])
	if err != nil {
		return nil, ErrMismatch
	}
	priv, err := ecdh.X25519().GenerateKey(r)
	if err != nil {
		return nil, err
	}
	shared, err := priv.ECDH(peer)
	if err != nil {
		return nil, ErrMismatch
	}
	ch, err := newChannel(code, shared, hello[:32], priv.PublicKey().Bytes(), true)
	if err != nil {
		return nil, err
	}
	ch.prefix = priv.PublicKey().Bytes()
	return ch, nil
}

// Channel seals and opens the pairing's messages, in order, each way.
type Channel struct {
	send, recv   cipher.AEAD
	sent, opened uint64
	ad           []byte
	prefix       []byte // the approver's ephemeral key, before its first message
}

func newChannel(code Code, shared, newPub, approverPub []byte, approver bool) (*Channel, error) {
	ikm := append(append([]byte(nil), shared...), code.Secret...)
	salt := append(append([]byte(nil), newPub...), approverPub...)
	keys, err := hkdf.Key(sha256.New, ikm, salt, infoSession, 2*chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	toNew, err := chacha20poly1305.New(keys[:32])
	if err != nil {
		return nil, err
	}
	toApprover, err := chacha20poly1305.New(keys[32:])
	if err != nil {
		return nil, err
	}
	ch := &Channel{send: toApprover, recv: toNew, ad: []byte(code.Rendezvous)}
	if approver {
		ch.send, ch.recv = toNew, toApprover
	}
	return ch, nil
}

func nonce(n uint64) []byte {
	b := make([]byte, chacha20poly1305.NonceSize)
	binary.BigEndian.PutUint64(b[4:], n)
	return b
}

// Seal seals the next message this side sends. The approver's first
// message starts with its ephemeral key.
func (ch *Channel) Seal(pt []byte) []byte {
	out := ch.prefix
	ch.prefix = nil
	out = ch.send.Seal(out, nonce(ch.sent), pt, ch.ad)
	ch.sent++
	return out
}

// Open opens the next message from the other side, or ErrAuth.
func (ch *Channel) Open(msg []byte) ([]byte, error) {
	pt, err := ch.recv.Open(nil, nonce(ch.opened), msg, ch.ad)
	if err != nil {
		return nil, ErrAuth
	}
	ch.opened++
	return pt, nil
}
