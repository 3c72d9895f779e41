// Package pipe provides the pieces from which the tunnelling transports
// build net.Conns: a bounded byte buffer whose reads and writes block
// until data or space arrive, a deadline, or the end of the conn, and a
// resettable deadline in the manner of net.Pipe, on any clock.Clock.
package pipe

import (
	"io"
	"net"
	"os"
	"sync"
	"time"

	"samizdat/clock"
)

// Buffer is a bounded FIFO of bytes between one producer and one consumer
// goroutine (more are safe, but order among them is not defined). The zero
// value is not usable; call NewBuffer.
type Buffer struct {
	mu   sync.Mutex
	b    []byte        // guarded by mu
	max  int           // fixed
	err  error         // set once by Close; readers see it after the data; guarded by mu
	wake chan struct{} // closed and replaced on a change someone waits for; guarded by mu
	// waited: a goroutine took wake since it was last replaced; guarded by mu
	waited bool
}

// NewBuffer returns a buffer holding at most max bytes.
func NewBuffer(max int) *Buffer {
	return &Buffer{max: max, wake: make(chan struct{})}
}

// changed wakes the goroutines waiting on wake. Without waiters it does
// nothing, sparing a channel per read and write on the data path.
func (b *Buffer) changed() {
	if !b.waited {
		return
	}
	close(b.wake)
	b.wake = make(chan struct{})
	b.waited = false
}

// waitChan returns the channel that the next change closes; b.mu is held.
func (b *Buffer) waitChan() <-chan struct{} {
	b.waited = true
	return b.wake
}

// Write appends p, blocking while the buffer is full. It stops early with
// os.ErrDeadlineExceeded when deadline fires and net.ErrClosed when done
// fires or the buffer has been closed.
func (b *Buffer) Write(p []byte, deadline, done <-chan struct{}) (int, error) {
	n := 0
	for {
		b.mu.Lock()
		if b.err != nil {
			b.mu.Unlock()
			return n, net.ErrClosed
		}
		if room := b.max - len(b.b); room > 0 && len(p) > 0 {
			k := min(room, len(p))
			b.b = append(b.b, p[:k]...)
			p = p[k:]
			n += k
			b.changed()
		}
		if len(p) == 0 {
			b.mu.Unlock()
			return n, nil
		}
		wake := b.waitChan()
		b.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			return n, os.ErrDeadlineExceeded
		case <-done:
			return n, net.ErrClosed
		}
	}
}

// Read takes up to len(p) bytes, blocking until there is at least one. After
// Close it returns the remaining data and then Close's error. deadline and
// done end the wait as for Write.
func (b *Buffer) Read(p []byte, deadline, done <-chan struct{}) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		b.mu.Lock()
		if len(b.b) > 0 {
			n := copy(p, b.b)
			b.b = b.b[n:]
			if len(b.b) == 0 {
				b.b = nil
			}
			b.changed()
			b.mu.Unlock()
			return n, nil
		}
		if b.err != nil {
			err := b.err
			b.mu.Unlock()
			return 0, err
		}
		wake := b.waitChan()
		b.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			return 0, os.ErrDeadlineExceeded
		case <-done:
			return 0, net.ErrClosed
		}
	}
}

// Wait blocks until the buffer holds data or is closed, or until stop1 or
// stop2 fires (either may be nil); it reports whether data or the close
// arrived.
func (b *Buffer) Wait(stop1, stop2 <-chan struct{}) bool {
	for {
		b.mu.Lock()
		ready := len(b.b) > 0 || b.err != nil
		wake := b.waitChan()
		b.mu.Unlock()
		if ready {
			return true
		}
		select {
		case <-wake:
		case <-stop1:
			return false
		case <-stop2:
			return false
		}
	}
}

// Len returns the number of buffered bytes.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.b)
}

// Close marks the end of the stream: later writes fail, and reads return
// err (io.EOF if nil) once the data is drained. Only the first Close counts.
func (b *Buffer) Close(err error) {
	if err == nil {
		err = io.EOF
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
		b.changed()
	}
}

// Discard drops the buffered data, freeing blocked writers.
func (b *Buffer) Discard() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = nil
	b.changed()
}

// Deadline is a resettable deadline: a channel that is closed when the
// time set passes on Clock. The zero value has no deadline and runs on the
// real clock.
type Deadline struct {
	// Clock is the clock t is read on; nil means clock.Real. Set it
	// before the first Set.
	Clock clock.Clock

	mu    sync.Mutex
	timer clock.Timer   // guarded by mu
	c     chan struct{} // guarded by mu
}

// Set arms the deadline for t; the zero time disarms it.
func (d *Deadline) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		d.c = make(chan struct{})
	}
	if d.timer != nil && !d.timer.Stop() {
		<-d.c // the timer fired (or is firing); wait for the close
	}
	d.timer = nil
	closed := isClosed(d.c)
	if t.IsZero() {
		if closed {
			d.c = make(chan struct{})
		}
		return
	}
	clk := clock.Or(d.Clock)
	dur := clk.Until(t)
	if dur <= 0 {
		if !closed {
			close(d.c)
		}
		return
	}
	if closed {
		d.c = make(chan struct{})
	}
	c := d.c
	d.timer = clk.AfterFunc(dur, func() { close(c) })
}

// Done returns a channel closed once the deadline passes.
func (d *Deadline) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		d.c = make(chan struct{})
	}
	return d.c
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Addr is a net.Addr for conns whose ends have no useful address.
type Addr string

func (a Addr) Network() string { return string(a) }
func (a Addr) String() string  { return string(a) }

// Conn is a net.Conn over two buffers: In, which the transport fills from
// the network and Read drains, and Out, which Write fills and the
// transport drains to the network. The transport watches Done and calls
// Close's hook through OnClose.
type Conn struct {
	In, Out       *Buffer
	Local, Remote net.Addr
	// OnClose runs once, in Close, after Done is closed; it should tell
	// the peer and wait for the transport's goroutines. Set it before the
	// conn is used.
	OnClose func() error

	rd, wd    Deadline
	done      chan struct{}
	outErr    error // what Close leaves the reader of Out: net.ErrClosed, or io.EOF for a Pair
	closeOnce sync.Once
	closeErr  error
}

// NewConn returns a conn with buffers of size bufSize, its deadlines on
// clk (nil: clock.Real).
func NewConn(bufSize int, local, remote net.Addr, clk clock.Clock) *Conn {
	return newConn(NewBuffer(bufSize), NewBuffer(bufSize), local, remote, clk, net.ErrClosed)
}

func newConn(in, out *Buffer, local, remote net.Addr, clk clock.Clock, outErr error) *Conn {
	return &Conn{
		In: in, Out: out,
		Local: local, Remote: remote,
		rd: Deadline{Clock: clk}, wd: Deadline{Clock: clk},
		done:   make(chan struct{}),
		outErr: outErr,
	}
}

// Pair returns the two ends of an in-memory stream, each buffering up to
// bufSize bytes on its way, with deadlines on clk (nil: clock.Real), in the
// manner of net.Pipe: closing one end gives the other io.EOF once it has
// read what was sent, and fails its writes.
func Pair(bufSize int, a, b net.Addr, clk clock.Clock) (*Conn, *Conn) {
	ab, ba := NewBuffer(bufSize), NewBuffer(bufSize)
	ca := newConn(ba, ab, a, b, clk, io.EOF)
	cb := newConn(ab, ba, b, a, clk, io.EOF)
	for _, c := range []*Conn{ca, cb} {
		c.OnClose = func() error {
			c.In.Close(net.ErrClosed) // the peer's writes fail
			c.In.Discard()
			return nil
		}
	}
	return ca, cb
}

var _ net.Conn = (*Conn)(nil)

// Done is closed when Close is called.
func (c *Conn) Done() <-chan struct{} { return c.done }

func (c *Conn) Read(p []byte) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.In.Read(p, c.rd.Done(), c.done)
}

func (c *Conn) Write(p []byte) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	case <-c.wd.Done():
		return 0, os.ErrDeadlineExceeded
	default:
	}
	return c.Out.Write(p, c.wd.Done(), c.done)
}

// Close ends the conn; it is safe to call more than once and from any
// goroutine.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.Out.Close(c.outErr)
		if c.OnClose != nil {
			c.closeErr = c.OnClose()
		}
	})
	return c.closeErr
}

func (c *Conn) LocalAddr() net.Addr  { return c.Local }
func (c *Conn) RemoteAddr() net.Addr { return c.Remote }

func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.Set(t)
	c.wd.Set(t)
	return nil
}
func (c *Conn) SetReadDeadline(t time.Time) error  { c.rd.Set(t); return nil }
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.Set(t); return nil }
