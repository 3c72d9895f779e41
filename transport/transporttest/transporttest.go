// Package transporttest checks that a transport behaves as the relay and
// the client expect — every transport must pass it: streams carry bytes
// both ways in order, including large writes; Close on one side ends the
// other's reads; Close is idempotent and safe against concurrent writes;
// read and write deadlines time out without breaking the conn; Dial honors
// its context, also while stuck mid-handshake; and nothing leaks
// goroutines.
package transporttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"samizdat/internal/leaktest"
	"samizdat/transport"
)

// patience bounds every wait for something that must happen. A wait ends
// as soon as it happens, so only a failing check waits this long; a busy
// machine can take seconds.
const patience = time.Minute

// Options adjusts RunWith.
type Options struct {
	// Settle runs before the goroutine-leak check, e.g. to drop idle
	// connections that test servers (a CDN) keep by design.
	Settle func()
}

// Run runs the conformance checks against a listener and a dialer that
// reaches it at addr. It closes l when done.
func Run(t *testing.T, l transport.Listener, d transport.Dialer, addr string) {
	t.Helper()
	RunWith(t, l, d, addr, Options{})
}

// RunWith is Run with options.
func RunWith(t *testing.T, l transport.Listener, d transport.Dialer, addr string, opt Options) {
	t.Helper()
	before := runtime.NumGoroutine()
	defer l.Close()
	accepted := make(chan net.Conn)
	acceptDone := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case accepted <- c:
			case <-stop:
				c.Close()
				return
			}
		}
	}()
	dial := func(t *testing.T) (client, server net.Conn) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		c, err := d.Dial(ctx, addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		select {
		case s := <-accepted:
			return c, s
		case <-time.After(patience):
			c.Close()
			t.Fatal("accept timed out")
			return nil, nil
		}
	}

	t.Run("both ways", func(t *testing.T) {
		c, s := dial(t)
		defer c.Close()
		defer s.Close()
		msg := bytes.Repeat([]byte("samizdat"), 64<<10) // 512 KiB, more than socket buffers
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(msg)
			errc <- err
		}()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("server read: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write([]byte("pong")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
			t.Fatalf("client read %q: %v", buf, err)
		}
	})

	t.Run("ordering", func(t *testing.T) {
		c, s := dial(t)
		defer c.Close()
		defer s.Close()
		const n = 2000
		for _, dir := range []struct {
			name string
			w, r net.Conn
		}{{"up", c, s}, {"down", s, c}} {
			errc := make(chan error, 1)
			go func() {
				var b [8]byte
				for i := range n {
					binary.BigEndian.PutUint64(b[:], uint64(i))
					if _, err := dir.w.Write(b[:]); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			var b [8]byte
			for i := range n {
				if _, err := io.ReadFull(dir.r, b[:]); err != nil {
					t.Fatalf("%s: read %d: %v", dir.name, i, err)
				}
				if got := binary.BigEndian.Uint64(b[:]); got != uint64(i) {
					t.Fatalf("%s: got %d, want %d", dir.name, got, i)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("large messages", func(t *testing.T) {
		c, s := dial(t)
		defer c.Close()
		defer s.Close()
		up := make([]byte, 1<<20)
		down := make([]byte, 1<<20)
		for i := range up {
			up[i] = byte(i * 7)
			down[i] = byte(i * 13)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for _, x := range []struct {
			w, r net.Conn
			msg  []byte
		}{{c, s, up}, {s, c, down}} {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := x.w.Write(x.msg); err != nil {
					errs <- err
				}
			}()
			go func() {
				defer wg.Done()
				got := make([]byte, len(x.msg))
				if _, err := io.ReadFull(x.r, got); err != nil {
					errs <- err
				} else if !bytes.Equal(got, x.msg) {
					errs <- errors.New("1 MiB message corrupted")
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})

	t.Run("close ends reads", func(t *testing.T) {
		c, s := dial(t)
		defer s.Close()
		c.Close()
		s.SetReadDeadline(time.Now().Add(patience))
		if _, err := s.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after peer close: %v", err)
		}
	})

	t.Run("server close ends reads", func(t *testing.T) {
		c, s := dial(t)
		defer c.Close()
		s.Close()
		c.SetReadDeadline(time.Now().Add(patience))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after peer close: %v", err)
		}
	})

	t.Run("close idempotent", func(t *testing.T) {
		c, s := dial(t)
		defer s.Close()
		c.Close()
		done := make(chan struct{})
		go func() {
			c.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(patience):
			t.Fatal("second Close hangs")
		}
		if _, err := c.Write([]byte("x")); err == nil {
			t.Fatal("write after close succeeded")
		}
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("read after close succeeded")
		}
	})

	t.Run("concurrent write and close", func(t *testing.T) {
		c, s := dial(t)
		defer s.Close()
		go io.Copy(io.Discard, s)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		closed := make(chan struct{})
		go func() {
			c.Close()
			close(closed)
		}()
		go c.Close()
		done := make(chan struct{})
		go func() {
			wg.Wait()
			<-closed
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(patience):
			t.Fatal("writers or Close did not return after Close")
		}
	})

	t.Run("read deadline", func(t *testing.T) {
		c, s := dial(t)
		defer c.Close()
		defer s.Close()
		for _, x := range []net.Conn{s, c} {
			x.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, err := x.Read(make([]byte, 1)); !isTimeout(err) {
				t.Fatalf("got %v, want a timeout", err)
			}
			x.SetReadDeadline(time.Now().Add(-time.Second))
			if _, err := x.Read(make([]byte, 1)); !isTimeout(err) {
				t.Fatalf("past deadline: got %v, want a timeout", err)
			}
		}
		// the conn still works once the deadline is lifted
		s.SetReadDeadline(time.Time{})
		if _, err := c.Write([]byte("ok")); err != nil {
			t.Fatal(err)
		}
		s.SetReadDeadline(time.Now().Add(patience))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ok" {
			t.Fatalf("after a timeout: %q, %v", buf, err)
		}
	})

	t.Run("write deadline", func(t *testing.T) {
		c, s := dial(t)
		defer c.Close()
		defer s.Close()
		// nobody reads s: writes must fill the buffers and then time out
		c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 64<<10)
		start := time.Now()
		var err error
		for time.Since(start) < patience {
			if _, err = c.Write(buf); err != nil {
				break
			}
		}
		if !isTimeout(err) {
			t.Fatalf("got %v, want a timeout", err)
		}
	})

	t.Run("canceled dial", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if c, err := d.Dial(ctx, addr); err == nil {
			c.Close()
			t.Fatal("dial with a canceled context succeeded")
		}
	})

	t.Run("dial canceled while stalled", func(t *testing.T) {
		// a server that accepts and then says nothing
		sl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var held []net.Conn
		var mu sync.Mutex
		heldDone := make(chan struct{})
		go func() {
			defer close(heldDone)
			for {
				c, err := sl.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
		defer func() {
			sl.Close()
			<-heldDone
			mu.Lock()
			for _, c := range held {
				c.Close()
			}
			mu.Unlock()
		}()
		// The server never answers: only the context ends the dial.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		dialed := make(chan struct{})
		go func() {
			defer close(dialed)
			if c, err := d.Dial(ctx, sl.Addr().String()); err == nil {
				c.Close() // plain streams need no handshake; nothing to stall
			}
		}()
		select {
		case <-dialed:
		case <-time.After(patience):
			t.Fatalf("dial still running %v after its context ended", patience)
		}
	})

	close(stop)
	l.Close()
	<-acceptDone

	t.Run("no goroutine leaks", func(t *testing.T) {
		if opt.Settle != nil {
			opt.Settle()
		}
		leaktest.AtMost(t, before+1) // +1: this subtest
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

// BenchRoundTrip dials once, runs n 1 KiB echo round trips (an echo server
// on l's side) and returns the mean nanoseconds per round trip. Benchmarks
// call it for their transport and for tcp to report a ratio.
func BenchRoundTrip(b *testing.B, l net.Listener, dial func() (net.Conn, error), n int) float64 {
	b.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		io.Copy(s, s)
	}()
	c, err := dial()
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 1024)
	buf := make([]byte, 1024)
	start := time.Now()
	for range n {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	c.Close()
	<-done
	return float64(el.Nanoseconds()) / float64(max(n, 1))
}

// Opens dials addr with d and waits until l accepts the tunnel, closing
// both; it fails t unless both happen within a minute. It is how a test
// shows that a client still gets through (after a flood, say).
func Opens(t testing.TB, l net.Listener, d transport.Dialer, addr string) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := d.Dial(ctx, addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	select {
	case sc := <-accepted:
		sc.Close()
	case <-ctx.Done():
		t.Fatal("the tunnel was dialled but never accepted")
	}
}
