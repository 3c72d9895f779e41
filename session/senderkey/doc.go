// Package senderkey implements Signal's Sender Keys, the group-messaging
// scheme in which each member encrypts a message once under its own sender
// key and every other member decrypts it with a copy of that key, distributed
// beforehand over pairwise sessions.
//
// The formats, key derivations and limits match libsignal 0.103, so that
// distribution messages, group messages and stored records interoperate with
// Signal's library byte for byte:
//
//   - a sender chain is an HMAC-SHA256 hash chain (seed byte 0x02 for the next
//     chain key, 0x01 for a message key seed); each message key seed is
//     expanded with HKDF-SHA256 (label "WhisperGroup") into an IV and an
//     AES-256 key, and the message is encrypted with AES-256-CBC/PKCS#7;
//   - each SenderKeyMessage is signed (XEdDSA) by the sender's per-chain
//     signing key, whose public half travels in the SenderKeyDistributionMessage;
//   - a receiver skips at most MaxForwardJumps messages ahead, keeps at most
//     MaxMessageKeys skipped keys per chain, and at most MaxStates chains per
//     (sender, distribution) record.
//
// Security properties. Messages are confidential against anyone who lacks the
// chain key and authenticated against anyone who lacks the signing key; the
// hash chain gives forward secrecy within a chain (a member who learns the
// current chain key cannot read earlier messages). Sender keys provide no
// post-compromise security: a removed member, or anyone who learned a chain
// key, can read every later message of that chain. That is why the sender
// must call Rotate when the group's membership changes and send the new
// distribution message only to the remaining members (see Rotate).
//
// Decrypt verifies a message's signature before it advances the chain, and
// stores the record only when decryption succeeds, so a forged or
// replayed message changes nothing. Records and distribution messages never
// print their keys, and errors never contain keys or plaintext.
//
// The functions in this package do no I/O other than through the Store they
// are given. They are not safe for concurrent use on the same (sender,
// distribution) pair unless the Store serialises those calls.
package senderkey
