// Package memnet is an in-memory network for tests and the censor lab:
// listeners bound to names, a dialer that reaches them
// (transport.NetDial-compatible), and conns that carry bytes through
// bounded buffers, with read and write deadlines on the network's
// clock.Clock. On a clock.Sim, every wait in it (a read for data, a write
// for room, a dial for the accept backlog) is a channel wait, so a
// quiescent world is detected and time moves only as the clock says.
//
// Bytes arrive without delay: a write is readable at once, at the same
// simulated instant.
package memnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"

	"samizdat/clock"
	"samizdat/transport"
	"samizdat/transport/internal/pipe"
)

// Network is a set of listeners and the conns between them and dialers.
// The zero value is not usable; call New.
type Network struct {
	clk     clock.Clock
	bufSize int

	mu        sync.Mutex
	listeners map[string]*Listener // guarded by mu; by address
	dials     int                  // guarded by mu; names the dialing ends
}

// DefaultBufSize is how many bytes a conn buffers each way before writes
// block.
const DefaultBufSize = 64 << 10

// New returns an empty network whose deadlines run on clk (nil:
// clock.Real).
func New(clk clock.Clock) *Network {
	return &Network{clk: clock.Or(clk), bufSize: DefaultBufSize, listeners: map[string]*Listener{}}
}

// Addr is an address on a Network.
type Addr string

// Network returns "mem".
func (Addr) Network() string  { return "mem" }
func (a Addr) String() string { return string(a) }

// backlog is how many dialled conns wait for Accept before Dial blocks.
const backlog = 128

// Listen binds a listener to address (host:port; port 0 picks a free
// one).
func (n *Network) Listen(address string) (*Listener, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("memnet: listen %q: %w", address, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if port == "0" {
		for p := 1; ; p++ {
			address = net.JoinHostPort(host, strconv.Itoa(p))
			if n.listeners[address] == nil {
				break
			}
		}
	}
	if n.listeners[address] != nil {
		return nil, &net.OpError{Op: "listen", Net: "mem", Addr: Addr(address), Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	}
	l := &Listener{n: n, addr: Addr(address), accept: make(chan *pipe.Conn, backlog), done: make(chan struct{})}
	n.listeners[address] = l
	return l, nil
}

var _ transport.NetDial = (*Network)(nil).Dial

// Dial connects to the listener bound to address; network is ignored
// (any stream network). It fails with an error wrapping
// syscall.ECONNREFUSED if nothing listens there, and returns ctx's error
// if ctx ends while the listener's backlog is full.
func (n *Network) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	n.mu.Lock()
	l := n.listeners[address]
	n.dials++
	local := Addr("dialer:" + strconv.Itoa(n.dials))
	n.mu.Unlock()
	refused := &net.OpError{Op: "dial", Net: network, Source: local, Addr: Addr(address), Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if l == nil {
		return nil, refused
	}
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: local, Addr: Addr(address), Err: err}
	}
	c, s := pipe.Pair(n.bufSize, local, l.addr, n.clk)
	select {
	case l.accept <- s:
		select {
		case <-l.done: // Close may have missed it in the backlog
			c.Close()
			s.Close()
			return nil, refused
		default:
			return c, nil
		}
	case <-l.done:
		return nil, refused
	case <-ctx.Done():
		c.Close()
		s.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Source: local, Addr: Addr(address), Err: ctx.Err()}
	}
}

// Listener accepts the conns dialled to its address.
type Listener struct {
	n      *Network
	addr   Addr
	accept chan *pipe.Conn
	done   chan struct{}
	once   sync.Once
}

var _ net.Listener = (*Listener)(nil)

// Accept waits for the next conn; after Close it returns net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "mem", Addr: l.addr, Err: net.ErrClosed}
	}
}

// Close unbinds the address and ends pending Accepts; dialled conns not
// yet accepted are closed. It is safe to call more than once.
func (l *Listener) Close() error {
	l.once.Do(func() {
		l.n.mu.Lock()
		delete(l.n.listeners, string(l.addr))
		l.n.mu.Unlock()
		close(l.done)
		for {
			select {
			case c := <-l.accept:
				c.Close()
			default:
				return
			}
		}
	})
	return nil
}

// Addr returns the bound address.
func (l *Listener) Addr() net.Addr { return l.addr }
