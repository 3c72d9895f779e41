package client_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"samizdat/attachment"
	"samizdat/client"
	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/store/blobdir"
	"samizdat/store/postgres"
	"samizdat/store/postgres/pgtest"
	"samizdat/store/s3blob"
)

// benchFileSize is the file BenchmarkFileTransfer moves.
const benchFileSize = 32 << 20

// BenchmarkFileTransfer moves a 32 MiB file between two clients through a
// relay on loopback: upload (SendFile, until the relay stored it all and
// the message), download (DownloadFiles, until saved and verified), and
// resume (SendFile when the relay already holds every chunk but the last:
// the cost of resuming is re-reading and re-sealing the file for its
// digest). Beside them, plain-copy streams the same bytes over the same
// transport (a Noise channel over loopback TCP, a chunk a frame) with no
// encryption of the file, no acknowledgements and no storage: the ceiling.
// The relay keeps chunks on disk (blobdir, the single binary's) or in
// PostgreSQL (with SAMIZDAT_PG_URL) or in an S3 bucket (SeaweedFS with
// SAMIZDAT_S3_URL, scripts/s3.sh; else gofakes3 in memory). Compare MB/s of the same run.
func BenchmarkFileTransfer(b *testing.B) {
	b.Run("plain-copy", benchPlainCopy)
	stores := map[string]func(b *testing.B) relay.BlobStore{
		"disk": func(b *testing.B) relay.BlobStore {
			s, err := blobdir.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	if os.Getenv("SAMIZDAT_PG_URL") != "" {
		stores["postgres"] = func(b *testing.B) relay.BlobStore {
			s, err := postgres.Open(context.Background(), pgtest.NewDatabase(b), postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}
	}
	// An S3 bucket: SeaweedFS with SAMIZDAT_S3_URL (scripts/s3.sh), else
	// gofakes3's in-memory server on loopback (the S3 protocol's cost alone).
	s3Name, s3URL := "s3", os.Getenv("SAMIZDAT_S3_URL")
	if s3URL == "" {
		srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
		defer srv.Close()
		s3Name, s3URL = "s3-gofakes3", "s3+http://key:secret@"+strings.TrimPrefix(srv.URL, "http://")+"/samizdat"
	}
	stores[s3Name] = func(b *testing.B) relay.BlobStore {
		s, err := s3blob.Open(context.Background(), strings.TrimRight(s3URL, "/")+"/bench-"+strings.ToLower(rand.Text()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	for _, name := range []string{"disk", "postgres", "s3", "s3-gofakes3"} {
		open := stores[name]
		if open == nil {
			continue
		}
		b.Run(name+"/upload", func(b *testing.B) { benchTransfer(b, open(b), "upload") })
		b.Run(name+"/download", func(b *testing.B) { benchTransfer(b, open(b), "download") })
		b.Run(name+"/resume", func(b *testing.B) { benchTransfer(b, open(b), "resume") })
	}
}

func benchTransfer(b *testing.B, st relay.BlobStore, what string) {
	blobs := &countingBlobs{BlobStore: st, puts: make(map[uint32]int)}
	n := startRelayOn(b, relay.Config{Blobs: blobs}, false)
	alice := newUser(b, n, "alice", nil)
	bob := newUser(b, n, "bob", nil)
	bob.receive(b)
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(dir, "file.bin")
	data := make([]byte, benchFileSize)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	files := filepath.Join(dir, "files")
	last := attachment.Chunks(benchFileSize) - 1
	b.SetBytes(benchFileSize)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		os.Chtimes(path, time.Now(), time.Now().Add(time.Duration(i)*time.Second)) // a new file each time: no resume
		if what == "resume" {
			blobs.mu.Lock()
			blobs.failAt = last
			blobs.mu.Unlock()
			if _, err := alice.SendFile(ctx, "bob", path, "", nil); err == nil {
				b.Fatal("the upload did not stop")
			}
			blobs.mu.Lock()
			blobs.failAt = 0
			blobs.mu.Unlock()
		}
		if what != "download" {
			b.StartTimer()
		}
		if _, err := alice.SendFile(ctx, "bob", path, "", nil); err != nil {
			b.Fatal(err)
		}
		if what != "download" {
			continue
		}
		for client.PendingDownloads(bob.Client) == 0 {
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
		if err := bob.DownloadFiles(ctx, files, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(files)
		b.StartTimer()
	}
}

// benchPlainCopy streams benchFileSize bytes over a Noise channel on
// loopback TCP in chunk-sized frames.
func benchPlainCopy(b *testing.B) {
	ctx := context.Background()
	server, err := noisechan.GenerateKeyPair(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	local, _ := noisechan.GenerateKeyPair(rand.Reader)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	got := make(chan error, 1)
	go func() {
		raw, err := l.Accept()
		if err != nil {
			got <- err
			return
		}
		nc, err := noisechan.Server(ctx, raw, server, nil)
		if err != nil {
			got <- err
			return
		}
		defer nc.Close()
		for {
			f, err := nc.ReadFrame()
			if err != nil {
				got <- err
				return
			}
			if len(f) == 1 { // end of a copy
				if err := nc.WriteFrame(f); err != nil {
					got <- err
					return
				}
			}
		}
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	nc, err := noisechan.Client(ctx, raw, local, server.Public, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	chunk := make([]byte, attachment.SealedChunkSize)
	rand.Read(chunk)
	b.SetBytes(benchFileSize)
	b.ResetTimer()
	for range b.N {
		for sent := 0; sent < benchFileSize; sent += attachment.ChunkSize {
			if err := nc.WriteFrame(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := nc.WriteFrame([]byte{1}); err != nil {
			b.Fatal(err)
		}
		if _, err := nc.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
