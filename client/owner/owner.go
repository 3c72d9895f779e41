// Package owner lets one long-running process own a client's home
// directory and run the commands of other processes for them.
//
// A device has one connection to its relay: a second connection from the
// same home replaces the first. So while a long-running command (a chat, a
// bridge, the web client) holds the home, a one-shot command typed in
// another terminal (send, recv, contacts, ...) must not open its own
// connection. Instead it hands its command line to the owner over a unix
// socket, and the owner runs it with its open client and streams back what
// the command prints and its exit status.
//
// Claim takes the home with an exclusive lock on HOME/owner.lock (released
// by the kernel when the process dies, so a crash never leaves the home
// stuck) and listens on HOME/owner.sock, mode 0600; a home whose path is
// too long for a unix socket gets a socket under a private (0700)
// directory in the system's temporary directory instead. Call is the other
// side. The owner also checks, where the system tells it (Linux), that the
// peer runs as the same user.
//
// Security: the socket gives whoever can open it everything the owner's
// client can do (send as the user, read history), exactly like the home
// directory itself; it is no wider than the home's own permissions.
package owner

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// File names in the home directory.
const (
	LockFile   = "owner.lock"
	SocketFile = "owner.sock"
)

// maxSocketPath is the longest socket path used in the home; sun_path holds
// 108 bytes on Linux and 104 on the BSDs.
const maxSocketPath = 100

// maxRequest bounds a request's size (a command line).
const maxRequest = 1 << 20

// HeldError says that another process owns the home.
type HeldError struct {
	Home string
	By   string // what owns it, as that process described itself: "samizdat chat (pid 123)"
}

func (e *HeldError) Error() string {
	by := e.By
	if by == "" {
		by = "another samizdat process"
	}
	return fmt.Sprintf("%s already owns %s", by, e.Home)
}

// Request is one command line handed to the owner.
type Request struct {
	Args []string `json:"args"` // the command and its arguments, as typed after "samizdat"
	Cwd  string   `json:"cwd"`  // the caller's working directory, for relative paths
	// Stdin is what the command reads from standard input ("import -"),
	// read by the caller before the call; at most MaxStdin bytes.
	Stdin []byte `json:"stdin,omitempty"`
}

// MaxStdin bounds the standard input a caller hands over.
const MaxStdin = 512 << 10

// Handler runs one request, writing what the command prints to stdout and
// stderr, and returns its exit status. ctx is cancelled when the caller
// goes away (Ctrl-C in the other terminal).
type Handler func(ctx context.Context, req Request, stdout, stderr io.Writer) int

// Owner holds a home. Close releases it.
type Owner struct {
	home string
	who  string
	lock *os.File
	ln   net.Listener
	path string

	ctx    context.Context // cancelled by Close: ends the commands under way
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Claim takes home for this process, which describes itself as who (shown
// to a second process that tries). It returns a *HeldError if another
// process holds it.
func Claim(home, who string) (*Owner, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(home, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		by, _ := io.ReadAll(io.LimitReader(f, 200))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HeldError{Home: home, By: strings.TrimSpace(string(by))}
		}
		return nil, fmt.Errorf("owner: locking %s: %w", home, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(who+"\n"), 0)
	}
	path, err := SocketPath(home)
	if err != nil {
		f.Close()
		return nil, err
	}
	// The lock proves no live owner listens there: a socket file left by a
	// process that died is stale.
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("owner: listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		f.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Owner{home: home, who: who, lock: f, ln: ln, path: path, ctx: ctx, cancel: cancel}, nil
}

// SocketPath is where the owner of home listens.
func SocketPath(home string) (string, error) {
	abs, err := filepath.Abs(home)
	if err != nil {
		return "", err
	}
	p := filepath.Join(abs, SocketFile)
	if len(p) <= maxSocketPath {
		return p, nil
	}
	dir := filepath.Join(os.TempDir(), "samizdat-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	if !st.IsDir() || st.Mode().Perm() != 0o700 || !ownedByMe(st) {
		return "", fmt.Errorf("owner: %s is not a private directory of this user; refusing to put a socket there", dir)
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(dir, hex.EncodeToString(sum[:12])+".sock"), nil
}

// Serve runs h for every caller until Close. It returns nil after Close.
func (o *Owner) Serve(h Handler) error {
	for {
		c, err := o.ln.Accept()
		if err != nil {
			o.mu.Lock()
			closed := o.closed
			o.mu.Unlock()
			if closed {
				return nil
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return err
		}
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			c.Close()
			return nil
		}
		o.wg.Add(1)
		o.mu.Unlock()
		go func() {
			defer o.wg.Done()
			o.serveConn(c, h)
		}()
	}
}

// Close stops serving, cancels the commands under way and waits for them,
// removes the socket and releases the home. It is safe to call more than
// once.
func (o *Owner) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	err := o.ln.Close()
	o.cancel()
	o.wg.Wait()
	os.Remove(o.path)
	o.lock.Close() // releases the flock
	return err
}

// Frame kinds from owner to caller.
const (
	frameAccepted = 0 // the owner took the request
	frameStdout   = 1
	frameStderr   = 2
	frameExit     = 3 // 4 bytes: the exit status; the last frame
)

func (o *Owner) serveConn(c net.Conn, h Handler) {
	defer c.Close()
	if err := checkPeer(c); err != nil {
		return
	}
	br := bufio.NewReader(c)
	req, err := readRequest(br)
	if err != nil {
		return
	}
	w := &frameWriter{w: c}
	if err := w.frame(frameAccepted, nil); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(o.ctx)
	defer cancel()
	go func() {
		// The caller sends nothing more: a read returns when it hangs
		// up (Ctrl-C) or when we close the connection.
		io.Copy(io.Discard, br)
		cancel()
	}()
	code := h(ctx, req, w.stream(frameStdout), w.stream(frameStderr))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	w.frame(frameExit, b[:])
}

func readRequest(r io.Reader) (Request, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return Request{}, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxRequest {
		return Request{}, errors.New("owner: request too large")
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return Request{}, err
	}
	var req Request
	if err := json.Unmarshal(b, &req); err != nil || len(req.Args) == 0 {
		return Request{}, errors.New("owner: malformed request")
	}
	return req, nil
}

// frameWriter writes frames from several goroutines (a command's output and
// the events it prints).
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) frame(kind byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var h [5]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], uint32(len(p)))
	if _, err := f.w.Write(append(h[:], p...)); err != nil {
		return err
	}
	return nil
}

func (f *frameWriter) stream(kind byte) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		if err := f.frame(kind, p); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// Call hands req to the process that owns home and copies what the command
// prints to stdout and stderr. forwarded is false when no owner took the
// request (none is running, or it was just going away): the caller then
// runs the command itself. Once the owner took it, err reports a
// connection lost before the command finished.
func Call(ctx context.Context, home string, req Request, stdout, stderr io.Writer) (code int, forwarded bool, err error) {
	path, err := SocketPath(home)
	if err != nil {
		return 0, false, nil
	}
	if _, err := os.Stat(path); err != nil {
		return 0, false, nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return 0, false, nil // nobody listens: a stale socket
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return 0, false, err
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := c.Write(append(n[:], b...)); err != nil {
		return 0, false, nil
	}
	br := bufio.NewReader(c)
	accepted := false
	for {
		var h [5]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if ctx.Err() != nil {
				return 0, true, ctx.Err() // interrupted: run nothing here either
			}
			if !accepted {
				return 0, false, nil
			}
			return 0, true, errors.New("the process owning this home went away before the command finished")
		}
		size := binary.BigEndian.Uint32(h[1:])
		if size > maxRequest {
			return 0, true, errors.New("owner: frame too large")
		}
		p := make([]byte, size)
		if _, err := io.ReadFull(br, p); err != nil {
			return 0, true, errors.New("the process owning this home went away before the command finished")
		}
		switch h[0] {
		case frameAccepted:
			accepted = true
		case frameStdout:
			stdout.Write(p)
		case frameStderr:
			stderr.Write(p)
		case frameExit:
			if len(p) != 4 {
				return 0, true, errors.New("owner: malformed exit frame")
			}
			return int(binary.BigEndian.Uint32(p)), true, nil
		}
	}
}
