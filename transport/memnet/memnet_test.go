package memnet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"samizdat/clock"
	"samizdat/transport/memnet"
	"samizdat/transport/transporttest"
)

// dialer adapts a Network to transport.Dialer.
type dialer struct{ n *memnet.Network }

func (d dialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return d.n.Dial(ctx, "tcp", addr)
}

func TestTransportConformance(t *testing.T) {
	n := memnet.New(nil)
	l, err := n.Listen("relay.example:443")
	if err != nil {
		t.Fatal(err)
	}
	transporttest.Run(t, l, dialer{n}, "relay.example:443")
}

func TestNetConn(t *testing.T) {
	n := memnet.New(nil)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		l, err := n.Listen("peer:0")
		if err != nil {
			return nil, nil, nil, err
		}
		defer l.Close()
		c1, err = n.Dial(context.Background(), "tcp", l.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		c2, err = l.Accept()
		if err != nil {
			c1.Close()
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

func TestListenDial(t *testing.T) {
	n := memnet.New(nil)
	if _, err := n.Dial(context.Background(), "tcp", "nobody:1"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to nothing: %v, want ECONNREFUSED", err)
	}
	l, err := n.Listen("a:0")
	if err != nil {
		t.Fatal(err)
	}
	if l.Addr().String() != "a:1" || l.Addr().Network() != "mem" {
		t.Fatalf("Addr = %v/%v", l.Addr().Network(), l.Addr())
	}
	if _, err := n.Listen("a:1"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second listen: %v, want EADDRINUSE", err)
	}
	c, err := n.Dial(context.Background(), "tcp", "a:1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if s.RemoteAddr() != c.LocalAddr() || c.RemoteAddr() != l.Addr() {
		t.Fatalf("addresses: %v->%v, %v<-%v", c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr())
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "hi" {
		t.Fatalf("ReadAll = %q, %v; want \"hi\", nil (EOF after the peer closed)", got, err)
	}
	if _, err := s.Write([]byte("x")); err == nil {
		t.Fatal("write to a closed peer succeeded")
	}
	l.Close()
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := n.Dial(context.Background(), "tcp", "a:1"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Close: %v, want ECONNREFUSED", err)
	}
	if _, err := n.Listen("a:1"); err != nil {
		t.Fatalf("listen again after Close: %v", err)
	}
}

// TestSimDeadlines: deadlines are read on the network's simulated clock,
// and expire exactly when it says, however long that takes on the wall.
func TestSimDeadlines(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t.Cleanup(s.Start())
	n := memnet.New(s)
	l, err := n.Listen("relay:443")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t0 := s.Now()
	c, err := n.Dial(context.Background(), "tcp", "relay:443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// A wall-clock deadline is years ahead on the simulated clock: a read
	// still times out at the simulated deadline set afterwards, not before.
	c.SetReadDeadline(time.Now())
	c.SetReadDeadline(s.Now().Add(90 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want a deadline error", err)
	}
	if d := s.Since(t0); d != 90*time.Second {
		t.Fatalf("read timed out at +%v, want +90s", d)
	}

	// Writes time out when the peer does not read and the buffer is full.
	c.SetWriteDeadline(s.Now().Add(time.Hour))
	buf := make([]byte, 1<<20)
	var werr error
	for werr == nil {
		_, werr = c.Write(buf)
	}
	if !errors.Is(werr, os.ErrDeadlineExceeded) {
		t.Fatalf("Write = %v, want a deadline error", werr)
	}
	if d := s.Since(t0); d != time.Hour+90*time.Second {
		t.Fatalf("write timed out at +%v, want +1h1m30s", d)
	}

	// The "abort now" deadline of noisechan fires at once.
	p.SetReadDeadline(time.Unix(1, 0))
	if _, err := p.Read(make([]byte, 1)); err != nil {
		t.Fatalf("data was buffered; Read = %v", err)
	}

	// A dial to a full backlog ends with its simulated context.
	full, err := n.Listen("full:1")
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	for {
		ctx, cancel := s.WithTimeout(context.Background(), time.Minute)
		start := s.Now()
		dc, err := n.Dial(ctx, "tcp", "full:1")
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("dial = %v, want DeadlineExceeded", err)
			}
			if d := s.Since(start); d != time.Minute {
				t.Fatalf("dial gave up after %v, want 1m", d)
			}
			break
		}
		defer dc.Close()
	}
}
