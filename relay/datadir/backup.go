package datadir

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"samizdat/store/sqlite"
)

// Names in a backup.
const (
	// DBFile is the relay's SQLite store in its data directory.
	DBFile = "relay.db"
	// BlobsDir holds the relay's attachments (package store/blobdir): a
	// directory per blob, its record and its chunk files, each written
	// once and atomically.
	BlobsDir = "blobs"
	// headerName and trailerName are the first and last entries of a
	// backup.
	headerName  = "samizdat-backup.json"
	trailerName = "samizdat-backup-end.json"
	// Format names a samizdat relay backup in its header.
	Format = "samizdat-relay-backup"
	// Version is the backup format version this package writes and reads.
	Version = 1
)

// Header is a backup's first entry.
type Header struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// Schema is the store's schema version (SQLite user_version).
	Schema int `json:"schema"`
}

// entry is one file in a backup's trailer.
type entry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// trailer is a backup's last entry: every file before it.
type trailer struct {
	Files []entry `json:"files"`
}

// Stats says what a backup or restore held.
type Stats struct {
	Header
	Files int   // files, the store included
	Bytes int64 // their total size
}

// BackupOptions adds to what Backup copies.
type BackupOptions struct {
	// KeysFile, if set, is the relay's keys file kept outside the data
	// directory (relay --keys); it is stored as keys.json.
	KeysFile string
	// Temp is where the store's snapshot is made before it is written out;
	// if empty, the system's temporary directory (Backup) or the
	// directory of the backup file (BackupFile).
	Temp string
}

// skipped says whether a file in the data directory stays out of a backup:
// the store and its journal (the snapshot stands for them), the lock, and
// temporary files.
func skipped(rel string) bool {
	base := filepath.Base(rel)
	switch rel {
	case DBFile, DBFile + "-wal", DBFile + "-shm", DBFile + "-journal", LockFile:
		return true
	}
	return strings.HasPrefix(base, ".") || strings.Contains(base, ".tmp")
}

// vanishes says whether a file of the data directory may be deleted while
// a backup runs, and is then left out of it: a blob's files, which go when
// the blob expires. The other files of a blob are each whole or absent
// (written once, renamed into place), and a blob's chunks are stored in
// order, so the copy of a blob being uploaded holds its record and a
// prefix of its chunks, from which the restored relay resumes it.
func vanishes(rel string) bool { return strings.HasPrefix(rel, BlobsDir+"/") }

// Backup writes a backup of the data directory dir to w: a consistent
// snapshot of its SQLite store, taken while a relay may be writing to it,
// and its other files, the attachments (BlobsDir) among them. It fails if
// dir holds no store.
func Backup(ctx context.Context, dir string, w io.Writer, opts BackupOptions) (Stats, error) {
	db := filepath.Join(dir, DBFile)
	if _, err := os.Stat(db); err != nil {
		return Stats{}, fmt.Errorf("datadir: no relay store in %s (%w); a relay on PostgreSQL is backed up with pg_dump", dir, err)
	}
	tmp, err := os.MkdirTemp(opts.Temp, "samizdat-backup-")
	if err != nil {
		return Stats{}, fmt.Errorf("datadir: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, DBFile)
	schema, err := snapshot(ctx, db, snap)
	if err != nil {
		return Stats{}, err
	}

	type file struct{ name, path string }
	files := []file{{DBFile, snap}}
	haveKeys := false
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, rerr := filepath.Rel(dir, p)
		if err != nil {
			if vanishes(filepath.ToSlash(rel)) && errors.Is(err, fs.ErrNotExist) {
				return nil // a blob that expired as it was listed
			}
			return err
		}
		if rerr != nil || rel == "." {
			return rerr
		}
		if skipped(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, file{filepath.ToSlash(rel), p})
			haveKeys = haveKeys || rel == "keys.json"
		}
		return nil // directories are walked; sockets and links are not copied
	})
	if err != nil {
		return Stats{}, fmt.Errorf("datadir: reading %s: %w", dir, err)
	}
	if opts.KeysFile != "" {
		if haveKeys {
			return Stats{}, fmt.Errorf("datadir: %s already holds keys.json; leave out the keys file", dir)
		}
		files = append(files, file{"keys.json", opts.KeysFile})
	}

	st := Stats{Header: Header{Format: Format, Version: Version, Created: time.Now().UTC(), Schema: schema}}
	tw := tar.NewWriter(w)
	h, _ := json.Marshal(st.Header)
	if err := writeEntry(tw, headerName, h); err != nil {
		return Stats{}, err
	}
	var tr trailer
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return Stats{}, err
		}
		e, err := copyFile(tw, f.name, f.path)
		if vanishes(f.name) && errors.Is(err, fs.ErrNotExist) {
			continue // expired since the walk: nothing was written for it
		}
		if err != nil {
			return Stats{}, err
		}
		tr.Files = append(tr.Files, e)
		st.Files++
		st.Bytes += e.Size
	}
	t, _ := json.Marshal(tr)
	if err := writeEntry(tw, trailerName, t); err != nil {
		return Stats{}, err
	}
	if err := tw.Close(); err != nil {
		return Stats{}, fmt.Errorf("datadir: writing the backup: %w", err)
	}
	return st, nil
}

// BackupFile writes a backup of dir to path, replacing it only once the new
// backup is complete and synced: a backup that fails or is killed leaves
// the previous one at path.
func BackupFile(ctx context.Context, dir, path string, opts BackupOptions) (Stats, error) {
	if opts.Temp == "" {
		opts.Temp = filepath.Dir(path) // the store's copy may be large for /tmp
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return Stats{}, fmt.Errorf("datadir: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	st, err := Backup(ctx, dir, f, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Stats{}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return Stats{}, fmt.Errorf("datadir: %w", err)
	}
	syncDir(filepath.Dir(path))
	return st, nil
}

// snapshot copies the SQLite store at db into out with VACUUM INTO, one
// read transaction: a consistent copy while a relay keeps writing (WAL
// mode lets the reader and the writer run together). It returns the
// copy's schema version.
func snapshot(ctx context.Context, db, out string) (int, error) {
	conn, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("datadir: opening the store: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", out); err != nil {
		return 0, fmt.Errorf("datadir: copying the store: %w", err)
	}
	return checkStore(ctx, out)
}

// checkStore checks the SQLite file at path: its integrity, and a schema
// this program can open. It returns the schema version.
func checkStore(ctx context.Context, path string) (int, error) {
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("datadir: opening the store copy: %w", err)
	}
	defer conn.Close()
	var ok string
	if err := conn.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil {
		return 0, fmt.Errorf("datadir: the store is not a SQLite database: %w", err)
	}
	if ok != "ok" {
		return 0, fmt.Errorf("datadir: the store fails its integrity check: %.200s", ok)
	}
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("datadir: reading the store's schema version: %w", err)
	}
	if v > sqlite.SchemaVersion {
		return 0, fmt.Errorf("datadir: the store has schema version %d, newer than this samizdat's %d: use a newer samizdat", v, sqlite.SchemaVersion)
	}
	return v, nil
}

// writeEntry writes one small file into tw.
func writeEntry(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("datadir: writing the backup: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("datadir: writing the backup: %w", err)
	}
	return nil
}

// copyFile copies the file at path into tw as name.
func copyFile(tw *tar.Writer, name, path string) (entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return entry{}, fmt.Errorf("datadir: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return entry{}, fmt.Errorf("datadir: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return entry{}, fmt.Errorf("datadir: writing the backup: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(f, fi.Size()))
	if err != nil {
		return entry{}, fmt.Errorf("datadir: copying %s: %w", name, err)
	}
	if n != fi.Size() {
		return entry{}, fmt.Errorf("datadir: %s shrank while it was copied", name)
	}
	return entry{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// syncDir makes renames in dir durable, as far as the system allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// errNotBackup and the like are what Restore says about bad input.
var (
	// ErrBadBackup means the input is not a usable backup: not one at
	// all, truncated, corrupt, or of an unknown format version.
	ErrBadBackup = errors.New("datadir: not a usable backup")
	// ErrExists means the target directory holds a relay already.
	ErrExists = errors.New("datadir: the data directory holds a relay already")
)
