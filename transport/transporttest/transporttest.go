// Package transporttest checks that a transport behaves as the relay and
// the client expect: streams carry bytes both ways in order, Close on one
// side ends the other's reads, and Dial honors its context.
package transporttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"samizdat/transport"
)

// Run runs the conformance checks against a listener and a dialer that
// reaches it at addr. It closes l when done.
func Run(t *testing.T, l transport.Listener, d transport.Dialer, addr string) {
	t.Helper()
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
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := d.Dial(ctx, addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		select {
		case s := <-accepted:
			return c, s
		case <-time.After(5 * time.Second):
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

	t.Run("close ends reads", func(t *testing.T) {
		c, s := dial(t)
		defer s.Close()
		c.Close()
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := s.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read after peer close: %v", err)
		}
	})

	t.Run("read deadline", func(t *testing.T) {
		c, s := dial(t)
		defer c.Close()
		defer s.Close()
		s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		var ne net.Error
		if _, err := s.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
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

	close(stop)
	l.Close()
	<-acceptDone
}
