// Package s3blob is a relay.BlobStore on an S3-compatible object store, so
// that many relay nodes can share one attachment store.
//
// Under the store's prefix a blob is
//
//	blobs/ID/meta          its record (owner, size, chunk size, creation)
//	blobs/ID/NNNNNNNN      chunk N, one object each, written in order
//	owners/OWNER/ID_SIZE_CREATED   a one-byte object: the owner's index
//
// (IDs in hex, CREATED in Unix nanoseconds). A blob's progress is the
// count of its chunk objects from 00000000 on; the owner's index gives the
// quota without reading records, and expiry lists the indexes. A chunk is
// durable when the object store has answered its PUT.
//
// Records are cached in memory (they never change) with the count of
// chunks seen; a cached count of an incomplete blob is checked with one
// HEAD of the next chunk, so a retry that went to another node is seen.
// Within one process, creation and each blob's chunks are serialised; two
// nodes creating blobs for one account at the same moment may each pass
// the quota check (a blob's id is random, so ids do not collide).
package s3blob

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"samizdat/relay"
)

// Store is a relay.BlobStore in an S3 bucket.
type Store struct {
	c      *minio.Client
	bucket string
	prefix string // "" or ends with "/"

	create sync.Mutex     // serialises CreateBlob's quota check
	locks  [64]sync.Mutex // orders each blob's chunks, by id[0]
	mu     sync.Mutex     // guards cache
	cache  map[relay.BlobID]relay.Blob
}

var _ relay.BlobStore = (*Store)(nil)

// maxCached bounds the record cache; past it the cache starts afresh.
const maxCached = 1 << 14

// location is what a store URL names.
type location struct {
	host, bucket, prefix, region string
	secure                       bool
	user                         *url.Userinfo
}

// parse reads a store URL (see Open) without connecting.
func parse(rawURL string) (location, error) {
	var l location
	u, err := url.Parse(rawURL)
	if err != nil {
		return l, fmt.Errorf("s3blob: %w", err)
	}
	switch u.Scheme {
	case "s3":
		l.secure = true
	case "s3+http":
	default:
		return l, fmt.Errorf("s3blob: scheme %q: want s3:// or s3+http://", u.Scheme)
	}
	if u.Host == "" {
		return l, errors.New("s3blob: the URL names no host")
	}
	l.bucket, l.prefix, _ = strings.Cut(strings.Trim(u.Path, "/"), "/")
	if l.bucket == "" {
		return l, errors.New("s3blob: the URL names no bucket")
	}
	if l.prefix != "" {
		l.prefix += "/"
	}
	l.host, l.user, l.region = u.Host, u.User, u.Query().Get("region")
	return l, nil
}

// Where checks a store URL (see Open) without connecting and returns
// where it points, without its credentials: HOST/BUCKET[/PREFIX].
func Where(rawURL string) (string, error) {
	l, err := parse(rawURL)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(l.host+"/"+l.bucket+"/"+l.prefix, "/"), nil
}

// Open connects to the bucket a URL names, creating the bucket if it is
// missing:
//
//	s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX]        (HTTPS)
//	s3+http://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX]   (plain HTTP, for loopback)
//
// Without ACCESS:SECRET in the URL, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY are used. The query parameter region sets the
// bucket's region.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	l, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	bucket, prefix, region := l.bucket, l.prefix, l.region
	access, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if l.user != nil {
		access = l.user.Username()
		secret, _ = l.user.Password()
	}
	c, err := minio.New(l.host, &minio.Options{
		Creds:  credentials.NewStaticV4(access, secret, ""),
		Secure: l.secure,
		Region: region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3blob: %w", err)
	}
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("s3blob: bucket %s: %w", bucket, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region}); err != nil &&
			minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return nil, fmt.Errorf("s3blob: creating bucket %s: %w", bucket, err)
		}
	}
	return &Store{c: c, bucket: bucket, prefix: prefix, cache: make(map[relay.BlobID]relay.Blob)}, nil
}

// Close drops the cache; the client holds nothing that needs closing.
func (s *Store) Close() error {
	s.mu.Lock()
	s.cache = make(map[relay.BlobID]relay.Blob)
	s.mu.Unlock()
	return nil
}

func (s *Store) blobPrefix(id relay.BlobID) string {
	return s.prefix + "blobs/" + hex.EncodeToString(id[:]) + "/"
}

func (s *Store) metaKey(id relay.BlobID) string { return s.blobPrefix(id) + "meta" }

func (s *Store) chunkKey(id relay.BlobID, i uint32) string {
	return s.blobPrefix(id) + fmt.Sprintf("%08d", i)
}

func (s *Store) ownerPrefix(owner relay.AccountID) string {
	return s.prefix + "owners/" + hex.EncodeToString(owner[:]) + "/"
}

func (s *Store) indexKey(b relay.Blob) string {
	return fmt.Sprintf("%s%s_%d_%d", s.ownerPrefix(b.Owner), hex.EncodeToString(b.ID[:]), b.Size, b.Created.UnixNano())
}

// indexEntry is an owner's index key parsed.
type indexEntry struct {
	id      relay.BlobID
	size    int64
	created time.Time
}

func parseIndex(key string) (indexEntry, bool) {
	var e indexEntry
	name := key[strings.LastIndexByte(key, '/')+1:]
	parts := strings.Split(name, "_")
	if len(parts) != 3 {
		return e, false
	}
	if n, err := hex.Decode(e.id[:], []byte(parts[0])); err != nil || n != len(e.id) {
		return e, false
	}
	size, err1 := strconv.ParseInt(parts[1], 10, 64)
	nanos, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return e, false
	}
	e.size, e.created = size, time.Unix(0, nanos).UTC()
	return e, true
}

func notFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound"
}

const metaLen = 16 + 8 + 4 + 8

func encodeMeta(b relay.Blob) []byte {
	m := make([]byte, 0, metaLen)
	m = append(m, b.Owner[:]...)
	m = binary.BigEndian.AppendUint64(m, uint64(b.Size))
	m = binary.BigEndian.AppendUint32(m, uint32(b.ChunkSize))
	return binary.BigEndian.AppendUint64(m, uint64(b.Created.UnixNano()))
}

func decodeMeta(id relay.BlobID, m []byte) (relay.Blob, error) {
	if len(m) != metaLen {
		return relay.Blob{}, fmt.Errorf("s3blob: blob %x: malformed record", id[:])
	}
	b := relay.Blob{ID: id}
	copy(b.Owner[:], m[:16])
	b.Size = int64(binary.BigEndian.Uint64(m[16:24]))
	b.ChunkSize = int32(binary.BigEndian.Uint32(m[24:28]))
	b.Created = time.Unix(0, int64(binary.BigEndian.Uint64(m[28:36]))).UTC()
	return b, nil
}

func (s *Store) put(ctx context.Context, key string, data []byte) error {
	_, err := s.c.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
	return err
}

// get reads an object whole; an error satisfying notFound if it is absent.
func (s *Store) get(ctx context.Context, key string) ([]byte, error) {
	o, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}

// exists reports whether an object is there.
func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	_, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	}
	return false, err
}

// CreateBlob implements relay.BlobStore.
func (s *Store) CreateBlob(ctx context.Context, b relay.Blob, quota int64) error {
	s.create.Lock()
	defer s.create.Unlock()
	if ok, err := s.exists(ctx, s.metaKey(b.ID)); err != nil {
		return fmt.Errorf("s3blob: %w", err)
	} else if ok {
		return fmt.Errorf("s3blob: %w", relay.ErrConflict)
	}
	used := b.Size
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.ownerPrefix(b.Owner), Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("s3blob: listing the owner's blobs: %w", o.Err)
		}
		if e, ok := parseIndex(o.Key); ok && e.id != b.ID {
			used += e.size
		}
	}
	if used > quota {
		return fmt.Errorf("s3blob: %w", relay.ErrQuotaExceeded)
	}
	if b.Created.IsZero() {
		b.Created = time.Now()
	}
	b.Stored = 0
	// The index first: a record without one would never expire.
	if err := s.put(ctx, s.indexKey(b), []byte{1}); err != nil { // one byte: some servers refuse a PUT without a length
		return fmt.Errorf("s3blob: %w", err)
	}
	if err := s.put(ctx, s.metaKey(b.ID), encodeMeta(b)); err != nil {
		return fmt.Errorf("s3blob: %w", err)
	}
	s.remember(b)
	return nil
}

func (s *Store) remember(b relay.Blob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= maxCached {
		s.cache = make(map[relay.BlobID]relay.Blob)
	}
	s.cache[b.ID] = b
}

func (s *Store) forget(id relay.BlobID) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
}

// BlobByID implements relay.BlobStore.
func (s *Store) BlobByID(ctx context.Context, id relay.BlobID) (relay.Blob, error) {
	s.mu.Lock()
	b, ok := s.cache[id]
	s.mu.Unlock()
	if !ok {
		m, err := s.get(ctx, s.metaKey(id))
		if notFound(err) {
			return relay.Blob{}, fmt.Errorf("s3blob: %w", relay.ErrNotFound)
		}
		if err != nil {
			return relay.Blob{}, fmt.Errorf("s3blob: %w", err)
		}
		if b, err = decodeMeta(id, m); err != nil {
			return relay.Blob{}, err
		}
		if b.Stored, err = s.countChunks(ctx, b); err != nil {
			return relay.Blob{}, err
		}
		s.remember(b)
		return b, nil
	}
	// Another node may have stored chunks since.
	for b.Stored < b.Chunks() {
		ok, err := s.exists(ctx, s.chunkKey(id, b.Stored))
		if err != nil {
			return relay.Blob{}, fmt.Errorf("s3blob: %w", err)
		}
		if !ok {
			break
		}
		b.Stored++
	}
	s.raise(b)
	return b, nil
}

// raise records that b has at least b.Stored chunks, if it is cached.
func (s *Store) raise(b relay.Blob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cache[b.ID]; ok && c.Stored < b.Stored {
		c.Stored = b.Stored
		s.cache[b.ID] = c
	}
}

// countChunks lists the blob's chunk objects and counts those from the
// first without a gap.
func (s *Store) countChunks(ctx context.Context, b relay.Blob) (uint32, error) {
	var n uint32
	p := s.blobPrefix(b.ID)
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: p, Recursive: true}) {
		if o.Err != nil {
			return 0, fmt.Errorf("s3blob: listing chunks: %w", o.Err)
		}
		i, err := strconv.ParseUint(strings.TrimPrefix(o.Key, p), 10, 32)
		if err != nil {
			continue // the record
		}
		if uint32(i) == n && n < b.Chunks() {
			n++ // keys list in order: 00000000, 00000001, ...
		}
	}
	return n, nil
}

// PutChunk implements relay.BlobStore.
func (s *Store) PutChunk(ctx context.Context, id relay.BlobID, index uint32, data []byte) (uint32, error) {
	l := &s.locks[id[0]%uint8(len(s.locks))]
	l.Lock()
	defer l.Unlock()
	b, err := s.BlobByID(ctx, id)
	if err != nil {
		return 0, err
	}
	switch {
	case index > b.Stored:
		return b.Stored, relay.ErrOutOfOrder
	case index < b.Stored || index >= b.Chunks():
		return b.Stored, nil
	}
	if err := s.put(ctx, s.chunkKey(id, index), data); err != nil {
		return b.Stored, fmt.Errorf("s3blob: %w", err)
	}
	b.Stored++
	s.raise(b)
	return b.Stored, nil
}

// Chunk implements relay.BlobStore.
func (s *Store) Chunk(ctx context.Context, id relay.BlobID, index uint32) ([]byte, error) {
	data, err := s.get(ctx, s.chunkKey(id, index))
	if notFound(err) {
		return nil, fmt.Errorf("s3blob: chunk: %w", relay.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("s3blob: %w", err)
	}
	return data, nil
}

// ExpireBlobs implements relay.BlobStore: it lists every owner's index and
// deletes the blobs created before before: record first (the blob is then
// gone), chunks, and the index entry last, so that a run cut short is
// finished by the next.
func (s *Store) ExpireBlobs(ctx context.Context, before time.Time) (int, error) {
	var old []string
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + "owners/", Recursive: true}) {
		if o.Err != nil {
			return 0, fmt.Errorf("s3blob: listing blobs: %w", o.Err)
		}
		if e, ok := parseIndex(o.Key); ok && e.created.Before(before) {
			old = append(old, o.Key)
		}
	}
	n := 0
	var errs []error
	for _, key := range old {
		e, _ := parseIndex(key)
		s.forget(e.id)
		if err := s.removeBlob(ctx, e.id, key); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("s3blob: %w", err)
	}
	return n, nil
}

func (s *Store) removeBlob(ctx context.Context, id relay.BlobID, indexKey string) error {
	if err := s.c.RemoveObject(ctx, s.bucket, s.metaKey(id), minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return err
	}
	objs := make(chan minio.ObjectInfo)
	var listErr error
	go func() {
		defer close(objs)
		for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.blobPrefix(id), Recursive: true}) {
			if o.Err != nil {
				listErr = o.Err
				return
			}
			objs <- o
		}
	}()
	var errs []error
	for e := range s.c.RemoveObjects(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && !notFound(e.Err) {
			errs = append(errs, e.Err)
		}
	}
	if listErr != nil {
		errs = append(errs, listErr)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.c.RemoveObject(ctx, s.bucket, indexKey, minio.RemoveObjectOptions{})
}
