package session

import (
	"context"

	"samizdat/session/curve"
)

// IdentityStore holds our identity and the identities we have seen.
type IdentityStore interface {
	// IdentityKeyPair returns our identity key pair.
	IdentityKeyPair(ctx context.Context) (curve.KeyPair, error)
	// LocalRegistrationID returns our registration id.
	LocalRegistrationID(ctx context.Context) (uint32, error)
	// SaveIdentity records identity for addr. changed reports that a
	// different identity was stored before (it is replaced).
	SaveIdentity(ctx context.Context, addr Address, identity curve.PublicKey) (changed bool, err error)
	// IsTrustedIdentity reports whether identity may be used for addr:
	// true when none is stored yet (trust on first use) or it matches
	// the stored one. sending tells which direction the check is for.
	IsTrustedIdentity(ctx context.Context, addr Address, identity curve.PublicKey, sending bool) (bool, error)
	// Identity returns the stored identity for addr; ok is false if none.
	Identity(ctx context.Context, addr Address) (identity curve.PublicKey, ok bool, err error)
}

// PreKeyStore holds our one-time prekeys.
type PreKeyStore interface {
	// PreKey returns the prekey with id, or an error wrapping ErrNoPreKey.
	PreKey(ctx context.Context, id uint32) (*PreKeyRecord, error)
	// StorePreKey stores or replaces a prekey.
	StorePreKey(ctx context.Context, rec *PreKeyRecord) error
	// RemovePreKey deletes a prekey; removing a missing one is not an error.
	RemovePreKey(ctx context.Context, id uint32) error
}

// SignedPreKeyStore holds our signed prekeys.
type SignedPreKeyStore interface {
	// SignedPreKey returns the signed prekey with id, or an error
	// wrapping ErrNoPreKey.
	SignedPreKey(ctx context.Context, id uint32) (*SignedPreKeyRecord, error)
	// StoreSignedPreKey stores or replaces a signed prekey.
	StoreSignedPreKey(ctx context.Context, rec *SignedPreKeyRecord) error
}

// KyberPreKeyStore holds our Kyber prekeys.
type KyberPreKeyStore interface {
	// KyberPreKey returns the Kyber prekey with id, or an error wrapping
	// ErrNoPreKey.
	KyberPreKey(ctx context.Context, id uint32) (*KyberPreKeyRecord, error)
	// StoreKyberPreKey stores or replaces a Kyber prekey.
	StoreKyberPreKey(ctx context.Context, rec *KyberPreKeyRecord) error
	// MarkKyberPreKeyUsed records that a session was opened with the Kyber
	// prekey id, the signed prekey signedID and the sender's baseKey.
	// One-time keys are removed; last-resort keys stay, and a base key
	// seen before with the same pair is refused with ErrReusedBaseKey.
	MarkKyberPreKeyUsed(ctx context.Context, id, signedID uint32, baseKey curve.PublicKey) error
}

// SessionStore holds session records by remote address.
type SessionStore interface {
	// LoadSession returns the record for addr, or (nil, nil) when none.
	// The caller owns the returned record.
	LoadSession(ctx context.Context, addr Address) (*SessionRecord, error)
	// StoreSession stores rec for addr. The store must not keep rec
	// itself (it may be modified afterwards); copy or serialize it.
	StoreSession(ctx context.Context, addr Address, rec *SessionRecord) error
}

// Stores bundles the stores that encryption and decryption need. Every
// field must be set, except that encryption and ProcessPreKeyBundle need
// only Identity and Sessions.
type Stores struct {
	Identity      IdentityStore
	PreKeys       PreKeyStore
	SignedPreKeys SignedPreKeyStore
	KyberPreKeys  KyberPreKeyStore
	Sessions      SessionStore
}
