package attachment

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// seal seals plain with key and returns the sealed chunks and the digest.
func seal(t testing.TB, key, plain []byte) ([][]byte, []byte) {
	s, err := NewSealer(key, int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	var chunks [][]byte
	for off := 0; !s.Done(); {
		n := PlainLen(int64(len(plain)), s.Next())
		c, err := s.Seal(nil, plain[off:off+n])
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c)
		off += n
	}
	d, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return chunks, d
}

// open opens chunks in order and returns the plaintext or the first refusal.
func open(key []byte, size int64, digest []byte, chunks [][]byte) ([]byte, error) {
	o, err := NewOpener(key, size, digest)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, c := range chunks {
		if out, err = o.Open(out, c); err != nil {
			return nil, err
		}
	}
	return out, o.Finish()
}

func TestRoundTrip(t *testing.T) {
	key := make([]byte, KeySize)
	rand.Read(key)
	for _, size := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 17} {
		plain := make([]byte, size)
		rand.Read(plain)
		chunks, d := seal(t, key, plain)
		if len(chunks) != int(Chunks(int64(size))) {
			t.Fatalf("size %d: %d chunks, want %d", size, len(chunks), Chunks(int64(size)))
		}
		total := 0
		for _, c := range chunks {
			total += len(c)
		}
		if int64(total) != SealedSize(int64(size)) {
			t.Fatalf("size %d: sealed %d bytes, SealedSize says %d", size, total, SealedSize(int64(size)))
		}
		got, err := open(key, int64(size), d, chunks)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: round trip failed: %v", size, err)
		}
		// Sealing is deterministic: a resumed upload re-seals the same bytes.
		again, d2 := seal(t, key, plain)
		if !bytes.Equal(d, d2) || !bytes.Equal(again[0], chunks[0]) {
			t.Fatalf("size %d: sealing is not deterministic", size)
		}
	}
}

func TestBadInputRefused(t *testing.T) {
	key := make([]byte, KeySize)
	rand.Read(key)
	plain := make([]byte, 3*ChunkSize+5)
	rand.Read(plain)
	size := int64(len(plain))
	chunks, d := seal(t, key, plain)
	other, _ := seal(t, key, append([]byte{1}, plain[1:]...)) // same key, another file of the same size
	tampered := bytes.Clone(chunks[1])
	tampered[7] ^= 1
	wrongDigest := bytes.Clone(d)
	wrongDigest[0] ^= 1
	otherKey := make([]byte, KeySize)
	rand.Read(otherKey)
	cases := []struct {
		name   string
		key    []byte
		digest []byte
		chunks [][]byte
		want   error
	}{
		{"truncated", key, d, chunks[:3], ErrTooShort},
		{"last chunk dropped", key, d, chunks[:len(chunks)-1], ErrTooShort},
		{"reordered", key, d, [][]byte{chunks[1], chunks[0], chunks[2], chunks[3]}, ErrTampered},
		{"replayed", key, d, [][]byte{chunks[0], chunks[0], chunks[2], chunks[3]}, ErrTampered},
		{"tampered", key, d, [][]byte{chunks[0], tampered, chunks[2], chunks[3]}, ErrTampered},
		{"cut chunk", key, d, [][]byte{chunks[0], chunks[1][:100], chunks[2], chunks[3]}, ErrSize},
		{"extra chunk", key, d, append(append([][]byte{}, chunks...), chunks[0]), ErrTooLong},
		{"wrong digest", key, wrongDigest, chunks, ErrDigest},
		{"wrong key", otherKey, d, chunks, ErrTampered},
		// A chunk of another file under the same key passes the AEAD (same
		// key, position and size) but not the digest.
		{"spliced", key, d, [][]byte{other[0], chunks[1], chunks[2], chunks[3]}, ErrDigest},
	}
	for _, c := range cases {
		_, err := open(c.key, size, c.digest, c.chunks)
		if !errors.Is(err, c.want) || !errors.Is(err, ErrRefused) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// A file cut at a chunk boundary and presented as shorter fails: the
	// size is in every chunk's associated data and the last flag in its nonce.
	if _, err := open(key, 3*ChunkSize, d, chunks[:3]); !errors.Is(err, ErrTampered) {
		t.Errorf("shortened size: got %v", err)
	}
}

func TestResumeOpener(t *testing.T) {
	key := make([]byte, KeySize)
	rand.Read(key)
	plain := make([]byte, 2*ChunkSize+9)
	rand.Read(plain)
	chunks, d := seal(t, key, plain)
	o, _ := NewOpener(key, int64(len(plain)), d)
	out, err := o.Open(nil, chunks[0])
	if err != nil {
		t.Fatal(err)
	}
	st, err := o.State()
	if err != nil {
		t.Fatal(err)
	}
	r, err := ResumeOpener(key, int64(len(plain)), d, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks[1:] {
		if out, err = r.Open(out, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Finish(); err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("resumed open: %v", err)
	}
	if _, err := ResumeOpener(key, int64(len(plain)), d, []byte{1, 2}); err == nil {
		t.Fatal("a malformed state was accepted")
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":          "report.pdf",
		"../../etc/passwd":    "passwd",
		`C:\Users\x\a.txt`:    "a.txt",
		".bashrc":             "bashrc",
		"...":                 "file",
		"":                    "file",
		"a\x1b[31mb\n.txt":    "a[31mb.txt",
		"dir/":                "file",
		"..\\..\\.ssh\x00key": "sshkey",
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCreateUnique(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for range 3 {
		f, name, err := CreateUnique(dir, "photo.jpg")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		names = append(names, name)
	}
	want := []string{"photo.jpg", "photo (1).jpg", "photo (2).jpg"}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("names %q, want %q", names, want)
		}
		if _, err := os.Stat(filepath.Join(dir, want[i])); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzOpen feeds arbitrary chunks to an Opener: it must refuse them with
// ErrRefused (never panic, never accept a forgery).
func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	plain := bytes.Repeat([]byte("canary"), 50)
	s, _ := NewSealer(key, int64(len(plain)))
	good, _ := s.Seal(nil, plain)
	d, _ := s.Digest()
	f.Add(good, int64(len(plain)), uint8(0))
	f.Add(good[:10], int64(len(plain)), uint8(1))
	f.Add([]byte{}, int64(0), uint8(2))
	f.Fuzz(func(t *testing.T, chunk []byte, size int64, split uint8) {
		o, err := NewOpener(key, size, d)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("NewOpener: %v", err)
			}
			return
		}
		// Feed chunk whole, or cut in two at split.
		parts := [][]byte{chunk}
		if int(split) < len(chunk) && split%2 == 1 {
			parts = [][]byte{chunk[:split], chunk[split:]}
		}
		for _, p := range parts {
			if _, err := o.Open(nil, p); err != nil {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("Open: %v", err)
				}
				return
			}
		}
		if err := o.Finish(); err == nil && (!bytes.Equal(chunk, good) || size != int64(len(plain))) {
			t.Fatal("a forged blob was accepted")
		}
	})
}
