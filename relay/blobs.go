package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"samizdat/relay/wire"
)

// Attachments: a device uploads a file's sealed chunks (package attachment)
// as a blob, in order, and sends the blob's id end to end; a recipient's
// device downloads it with that id. The relay learns the blob's size, its
// uploader and when it is read, never its key, name, type or contents. The
// id is random (16 bytes): holding it, and being a device of the network,
// is what a download needs.

// Attachment limits that every BlobStore and the server apply.
const (
	// DefaultBlobQuota is the sealed bytes an account may have stored at
	// once: two files of the largest size.
	DefaultBlobQuota = 2 * (MaxBlobSize)
	// MaxBlobSize is the largest blob: a 2 GiB file sealed in 256 KiB chunks.
	MaxBlobSize = 2<<30 + (2<<30/(256<<10)+1)*16
	// MinBlobChunk and MaxBlobChunk bound a blob's chunk size; the largest
	// leaves room in a frame (wire.MaxFrameSize).
	MinBlobChunk = 16 << 10
	MaxBlobChunk = 768 << 10
)

// ErrOutOfOrder: a chunk past the next one a blob expects.
var ErrOutOfOrder = fmt.Errorf("%w: chunk out of order", ErrConflict)

// BlobID identifies a blob; the relay draws it at random.
type BlobID [16]byte

// Blob is a blob's record: whose it is, how big and how much of it is
// stored. Chunks are stored from the first, in order: Stored counts them.
type Blob struct {
	ID        BlobID
	Owner     AccountID
	Size      int64 // sealed bytes
	ChunkSize int32 // sealed bytes of every chunk but the last
	Stored    uint32
	Created   time.Time
}

// Chunks returns how many chunks the blob has (at least one).
func (b Blob) Chunks() uint32 {
	if b.Size <= 0 || b.ChunkSize <= 0 {
		return 1
	}
	return uint32((b.Size + int64(b.ChunkSize) - 1) / int64(b.ChunkSize))
}

// ChunkLen returns the length chunk i must have.
func (b Blob) ChunkLen(i uint32) int {
	start := int64(i) * int64(b.ChunkSize)
	if start >= b.Size {
		return 0
	}
	return int(min(b.Size-start, int64(b.ChunkSize)))
}

// Complete reports whether every chunk is stored.
func (b Blob) Complete() bool { return b.Stored >= b.Chunks() }

// BlobStore keeps blobs: a record each and their chunks. Implementations
// are safe for concurrent use.
type BlobStore interface {
	// CreateBlob stores a new blob's record (Stored 0) unless the owner's
	// blobs (complete or not, unexpired) would then exceed quota sealed
	// bytes: ErrQuotaExceeded. ErrConflict if the id is taken.
	CreateBlob(ctx context.Context, b Blob, quota int64) error
	// BlobByID returns the blob's record, or ErrNotFound.
	BlobByID(ctx context.Context, id BlobID) (Blob, error)
	// PutChunk stores chunk index of the blob and returns once it is
	// durable, with the count of chunks stored. index must be the blob's
	// Stored (ErrOutOfOrder past it); a chunk stored already is not
	// stored again (a retry). The caller has checked data's length.
	// ErrNotFound for an unknown blob.
	PutChunk(ctx context.Context, id BlobID, index uint32, data []byte) (uint32, error)
	// Chunk returns chunk index of the blob; ErrNotFound if it is not
	// stored. The result belongs to the caller.
	Chunk(ctx context.Context, id BlobID, index uint32) ([]byte, error)
	// ExpireBlobs deletes the blobs created before before, chunks and all;
	// returns how many.
	ExpireBlobs(ctx context.Context, before time.Time) (int, error)
}

// blobStoreOf returns the BlobStore the server uses for cfg.
func blobStoreOf(cfg Config) BlobStore {
	if cfg.Blobs != nil {
		return cfg.Blobs
	}
	if b, ok := cfg.Store.(BlobStore); ok {
		return b
	}
	return nil
}

// expireBlobs deletes blobs past the retention period, as mailboxes expire.
func (s *Server) expireBlobs() {
	if s.blobs == nil {
		return
	}
	n, err := s.blobs.ExpireBlobs(s.ctx, s.now().Add(-s.lim.Retention))
	switch {
	case err != nil && s.ctx.Err() == nil:
		s.log.Error("expiring attachments", "err", err)
	case n > 0:
		s.log.Info("expired attachments", "count", n)
	}
}

func noBlobs() *wire.Response {
	return fail(wire.Status_NOT_FOUND, "this relay keeps no attachments")
}

func blobID(b []byte) (BlobID, bool) {
	var id BlobID
	if len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

func uploadState(b Blob) *wire.Response {
	return &wire.Response{Result: &wire.Response_UploadState{UploadState: &wire.UploadState{
		Id: b.ID[:], Stored: b.Stored, Chunks: b.Chunks(),
	}}}
}

// uploadStart creates a blob of d's account, or tells how much of one of
// its blobs is stored.
func (c *conn) uploadStart(ctx context.Context, d Device, r *wire.UploadStart) *wire.Response {
	if c.s.blobs == nil {
		return noBlobs()
	}
	if len(r.Id) > 0 {
		id, ok := blobID(r.Id)
		if !ok {
			return badRequest("blob id must be 16 bytes")
		}
		b, err := c.ownBlob(ctx, d, id)
		if err != nil {
			return blobError(c, "upload start", err)
		}
		return uploadState(b)
	}
	switch {
	case r.Size > MaxBlobSize:
		return badRequest(fmt.Sprintf("an attachment is at most %d bytes sealed", int64(MaxBlobSize)))
	case r.ChunkSize < MinBlobChunk || r.ChunkSize > MaxBlobChunk:
		return badRequest(fmt.Sprintf("chunk size must be %d to %d bytes", MinBlobChunk, MaxBlobChunk))
	}
	if resp := c.limit(ctx, "attachments", "blob", c.s.lim.BlobCreates, 1, devBytes(d)); resp != nil {
		return resp
	}
	b := Blob{Owner: d.Account, Size: int64(r.Size), ChunkSize: int32(r.ChunkSize), Created: c.s.now()}
	if _, err := c.s.rand.Read(b.ID[:]); err != nil {
		return c.internal("upload start", err)
	}
	if err := c.s.blobs.CreateBlob(ctx, b, c.s.lim.BlobQuota); err != nil {
		return blobError(c, "upload start", err)
	}
	return uploadState(b)
}

// ownBlob returns blob id if d's account uploaded it; else ErrNotFound.
func (c *conn) ownBlob(ctx context.Context, d Device, id BlobID) (Blob, error) {
	b, err := c.s.blobs.BlobByID(ctx, id)
	if err != nil {
		return b, err
	}
	if b.Owner != d.Account || c.expired(b) {
		return Blob{}, ErrNotFound
	}
	return b, nil
}

// expired reports whether b is past the retention period (and waits for
// the next expiry run to be deleted).
func (c *conn) expired(b Blob) bool {
	return b.Created.Before(c.s.now().Add(-c.s.lim.Retention))
}

// uploadChunk stores the next chunk of one of d's account's blobs.
func (c *conn) uploadChunk(ctx context.Context, d Device, r *wire.UploadChunk) *wire.Response {
	if c.s.blobs == nil {
		return noBlobs()
	}
	id, ok := blobID(r.Id)
	if !ok {
		return badRequest("blob id must be 16 bytes")
	}
	b, err := c.ownBlob(ctx, d, id)
	if err != nil {
		return blobError(c, "upload chunk", err)
	}
	switch {
	case r.Index >= b.Chunks():
		return badRequest(fmt.Sprintf("the blob has %d chunks", b.Chunks()))
	case len(r.Data) != b.ChunkLen(r.Index):
		return badRequest(fmt.Sprintf("chunk %d must be %d bytes", r.Index, b.ChunkLen(r.Index)))
	case r.Index > b.Stored:
		return fail(wire.Status_CONFLICT, fmt.Sprintf("chunk out of order: the next is %d", b.Stored))
	}
	stored, err := c.s.blobs.PutChunk(ctx, id, r.Index, r.Data)
	if err != nil {
		return blobError(c, "upload chunk", err)
	}
	b.Stored = stored
	return uploadState(b)
}

// downloadChunk returns a chunk of a complete blob to d, within d's
// download budget (Limits.BlobReads).
func (c *conn) downloadChunk(ctx context.Context, d Device, r *wire.DownloadChunk) *wire.Response {
	if c.s.blobs == nil {
		return noBlobs()
	}
	id, ok := blobID(r.Id)
	if !ok {
		return badRequest("blob id must be 16 bytes")
	}
	b, err := c.s.blobs.BlobByID(ctx, id)
	if err == nil && (!b.Complete() || c.expired(b)) {
		err = ErrNotFound
	}
	if err != nil {
		return blobError(c, "download chunk", err)
	}
	if r.Index >= b.Chunks() {
		return badRequest(fmt.Sprintf("the blob has %d chunks", b.Chunks()))
	}
	if resp := c.limit(ctx, "attachment downloads", "blobread", c.s.lim.BlobReads, float64(b.ChunkLen(r.Index)), devBytes(d)); resp != nil {
		return resp
	}
	data, err := c.s.blobs.Chunk(ctx, id, r.Index)
	if err != nil {
		return blobError(c, "download chunk", err)
	}
	return &wire.Response{Result: &wire.Response_DownloadedChunk{DownloadedChunk: &wire.DownloadedChunk{
		Index: r.Index, Data: data, Chunks: b.Chunks(), Size: uint64(b.Size),
	}}}
}

// uploadLane is how many chunks a connection may send before the first is
// answered: a client keeps that many in flight to hide the round trip.
const uploadLane = 8

// queueUpload hands an UploadChunk to the connection's upload goroutine,
// which answers them one at a time in the order they arrived, so that
// chunks sent back to back are stored in order. Only the read loop calls
// it; a full lane holds up reading.
func (c *conn) queueUpload(req *wire.Request) {
	ctx := c.begin()
	defer c.end()
	if c.uploads == nil {
		c.uploads = make(chan *wire.Request, uploadLane)
		c.wg.Add(1)
		go c.uploadLoop(c.uploads)
	}
	select {
	case c.uploads <- req:
	case <-ctx.Done():
	}
}

// uploadLoop answers the connection's UploadChunk requests in order until
// it closes.
func (c *conn) uploadLoop(reqs <-chan *wire.Request) {
	defer c.wg.Done()
	ctx := c.begin()
	defer c.end()
	for {
		select {
		case req := <-reqs:
			c.answer(req)
		case <-ctx.Done():
			return
		}
	}
}

// blobError answers a BlobStore error.
func blobError(c *conn, op string, err error) *wire.Response {
	switch {
	case errors.Is(err, ErrNotFound):
		return fail(wire.Status_NOT_FOUND, "no such attachment (it may have expired)")
	case errors.Is(err, ErrQuotaExceeded):
		return fail(wire.Status_QUOTA_EXCEEDED, "attachment quota exceeded")
	case errors.Is(err, ErrOutOfOrder):
		return fail(wire.Status_CONFLICT, "chunk out of order")
	case errors.Is(err, ErrConflict):
		return fail(wire.Status_CONFLICT, "attachment id taken; try again")
	}
	return c.internal(op, err)
}
