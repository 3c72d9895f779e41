package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"samizdat/relay"
)

// blobTable is the store's attachments (relay.BlobStore), under their own
// lock: a large chunk copied in does not hold up mailboxes.
type blobTable struct {
	mu    sync.Mutex
	blobs map[relay.BlobID]*memBlob // guarded by mu
}

type memBlob struct {
	relay.Blob
	chunks [][]byte
}

var _ relay.BlobStore = (*Store)(nil)

// CreateBlob implements relay.BlobStore.
func (s *Store) CreateBlob(ctx context.Context, b relay.Blob, quota int64) error {
	t := &s.blobTable
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.blobs == nil {
		t.blobs = make(map[relay.BlobID]*memBlob)
	}
	if _, ok := t.blobs[b.ID]; ok {
		return fmt.Errorf("memstore: blob: %w", relay.ErrConflict)
	}
	used := b.Size
	for _, o := range t.blobs {
		if o.Owner == b.Owner {
			used += o.Size
		}
	}
	if used > quota {
		return fmt.Errorf("memstore: blob: %w", relay.ErrQuotaExceeded)
	}
	b.Stored = 0
	if b.Created.IsZero() {
		b.Created = s.opts.Now()
	}
	t.blobs[b.ID] = &memBlob{Blob: b}
	return nil
}

// BlobByID implements relay.BlobStore.
func (s *Store) BlobByID(ctx context.Context, id relay.BlobID) (relay.Blob, error) {
	t := &s.blobTable
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.blobs[id]
	if !ok {
		return relay.Blob{}, fmt.Errorf("memstore: blob: %w", relay.ErrNotFound)
	}
	return b.Blob, nil
}

// PutChunk implements relay.BlobStore.
func (s *Store) PutChunk(ctx context.Context, id relay.BlobID, index uint32, data []byte) (uint32, error) {
	t := &s.blobTable
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.blobs[id]
	switch {
	case !ok:
		return 0, fmt.Errorf("memstore: blob: %w", relay.ErrNotFound)
	case index > b.Stored:
		return b.Stored, relay.ErrOutOfOrder
	case index == b.Stored && index < b.Chunks():
		b.chunks = append(b.chunks, append([]byte(nil), data...))
		b.Stored++
	}
	return b.Stored, nil
}

// Chunk implements relay.BlobStore.
func (s *Store) Chunk(ctx context.Context, id relay.BlobID, index uint32) ([]byte, error) {
	t := &s.blobTable
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.blobs[id]
	if !ok || index >= b.Stored {
		return nil, fmt.Errorf("memstore: chunk: %w", relay.ErrNotFound)
	}
	return append([]byte(nil), b.chunks[index]...), nil
}

// ExpireBlobs implements relay.BlobStore.
func (s *Store) ExpireBlobs(ctx context.Context, before time.Time) (int, error) {
	t := &s.blobTable
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for id, b := range t.blobs {
		if b.Created.Before(before) {
			delete(t.blobs, id)
			n++
		}
	}
	return n, nil
}
