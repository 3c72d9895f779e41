package broadcast

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"samizdat/username"
)

// NetworkTag names a network (by its manifest signing key) in a join code,
// so that a code for another network is refused before anything is asked
// of the relay.
type NetworkTag [8]byte

// TagOf is the tag of the network whose manifest key is networkKey.
func TagOf(networkKey ed25519.PublicKey) NetworkTag {
	h := sha256.New()
	h.Write([]byte("samizdat network tag v1\x00"))
	h.Write(networkKey)
	return NetworkTag(h.Sum(nil)[:8])
}

// MaxName bounds a channel name, in bytes.
const MaxName = username.MaxLocal

// ValidName reports whether name is a channel name: a local name
// (username.CheckLocal).
func ValidName(name string) bool { return username.CheckLocal("channel", name) == nil }

// Code is what a join code carries. Admin is nil in a subscriber's code; in
// an admin's code it is the admin key.
type Code struct {
	Network    NetworkTag
	Name       string // the name its creator gave the channel (ValidName)
	AdminKey   ed25519.PublicKey
	ContentKey ContentKey
	Admin      ed25519.PrivateKey
}

// ID is the channel's id.
func (c Code) ID() ID { return ChannelID(c.AdminKey) }

// Subscriber returns the code without the admin key.
func (c Code) Subscriber() Code {
	c.Admin = nil
	return c
}

// A code is codePrefix and the base64url (unpadded) encoding of: kind (1
// subscriber, 2 admin), the network tag (8 bytes), the admin public key
// (32), the content key (32), for an admin the admin key's seed (32), the
// name's length (1) and the name, and the first 4 bytes of SHA-256 of all
// that, which catches a mistyped code.
const (
	codePrefix = "szch1"
	kindReader = 1
	kindAdmin  = 2
	checkSize  = 4
)

// String encodes the code on one line. For an admin code the line holds
// the admin key: keep it as secret as the key.
func (c Code) String() string {
	b := c.append(nil)
	return codePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// append lays out the code's bytes.
func (c Code) append(b []byte) []byte {
	kind := byte(kindReader)
	if c.Admin != nil {
		kind = kindAdmin
	}
	b = append(b, kind)
	b = append(b, c.Network[:]...)
	b = append(b, c.AdminKey...)
	b = append(b, c.ContentKey.b[:]...)
	if c.Admin != nil {
		b = append(b, c.Admin.Seed()...)
	}
	b = append(b, byte(len(c.Name)))
	b = append(b, c.Name...)
	sum := sha256.Sum256(b)
	return append(b, sum[:checkSize]...)
}

// ParseCode parses a join code (surrounding spaces are ignored). It checks
// the layout, the checksum, the name and, for an admin code, that the admin
// key's seed gives the admin public key; not the network (the caller
// compares Network with its own).
func ParseCode(s string) (Code, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, codePrefix)
	if !ok {
		return Code{}, ErrBadCode
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return Code{}, ErrBadCode
	}
	return parseCode(b)
}

func parseCode(b []byte) (Code, error) {
	const fixed = 1 + 8 + AdminKeySize + 32
	if len(b) < fixed+1+checkSize {
		return Code{}, ErrBadCode
	}
	body, check := b[:len(b)-checkSize], b[len(b)-checkSize:]
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(sum[:checkSize], check) != 1 {
		return Code{}, fmt.Errorf("%w (mistyped?)", ErrBadCode)
	}
	var c Code
	kind := body[0]
	copy(c.Network[:], body[1:9])
	c.AdminKey = ed25519.PublicKey(append([]byte(nil), body[9:9+AdminKeySize]...))
	copy(c.ContentKey.b[:], body[9+AdminKeySize:fixed])
	rest := body[fixed:]
	switch kind {
	case kindReader:
	case kindAdmin:
		if len(rest) < ed25519.SeedSize {
			return Code{}, ErrBadCode
		}
		c.Admin = ed25519.NewKeyFromSeed(rest[:ed25519.SeedSize])
		if subtle.ConstantTimeCompare(c.Admin.Public().(ed25519.PublicKey), c.AdminKey) != 1 {
			return Code{}, fmt.Errorf("%w: the admin key does not match", ErrBadCode)
		}
		rest = rest[ed25519.SeedSize:]
	default:
		return Code{}, ErrBadCode
	}
	if len(rest) < 1 || int(rest[0]) != len(rest)-1 {
		return Code{}, ErrBadCode
	}
	c.Name = string(rest[1:])
	if !ValidName(c.Name) {
		return Code{}, fmt.Errorf("%w: bad channel name", ErrBadCode)
	}
	return c, nil
}

// NewChannel makes the admin code of a new channel named name on the
// network tagged net, drawing its keys from rand.
func NewChannel(net NetworkTag, name string, rand io.Reader) (Code, error) {
	if !ValidName(name) {
		return Code{}, fmt.Errorf("broadcast: %q is not a channel name (1-32 of a-z 0-9 _ . -)", name)
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return Code{}, fmt.Errorf("broadcast: admin key: %w", err)
	}
	k, err := NewContentKey(rand)
	if err != nil {
		return Code{}, err
	}
	return Code{Network: net, Name: name, AdminKey: pub, ContentKey: k, Admin: priv}, nil
}

// Marshal returns the code's bytes (what String encodes), for carrying it
// inside another message.
func (c Code) Marshal() []byte { return c.append(nil) }

// UnmarshalCode parses what Marshal returned.
func UnmarshalCode(b []byte) (Code, error) { return parseCode(b) }
