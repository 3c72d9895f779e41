package datadir_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"samizdat/relay"
	"samizdat/relay/datadir"
	"samizdat/store/sqlite"
)

// newRelayDir makes a data directory with a store holding n envelopes
// for one device and a few of the files a relay keeps; it returns the
// open store (the test closes it when it likes).
func newRelayDir(t *testing.T, n int) (string, *sqlite.Store) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "relay")
	if err := os.MkdirAll(filepath.Join(dir, "decoy-site"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"keys.json": `{"k":1}`, "node-key.pem": "pem", "decoy-site/index.html": "<p>hi</p>", ".keys.json.tmp1": "half"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, datadir.DBFile), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	appendN(t, s, 0, n)
	return dir, s
}

func appendN(t *testing.T, s *sqlite.Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		e := relay.Envelope{Device: 1, Type: 1, Content: []byte("sealed bytes")}
		e.Account[0] = 1
		e.ID[0], e.ID[1] = byte(i>>8), byte(i)
		if err := s.Append(context.Background(), []relay.Envelope{e}); err != nil {
			t.Fatal(err)
		}
	}
}

// stored returns how many envelopes the store in dir holds for the device.
func stored(t *testing.T, dir string) int {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, datadir.DBFile), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Fetch(context.Background(), relay.AccountID{1}, 1, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return len(got)
}

func backup(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	st, err := datadir.Backup(context.Background(), dir, &b, datadir.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Schema != sqlite.SchemaVersion || st.Files != 4 {
		t.Fatalf("backup stats %+v; want schema %d, 4 files", st, sqlite.SchemaVersion)
	}
	return b.Bytes()
}

// TestBackupWhileWriting backs up a store that is open and being written
// to, and restores it: the restore holds what was appended before.
func TestBackupWhileWriting(t *testing.T) {
	dir, s := newRelayDir(t, 50)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1000; i < 1100; i++ {
			e := relay.Envelope{Device: 2, Type: 1, Content: []byte("x")}
			e.Account[0] = 1
			e.ID[0], e.ID[1] = byte(i>>8), byte(i)
			if err := s.Append(context.Background(), []relay.Envelope{e}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	b := backup(t, dir)
	<-done
	to := filepath.Join(t.TempDir(), "restored")
	res, err := datadir.Restore(context.Background(), bytes.NewReader(b), to, datadir.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replaced != "" {
		t.Errorf("Replaced = %q for a new directory", res.Replaced)
	}
	if n := stored(t, to); n != 50 {
		t.Errorf("restored store holds %d envelopes, want 50", n)
	}
	for name, want := range map[string]string{"keys.json": `{"k":1}`, "node-key.pem": "pem", "decoy-site/index.html": "<p>hi</p>"} {
		if got, err := os.ReadFile(filepath.Join(to, name)); err != nil || string(got) != want {
			t.Errorf("%s restored as %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(to, ".keys.json.tmp1")); err == nil {
		t.Error("a temporary file was backed up")
	}
}

// TestRestoreRefuses checks that a data directory in use, or holding a
// relay, is refused, and that --force keeps the old one aside.
func TestRestoreRefuses(t *testing.T) {
	dir, s := newRelayDir(t, 3)
	b := backup(t, dir)
	appendN(t, s, 3, 2)

	lock, err := datadir.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := datadir.Acquire(dir); !errors.Is(err, datadir.ErrInUse) {
		t.Errorf("second Acquire = %v, want ErrInUse", err)
	}
	if _, err := datadir.Restore(context.Background(), bytes.NewReader(b), dir, datadir.RestoreOptions{Force: true}); !errors.Is(err, datadir.ErrInUse) {
		t.Errorf("Restore over a locked directory = %v, want ErrInUse", err)
	}
	lock.Close()
	lock.Close()
	s.Close()
	if _, err := datadir.Restore(context.Background(), bytes.NewReader(b), dir, datadir.RestoreOptions{}); !errors.Is(err, datadir.ErrExists) {
		t.Errorf("Restore over a relay without Force = %v, want ErrExists", err)
	}
	if n := stored(t, dir); n != 5 {
		t.Fatalf("the refused restores changed the store: %d envelopes, want 5", n)
	}
	res, err := datadir.Restore(context.Background(), bytes.NewReader(b), dir, datadir.RestoreOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := stored(t, dir); n != 3 {
		t.Errorf("restored store holds %d envelopes, want 3", n)
	}
	if n := stored(t, res.Replaced); n != 5 {
		t.Errorf("the replaced directory %q holds %d envelopes, want 5", res.Replaced, n)
	}
	if _, err := os.Stat(filepath.Join(dir, datadir.DBFile+"-wal")); err == nil {
		t.Error("the old store's WAL came along")
	}
}

// TestRestoreBadInput feeds Restore what is not a usable backup and checks
// that it says so and changes nothing.
func TestRestoreBadInput(t *testing.T) {
	dir, s := newRelayDir(t, 3)
	good := backup(t, dir)
	s.Close()

	var (
		newer, wrongVersion, notStore, corrupt, extra bytes.Buffer
	)
	rewrite(t, good, &wrongVersion, true, func(name string, body []byte) []byte {
		if name == "samizdat-backup.json" {
			return bytes.Replace(body, []byte(`"version":1`), []byte(`"version":99`), 1)
		}
		return body
	})
	rewrite(t, good, &corrupt, false, func(name string, body []byte) []byte {
		if name == "node-key.pem" {
			return []byte("PEM")
		}
		return body
	})
	rewrite(t, good, &notStore, true, func(name string, body []byte) []byte {
		if name == datadir.DBFile {
			return bytes.Repeat([]byte("not sqlite "), 1000)
		}
		return body
	})
	rewrite(t, good, &extra, false, func(name string, body []byte) []byte {
		if name == "decoy-site/index.html" {
			return append(body, '!')
		}
		return body
	})
	// A store with a schema newer than this program's.
	ndir, ns := newRelayDir(t, 1)
	ns.Close()
	setUserVersion(t, filepath.Join(ndir, datadir.DBFile), sqlite.SchemaVersion+1)
	if _, err := datadir.Backup(context.Background(), ndir, &newer, datadir.BackupOptions{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Backup of a newer schema = %v, want an error naming it", err)
	}

	cases := map[string]struct {
		in   []byte
		want string
	}{
		"empty":         {nil, "not a samizdat relay backup"},
		"text":          {[]byte("hello, this is not a tar file at all\n"), "not a samizdat relay backup"},
		"other tar":     {otherTar(t), "not a samizdat relay backup"},
		"version":       {wrongVersion.Bytes(), "format version 99"},
		"corrupt":       {corrupt.Bytes(), "checksum"},
		"changed":       {extra.Bytes(), "checksum"},
		"not a store":   {notStore.Bytes(), "not a SQLite database"},
		"half":          {good[:len(good)/2], "truncated"},
		"header only":   {good[:1024], "truncated"},
		"lacks the end": {good[:len(good)-1024-512], "truncated"},
	}
	for _, cut := range []int{1, 100, 511, 512, 513, 2048, 4096, len(good) / 3, len(good) - 1024 - 512} {
		cases["cut at "+strconv.Itoa(cut)] = struct {
			in   []byte
			want string
		}{good[:cut], ""}
	}
	before := snapshot(t, dir)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for _, to := range []string{dir, filepath.Join(t.TempDir(), "new")} {
				_, err := datadir.Restore(context.Background(), bytes.NewReader(c.in), to, datadir.RestoreOptions{Force: true})
				if !errors.Is(err, datadir.ErrBadBackup) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Restore into %s = %v; want ErrBadBackup saying %q", to, err, c.want)
				}
				if to != dir {
					if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("a failed restore made %s", to)
					}
				}
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("a failed restore changed the data directory")
			}
			leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".relay.restore-*"))
			if len(leftovers) != 0 {
				t.Errorf("staging directories left behind: %v", leftovers)
			}
		})
	}
}

// setUserVersion sets the schema version of the SQLite file at path.
func setUserVersion(t *testing.T, path string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA user_version = " + strconv.Itoa(v)); err != nil {
		t.Fatal(err)
	}
}

// rewrite copies the backup in to out, passing each entry's body through f.
// With fixSums, it writes a trailer that matches the new bodies.
func rewrite(t *testing.T, in []byte, out io.Writer, fixSums bool, f func(name string, body []byte) []byte) {
	t.Helper()
	type entry struct {
		Name   string `json:"name"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}
	var sums struct {
		Files []entry `json:"files"`
	}
	tr := tar.NewReader(bytes.NewReader(in))
	tw := tar.NewWriter(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		body = f(h.Name, body)
		switch {
		case h.Name == "samizdat-backup-end.json" && fixSums:
			body, _ = json.Marshal(sums)
		case h.Name != "samizdat-backup.json":
			sum := sha256.Sum256(body)
			sums.Files = append(sums.Files, entry{h.Name, int64(len(body)), hex.EncodeToString(sum[:])})
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func otherTar(t *testing.T) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "README", Size: 2, Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	return b.Bytes()
}

// snapshot sums every file under dir, names and contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		h.Write([]byte(p + "\x00"))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(h.Sum(nil))
}
