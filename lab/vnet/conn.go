package vnet

import (
	"bytes"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/blocktest"
	"samizdat/censor"
	"samizdat/clock"
)

// maxFirst is how many of the client's first bytes the censor sees.
const maxFirst = 1024

// flowConn is the client's end of one flow. It forwards to the real
// loopback conn (up) while the censor allows it and otherwise plays the
// censor's part: swallowing traffic, resetting, serving a block page, or
// metering bytes through a token bucket.
type flowConn struct {
	n     *Net
	seq   uint64    // the order it opened in (Net.flowSeq)
	clock flowClock // the lab time the flow's verdicts are taken at
	up    net.Conn  // nil when the flow never reached the server
	raddr net.Addr
	laddr net.Addr

	mu        sync.Mutex
	f         censor.Flow
	inspected bool
	action    censor.Action
	rate      int
	page      []byte // block page still to be read
	readDL    time.Time
	wake      chan struct{} // closed and replaced when the read deadline or the verdict changes

	upBucket, downBucket *bucket

	inspectOnce sync.Once
	closeOnce   sync.Once
	done        chan struct{}
	bytesUp     atomic.Int64
	bytesDown   atomic.Int64
}

func newFlowConn(n *Net, clock flowClock, f censor.Flow, up net.Conn, raddr net.Addr, v censor.Verdict) *flowConn {
	c := &flowConn{n: n, seq: n.flowSeq.Add(1), clock: clock, up: up, raddr: raddr, f: f, wake: make(chan struct{}), done: make(chan struct{})}
	if up != nil {
		c.laddr = up.LocalAddr()
	} else if f.UDP {
		c.laddr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	} else {
		c.laddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	}
	c.setAction(v)
	n.addLive(c)
	return c
}

// setAction applies a verdict; c.mu must be held or c not yet shared.
func (c *flowConn) setAction(v censor.Verdict) {
	switch {
	case c.action == censor.BlockPage || c.action == censor.Drop || c.action == censor.Reset:
		return // already blocked: a later verdict cannot unblock
	case v.Action == censor.Allow && c.action == censor.Throttle,
		v.Action == censor.Throttle && c.action == censor.Throttle:
		return // keep throttling at the first rate
	}
	c.action = v.Action
	if v.Action == censor.Throttle {
		rate := v.RateBytesPerSec
		if rate <= 0 {
			rate = 1
		}
		c.rate = rate
		c.upBucket, c.downBucket = newBucket(c.n.clk, rate), newBucket(c.n.clk, rate)
	}
}

// inspect runs once, on the first write, and applies the verdict.
func (c *flowConn) inspect(b []byte) {
	first := bytes.Clone(b[:min(len(b), maxFirst)])
	sni := ""
	if !c.f.UDP {
		// A ClientHello with a post-quantum key share is longer than
		// First; parse the whole first write (the parser bounds itself).
		sni, _ = blocktest.ParseSNI(b)
	}
	c.mu.Lock()
	c.f.First, c.f.SNI = first, sni
	f := c.f
	c.mu.Unlock()
	v := c.n.d.Inspect(c.clock.now(), f)
	c.n.st.inspect[actionIndex(v.Action)].Add(1)
	c.mu.Lock()
	c.setAction(v)
	if c.action == censor.BlockPage && c.page == nil {
		c.page = blockPage(first, c.f.UDP)
	}
	act := c.action
	c.inspected = true
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
	switch act {
	case censor.Reset:
		c.abortUp()
	case censor.BlockPage:
		if c.up != nil {
			c.up.Close()
		}
	}
}

// abortUp resets the real connection so the server sees an RST.
func (c *flowConn) abortUp() {
	if c.up == nil {
		return
	}
	if tc, ok := c.up.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.up.Close()
}

// bucket returns the throttle bucket for one direction.
func (c *flowConn) bucket(up bool) *bucket {
	c.mu.Lock()
	defer c.mu.Unlock()
	if up {
		return c.upBucket
	}
	return c.downBucket
}

// censored reports whether the censor has blocked the flow (at connect
// time, on its first bytes or since, by Recheck).
func (c *flowConn) censored() bool {
	act, _ := c.state()
	return act == censor.Drop || act == censor.Reset || act == censor.BlockPage
}

func (c *flowConn) state() (censor.Action, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.action, c.inspected
}

func (c *flowConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.raddr.Network(), Source: c.laddr, Addr: c.raddr, Err: err}
}

func (c *flowConn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Write sends b to the server as the censor allows.
func (c *flowConn) Write(b []byte) (int, error) {
	if c.isClosed() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if len(b) > 0 {
		// concurrent first writers wait for the one verdict
		c.inspectOnce.Do(func() { c.inspect(b) })
	}
	act, _ := c.state()
	switch act {
	case censor.Drop, censor.BlockPage:
		return len(b), nil // swallowed
	case censor.Reset:
		return 0, c.opErr("write", errReset)
	case censor.Throttle:
		bk := c.bucket(true)
		total := 0
		for total < len(b) {
			chunk := b[total:min(len(b), total+bk.burst)]
			if !bk.wait(len(chunk), c.done) {
				return total, c.opErr("write", net.ErrClosed)
			}
			k, err := c.up.Write(chunk)
			total += k
			c.bytesUp.Add(int64(k))
			c.n.st.bytesUp.Add(int64(k))
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
	k, err := c.up.Write(b)
	c.bytesUp.Add(int64(k))
	c.n.st.bytesUp.Add(int64(k))
	return k, err
}

// Read receives from the server as the censor allows.
func (c *flowConn) Read(b []byte) (int, error) {
	for {
		if c.isClosed() {
			return 0, c.opErr("read", net.ErrClosed)
		}
		act, inspected := c.state()
		switch act {
		case censor.BlockPage:
			if !inspected { // the page answers the first request
				if err := c.waitRead(act, inspected); err != nil {
					return 0, err
				}
				continue
			}
		case censor.Drop:
			if err := c.waitRead(act, inspected); err != nil {
				return 0, err
			}
			continue // deadline moved; wait again
		case censor.Reset:
			return 0, c.opErr("read", errReset)
		}
		switch act {
		case censor.BlockPage:
			c.mu.Lock()
			k := copy(b, c.page)
			c.page = c.page[k:]
			c.mu.Unlock()
			if k == 0 {
				return 0, io.EOF
			}
			return k, nil
		}
		if c.up == nil {
			return 0, io.EOF
		}
		buf := b
		var bk *bucket
		if act == censor.Throttle {
			bk = c.bucket(false)
			buf = buf[:min(len(buf), bk.burst)]
		}
		k, err := c.up.Read(buf)
		if now, _ := c.state(); now == censor.Drop || now == censor.Reset || now == censor.BlockPage {
			continue // blocked while we were reading: discard
		}
		if act == censor.Throttle && k > 0 && !bk.wait(k, c.done) {
			return 0, c.opErr("read", net.ErrClosed)
		}
		c.bytesDown.Add(int64(k))
		c.n.st.bytesDown.Add(int64(k))
		return k, err
	}
}

// waitRead blocks a read on a blackholed flow until the conn closes or
// the read deadline passes. It returns nil if the deadline or the
// verdict changed.
func (c *flowConn) waitRead(act censor.Action, inspected bool) error {
	c.mu.Lock()
	dl, ch := c.readDL, c.wake
	changed := c.action != act || c.inspected != inspected
	c.mu.Unlock()
	if changed {
		return nil
	}
	var timer <-chan time.Time
	if !dl.IsZero() {
		d := c.n.clk.Until(dl)
		if d <= 0 {
			return c.opErr("read", os.ErrDeadlineExceeded)
		}
		t := c.n.clk.NewTimer(d)
		defer t.Stop()
		timer = t.C()
	}
	select {
	case <-c.done:
		return c.opErr("read", net.ErrClosed)
	case <-timer:
		return c.opErr("read", os.ErrDeadlineExceeded)
	case <-ch:
		return nil
	}
}

// Close closes the flow and tells an observing censor about it.
func (c *flowConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.done)
		c.n.removeLive(c)
		if c.up != nil {
			err = c.up.Close()
			if isClosedErr(err) {
				err = nil
			}
		}
		if c.n.obs != nil {
			c.mu.Lock()
			f := c.f
			c.mu.Unlock()
			c.n.obs.FlowClosed(c.clock.now(), f, c.bytesUp.Load(), c.bytesDown.Load())
		}
	})
	return err
}

func isClosedErr(err error) bool {
	return err != nil && (err == net.ErrClosed || isOpClosed(err))
}

func isOpClosed(err error) bool {
	oe, ok := err.(*net.OpError)
	return ok && oe.Err == net.ErrClosed
}

// CloseWrite half-closes an allowed flow, as *net.TCPConn does.
func (c *flowConn) CloseWrite() error {
	act, _ := c.state()
	if cw, ok := c.up.(interface{ CloseWrite() error }); ok && (act == censor.Allow || act == censor.Throttle) {
		return cw.CloseWrite()
	}
	return nil
}

func (c *flowConn) LocalAddr() net.Addr  { return c.laddr }
func (c *flowConn) RemoteAddr() net.Addr { return c.raddr }

func (c *flowConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.SetReadDeadline(t)
}

func (c *flowConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDL = t
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
	if c.up != nil {
		c.up.SetReadDeadline(t)
	}
	return nil
}

func (c *flowConn) SetWriteDeadline(t time.Time) error {
	if c.up != nil {
		c.up.SetWriteDeadline(t)
	}
	return nil
}

// blockPageStatus starts the block page an ISP answers HTTP with.
const blockPageStatus = "HTTP/1.1 451"

// blockPage is what a block-page verdict answers: an HTTP 451 page to
// HTTP, a fatal TLS access_denied alert to TLS, nothing to anything else.
func blockPage(first []byte, udp bool) []byte {
	switch {
	case udp:
		return []byte{}
	case len(first) > 0 && first[0] == 22:
		return []byte{21, 3, 3, 0, 2, 2, 49}
	case looksHTTP(first):
		body := "<html><body><h1>451</h1><p>Access to this resource is restricted by law.</p></body></html>\n"
		return []byte(blockPageStatus + " Unavailable For Legal Reasons\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	return []byte{}
}

func looksHTTP(b []byte) bool {
	for _, m := range []string{"GET ", "POST ", "HEAD ", "PUT ", "OPTIONS ", "CONNECT ", "DELETE ", "PATCH "} {
		if bytes.HasPrefix(b, []byte(m)) {
			return true
		}
	}
	return false
}

// bucket is a token bucket: rate bytes per second, with a burst of a
// tenth of a second's worth (at least 512 bytes).
type bucket struct {
	clk    clock.Clock
	mu     sync.Mutex
	rate   float64
	burst  int
	tokens float64
	last   time.Time
}

func newBucket(clk clock.Clock, rate int) *bucket {
	burst := max(rate/10, 512)
	return &bucket{clk: clk, rate: float64(rate), burst: burst, tokens: float64(burst), last: clk.Now()}
}

// wait takes n tokens (n <= burst), sleeping as needed; it returns false
// if done closes first.
func (b *bucket) wait(n int, done <-chan struct{}) bool {
	b.mu.Lock()
	now := b.clk.Now()
	b.tokens = min(float64(b.burst), b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	deficit := -b.tokens
	b.mu.Unlock()
	if deficit <= 0 {
		return true
	}
	t := b.clk.NewTimer(time.Duration(deficit / b.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-done:
		return false
	}
}

// recheck puts an established flow to the censor again (as a censor
// applying a new registry to live traffic does) and enforces a new
// block: drop blackholes it, reset and block page reset it (a page
// cannot be injected mid-stream), throttle meters it. It reports
// whether the flow's action changed.
func (c *flowConn) recheck(now censor.Time) bool {
	c.mu.Lock()
	f, inspected, before := c.f, c.inspected, c.action
	c.mu.Unlock()
	v := c.n.d.Decide(now, f)
	if v.Action == censor.Allow && inspected {
		v = c.n.d.Inspect(now, f)
	}
	if v.Action == censor.BlockPage {
		v.Action = censor.Reset
	}
	c.mu.Lock()
	c.setAction(v)
	after := c.action
	if after != before {
		close(c.wake)
		c.wake = make(chan struct{})
	}
	c.mu.Unlock()
	if after == before {
		return false
	}
	c.n.st.recheck[actionIndex(after)].Add(1)
	if after == censor.Reset {
		c.abortUp()
	}
	if (after == censor.Drop || after == censor.Reset) && c.n.onCut != nil {
		c.n.onCut(Cut{At: c.n.now(), Client: f.Client, ISP: f.ISP, Dst: f.Dst, Domain: f.Domain, Action: after})
	}
	return true
}
