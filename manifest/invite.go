package manifest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"samizdat/internal/atomicfile"
	"samizdat/manifest/internal/manifestpb"
)

// ErrBadInvite means an invite file or text is not a valid invite. The
// wrapped error says why; it may also wrap ErrBadSignature, ErrMalformed
// or ErrInvalid about the manifest inside.
var ErrBadInvite = errors.New("manifest: bad invite")

// inviteType is the PEM-style block type of an invite.
const inviteType = "SAMIZDAT INVITE"

// MaxInviteSize bounds an invite file.
const MaxInviteSize = 2*MaxBlobSize + 4096

// Invite is what a user needs to join a network: the network's public key
// and a manifest signed by it; a personal invite (made by a user, see
// Slot) also carries the relay's token naming the inviter, which places
// the new user in the inviter's cohort.
type Invite struct {
	NetworkKey ed25519.PublicKey
	Manifest   []byte // signed blob, as Sign returns it
	Inviter    []byte // the relay's token for the inviting user; nil in a root invite
}

// MaxInviterToken bounds Invite.Inviter.
const MaxInviterToken = 256

// MarshalInvite encodes inv as invite text: a short comment for humans, then
//
//	-----BEGIN SAMIZDAT INVITE-----
//	base64 of a protobuf Invite{version, network key, signed manifest, inviter token}
//	-----END SAMIZDAT INVITE-----
//
// It checks that the manifest is signed by the invite's key.
func MarshalInvite(inv Invite) ([]byte, error) {
	m, _, err := open(inv.Manifest, inv.NetworkKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	if len(inv.Inviter) > MaxInviterToken {
		return nil, fmt.Errorf("%w: an inviter token of %d bytes (max %d)", ErrBadInvite, len(inv.Inviter), MaxInviterToken)
	}
	der, err := proto.MarshalOptions{Deterministic: true}.Marshal(&manifestpb.Invite{
		Version:    Version,
		NetworkKey: inv.NetworkKey,
		Manifest:   inv.Manifest,
		Inviter:    inv.Inviter,
	})
	if err != nil {
		return nil, fmt.Errorf("manifest: encode invite: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "samizdat invite to the network %q.\n", m.Network)
	fmt.Fprintf(&b, "Join with: samizdat --home DIR init --invite THIS-FILE --name YOUR-NAME\n\n")
	if err := pem.Encode(&b, &pem.Block{Type: inviteType, Bytes: der}); err != nil {
		return nil, fmt.Errorf("manifest: encode invite: %w", err)
	}
	return b.Bytes(), nil
}

// ParseInvite decodes invite text (see MarshalInvite). Text before the
// block is ignored. It checks the structure and that the manifest is signed
// by the invite's network key, not its expiry: call Verify for that.
func ParseInvite(text []byte) (Invite, error) {
	if len(text) > MaxInviteSize {
		return Invite{}, fmt.Errorf("%w: %d bytes (max %d)", ErrBadInvite, len(text), MaxInviteSize)
	}
	block, _ := pem.Decode(text)
	if block == nil {
		return Invite{}, fmt.Errorf("%w: no %q block found", ErrBadInvite, inviteType)
	}
	if block.Type != inviteType {
		return Invite{}, fmt.Errorf("%w: found a %q block, want %q", ErrBadInvite, block.Type, inviteType)
	}
	var pi manifestpb.Invite
	if err := proto.Unmarshal(block.Bytes, &pi); err != nil {
		return Invite{}, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	if pi.Version != Version {
		return Invite{}, fmt.Errorf("%w: %w: %d", ErrBadInvite, ErrUnsupportedVersion, pi.Version)
	}
	if len(pi.Inviter) > MaxInviterToken {
		return Invite{}, fmt.Errorf("%w: an inviter token of %d bytes (max %d)", ErrBadInvite, len(pi.Inviter), MaxInviterToken)
	}
	inv := Invite{NetworkKey: ed25519.PublicKey(pi.NetworkKey), Manifest: pi.Manifest, Inviter: nonEmptyBytes(pi.Inviter)}
	if _, _, err := open(inv.Manifest, inv.NetworkKey); err != nil {
		return Invite{}, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	return inv, nil
}

// WriteInvite writes inv to path as invite text, atomically (a reader sees
// the old file or the new one). The file is not secret: mode 0644.
func WriteInvite(path string, inv Invite) error {
	text, err := MarshalInvite(inv)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, text, 0o644); err != nil {
		return fmt.Errorf("manifest: write invite: %w", err)
	}
	return nil
}

// ReadInvite reads and parses the invite file at path (see ParseInvite).
func ReadInvite(path string) (Invite, error) {
	text, err := readLimited(path, MaxInviteSize)
	if err != nil {
		return Invite{}, fmt.Errorf("manifest: read invite: %w", err)
	}
	inv, err := ParseInvite(text)
	if err != nil {
		return Invite{}, fmt.Errorf("%w (%s)", err, path)
	}
	return inv, nil
}

// nonEmptyBytes returns b, or nil when it is empty.
func nonEmptyBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
