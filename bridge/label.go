package bridge

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

// How a bridge knows its callers without a list of them.
//
// Each offer carries a random label (one per contact and bridge, kept only
// by the user's home) and its expiry, both in the tunnel's path:
//
//	/<base>/<base64url(label || expiry as 8 bytes of big-endian Unix seconds)>
//
// and the contact's secret is HMAC-SHA256(bridge key, "samizdat bridge:
// contact secret v2" || 0 || label || expiry). A bridge holding the key
// re-derives the secret of any path it is asked for, checks the expiry and
// its deny list, and lets the token (package transport/wss) prove the
// caller holds the secret. It stores no name, so a seized bridge tells no
// one who its callers are; a label it never issued, a wrong secret, an
// expired or withdrawn label all get the decoy site.

// Sizes of a bridge's key and of a label.
const (
	KeySize   = 32
	LabelSize = 16
)

// MaxDenied bounds a bridge's deny list.
const MaxDenied = 1 << 16

// Label names one contact's offers of one bridge. It is random and only
// the user's home knows whose it is.
type Label [LabelSize]byte

// NewLabel draws a label from rand.
func NewLabel(rand io.Reader) (Label, error) {
	var l Label
	_, err := io.ReadFull(rand, l[:])
	return l, err
}

// String is the label in hex (a bridge's logs name a caller by it).
func (l Label) String() string { return hex.EncodeToString(l[:]) }

// Denial takes a label back: the bridge refuses it from now on. Until is
// when the last offer with it ends (the bridge forgets the denial then).
type Denial struct {
	Label Label
	Until time.Time
}

// keys are the secrets a bridge key derives.
type keys struct {
	key     []byte
	base    string // the tunnels' common path prefix
	control string // the home's control path
}

func newKeys(key []byte) keys {
	k := keys{key: bytes.Clone(key), base: "/" + hex.EncodeToString(derive(key, "path")[:8])}
	k.control = k.base + "/" + pathEnc.EncodeToString(derive(key, "control path")[:LabelSize+8])
	return k
}

// derive is an HMAC of the bridge key for one purpose.
func derive(key []byte, purpose string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("samizdat bridge: " + purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write(p)
	}
	return m.Sum(nil)
}

var pathEnc = base64.RawURLEncoding

// labelPathLen is the length of the part of a path after the base.
var labelPathLen = pathEnc.EncodedLen(LabelSize + 8)

// path is the tunnel path of the offers with label l ending at exp.
func (k keys) path(l Label, exp int64) string {
	return k.base + "/" + pathEnc.EncodeToString(labelExpiry(l, exp))
}

func labelExpiry(l Label, exp int64) []byte {
	b := make([]byte, LabelSize+8)
	copy(b, l[:])
	binary.BigEndian.PutUint64(b[LabelSize:], uint64(exp))
	return b
}

// secret is the contact secret of label l with expiry exp.
func (k keys) secret(l Label, exp int64) []byte {
	return derive(k.key, "contact secret v2", labelExpiry(l, exp))
}

// controlSecret opens the control path.
func (k keys) controlSecret() []byte { return derive(k.key, "control secret") }

// parsePath reads the label and expiry of a tunnel path below k.base.
func (k keys) parsePath(path string) (Label, int64, bool) {
	rest, ok := strings.CutPrefix(path, k.base+"/")
	if !ok || len(rest) != labelPathLen {
		return Label{}, 0, false
	}
	b, err := pathEnc.Strict().DecodeString(rest)
	if err != nil || len(b) != LabelSize+8 {
		return Label{}, 0, false
	}
	var l Label
	copy(l[:], b)
	return l, int64(binary.BigEndian.Uint64(b[LabelSize:])), true
}

// Issuer mints a bridge's offers: what the user's home keeps of a bridge
// (its own, or one it made a credential for).
type Issuer struct {
	Key []byte // the bridge key (KeySize bytes)
	Pin []byte // SHA-256 of the bridge's TLS SubjectPublicKeyInfo
	SNI string // the server name callers send
}

// OwnLabel is the label the user's own devices dial a bridge with: the
// home that holds the issuer made the bridge (a credential for a friend
// abroad), so it is no contact's, and every device derives the same label
// from the bridge key without storing one. To the bridge it is a label
// like any other.
func (i Issuer) OwnLabel() Label {
	var l Label
	copy(l[:], derive(i.Key, "own label"))
	return l
}

// Offer is the offer for the contact holding label l, to dial address,
// valid until expires (to the second). The offer leads to the network's
// relay relayID.
func (i Issuer) Offer(l Label, network, relayID, address string, expires time.Time) (Offer, error) {
	if len(i.Key) != KeySize || len(i.Pin) != PinSize {
		return Offer{}, fmt.Errorf("bridge: an issuer needs a %d-byte key and a %d-byte pin", KeySize, PinSize)
	}
	k := newKeys(i.Key)
	exp := expires.Unix()
	return Offer{Network: network, RelayID: relayID, Address: address, SNI: i.SNI, Path: k.path(l, exp),
		Secret: k.secret(l, exp), TLSPin: bytes.Clone(i.Pin), Expires: time.Unix(exp, 0)}, nil
}
