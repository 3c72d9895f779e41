// Package sealed implements Signal's sealed sender: envelopes whose sender
// is hidden from the relay that carries them, byte-compatible with libsignal
// 0.103.
//
// A sealed message wraps an UnidentifiedSenderMessageContent (Content): an
// already encrypted Signal, PreKey or SenderKey message (or plaintext
// content), the sender's certificate, a content hint and an optional group
// id. The sender certificate (SenderCertificate) is issued by the service
// under a ServerCertificate, which is itself signed by a trust root that
// clients know; recipients validate the chain and the expiry before they
// believe the sender's identity.
//
// Version 1 (EncryptV1) seals to one recipient: an ephemeral X25519 key
// agreement with the recipient's identity key (HKDF-SHA256, salt
// "UnidentifiedDelivery" || recipient || ephemeral) encrypts the sender's
// identity key with AES-256-CTR and a 10-byte HMAC-SHA256 tag; a second
// agreement between the sender's and recipient's identity keys encrypts the
// content the same way. Version 2 (EncryptV2) seals once for many
// recipients: a random secret M derives an ephemeral key and an
// AES-256-GCM-SIV key for the single ciphertext, and M is encrypted to each
// recipient with an X25519 agreement and authenticated with the sender's
// identity (a 16-byte tag). Decrypt and DecryptToContent open both versions.
//
// Security properties. The relay learns the recipient (from the envelope, or
// for v2 from the per-recipient table that ParseSentMessage reads) but not
// the sender; the sender's identity is authenticated to the recipient by the
// key agreements and bound to the certificate, which must be validated
// (Decrypt does it; DecryptToContent leaves it to the caller). Sealed sender
// adds no forward secrecy of its own beyond the ephemeral key: the inner
// message carries the session's guarantees. MACs and tags are compared in
// constant time, and no content is returned before the sender's key has
// been checked against its certificate; a Content prints no contents. The relay-side parser reads only routing data, never
// touches key material and allocates only in proportion to its input.
//
// The package needs no session state; higher layers pass the already
// encrypted inner message in and get it back out.
package sealed
