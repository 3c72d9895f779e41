package datadir

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// maxMeta bounds a backup's header and trailer.
const maxMeta = 16 << 20

// badf returns an ErrBadBackup with its reason.
func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadBackup, fmt.Sprintf(format, args...))
}

// RestoreOptions configures Restore.
type RestoreOptions struct {
	// Force replaces a data directory that holds a relay (not one in use);
	// the old one is kept beside it, renamed, and Replaced names it.
	Force bool
}

// Restored says what Restore did.
type Restored struct {
	Stats
	// Replaced is where the data directory that was there before went,
	// when Force replaced one.
	Replaced string
}

// Restore restores the backup read from r into the data directory dir. It
// refuses a directory a running relay holds (ErrInUse) and, without
// opts.Force, one that holds a relay already (ErrExists). It checks every
// file of the backup and the store before anything is moved into place,
// so a bad backup (ErrBadBackup) changes nothing.
func Restore(ctx context.Context, r io.Reader, dir string, opts RestoreOptions) (Restored, error) {
	dir = filepath.Clean(dir)
	if err := checkTarget(dir, opts.Force); err != nil {
		return Restored{}, err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return Restored{}, fmt.Errorf("datadir: %w", err)
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".restore-")
	if err != nil {
		return Restored{}, fmt.Errorf("datadir: %w", err)
	}
	defer os.RemoveAll(stage) // a no-op once it is moved into place
	st, err := unpack(r, stage)
	if err != nil {
		return Restored{}, err
	}
	v, err := checkStore(ctx, filepath.Join(stage, DBFile))
	if err != nil {
		return Restored{}, fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	if v != st.Schema {
		return Restored{}, badf("the store has schema version %d, the header says %d", v, st.Schema)
	}

	// Everything checks: move it into place.
	res := Restored{Stats: st}
	if err := checkTarget(dir, opts.Force); err != nil {
		return Restored{}, err
	}
	if _, err := os.Stat(dir); err == nil {
		lock, err := Acquire(dir)
		if err != nil {
			return Restored{}, err
		}
		defer lock.Close()
		if empty(dir) {
			if err := os.RemoveAll(dir); err != nil {
				return Restored{}, fmt.Errorf("datadir: %w", err)
			}
		} else {
			res.Replaced = fmt.Sprintf("%s.replaced-%s", dir, time.Now().UTC().Format("20060102T150405Z"))
			if err := os.Rename(dir, res.Replaced); err != nil {
				return Restored{}, fmt.Errorf("datadir: moving the old data directory aside: %w", err)
			}
		}
	}
	if err := os.Rename(stage, dir); err != nil {
		return Restored{}, fmt.Errorf("datadir: %w", err)
	}
	syncDir(parent)
	return res, nil
}

// checkTarget refuses a data directory in use, and one that holds a relay
// unless force.
func checkTarget(dir string, force bool) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("datadir: %s is not a directory", dir)
	}
	if empty(dir) {
		return nil
	}
	if err := inUse(dir); err != nil {
		return err
	}
	// A relay from before the lock file still answers on its admin socket.
	if c, err := net.DialTimeout("unix", filepath.Join(dir, "admin.sock"), time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%w (%s: its admin socket answers)", ErrInUse, dir)
	}
	if !force {
		return fmt.Errorf("%w (%s); give --force to replace it (it is kept, renamed)", ErrExists, dir)
	}
	return nil
}

// empty says whether dir holds nothing but perhaps a lock file.
func empty(dir string) bool {
	des, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, d := range des {
		if d.Name() != LockFile {
			return false
		}
	}
	return true
}

// unpack reads a backup from r into dir, checking it against its header
// and trailer.
func unpack(r io.Reader, dir string) (Stats, error) {
	tr := tar.NewReader(r)
	next := func() (*tar.Header, error) {
		h, err := tr.Next()
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, badf("the backup is truncated")
		case err != nil:
			return nil, badf("not a samizdat relay backup (%v)", err)
		}
		return h, nil
	}
	h, err := tr.Next()
	if err != nil || h.Name != headerName {
		return Stats{}, badf("not a samizdat relay backup")
	}
	var st Stats
	if err := readJSON(tr, &st.Header); err != nil || st.Format != Format {
		return Stats{}, badf("not a samizdat relay backup")
	}
	if st.Version != Version {
		return Stats{}, badf("backup format version %d; this samizdat reads version %d", st.Version, Version)
	}
	got := map[string]entry{}
	for {
		h, err := next()
		if err != nil {
			return Stats{}, err
		}
		if h.Name == trailerName {
			break
		}
		name, err := safeName(h)
		if err != nil {
			return Stats{}, err
		}
		if _, dup := got[name]; dup {
			return Stats{}, badf("%s appears twice", name)
		}
		e, err := writeFile(tr, dir, name, h)
		if err != nil {
			return Stats{}, err
		}
		got[name] = e
	}
	var t trailer
	if err := readJSON(tr, &t); err != nil {
		return Stats{}, badf("the backup is truncated or corrupt (its list of files: %v)", err)
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		return Stats{}, badf("the backup is truncated or has data after its end")
	}
	if len(t.Files) != len(got) {
		return Stats{}, badf("the backup lists %d files and holds %d", len(t.Files), len(got))
	}
	for _, want := range t.Files {
		if got[want.Name] != want {
			return Stats{}, badf("%s does not match its checksum: the backup is corrupt", want.Name)
		}
		st.Files++
		st.Bytes += want.Size
	}
	if _, ok := got[DBFile]; !ok {
		return Stats{}, badf("the backup holds no store (%s)", DBFile)
	}
	return st, nil
}

// safeName checks that a backup entry is a regular file inside the data
// directory and returns its name.
func safeName(h *tar.Header) (string, error) {
	name := h.Name
	if h.Typeflag != tar.TypeReg || name == "" || path.IsAbs(name) || path.Clean(name) != name ||
		name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "\\") || skipped(name) && name != DBFile {
		return "", badf("unexpected entry %q", name)
	}
	return name, nil
}

// writeFile writes one entry of the backup into dir.
func writeFile(r io.Reader, dir, name string, h *tar.Header) (entry, error) {
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return entry{}, fmt.Errorf("datadir: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(h.Mode).Perm()&0o700|0o600)
	if err != nil {
		return entry{}, fmt.Errorf("datadir: %w", err)
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sum), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return entry{}, badf("the backup is truncated")
	case err != nil:
		return entry{}, fmt.Errorf("datadir: writing %s: %w", name, err)
	}
	return entry{Name: name, Size: n, SHA256: hex.EncodeToString(sum.Sum(nil))}, nil
}

// readJSON decodes one small JSON entry.
func readJSON(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, maxMeta+1))
	if err != nil {
		return err
	}
	if len(b) > maxMeta {
		return errors.New("too large")
	}
	return json.Unmarshal(b, v)
}
