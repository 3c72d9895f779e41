package relay_test

import (
	"bytes"
	"testing"

	"samizdat/relay"
	"samizdat/relay/wire"
)

func uploadStartReq(size uint64, chunk uint32) *wire.Request {
	return &wire.Request{Op: &wire.Request_UploadStart{UploadStart: &wire.UploadStart{Size: size, ChunkSize: chunk}}}
}

func resumeReq(id []byte) *wire.Request {
	return &wire.Request{Op: &wire.Request_UploadStart{UploadStart: &wire.UploadStart{Id: id}}}
}

func chunkReq(id []byte, i uint32, data []byte) *wire.Request {
	return &wire.Request{Op: &wire.Request_UploadChunk{UploadChunk: &wire.UploadChunk{Id: id, Index: i, Data: data}}}
}

func downloadReq(id []byte, i uint32) *wire.Request {
	return &wire.Request{Op: &wire.Request_DownloadChunk{DownloadChunk: &wire.DownloadChunk{Id: id, Index: i}}}
}

// TestBlobUploadDownload: a device uploads a blob in order, resumes after
// asking how much is stored, and another account's device downloads it
// by its id once complete.
func TestBlobUploadDownload(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.register("alice", 1), e.register("bob", 1)
	const cs = relay.MinBlobChunk
	data := make([]byte, 2*cs+100)
	for i := range data {
		data[i] = byte(i * 7)
	}
	st := alice.dev1().mustOK(uploadStartReq(uint64(len(data)), cs)).GetUploadState()
	if len(st.Id) != 16 || st.Stored != 0 || st.Chunks != 3 {
		t.Fatalf("upload start: %v", st)
	}
	id := st.Id
	alice.dev1().mustOK(chunkReq(id, 0, data[:cs]))
	// Bob cannot download it yet (incomplete), nor add to it (not his).
	if r := bob.dev1().call(downloadReq(id, 0)); r.Status != wire.Status_NOT_FOUND {
		t.Fatalf("download of an incomplete blob: %v", r.Status)
	}
	if r := bob.dev1().call(chunkReq(id, 1, data[cs:2*cs])); r.Status != wire.Status_NOT_FOUND {
		t.Fatalf("another account's chunk: %v", r.Status)
	}
	if r := bob.dev1().call(resumeReq(id)); r.Status != wire.Status_NOT_FOUND {
		t.Fatalf("another account's resume: %v", r.Status)
	}
	// The upload resumes where the relay says.
	if st := alice.dev1().mustOK(resumeReq(id)).GetUploadState(); st.Stored != 1 {
		t.Fatalf("resume: stored %d, want 1", st.Stored)
	}
	// A repeat of a stored chunk is harmless.
	if st := alice.dev1().mustOK(chunkReq(id, 0, data[:cs])).GetUploadState(); st.Stored != 1 {
		t.Fatalf("repeat: stored %d", st.Stored)
	}
	alice.dev1().mustOK(chunkReq(id, 1, data[cs:2*cs]))
	if st := alice.dev1().mustOK(chunkReq(id, 2, data[2*cs:])).GetUploadState(); st.Stored != 3 || st.Chunks != 3 {
		t.Fatalf("last chunk: %v", st)
	}
	var got []byte
	for i := uint32(0); i < 3; i++ {
		d := bob.dev1().mustOK(downloadReq(id, i)).GetDownloadedChunk()
		if d.Index != i || d.Chunks != 3 || d.Size != uint64(len(data)) {
			t.Fatalf("chunk %d: %v", i, d)
		}
		got = append(got, d.Data...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded blob differs")
	}
}

func TestBlobRefusals(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) { c.Limits.BlobQuota = 100 << 10 })
	alice := e.register("alice", 1)
	anon := e.dial(newKey(t))
	const cs = relay.MinBlobChunk
	id := alice.dev1().mustOK(uploadStartReq(2*cs, cs)).GetUploadState().Id
	unknown := bytes.Repeat([]byte{1}, 16)
	for _, c := range []struct {
		name string
		from *client
		req  *wire.Request
		want wire.Status
	}{
		{"anonymous upload", anon, uploadStartReq(cs, cs), wire.Status_UNAUTHENTICATED},
		{"anonymous download", anon, downloadReq(id, 0), wire.Status_UNAUTHENTICATED},
		{"too large", alice.dev1(), uploadStartReq(relay.MaxBlobSize+1, cs), wire.Status_BAD_REQUEST},
		{"chunk size too small", alice.dev1(), uploadStartReq(cs, cs-1), wire.Status_BAD_REQUEST},
		{"chunk size too large", alice.dev1(), uploadStartReq(cs, relay.MaxBlobChunk+1), wire.Status_BAD_REQUEST},
		{"over quota", alice.dev1(), uploadStartReq(100<<10, cs), wire.Status_QUOTA_EXCEEDED},
		{"short id", alice.dev1(), chunkReq(id[:8], 0, make([]byte, cs)), wire.Status_BAD_REQUEST},
		{"unknown blob", alice.dev1(), chunkReq(unknown, 0, make([]byte, cs)), wire.Status_NOT_FOUND},
		{"out of order", alice.dev1(), chunkReq(id, 1, make([]byte, cs)), wire.Status_CONFLICT},
		{"past the end", alice.dev1(), chunkReq(id, 2, make([]byte, cs)), wire.Status_BAD_REQUEST},
		{"short chunk", alice.dev1(), chunkReq(id, 0, make([]byte, cs-1)), wire.Status_BAD_REQUEST},
		{"long chunk", alice.dev1(), chunkReq(id, 0, make([]byte, cs+1)), wire.Status_BAD_REQUEST},
		{"unknown download", alice.dev1(), downloadReq(unknown, 0), wire.Status_NOT_FOUND},
	} {
		if r := c.from.call(c.req); r.Status != c.want {
			t.Errorf("%s: status %v (%s), want %v", c.name, r.Status, r.Reason, c.want)
		}
	}
	// Nothing refused was stored, and the connection still works.
	if st := alice.dev1().mustOK(resumeReq(id)).GetUploadState(); st.Stored != 0 {
		t.Fatalf("stored %d chunks after refusals", st.Stored)
	}
	alice.dev1().mustOK(chunkReq(id, 0, make([]byte, cs)))
}

// TestNoBlobStore: a relay without a BlobStore refuses attachments with a
// reason and keeps the connection.
func TestNoBlobStore(t *testing.T) {
	e := newEnvStore(t, storeWithoutBlobs{newMemstore(t, 0)}, nil)
	alice := e.register("alice", 1)
	if r := alice.dev1().call(uploadStartReq(100, relay.MinBlobChunk)); r.Status != wire.Status_NOT_FOUND || r.Reason == "" {
		t.Fatalf("upload to a relay without blobs: %v %q", r.Status, r.Reason)
	}
	alice.dev1().mustOK(&wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}})
}

// storeWithoutBlobs hides a store's BlobStore methods.
type storeWithoutBlobs struct{ relay.Store }

// TestBlobReadBudget: a device's downloads are bounded in bytes
// (Limits.BlobReads); past the budget the relay answers RATE_LIMITED with
// when to come back.
func TestBlobReadBudget(t *testing.T) {
	const cs = relay.MinBlobChunk
	e := newEnv(t, func(c *relay.Config) { c.Limits.BlobReads = relay.Rate{Burst: 1.5 * cs, PerSecond: 1} })
	alice, bob := e.register("alice", 1), e.register("bob", 1)
	id := alice.dev1().mustOK(uploadStartReq(2*cs, cs)).GetUploadState().Id
	alice.dev1().mustOK(chunkReq(id, 0, make([]byte, cs)))
	alice.dev1().mustOK(chunkReq(id, 1, make([]byte, cs)))
	bob.dev1().mustOK(downloadReq(id, 0))
	r := bob.dev1().call(downloadReq(id, 1))
	if r.Status != wire.Status_RATE_LIMITED || r.RetryAfterMs == 0 {
		t.Fatalf("past the budget: %v (%s), retry after %d ms", r.Status, r.Reason, r.RetryAfterMs)
	}
	// Another device has its own budget.
	alice.dev1().mustOK(downloadReq(id, 1))
}
