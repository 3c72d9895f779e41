package senderkey

import (
	"context"
	"fmt"
	"sync"

	"samizdat/session"
)

// SenderAddress names a sender's device: the account name (a service id
// string in Signal) and the device id. It is session.Address.
type SenderAddress = session.Address

// Store persists sender key records, one per (sender, distribution) pair.
type Store interface {
	// LoadSenderKey returns the record stored for (sender, distributionID),
	// or (nil, nil) if there is none. The caller may modify the returned
	// record; changes take effect only through StoreSenderKey.
	LoadSenderKey(ctx context.Context, sender SenderAddress, distributionID [16]byte) (*Record, error)
	// StoreSenderKey replaces the record for (sender, distributionID). The
	// store must not keep a reference to r that later changes could affect.
	StoreSenderKey(ctx context.Context, sender SenderAddress, distributionID [16]byte, r *Record) error
}

// MemoryStore is a Store in memory, safe for concurrent use. The zero value
// is ready to use. Records are kept serialized, as a durable store would.
type MemoryStore struct {
	mu      sync.Mutex
	records map[memoryKey][]byte // guarded by mu
}

type memoryKey struct {
	sender       SenderAddress
	distribution [16]byte
}

var _ Store = (*MemoryStore)(nil)

// LoadSenderKey implements Store.
func (m *MemoryStore) LoadSenderKey(ctx context.Context, sender SenderAddress, distributionID [16]byte) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	b, ok := m.records[memoryKey{sender, distributionID}]
	m.mu.Unlock()
	if !ok {
		return nil, nil
	}
	r, err := ParseRecord(b)
	if err != nil {
		return nil, fmt.Errorf("senderkey: memory store: %w", err)
	}
	return r, nil
}

// StoreSenderKey implements Store.
func (m *MemoryStore) StoreSenderKey(ctx context.Context, sender SenderAddress, distributionID [16]byte, r *Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := r.Bytes()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records == nil {
		m.records = make(map[memoryKey][]byte)
	}
	m.records[memoryKey{sender, distributionID}] = b
	return nil
}
