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
// truncated or replayed message leaves the store as it was. Keys and
// plaintext never appear in errors.
//
// The package does no I/O of its own; callers provide the stores, the
// clock and the randomness.
package session
