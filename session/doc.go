// Package session implements the pairwise part of the Signal protocol as
// libsignal 0.103 speaks it: PQXDH session setup (X25519 plus Kyber-1024),
// the Double Ratchet combined with the sparse post-quantum ratchet (SPQR)
// into the triple ratchet, the SignalMessage and PreKeySignalMessage wire
// formats, prekey records and bundles, and the stores a client keeps.
//
// Byte compatibility with libsignal is the goal: the KDF labels, the
// 0xFF×32 discontinuity prefix, AES-256-CBC with PKCS#7, the 8-byte
// truncated HMAC-SHA256 over both identities and the message, the message
// version (4) and the storage records (protobuf, as libsignal lays them
// out) all match, so that a session opened here and one opened by
// libsignal can talk in both directions.
//
// Security properties. Messages have forward secrecy and post-compromise
// security through the ratchets; session setup authenticates both
// identities (the bundle signatures are verified, identities are trusted
// on first use and a change is reported as ErrUntrustedIdentity). Session
// state is changed only after a message authenticates: decryption works on
// a copy of the record and commits it to the store on success, so a forged,
// truncated or replayed message leaves the store as it was. MACs are
// compared in constant time, and the AES-CBC body is decrypted only after
// its MAC verifies. Keys and plaintext never appear in errors, and a
// SessionRecord prints no keys. Parsers refuse what libsignal refuses,
// including known protobuf fields with the wrong wire type, and never panic
// on untrusted bytes.
//
// Use: ProcessPreKeyBundle opens a session from a remote device's
// PreKeyBundle; Encrypt returns a CiphertextMessage (a *PreKeySignalMessage
// until the remote answers, then *SignalMessage); on the other side
// ParseCiphertextMessage and Decrypt (or DecryptPreKeyMessage and
// DecryptSignalMessage) accept the session and decrypt. Every call takes
// the Stores, our own Address and the remote Address; Encrypt and
// ProcessPreKeyBundle take the time, and every call that may generate keys
// takes the randomness, so tests are deterministic. MemoryStore implements
// all stores in memory.
//
// The post-quantum ratchet is package spqr, run at version 1 with version 1
// required of the peer, as libsignal 0.103 does: SPQR is required, and a
// peer without it is refused with ErrPQRatchet. X3DH (version 3) sessions
// are no longer opened: PreKeySignalMessages without a Kyber prekey are
// refused.
//
// Calls for the same remote address load, change and store its record, so
// they must not run concurrently with each other; serialize them per
// address (as libsignal's callers do). Calls for different addresses may
// run in parallel when the stores are safe for concurrent use.
//
// The package does no I/O of its own; callers provide the stores, the
// clock and the randomness.
package session
