package spqr

import "errors"

// Errors returned by Send and Recv. They mirror the spqr crate's error
// kinds; details (epochs, indexes) are added by wrapping with %w, so callers
// branch with errors.Is.
var (
	// ErrStateDecode: the serialized state is malformed or inconsistent.
	ErrStateDecode = errors.New("spqr: state decode failed")
	// ErrMsgDecode: the message bytes are malformed.
	ErrMsgDecode = errors.New("spqr: message decode failed")
	// ErrMACVerifyFailed: a header or ciphertext MAC did not verify.
	ErrMACVerifyFailed = errors.New("spqr: mac verification failed")
	// ErrEpochOutOfRange: the message names an epoch we cannot handle.
	ErrEpochOutOfRange = errors.New("spqr: epoch not in valid range")
	// ErrVersionMismatch: the peer uses a lower version after negotiation
	// has completed.
	ErrVersionMismatch = errors.New("spqr: version mismatch after negotiation")
	// ErrMinimumVersion: the peer uses a version below our minimum.
	ErrMinimumVersion = errors.New("spqr: peer version below minimum version")
	// ErrKeyJump: the message index is too far ahead of the chain.
	ErrKeyJump = errors.New("spqr: message key jump too large")
	// ErrKeyTrimmed: the message key is too old and was discarded.
	ErrKeyTrimmed = errors.New("spqr: message key trimmed")
	// ErrKeyAlreadyRequested: the message key was already used (duplicate).
	ErrKeyAlreadyRequested = errors.New("spqr: message key already requested")
	// ErrErroneousData: the peer sent data inconsistent with earlier data.
	ErrErroneousData = errors.New("spqr: erroneous data received from remote party")
	// ErrSendKeyEpochDecreased: internal inconsistency of the sending chain.
	ErrSendKeyEpochDecreased = errors.New("spqr: send key epoch decreased")
	// ErrChainNotAvailable: the state has no chain and cannot create one.
	ErrChainNotAvailable = errors.New("spqr: chain not available")
	// ErrEncoding: the erasure code or the incremental KEM failed.
	ErrEncoding = errors.New("spqr: encoding error")
)
