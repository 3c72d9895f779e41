package s3blob_test

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"samizdat/relay"
	"samizdat/store/s3blob"
	"samizdat/store/storetest"
)

// testURL returns SAMIZDAT_S3_URL (scripts/s3.sh start: SeaweedFS) with a
// fresh prefix, so that each test has an empty store. Without it the test
// runs against an in-memory S3 server (gofakes3) on loopback, unless
// SAMIZDAT_S3_REQUIRED=1, which insists on SAMIZDAT_S3_URL.
func testURL(t testing.TB) string {
	u := os.Getenv("SAMIZDAT_S3_URL")
	if u == "" {
		if os.Getenv("SAMIZDAT_S3_REQUIRED") == "1" {
			t.Fatal("SAMIZDAT_S3_REQUIRED=1 and no SAMIZDAT_S3_URL (scripts/s3.sh start)")
		}
		srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
		t.Cleanup(srv.Close)
		u = "s3+http://key:secret@" + strings.TrimPrefix(srv.URL, "http://") + "/samizdat"
	}
	return strings.TrimRight(u, "/") + "/test-" + strings.ToLower(rand.Text())
}

func open(t testing.TB, u string) *s3blob.Store {
	s, err := s3blob.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBlobs(t *testing.T) {
	storetest.RunBlobs(t, func(t *testing.T) (relay.BlobStore, func() relay.BlobStore) {
		u := testURL(t)
		return open(t, u), func() relay.BlobStore { return open(t, u) }
	})
}

// TestTwoNodes: a chunk stored through one node is seen by another that
// had the blob's record cached.
func TestTwoNodes(t *testing.T) {
	ctx := context.Background()
	u := testURL(t)
	a, b := open(t, u), open(t, u)
	blob := relay.Blob{ID: relay.BlobID{7}, Owner: relay.AccountID{1}, Size: 40, ChunkSize: 16, Created: time.Now()}
	if err := a.CreateBlob(ctx, blob, 1000); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateBlob(ctx, blob, 1000); err == nil {
		t.Fatal("the same id created on a second node")
	}
	if got, err := b.BlobByID(ctx, blob.ID); err != nil || got.Stored != 0 {
		t.Fatalf("on b: %+v, %v", got, err)
	}
	if n, err := a.PutChunk(ctx, blob.ID, 0, make([]byte, 16)); err != nil || n != 1 {
		t.Fatalf("chunk 0 on a: %d, %v", n, err)
	}
	if n, err := b.PutChunk(ctx, blob.ID, 0, make([]byte, 16)); err != nil || n != 1 {
		t.Fatalf("a retry of chunk 0 on b: %d, %v", n, err)
	}
	if n, err := b.PutChunk(ctx, blob.ID, 1, make([]byte, 16)); err != nil || n != 2 {
		t.Fatalf("chunk 1 on b: %d, %v", n, err)
	}
	if got, err := a.BlobByID(ctx, blob.ID); err != nil || got.Stored != 2 {
		t.Fatalf("on a after b stored chunk 1: %+v, %v", got, err)
	}
	if n, err := b.ExpireBlobs(ctx, blob.Created.AddDate(1, 0, 0)); err != nil || n != 1 {
		t.Fatalf("expired %d, %v", n, err)
	}
	if _, err := a.Chunk(ctx, blob.ID, 0); err == nil {
		t.Fatal("a reads a chunk of a blob expired by b")
	}
}

func TestOpenRejects(t *testing.T) {
	for _, u := range []string{"http://h/b", "s3:///b", "s3://h/", "s3+http://h"} {
		if _, err := s3blob.Open(context.Background(), u); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}
