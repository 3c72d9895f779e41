package session

import (
	"errors"
	"fmt"
)

// Errors callers branch on. Errors returned by this package wrap one of
// these (test with errors.Is) and never contain key material or plaintext.
var (
	// ErrNoSession: there is no usable session with the remote address
	// (none stored, or the unacknowledged one is too old to use).
	ErrNoSession = errors.New("session: no session")
	// ErrUntrustedIdentity: the remote identity key differs from the one
	// stored for the address. The typed form is *UntrustedIdentityError.
	ErrUntrustedIdentity = errors.New("session: untrusted identity")
	// ErrDuplicateMessage: the message key was already used (a replay or a
	// duplicate delivery).
	ErrDuplicateMessage = errors.New("session: duplicate message")
	// ErrInvalidMessage: the message did not decrypt with any session.
	// More specific causes (ErrBadMAC, ErrTooFarAhead, ...) are wrapped
	// alongside it when known.
	ErrInvalidMessage = errors.New("session: invalid message")
	// ErrBadMAC: the message authentication code did not verify.
	ErrBadMAC = errors.New("session: bad mac")
	// ErrTooFarAhead: the message counter is more than MaxForwardJumps
	// beyond the receiving chain.
	ErrTooFarAhead = errors.New("session: message too far in the future")
	// ErrLegacyVersion: the message uses a version older than this package
	// accepts.
	ErrLegacyVersion = errors.New("session: legacy message version")
	// ErrUnknownVersion: the message uses a version newer than this package
	// knows.
	ErrUnknownVersion = errors.New("session: unknown message version")
	// ErrTruncated: the message is too short to hold its fixed parts.
	ErrTruncated = errors.New("session: truncated message")
	// ErrMalformed: the message or record does not parse (bad protobuf,
	// missing field, invalid key).
	ErrMalformed = errors.New("session: malformed input")
	// ErrBadSignature: a prekey bundle signature did not verify.
	ErrBadSignature = errors.New("session: bad signature")
	// ErrNoPreKey: a prekey named by a message is not in the store.
	ErrNoPreKey = errors.New("session: no such prekey")
	// ErrInvalidBaseKey: the sender's base key is not a canonical,
	// torsion-free curve point.
	ErrInvalidBaseKey = errors.New("session: invalid base key")
	// ErrReusedBaseKey: a base key was seen before with the same Kyber and
	// signed prekey (a replayed PreKeySignalMessage).
	ErrReusedBaseKey = errors.New("session: reused base key")
	// ErrInvalidState: a stored session record is corrupt.
	ErrInvalidState = errors.New("session: invalid session state")
	// ErrPQRatchet: the post-quantum ratchet rejected the message (for
	// example a peer without SPQR when SPQR is required).
	ErrPQRatchet = errors.New("session: post-quantum ratchet error")
)

// UntrustedIdentityError reports that the identity key presented for
// Address differs from the one the identity store holds.
type UntrustedIdentityError struct {
	Address Address
}

func (e *UntrustedIdentityError) Error() string {
	return fmt.Sprintf("session: untrusted identity for %s", e.Address)
}

// Unwrap makes errors.Is(err, ErrUntrustedIdentity) hold.
func (e *UntrustedIdentityError) Unwrap() error { return ErrUntrustedIdentity }
