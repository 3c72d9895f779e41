package session

import (
	"context"
	"fmt"
	"sync"

	"samizdat/session/curve"
)

// MemoryStore implements every store interface in memory. It is safe for
// concurrent use. Records are copied in and out, so callers cannot change
// stored state by mutating what they passed or got.
type MemoryStore struct {
	identity       curve.KeyPair
	registrationID uint32

	mu         sync.Mutex
	identities map[Address]curve.PublicKey       // guarded by mu
	preKeys    map[uint32][]byte                 // guarded by mu; marshalled records
	signed     map[uint32][]byte                 // guarded by mu
	kyber      map[uint32]*KyberPreKeyRecord     // guarded by mu; private copies
	kyberUsed  map[[2]uint32]map[string]struct{} // guarded by mu; base keys seen
	sessions   map[Address][]byte                // guarded by mu; marshalled records
}

var (
	_ IdentityStore     = (*MemoryStore)(nil)
	_ PreKeyStore       = (*MemoryStore)(nil)
	_ SignedPreKeyStore = (*MemoryStore)(nil)
	_ KyberPreKeyStore  = (*MemoryStore)(nil)
	_ SessionStore      = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty store for the given identity.
func NewMemoryStore(identity curve.KeyPair, registrationID uint32) *MemoryStore {
	return &MemoryStore{
		identity:       identity,
		registrationID: registrationID,
		identities:     make(map[Address]curve.PublicKey),
		preKeys:        make(map[uint32][]byte),
		signed:         make(map[uint32][]byte),
		kyber:          make(map[uint32]*KyberPreKeyRecord),
		kyberUsed:      make(map[[2]uint32]map[string]struct{}),
		sessions:       make(map[Address][]byte),
	}
}

// Stores returns a Stores with every field set to m.
func (m *MemoryStore) Stores() Stores {
	return Stores{Identity: m, PreKeys: m, SignedPreKeys: m, KyberPreKeys: m, Sessions: m}
}

// IdentityKeyPair implements IdentityStore.
func (m *MemoryStore) IdentityKeyPair(context.Context) (curve.KeyPair, error) {
	return m.identity, nil
}

// LocalRegistrationID implements IdentityStore.
func (m *MemoryStore) LocalRegistrationID(context.Context) (uint32, error) {
	return m.registrationID, nil
}

// SaveIdentity implements IdentityStore.
func (m *MemoryStore) SaveIdentity(_ context.Context, addr Address, identity curve.PublicKey) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.identities[addr]
	m.identities[addr] = identity
	return ok && !old.Equal(identity), nil
}

// IsTrustedIdentity implements IdentityStore: trust on first use.
func (m *MemoryStore) IsTrustedIdentity(_ context.Context, addr Address, identity curve.PublicKey, _ bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.identities[addr]
	return !ok || old.Equal(identity), nil
}

// Identity implements IdentityStore.
func (m *MemoryStore) Identity(_ context.Context, addr Address) (curve.PublicKey, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.identities[addr]
	return k, ok, nil
}

// PreKey implements PreKeyStore.
func (m *MemoryStore) PreKey(_ context.Context, id uint32) (*PreKeyRecord, error) {
	m.mu.Lock()
	b, ok := m.preKeys[id]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: prekey %d", ErrNoPreKey, id)
	}
	return UnmarshalPreKeyRecord(b)
}

// StorePreKey implements PreKeyStore.
func (m *MemoryStore) StorePreKey(_ context.Context, rec *PreKeyRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.preKeys[rec.ID] = b
	return nil
}

// RemovePreKey implements PreKeyStore.
func (m *MemoryStore) RemovePreKey(_ context.Context, id uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.preKeys, id)
	return nil
}

// SignedPreKey implements SignedPreKeyStore.
func (m *MemoryStore) SignedPreKey(_ context.Context, id uint32) (*SignedPreKeyRecord, error) {
	m.mu.Lock()
	b, ok := m.signed[id]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: signed prekey %d", ErrNoPreKey, id)
	}
	return UnmarshalSignedPreKeyRecord(b)
}

// StoreSignedPreKey implements SignedPreKeyStore.
func (m *MemoryStore) StoreSignedPreKey(_ context.Context, rec *SignedPreKeyRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.signed[rec.ID] = b
	return nil
}

func copyKyber(r *KyberPreKeyRecord) *KyberPreKeyRecord {
	c := *r
	c.Signature = append([]byte(nil), r.Signature...)
	return &c
}

// KyberPreKey implements KyberPreKeyStore.
func (m *MemoryStore) KyberPreKey(_ context.Context, id uint32) (*KyberPreKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.kyber[id]
	if !ok {
		return nil, fmt.Errorf("%w: kyber prekey %d", ErrNoPreKey, id)
	}
	return copyKyber(r), nil
}

// StoreKyberPreKey implements KyberPreKeyStore.
func (m *MemoryStore) StoreKyberPreKey(_ context.Context, rec *KyberPreKeyRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kyber[rec.ID] = copyKyber(rec)
	return nil
}

// MarkKyberPreKeyUsed implements KyberPreKeyStore.
func (m *MemoryStore) MarkKyberPreKeyUsed(_ context.Context, id, signedID uint32, baseKey curve.PublicKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.kyber[id]
	if !ok {
		return fmt.Errorf("%w: kyber prekey %d", ErrNoPreKey, id)
	}
	if !r.LastResort {
		delete(m.kyber, id)
		return nil
	}
	k := [2]uint32{id, signedID}
	seen := m.kyberUsed[k]
	if seen == nil {
		seen = make(map[string]struct{})
		m.kyberUsed[k] = seen
	}
	bk := string(baseKey.Bytes())
	if _, dup := seen[bk]; dup {
		return fmt.Errorf("%w: kyber prekey %d", ErrReusedBaseKey, id)
	}
	seen[bk] = struct{}{}
	return nil
}

// LoadSession implements SessionStore.
func (m *MemoryStore) LoadSession(_ context.Context, addr Address) (*SessionRecord, error) {
	m.mu.Lock()
	b, ok := m.sessions[addr]
	m.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return UnmarshalSessionRecord(b)
}

// StoreSession implements SessionStore.
func (m *MemoryStore) StoreSession(_ context.Context, addr Address, rec *SessionRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[addr] = b
	return nil
}
