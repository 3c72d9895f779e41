package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// ErrNotInstalled means the harness's npm dependencies are missing
// (run `npm ci` in the harness directory).
var ErrNotInstalled = errors.New("interop: libsignal harness not installed")

// ErrClosed means the harness process has exited or the driver was closed.
var ErrClosed = errors.New("interop: harness closed")

// HarnessError is a failure reported by the harness for one request:
// libsignal's error name, code and message.
type HarnessError struct {
	Op  string
	Msg string
}

func (e *HarnessError) Error() string { return fmt.Sprintf("interop: libsignal %s: %s", e.Op, e.Msg) }

// Driver talks to one running harness process. Its methods are safe for
// concurrent use; the harness handles requests one at a time, in order.
type Driver struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	writeMu sync.Mutex // serialises writes to stdin

	mu      sync.Mutex // guards the fields below
	nextID  int64
	pending map[int64]chan response
	dead    error // set once the reader stops

	stderr   *capBuffer
	done     chan struct{} // closed when the reader goroutine exits
	waitOnce sync.Once
	waitErr  error
}

type request struct {
	ID   int64  `json:"id"`
	Op   string `json:"op"`
	Args any    `json:"args,omitempty"`
}

type response struct {
	ID     int64           `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

// Installed reports whether dir (the folder holding harness.mjs and
// package.json) has its npm dependencies installed.
func Installed(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "node_modules", "@signalapp", "libsignal-client", "package.json"))
	return err == nil && !fi.IsDir()
}

// Start launches `node harness.mjs` in dir. The process lives until Close
// (or until ctx is cancelled, which kills it).
func Start(ctx context.Context, dir string) (*Driver, error) {
	if !Installed(dir) {
		return nil, fmt.Errorf("%w in %s (run `npm ci` there)", ErrNotInstalled, dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("interop: node not found: %w", err)
	}
	cmd := exec.CommandContext(ctx, node, "harness.mjs")
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("interop: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("interop: stdout pipe: %w", err)
	}
	d := &Driver{
		cmd:     cmd,
		stdin:   stdin,
		pending: make(map[int64]chan response),
		stderr:  &capBuffer{max: 64 << 10},
		done:    make(chan struct{}),
	}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("interop: start harness: %w", err)
	}
	go d.read(stdout)
	return d, nil
}

func (d *Driver) read(r io.Reader) {
	defer close(d.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		var resp response
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
			continue // not ours (a stray log line); ignore
		}
		d.mu.Lock()
		ch := d.pending[resp.ID]
		delete(d.pending, resp.ID)
		d.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
	d.mu.Lock()
	d.dead = ErrClosed
	if err := sc.Err(); err != nil {
		d.dead = fmt.Errorf("%w: %v", ErrClosed, err)
	}
	for id, ch := range d.pending {
		close(ch)
		delete(d.pending, id)
	}
	d.mu.Unlock()
}

// Call sends one request and decodes its result into result (which may be
// nil). A failure inside libsignal comes back as *HarnessError.
func (d *Driver) Call(ctx context.Context, op string, args, result any) error {
	d.mu.Lock()
	if d.dead != nil {
		err := d.dead
		d.mu.Unlock()
		return fmt.Errorf("%w (stderr: %s)", err, d.stderr.String())
	}
	d.nextID++
	id := d.nextID
	ch := make(chan response, 1)
	d.pending[id] = ch
	d.mu.Unlock()

	line, err := json.Marshal(request{ID: id, Op: op, Args: args})
	if err != nil {
		d.forget(id)
		return fmt.Errorf("interop: encode %s: %w", op, err)
	}
	d.writeMu.Lock()
	_, err = d.stdin.Write(append(line, '\n'))
	d.writeMu.Unlock()
	if err != nil {
		d.forget(id)
		return fmt.Errorf("interop: send %s: %w", op, err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return fmt.Errorf("%w during %s (stderr: %s)", ErrClosed, op, d.stderr.String())
		}
		if !resp.OK {
			return &HarnessError{Op: op, Msg: resp.Error}
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("interop: decode %s result: %w", op, err)
		}
		return nil
	case <-ctx.Done():
		d.forget(id)
		return fmt.Errorf("interop: %s: %w", op, ctx.Err())
	}
}

func (d *Driver) forget(id int64) {
	d.mu.Lock()
	delete(d.pending, id)
	d.mu.Unlock()
}

// Close ends the harness (closing its stdin lets it finish queued work and
// exit) and waits for it. It is safe to call more than once.
func (d *Driver) Close() error {
	d.waitOnce.Do(func() {
		d.stdin.Close()
		<-d.done
		if err := d.cmd.Wait(); err != nil {
			d.waitErr = fmt.Errorf("interop: harness exit: %w (stderr: %s)", err, d.stderr.String())
		}
	})
	return d.waitErr
}

// Stderr returns what the harness wrote to stderr so far (capped).
func (d *Driver) Stderr() string { return d.stderr.String() }

// capBuffer keeps the first max bytes written to it.
type capBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		if len(p) > room {
			c.buf.Write(p[:room])
		} else {
			c.buf.Write(p)
		}
	}
	return len(p), nil
}

func (c *capBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
