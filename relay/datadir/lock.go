package datadir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the file in the data directory a running relay holds an
// flock on; it contains the relay's process id, for people.
const LockFile = "relay.lock"

// ErrInUse means a running relay holds the data directory.
var ErrInUse = errors.New("datadir: a relay is running on this data directory")

// Lock is a held data directory.
type Lock struct{ f *os.File }

// Acquire takes dir (which must exist) for this process, or returns an
// error wrapping ErrInUse that names the process holding it.
func Acquire(dir string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		err = lockError(dir, f, err)
		f.Close()
		return nil, err
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// inUse says whether a running relay holds dir, without changing it.
func inUse(dir string) error {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return lockError(dir, f, err)
	}
	return nil // closing f drops the shared lock
}

// lockError is what a failed flock of dir's lock file f means: ErrInUse,
// naming the process that holds it, or err.
func lockError(dir string, f *os.File, err error) error {
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("datadir: locking %s: %w", dir, err)
	}
	by, _ := io.ReadAll(io.LimitReader(f, 32))
	if pid := strings.TrimSpace(string(by)); pid != "" {
		return fmt.Errorf("%w (%s, process %s)", ErrInUse, dir, pid)
	}
	return fmt.Errorf("%w (%s)", ErrInUse, dir)
}

// Close releases the lock; it is safe to call twice.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
