package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"samizdat/attachment"
	"samizdat/client"
	"samizdat/relay"
	"samizdat/store/blobdir"
)

// evilBlobs is a relay's blob store that serves chunks wrongly, as a
// malicious or broken relay might.
type evilBlobs struct {
	relay.BlobStore
	mu   sync.Mutex
	mode string
}

func (e *evilBlobs) set(mode string) {
	e.mu.Lock()
	e.mode = mode
	e.mu.Unlock()
}

func (e *evilBlobs) Chunk(ctx context.Context, id relay.BlobID, i uint32) ([]byte, error) {
	e.mu.Lock()
	mode := e.mode
	e.mu.Unlock()
	get := func(j uint32) ([]byte, error) { return e.BlobStore.Chunk(ctx, id, j) }
	switch {
	case mode == "tampered" && i == 1:
		d, err := get(i)
		if err == nil {
			d[10] ^= 1
		}
		return d, err
	case mode == "reordered" && i == 1:
		return get(2)
	case mode == "reordered" && i == 2:
		return get(1)
	case mode == "replayed" && i == 2:
		return get(1)
	case mode == "truncated" && i == 1:
		d, err := get(i)
		return d[:len(d)/2], err
	case mode == "last chunk withheld" && i == 3:
		return nil, relay.ErrNotFound
	}
	return get(i)
}

// TestFileBadInputRefused: a relay serving tampered, reordered, replayed,
// truncated or missing chunks, or a sender's wrong digest, gets the file
// refused with a reason, and nothing is saved; an honest relay's file is
// saved bit-identical.
func TestFileBadInputRefused(t *testing.T) {
	bd, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	evil := &evilBlobs{BlobStore: bd}
	n := startRelayOn(t, relay.Config{Blobs: evil}, false)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	bob.receive(t)
	ctx := context.Background()
	content := make([]byte, 3*attachment.ChunkSize+77) // four chunks
	rand.Read(content)
	path := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	files := filepath.Join(t.TempDir(), "files")
	refused, saved := 0, 0
	for _, c := range []struct {
		mode string
		want error
	}{
		{"tampered", attachment.ErrTampered},
		{"reordered", attachment.ErrTampered},
		{"replayed", attachment.ErrTampered},
		{"truncated", attachment.ErrSize},
		{"last chunk withheld", attachment.ErrRefused},
		{"wrong digest", attachment.ErrDigest},
		{"", nil},
	} {
		evil.set(c.mode)
		if _, err := alice.SendFile(ctx, "bob", path, c.mode, nil); err != nil {
			t.Fatalf("%s: send: %v", c.mode, err)
		}
		waitUntil(t, "the file's message", patience, func() bool { return client.PendingDownloads(bob.Client) == 1 })
		if c.mode == "wrong digest" {
			if err := client.CorruptDownloadDigests(bob.Client); err != nil {
				t.Fatal(err)
			}
		}
		if err := bob.DownloadFiles(ctx, files, nil); err != nil {
			t.Fatalf("%s: %v", c.mode, err)
		}
		if c.want == nil {
			saved++
			ev := bob.waitFor(t, client.EventMessage, saved)[saved-1]
			if ev.Text != fmt.Sprintf("[file photo.jpg, %d bytes]", len(content)) {
				t.Fatalf("message %q", ev.Text)
			}
			got, err := os.ReadFile(filepath.Join(files, "photo.jpg"))
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("saved file differs: %v", err)
			}
			continue
		}
		refused++
		ev := bob.waitFor(t, client.EventRefused, refused)[refused-1]
		if !errors.Is(ev.Err, c.want) || ev.Peer != "alice" {
			t.Errorf("%s: refused with %v (from %q), want %v", c.mode, ev.Err, ev.Peer, c.want)
		}
		if ents, _ := os.ReadDir(files); len(ents) != 0 {
			t.Errorf("%s: %d files left in the files directory", c.mode, len(ents))
		}
		if client.PendingDownloads(bob.Client) != 0 {
			t.Errorf("%s: still waiting to be downloaded", c.mode)
		}
	}
}

// countingBlobs counts the chunks a relay's blob store is asked to store
// and refuses them from failAt on while failAt > 0.
type countingBlobs struct {
	relay.BlobStore
	mu     sync.Mutex
	puts   map[uint32]int
	failAt uint32
}

func (c *countingBlobs) PutChunk(ctx context.Context, id relay.BlobID, i uint32, data []byte) (uint32, error) {
	c.mu.Lock()
	if c.failAt > 0 && i >= c.failAt {
		c.mu.Unlock()
		return i, relay.ErrQuotaExceeded // a refusal the client does not retry
	}
	c.puts[i]++
	c.mu.Unlock()
	return c.BlobStore.PutChunk(ctx, id, i, data)
}

// TestFileUploadResumes: an upload that stops is resumed by the next
// SendFile of the same file from the last chunk the relay stored; no chunk
// is uploaded twice, and the file arrives whole.
func TestFileUploadResumes(t *testing.T) {
	bd, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobs := &countingBlobs{BlobStore: bd, puts: make(map[uint32]int), failAt: 2}
	n := startRelayOn(t, relay.Config{Blobs: blobs}, false)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	ctx := context.Background()
	content := make([]byte, 4*attachment.ChunkSize+1) // five chunks
	rand.Read(content)
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendFile(ctx, "bob", path, "notes", nil); err == nil {
		t.Fatal("the upload did not stop")
	}
	blobs.mu.Lock()
	blobs.failAt = 0
	blobs.mu.Unlock()
	var last int64
	if _, err := alice.SendFile(ctx, "bob", path, "notes", func(done, total int64) { last = done }); err != nil {
		t.Fatal(err)
	}
	if last != int64(len(content)) {
		t.Fatalf("progress ended at %d of %d", last, len(content))
	}
	blobs.mu.Lock()
	for i := uint32(0); i < 5; i++ {
		if blobs.puts[i] != 1 {
			t.Errorf("chunk %d stored %d times, want once", i, blobs.puts[i])
		}
	}
	blobs.mu.Unlock()
	bob.receive(t)
	files := t.TempDir()
	waitUntil(t, "the file's message", patience, func() bool { return client.PendingDownloads(bob.Client) == 1 })
	if err := bob.DownloadFiles(ctx, files, nil); err != nil {
		t.Fatal(err)
	}
	if ev := bob.waitFor(t, client.EventMessage, 1)[0]; ev.Text != fmt.Sprintf("[file notes.txt, %d bytes] notes", len(content)) {
		t.Fatalf("message %q", ev.Text)
	}
	if got, err := os.ReadFile(filepath.Join(files, "notes.txt")); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("saved file differs: %v", err)
	}
}

// TestSaveFilesTo: a client that keeps receiving saves files as they
// arrive and reports each message once its file is saved.
func TestSaveFilesTo(t *testing.T) {
	bd, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n := startRelayOn(t, relay.Config{Blobs: bd}, false)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	files := filepath.Join(t.TempDir(), "files")
	bob.SaveFilesTo(files)
	bob.receive(t)
	path := filepath.Join(t.TempDir(), "song.ogg")
	content := make([]byte, attachment.ChunkSize+1)
	rand.Read(content)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendFile(context.Background(), "bob", path, "listen", nil); err != nil {
		t.Fatal(err)
	}
	if ev := bob.waitFor(t, client.EventMessage, 1)[0]; ev.Text != fmt.Sprintf("[file song.ogg, %d bytes] listen", len(content)) {
		t.Fatalf("message %q", ev.Text)
	}
	if got, err := os.ReadFile(filepath.Join(files, "song.ogg")); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("saved file differs: %v", err)
	}
}

// stallingBlobs serves chunks, counting them, and refuses those from
// failAt on while failAt > 0 (a refusal the client does not retry).
type stallingBlobs struct {
	relay.BlobStore
	mu     sync.Mutex
	reads  map[uint32]int
	failAt uint32
}

func (s *stallingBlobs) Chunk(ctx context.Context, id relay.BlobID, i uint32) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAt > 0 && i >= s.failAt {
		return nil, relay.ErrConflict
	}
	s.reads[i]++
	return s.BlobStore.Chunk(ctx, id, i)
}

// TestFileDownloadResumes: a download that stops is resumed by the next
// DownloadFiles from the last chunk it recorded, and the file is whole.
func TestFileDownloadResumes(t *testing.T) {
	bd, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobs := &stallingBlobs{BlobStore: bd, reads: make(map[uint32]int), failAt: 20}
	n := startRelayOn(t, relay.Config{Blobs: blobs}, false)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	bob.receive(t)
	ctx := context.Background()
	content := make([]byte, 24*attachment.ChunkSize) // 24 chunks; progress is recorded every 16
	rand.Read(content)
	path := filepath.Join(t.TempDir(), "video.mp4")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendFile(ctx, "bob", path, "", nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the file's message", patience, func() bool { return client.PendingDownloads(bob.Client) == 1 })
	files := t.TempDir()
	if err := bob.DownloadFiles(ctx, files, nil); err == nil {
		t.Fatal("the download did not stop")
	}
	if _, err := os.Stat(filepath.Join(files, "video.mp4")); err == nil {
		t.Fatal("an incomplete file was saved under its name")
	}
	blobs.mu.Lock()
	blobs.failAt = 0
	blobs.mu.Unlock()
	if err := bob.DownloadFiles(ctx, files, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(files, "video.mp4")); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("saved file differs: %v", err)
	}
	blobs.mu.Lock()
	defer blobs.mu.Unlock()
	for i := uint32(0); i < 24; i++ {
		want := 1
		if i >= 16 && i < 20 {
			want = 2 // after the last recorded progress: fetched again
		}
		if blobs.reads[i] != want {
			t.Errorf("chunk %d read %d times, want %d", i, blobs.reads[i], want)
		}
	}
}
