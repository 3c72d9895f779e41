// Package blobdir is a relay.BlobStore in a directory: the single-binary
// relay keeps attachments next to its SQLite database, one directory per
// blob holding its record and one file per chunk.
//
// Every file is written with internal/atomicfile (a synced temporary
// file, renamed into place, the directory synced) before PutChunk or
// CreateBlob returns, so a stored chunk survives a crash (SIGKILL or power
// loss) and a chunk file is either whole or absent. Chunks are stored in order, so a blob's
// progress is the count of its chunk files; Open reads it back.
package blobdir

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"samizdat/internal/atomicfile"
	"samizdat/relay"
)

// Store is a relay.BlobStore in a directory. The records live in memory
// too (a few dozen bytes a blob), read from the directory at Open.
type Store struct {
	dir string

	mu    sync.Mutex
	blobs map[relay.BlobID]*entry // guarded by mu
}

// entry is one blob; its mutex orders the writes of its chunks.
type entry struct {
	mu   sync.Mutex
	blob relay.Blob // Stored guarded by mu
}

var _ relay.BlobStore = (*Store)(nil)

const (
	metaName = "meta"
	metaLen  = 16 + 8 + 4 + 8
)

// Open opens (creating if needed) the store in dir and reads the records
// of the blobs in it. A blob directory without a whole record (a crash
// during CreateBlob, which had not answered) is removed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blobdir: %w", err)
	}
	s := &Store{dir: dir, blobs: make(map[relay.BlobID]*entry)}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("blobdir: %w", err)
	}
	for _, de := range ents {
		var id relay.BlobID
		if n, err := hex.Decode(id[:], []byte(de.Name())); err != nil || n != len(id) || !de.IsDir() {
			continue
		}
		b, err := s.load(id)
		if err != nil {
			if rmErr := os.RemoveAll(filepath.Join(dir, de.Name())); rmErr != nil {
				return nil, fmt.Errorf("blobdir: removing an incomplete blob: %w", rmErr)
			}
			continue
		}
		s.blobs[id] = &entry{blob: b}
	}
	return s, nil
}

func (s *Store) blobDir(id relay.BlobID) string {
	return filepath.Join(s.dir, hex.EncodeToString(id[:]))
}

func chunkName(i uint32) string { return fmt.Sprintf("%08d", i) }

// load reads a blob's record and counts its chunks.
func (s *Store) load(id relay.BlobID) (relay.Blob, error) {
	d := s.blobDir(id)
	m, err := os.ReadFile(filepath.Join(d, metaName))
	if err != nil {
		return relay.Blob{}, err
	}
	if len(m) != metaLen {
		return relay.Blob{}, errors.New("malformed record")
	}
	b := relay.Blob{ID: id}
	copy(b.Owner[:], m[:16])
	b.Size = int64(binary.BigEndian.Uint64(m[16:24]))
	b.ChunkSize = int32(binary.BigEndian.Uint32(m[24:28]))
	b.Created = time.Unix(0, int64(binary.BigEndian.Uint64(m[28:36]))).UTC()
	// A temporary file (atomicfile's, named with a leading dot) is a
	// write that a crash cut short: never answered.
	if ents, err := os.ReadDir(d); err == nil {
		for _, de := range ents {
			if strings.HasPrefix(de.Name(), ".") {
				os.Remove(filepath.Join(d, de.Name()))
			}
		}
	}
	for b.Stored < b.Chunks() {
		if _, err := os.Stat(filepath.Join(d, chunkName(b.Stored))); err != nil {
			break
		}
		b.Stored++
	}
	return b, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CreateBlob implements relay.BlobStore.
func (s *Store) CreateBlob(ctx context.Context, b relay.Blob, quota int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobs[b.ID]; ok {
		return fmt.Errorf("blobdir: %w", relay.ErrConflict)
	}
	used := b.Size
	for _, e := range s.blobs {
		if e.blob.Owner == b.Owner {
			used += e.blob.Size
		}
	}
	if used > quota {
		return fmt.Errorf("blobdir: %w", relay.ErrQuotaExceeded)
	}
	if b.Created.IsZero() {
		b.Created = time.Now()
	}
	b.Stored = 0
	d := s.blobDir(b.ID)
	if err := os.Mkdir(d, 0o700); err != nil {
		return fmt.Errorf("blobdir: %w", err)
	}
	m := make([]byte, 0, metaLen)
	m = append(m, b.Owner[:]...)
	m = binary.BigEndian.AppendUint64(m, uint64(b.Size))
	m = binary.BigEndian.AppendUint32(m, uint32(b.ChunkSize))
	m = binary.BigEndian.AppendUint64(m, uint64(b.Created.UnixNano()))
	if err := atomicfile.Write(filepath.Join(d, metaName), m, 0o600); err != nil {
		os.RemoveAll(d)
		return fmt.Errorf("blobdir: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("blobdir: %w", err)
	}
	s.blobs[b.ID] = &entry{blob: b}
	return nil
}

func (s *Store) entry(id relay.BlobID) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.blobs[id]
	if !ok {
		return nil, fmt.Errorf("blobdir: %w", relay.ErrNotFound)
	}
	return e, nil
}

// BlobByID implements relay.BlobStore.
func (s *Store) BlobByID(ctx context.Context, id relay.BlobID) (relay.Blob, error) {
	e, err := s.entry(id)
	if err != nil {
		return relay.Blob{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.blob, nil
}

// PutChunk implements relay.BlobStore.
func (s *Store) PutChunk(ctx context.Context, id relay.BlobID, index uint32, data []byte) (uint32, error) {
	e, err := s.entry(id)
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case index > e.blob.Stored:
		return e.blob.Stored, relay.ErrOutOfOrder
	case index < e.blob.Stored || index >= e.blob.Chunks():
		return e.blob.Stored, nil
	}
	if err := atomicfile.Write(filepath.Join(s.blobDir(id), chunkName(index)), data, 0o600); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = relay.ErrNotFound // expired meanwhile
		}
		return e.blob.Stored, fmt.Errorf("blobdir: %w", err)
	}
	e.blob.Stored++
	return e.blob.Stored, nil
}

// Chunk implements relay.BlobStore.
func (s *Store) Chunk(ctx context.Context, id relay.BlobID, index uint32) ([]byte, error) {
	b, err := s.BlobByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if index >= b.Stored {
		return nil, fmt.Errorf("blobdir: chunk: %w", relay.ErrNotFound)
	}
	data, err := os.ReadFile(filepath.Join(s.blobDir(id), chunkName(index)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blobdir: chunk: %w", relay.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blobdir: %w", err)
	}
	return data, nil
}

// ExpireBlobs implements relay.BlobStore.
func (s *Store) ExpireBlobs(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	var old []relay.BlobID
	for id, e := range s.blobs {
		if e.blob.Created.Before(before) {
			old = append(old, id)
			delete(s.blobs, id)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range old {
		if err := os.RemoveAll(s.blobDir(id)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return len(old), fmt.Errorf("blobdir: %w", err)
	}
	return len(old), nil
}

// Close releases nothing (every write is durable when it returns); it is
// here for symmetry with the other stores.
func (s *Store) Close() error { return nil }
