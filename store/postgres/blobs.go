package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"samizdat/relay"
)

// Attachments (relay.BlobStore) in PostgreSQL: a row per blob and one per
// sealed chunk (bytea, stored out of line without compression: the chunks
// are random). Every node of a deployment reads and writes the same
// tables, so an upload resumes on any node.

var _ relay.BlobStore = (*Store)(nil)

// CreateBlob implements relay.BlobStore. The owner's usage is summed under
// a transaction-scoped advisory lock on the owner, so concurrent creations
// of one account cannot together pass its quota.
func (s *Store) CreateBlob(ctx context.Context, b relay.Blob, quota int64) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if b.Created.IsZero() {
		b.Created = s.opts.Now()
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(binary.BigEndian.Uint64(b.Owner[:8]))); err != nil {
			return err
		}
		var used int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(sum(size), 0) FROM blobs WHERE owner = $1", b.Owner[:]).Scan(&used); err != nil {
			return err
		}
		if used+b.Size > quota {
			return relay.ErrQuotaExceeded
		}
		tag, err := tx.Exec(ctx, "INSERT INTO blobs (id, owner, size, chunk_size, created) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
			b.ID[:], b.Owner[:], b.Size, b.ChunkSize, nanos(b.Created))
		if err == nil && tag.RowsAffected() == 0 {
			return relay.ErrConflict
		}
		return err
	})
	if errors.Is(err, relay.ErrQuotaExceeded) || errors.Is(err, relay.ErrConflict) {
		return fmt.Errorf("postgres: create blob: %w", err)
	}
	return dbErr("create blob", err)
}

// BlobByID implements relay.BlobStore.
func (s *Store) BlobByID(ctx context.Context, id relay.BlobID) (relay.Blob, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Blob{}, err
	}
	b := relay.Blob{ID: id}
	var owner []byte
	var created int64
	var stored int32
	err := s.pool.QueryRow(ctx, "SELECT owner, size, chunk_size, stored, created FROM blobs WHERE id = $1", id[:]).
		Scan(&owner, &b.Size, &b.ChunkSize, &stored, &created)
	if err != nil {
		return relay.Blob{}, dbErr("blob", err)
	}
	if len(owner) != len(b.Owner) {
		return relay.Blob{}, dbErr("blob", errors.New("malformed blob row"))
	}
	copy(b.Owner[:], owner)
	b.Stored, b.Created = uint32(stored), fromNanos(created)
	return b, nil
}

// PutChunk implements relay.BlobStore: under the blob row's lock, the
// chunk and the count go in one transaction.
func (s *Store) PutChunk(ctx context.Context, id relay.BlobID, index uint32, data []byte) (uint32, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var stored int32
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var size int64
		var chunkSize int32
		if err := tx.QueryRow(ctx, "SELECT stored, size, chunk_size FROM blobs WHERE id = $1 FOR UPDATE", id[:]).Scan(&stored, &size, &chunkSize); err != nil {
			return err
		}
		b := relay.Blob{Size: size, ChunkSize: chunkSize}
		switch {
		case index > uint32(stored):
			return relay.ErrOutOfOrder
		case index < uint32(stored) || index >= b.Chunks():
			return nil
		}
		if _, err := tx.Exec(ctx, "INSERT INTO blob_chunks (blob, idx, data) VALUES ($1, $2, $3)", id[:], int32(index), nonNil(data)); err != nil {
			return err
		}
		stored++
		_, err := tx.Exec(ctx, "UPDATE blobs SET stored = $2 WHERE id = $1", id[:], stored)
		return err
	})
	if errors.Is(err, relay.ErrOutOfOrder) {
		return uint32(stored), err
	}
	return uint32(stored), dbErr("put chunk", err)
}

// Chunk implements relay.BlobStore.
func (s *Store) Chunk(ctx context.Context, id relay.BlobID, index uint32) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var data []byte
	if err := s.pool.QueryRow(ctx, "SELECT data FROM blob_chunks WHERE blob = $1 AND idx = $2", id[:], int32(index)).Scan(&data); err != nil {
		return nil, dbErr("chunk", err)
	}
	return data, nil
}

// ExpireBlobs implements relay.BlobStore (the chunks go by cascade).
func (s *Store) ExpireBlobs(ctx context.Context, before time.Time) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM blobs WHERE created < $1", nanos(before))
	if err != nil {
		return 0, dbErr("expire blobs", err)
	}
	return int(tag.RowsAffected()), nil
}
