package datadir_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"samizdat/relay"
	"samizdat/relay/datadir"
	"samizdat/store/blobdir"
)

// chunkOf is chunk i of blob id, filled with a pattern of both.
func chunkOf(id relay.BlobID, i uint32, n int) []byte {
	return bytes.Repeat([]byte{id[0], byte(i), 0xa5}, n/3+1)[:n]
}

// TestBackupBlobs backs up a data directory whose attachment store
// (blobs/, as the relay keeps it) takes chunks and expires blobs while
// the backup runs, restores it, and reads every blob back: whole blobs
// whole, a blob being uploaded with the chunks stored before the backup
// began (or more), every chunk byte for byte. A blob that expires while
// the backup walks the directory does not fail the backup.
func TestBackupBlobs(t *testing.T) {
	ctx := context.Background()
	dir, _ := newRelayDir(t, 5)
	bs, err := blobdir.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 16 << 10
	owner := relay.AccountID{7}
	newBlob := func(id byte, chunks int, created time.Time) relay.Blob {
		b := relay.Blob{ID: relay.BlobID{id, 1}, Owner: owner, Size: int64(chunks*chunk - 100), ChunkSize: chunk, Created: created}
		if err := bs.CreateBlob(ctx, b, 1<<40); err != nil {
			t.Fatal(err)
		}
		return b
	}
	put := func(b relay.Blob, i uint32) {
		if _, err := bs.PutChunk(ctx, b.ID, i, chunkOf(b.ID, i, b.ChunkLen(i))); err != nil {
			t.Fatal(err)
		}
	}
	whole := newBlob(1, 5, time.Now())
	for i := range whole.Chunks() {
		put(whole, i)
	}
	partial := newBlob(2, 400, time.Now())
	for i := range uint32(3) {
		put(partial, i)
	}

	for round := range 10 {
		// While the backup runs, the partial blob takes its next chunks and
		// short-lived blobs come and expire.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		before, _ := bs.BlobByID(ctx, partial.ID)
		go func() {
			defer wg.Done()
			old := time.Now().Add(-time.Hour)
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if b, _ := bs.BlobByID(ctx, partial.ID); !b.Complete() {
					put(partial, b.Stored)
				}
				gone := newBlob(byte(100+k%100), 3, old)
				for i := range gone.Chunks() {
					put(gone, i)
				}
				if _, err := bs.ExpireBlobs(ctx, old.Add(time.Minute)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		var buf bytes.Buffer
		_, err := datadir.Backup(ctx, dir, &buf, datadir.BackupOptions{})
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: backup while blobs are written and expire: %v", round, err)
		}

		to := filepath.Join(t.TempDir(), fmt.Sprint("restored", round))
		if _, err := datadir.Restore(ctx, bytes.NewReader(buf.Bytes()), to, datadir.RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		rs, err := blobdir.Open(filepath.Join(to, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []relay.Blob{whole, partial} {
			got, err := rs.BlobByID(ctx, want.ID)
			if err != nil {
				t.Fatalf("round %d: blob %x not restored: %v", round, want.ID[:2], err)
			}
			if got.Size != want.Size || got.ChunkSize != want.ChunkSize || got.Owner != want.Owner {
				t.Fatalf("round %d: blob restored as %+v, want %+v", round, got, want)
			}
			min := want.Chunks()
			if want.ID == partial.ID {
				min = before.Stored
			}
			if got.Stored < min {
				t.Fatalf("round %d: blob %x restored with %d chunks, had %d before the backup", round, want.ID[:2], got.Stored, min)
			}
			for i := range got.Stored {
				c, err := rs.Chunk(ctx, want.ID, i)
				if err != nil || !bytes.Equal(c, chunkOf(want.ID, i, want.ChunkLen(i))) {
					t.Fatalf("round %d: blob %x chunk %d restored wrong (%v)", round, want.ID[:2], i, err)
				}
			}
		}
	}
}
