// Package blocktest is a test blocker: it sits on loopback between
// clients and relay endpoints and does to each endpoint, switchable at run
// time, what a censor does to an address: let it through, drop it
// silently, reset it, or reset connections whose TLS ClientHello names a
// blocked server (SNI filtering). It is for tests and the censorship lab,
// never for production paths.
//
// Each endpoint gets its own proxy listener on 127.0.0.1 that forwards to
// the real endpoint. Modes apply to new connections and, where a censor
// could do the same, to established ones: Drop blackholes traffic in
// both directions (nothing is closed; only a keepalive notices), Reset
// resets every live connection, and SNIFilter resets the live
// connections whose ClientHello matched.
//
// Drop emulates a dropped SYN as well as a blocker can without raw
// sockets: the connection is accepted (the kernel does that) and then
// nothing ever comes back. Reset uses SO_LINGER 0 so the client sees an
// RST (ECONNRESET), not a clean close.
package blocktest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what a proxy does to traffic.
type Mode int32

// Modes.
const (
	Pass      Mode = iota // forward
	Drop                  // accept and blackhole; established connections go silent
	Reset                 // reset (RST) new and established connections
	SNIFilter             // reset TLS connections whose SNI matches the pattern
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Drop:
		return "drop"
	case Reset:
		return "reset"
	case SNIFilter:
		return "sni-filter"
	}
	return fmt.Sprintf("mode(%d)", int32(m))
}

// Counts is what a proxy did so far.
type Counts struct {
	Accepted int64 // connections accepted
	Passed   int64 // connections forwarded to the endpoint
	Dropped  int64 // connections blackholed (new or established)
	Reset    int64 // connections reset by Reset mode
	Filtered int64 // connections reset by the SNI filter
	Live     int64 // connections open now
}

// hello bounds how long and how much the SNI filter reads before deciding.
const (
	helloTimeout = 5 * time.Second
	helloMax     = 16 << 10
)

// Blocker holds the proxies of one test.
type Blocker struct {
	mu      sync.Mutex
	proxies map[string]*Proxy // by target address; guarded by mu
	closed  bool
}

// New returns an empty Blocker.
func New() *Blocker { return &Blocker{proxies: map[string]*Proxy{}} }

// Add starts a proxy for target ("host:port" of the real endpoint) on
// 127.0.0.1:0, in Pass mode.
func (b *Blocker) Add(target string) (*Proxy, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("blocktest: blocker closed")
	}
	if p := b.proxies[target]; p != nil {
		return p, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, l: l, conns: map[*pconn]bool{}}
	b.proxies[target] = p
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Proxy returns the proxy of target, or nil.
func (b *Blocker) Proxy(target string) *Proxy {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.proxies[target]
}

// NetDial returns a dial function (a transport.NetDial) that sends
// connections for a proxied target through its proxy and everything else
// to next (nil: a net.Dialer), so a manifest can name the real endpoints
// while the client's traffic crosses the blocker.
func (b *Blocker) NetDial(next func(ctx context.Context, network, address string) (net.Conn, error)) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if p := b.Proxy(address); p != nil {
			address = p.Addr()
		}
		if next != nil {
			return next(ctx, network, address)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
}

// Close stops every proxy and closes their connections.
func (b *Blocker) Close() error {
	b.mu.Lock()
	b.closed = true
	ps := b.proxies
	b.proxies = map[string]*Proxy{}
	b.mu.Unlock()
	for _, p := range ps {
		p.Close()
	}
	return nil
}

// Proxy is one endpoint's proxy. Its methods are safe for concurrent use.
type Proxy struct {
	target string
	l      net.Listener
	mode   atomic.Int32
	wg     sync.WaitGroup

	mu      sync.Mutex
	pattern string          // guarded by mu
	conns   map[*pconn]bool // guarded by mu
	closed  bool            // guarded by mu

	accepted, passed, dropped, reset, filtered atomic.Int64
}

// pconn is one proxied connection.
type pconn struct {
	c   net.Conn // client side
	u   net.Conn // endpoint side; nil until dialled
	sni string
	mu  sync.Mutex // guards u
	end sync.Once
}

// Addr is the proxy's address, to give clients instead of the target's.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Target is the real endpoint's address.
func (p *Proxy) Target() string { return p.target }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode { return Mode(p.mode.Load()) }

// Set switches the mode (for SNIFilter use FilterSNI). Reset resets
// every live connection now; Drop makes them go silent.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	p.mode.Store(int32(m))
	var victims []*pconn
	if m == Reset {
		for pc := range p.conns {
			victims = append(victims, pc)
		}
	}
	if m == Drop {
		p.dropped.Add(int64(len(p.conns)))
	}
	p.mu.Unlock()
	for _, pc := range victims {
		p.reset.Add(1)
		pc.rst()
	}
}

// FilterSNI switches to SNIFilter mode with pattern: TLS connections whose
// server name is pattern or a subdomain of it are reset, now and later;
// everything else passes.
func (p *Proxy) FilterSNI(pattern string) {
	p.mu.Lock()
	p.pattern = pattern
	p.mode.Store(int32(SNIFilter))
	var victims []*pconn
	for pc := range p.conns {
		if matchSNI(pattern, pc.sni) {
			victims = append(victims, pc)
		}
	}
	p.mu.Unlock()
	for _, pc := range victims {
		p.filtered.Add(1)
		pc.rst()
	}
}

// Counts returns what the proxy did so far.
func (p *Proxy) Counts() Counts {
	p.mu.Lock()
	live := int64(len(p.conns))
	p.mu.Unlock()
	return Counts{Accepted: p.accepted.Load(), Passed: p.passed.Load(), Dropped: p.dropped.Load(),
		Reset: p.reset.Load(), Filtered: p.filtered.Load(), Live: live}
}

// Close stops the proxy, closes its connections and waits for its
// goroutines. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var all []*pconn
	for pc := range p.conns {
		all = append(all, pc)
	}
	p.mu.Unlock()
	err := p.l.Close()
	for _, pc := range all {
		pc.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		pc := &pconn{c: c}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[pc] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(pc)
	}
}

func (p *Proxy) forget(pc *pconn) {
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
	pc.close()
}

// serve handles one accepted connection according to the mode.
func (p *Proxy) serve(pc *pconn) {
	defer p.wg.Done()
	defer p.forget(pc)
	var head []byte
	switch p.Mode() {
	case Reset:
		p.reset.Add(1)
		pc.rst()
		return
	case Drop:
		p.dropped.Add(1)
		io.Copy(io.Discard, pc.c)
		return
	case SNIFilter:
		head = p.peekHello(pc)
		p.mu.Lock()
		pattern := p.pattern
		p.mu.Unlock()
		if p.Mode() == SNIFilter && matchSNI(pattern, pc.sni) {
			p.filtered.Add(1)
			pc.rst()
			return
		}
	}
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		pc.rst()
		return
	}
	pc.mu.Lock()
	pc.u = u
	pc.mu.Unlock()
	p.passed.Add(1)
	if len(head) > 0 {
		if _, err := u.Write(head); err != nil {
			return
		}
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(u, pc.c); done <- struct{}{} }()
	go func() { p.pipe(pc.c, u); done <- struct{}{} }()
	<-done
	pc.close()
	<-done
}

// peekHello reads the start of the connection until it holds a whole
// ClientHello (or clearly is not one) and records its SNI. It returns the
// bytes read, to forward.
func (p *Proxy) peekHello(pc *pconn) []byte {
	pc.c.SetReadDeadline(time.Now().Add(helloTimeout))
	defer pc.c.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, 2048)
	tmp := make([]byte, 2048)
	for len(buf) < helloMax {
		n, err := pc.c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		sni, perr := ParseSNI(buf)
		if perr == nil {
			p.mu.Lock()
			pc.sni = sni
			p.mu.Unlock()
			return buf
		}
		if !errors.Is(perr, errShort) || err != nil {
			return buf
		}
	}
	return buf
}

// pipe copies src to dst while the proxy passes traffic; in Drop mode it
// reads and discards, so the connection goes silent without closing. When
// either side ends, serve closes both (no half-close).
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.Mode() != Drop {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// rst resets the client side and closes the endpoint side.
func (pc *pconn) rst() {
	if tc, ok := pc.c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	pc.close()
}

func (pc *pconn) close() {
	pc.end.Do(func() {
		pc.c.Close()
		pc.mu.Lock()
		if pc.u != nil {
			pc.u.Close()
		}
		pc.mu.Unlock()
	})
}
