package sealed

import (
	"fmt"
	"time"

	"samizdat/session/curve"
)

// Version returns the major sealed-sender version of a received message (1
// or 2) after checking, without any key, that its outer structure is well
// formed. It reveals nothing about the sender.
func Version(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	switch b[0] >> 4 {
	case 0, v1MajorVersion:
		// libsignal accepts major version 0 as v1 too.
		if _, err := parseV1(b[1:]); err != nil {
			return 0, err
		}
		return 1, nil
	case v2MajorVersion:
		if _, err := parseV2Received(b[1:]); err != nil {
			return 0, err
		}
		return 2, nil
	}
	return 0, fmt.Errorf("%w: %d", ErrUnknownVersion, b[0]>>4)
}

// DecryptToContent opens a received v1 or v2 sealed message with our
// identity key pair and returns its content. It authenticates the sender's
// identity key against the content's certificate but does not validate the
// certificate: the caller must (see Decrypt).
func DecryptToContent(b []byte, us curve.KeyPair) (*Content, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	switch b[0] >> 4 {
	case 0, v1MajorVersion:
		m, err := parseV1(b[1:])
		if err != nil {
			return nil, err
		}
		return decryptV1(m, us)
	case v2MajorVersion:
		r, err := parseV2Received(b[1:])
		if err != nil {
			return nil, err
		}
		return decryptV2(r, us)
	}
	return nil, fmt.Errorf("%w: %d", ErrUnknownVersion, b[0]>>4)
}

// Local identifies the receiving device, to refuse messages from itself.
type Local struct {
	UUID     string
	E164     string // empty if unknown
	DeviceID uint32
}

// Decrypt opens a received sealed message, validates the sender certificate
// against trustRoot at time now, and refuses messages that claim to come
// from our own device (ErrSelfSend). The returned content's inner message
// is still encrypted; hand it to the session or senderkey package according
// to its Type.
func Decrypt(b []byte, us curve.KeyPair, trustRoot curve.PublicKey, now time.Time, local Local) (*Content, error) {
	c, err := DecryptToContent(b, us)
	if err != nil {
		return nil, err
	}
	if err := c.sender.Validate(trustRoot, now); err != nil {
		return nil, fmt.Errorf("sealed: trust root validation failed: %w", err)
	}
	isLocal := c.sender.senderUUID == local.UUID
	if e164, ok := c.sender.SenderE164(); ok && local.E164 != "" && e164 == local.E164 {
		isLocal = true
	}
	if isLocal && c.sender.deviceID == local.DeviceID {
		return nil, ErrSelfSend
	}
	return c, nil
}
