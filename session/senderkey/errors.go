package senderkey

import "errors"

// Errors that callers branch on. Returned errors wrap one of these with %w.
var (
	// ErrNoSenderKeyState means there is no record for the (sender,
	// distribution) pair, or the record has no chain with the message's chain
	// id: the receiver needs a distribution message from the sender first.
	ErrNoSenderKeyState = errors.New("senderkey: no sender key state")
	// ErrInvalidState means a stored record is unusable for the operation,
	// for example encrypting with a record that was received from another
	// member and holds no private signing key.
	ErrInvalidState = errors.New("senderkey: invalid sender key state")
	// ErrDuplicateMessage means the message's key was already used (or was
	// evicted because too many keys were skipped).
	ErrDuplicateMessage = errors.New("senderkey: duplicate message")
	// ErrBadSignature means the message's signature does not verify under the
	// chain's signing key.
	ErrBadSignature = errors.New("senderkey: bad signature")
	// ErrTooFarInFuture means the message is more than MaxForwardJumps
	// iterations ahead of the chain.
	ErrTooFarInFuture = errors.New("senderkey: message too far in the future")
	// ErrVersion means the message has a version this package does not speak
	// (legacy or newer), or one that differs from the chain's version.
	ErrVersion = errors.New("senderkey: unsupported message version")
	// ErrTruncated means the input is too short to be a message.
	ErrTruncated = errors.New("senderkey: message too short")
	// ErrMalformed means the input is not a well-formed message.
	ErrMalformed = errors.New("senderkey: malformed message")
	// ErrDecrypt means the ciphertext did not decrypt (bad length or padding).
	ErrDecrypt = errors.New("senderkey: decryption failed")
)
