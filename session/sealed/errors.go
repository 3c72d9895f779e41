package sealed

import "errors"

// Errors that callers branch on. Returned errors wrap one of these with %w.
var (
	// ErrMalformed means the input is not a well-formed message or
	// certificate (libsignal's InvalidProtobufEncoding).
	ErrMalformed = errors.New("sealed: malformed input")
	// ErrUnknownVersion means the sealed message's version is not 1 or 2.
	ErrUnknownVersion = errors.New("sealed: unknown sealed sender version")
	// ErrInvalidMessage means a sealed message failed to decrypt or
	// authenticate: a bad MAC or AEAD tag, a mismatched ephemeral key, or a
	// sender key that does not match the certificate inside.
	ErrInvalidMessage = errors.New("sealed: invalid sealed sender message")
	// ErrRevoked means the server certificate's id has been revoked.
	ErrRevoked = errors.New("sealed: server certificate revoked")
	// ErrUntrusted means the server certificate is not signed by any of the
	// trust roots.
	ErrUntrusted = errors.New("sealed: server certificate not signed by a trust root")
	// ErrBadSignature means the sender certificate is not signed by its
	// server certificate's key.
	ErrBadSignature = errors.New("sealed: sender certificate not signed by server")
	// ErrExpired means the sender certificate expired before the validation
	// time.
	ErrExpired = errors.New("sealed: sender certificate expired")
	// ErrUnknownServerCertificate means a sender certificate refers by id to
	// a server certificate this package does not know.
	ErrUnknownServerCertificate = errors.New("sealed: unknown server certificate id")
	// ErrSelfSend means the message claims to come from the recipient's own
	// device.
	ErrSelfSend = errors.New("sealed: message sent by this device")
	// ErrInvalidRecipient means a v2 destination cannot be encoded (bad
	// device id, registration id or service id).
	ErrInvalidRecipient = errors.New("sealed: invalid recipient")
)
