package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"samizdat/relay"
)

// BlobOpener opens a fresh, empty BlobStore and arranges for it to be
// closed when t ends. Reopen, if not nil, closes the store and opens it
// again on the same storage (for durable stores).
type BlobOpener func(t *testing.T) (s relay.BlobStore, reopen func() relay.BlobStore)

// RunBlobs checks the relay.BlobStore contract.
func RunBlobs(t *testing.T, open BlobOpener) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	owner := relay.AccountID{1}
	other := relay.AccountID{2}
	chunk := func(i, n int) []byte { return bytes.Repeat([]byte{byte(i + 1)}, n) }

	t.Run("upload in order and read back", func(t *testing.T) {
		s, reopen := open(t)
		b := relay.Blob{ID: relay.BlobID{9}, Owner: owner, Size: 2*16 + 5, ChunkSize: 16, Created: t0}
		if err := s.CreateBlob(ctx, b, 1000); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateBlob(ctx, b, 1000); !errors.Is(err, relay.ErrConflict) {
			t.Fatalf("a taken id: %v, want ErrConflict", err)
		}
		if _, err := s.PutChunk(ctx, b.ID, 1, chunk(1, 16)); !errors.Is(err, relay.ErrOutOfOrder) {
			t.Fatalf("chunk 1 before 0: %v, want ErrOutOfOrder", err)
		}
		for i, n := range []int{16, 16} {
			stored, err := s.PutChunk(ctx, b.ID, uint32(i), chunk(i, n))
			if err != nil || stored != uint32(i+1) {
				t.Fatalf("chunk %d: stored %d, %v", i, stored, err)
			}
		}
		// A retry of a stored chunk changes nothing.
		if stored, err := s.PutChunk(ctx, b.ID, 0, chunk(7, 16)); err != nil || stored != 2 {
			t.Fatalf("retry: stored %d, %v", stored, err)
		}
		if _, err := s.Chunk(ctx, b.ID, 2); !errors.Is(err, relay.ErrNotFound) {
			t.Fatalf("a chunk not stored yet: %v, want ErrNotFound", err)
		}
		if reopen != nil {
			s = reopen()
		}
		got, err := s.BlobByID(ctx, b.ID)
		if err != nil || got.Stored != 2 || got.Owner != owner || got.Size != b.Size || got.ChunkSize != 16 || !got.Created.Equal(t0) {
			t.Fatalf("record after two chunks: %+v, %v", got, err)
		}
		if stored, err := s.PutChunk(ctx, b.ID, 2, chunk(2, 5)); err != nil || stored != 3 {
			t.Fatalf("last chunk: stored %d, %v", stored, err)
		}
		for i, n := range []int{16, 16, 5} {
			data, err := s.Chunk(ctx, b.ID, uint32(i))
			if err != nil || !bytes.Equal(data, chunk(i, n)) {
				t.Fatalf("chunk %d read back wrong: %v", i, err)
			}
		}
		if _, err := s.BlobByID(ctx, relay.BlobID{8}); !errors.Is(err, relay.ErrNotFound) {
			t.Fatalf("unknown blob: %v", err)
		}
		if _, err := s.PutChunk(ctx, relay.BlobID{8}, 0, chunk(0, 16)); !errors.Is(err, relay.ErrNotFound) {
			t.Fatalf("chunk of an unknown blob: %v", err)
		}
	})

	t.Run("quota per owner", func(t *testing.T) {
		s, _ := open(t)
		if err := s.CreateBlob(ctx, relay.Blob{ID: relay.BlobID{1}, Owner: owner, Size: 600, ChunkSize: 100, Created: t0}, 1000); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateBlob(ctx, relay.Blob{ID: relay.BlobID{2}, Owner: owner, Size: 401, ChunkSize: 100, Created: t0}, 1000); !errors.Is(err, relay.ErrQuotaExceeded) {
			t.Fatalf("over quota: %v, want ErrQuotaExceeded", err)
		}
		if err := s.CreateBlob(ctx, relay.Blob{ID: relay.BlobID{3}, Owner: other, Size: 1000, ChunkSize: 100, Created: t0}, 1000); err != nil {
			t.Fatalf("another owner's quota: %v", err)
		}
		if err := s.CreateBlob(ctx, relay.Blob{ID: relay.BlobID{4}, Owner: owner, Size: 400, ChunkSize: 100, Created: t0}, 1000); err != nil {
			t.Fatalf("up to the quota: %v", err)
		}
	})

	t.Run("expire", func(t *testing.T) {
		s, reopen := open(t)
		for i, at := range []time.Time{t0, t0.Add(time.Hour)} {
			b := relay.Blob{ID: relay.BlobID{byte(i + 1)}, Owner: owner, Size: 10, ChunkSize: 16, Created: at}
			if err := s.CreateBlob(ctx, b, 1000); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutChunk(ctx, b.ID, 0, chunk(i, 10)); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.ExpireBlobs(ctx, t0.Add(time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("expired %d, %v; want 1", n, err)
		}
		if reopen != nil {
			s = reopen()
		}
		if _, err := s.BlobByID(ctx, relay.BlobID{1}); !errors.Is(err, relay.ErrNotFound) {
			t.Fatalf("expired blob: %v", err)
		}
		if _, err := s.Chunk(ctx, relay.BlobID{1}, 0); !errors.Is(err, relay.ErrNotFound) {
			t.Fatalf("expired blob's chunk: %v", err)
		}
		if _, err := s.Chunk(ctx, relay.BlobID{2}, 0); err != nil {
			t.Fatalf("the newer blob: %v", err)
		}
		// The expired blob's bytes no longer count.
		if err := s.CreateBlob(ctx, relay.Blob{ID: relay.BlobID{3}, Owner: owner, Size: 990, ChunkSize: 16, Created: t0}, 1000); err != nil {
			t.Fatalf("quota after expiry: %v", err)
		}
	})

	t.Run("concurrent retries of one chunk", func(t *testing.T) {
		s, _ := open(t)
		b := relay.Blob{ID: relay.BlobID{5}, Owner: owner, Size: 32, ChunkSize: 16, Created: t0}
		if err := s.CreateBlob(ctx, b, 1000); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := s.PutChunk(ctx, b.ID, 0, chunk(0, 16)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got, _ := s.BlobByID(ctx, b.ID); got.Stored != 1 {
			t.Fatalf("stored %d after concurrent retries of chunk 0, want 1", got.Stored)
		}
	})
}
