package vnet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"samizdat/censor"
	"samizdat/clock"
)

// Bystander is an ordinary service (a shop, a bank, a game of 2018)
// living at a virtual address: a tiny HTTP server that answers every
// request with 200 and a body naming it.
type Bystander struct {
	Addr netip.AddrPort // virtual address
	Name string         // Host name clients use, "" for none
}

// Bystanders is a set of running bystander services.
type Bystanders struct {
	List []Bystander
	lns  []net.Listener
	wg   sync.WaitGroup
}

// bystanderBody is the body a bystander answers with; the prober checks it.
func bystanderBody(a netip.AddrPort) string { return "bystander " + a.String() + "\n" }

// StartBystanders starts one bystander per virtual address (port 80
// when an address has port 0), mapped on n. names, if not nil, gives
// each its host name (same length as addrs); the caller makes the
// censor's resolver answer them. An address may repeat with different
// names: those sites share one server, as sites behind one CDN edge do,
// and blocking the address breaks them all. Each distinct address costs
// one listener and one goroutine; 200+ are cheap.
func (n *Net) StartBystanders(addrs []netip.AddrPort, names []string) (*Bystanders, error) {
	if names != nil && len(names) != len(addrs) {
		return nil, errors.New("vnet: names and addrs differ in length")
	}
	bs := &Bystanders{}
	started := map[netip.AddrPort]net.Listener{}
	for i, a := range addrs {
		if a.Port() == 0 {
			a = netip.AddrPortFrom(a.Addr(), 80)
		}
		a = normVirt(a)
		ln, ok := started[a]
		if !ok {
			var err error
			if ln, err = n.Listen(a); err != nil {
				bs.Close()
				return nil, err
			}
			started[a] = ln
			bs.lns = append(bs.lns, ln)
			bs.wg.Add(1)
			go func() {
				defer bs.wg.Done()
				serveBystander(n.clk, ln, bystanderBody(a))
			}()
		}
		b := Bystander{Addr: a}
		if names != nil {
			b.Name = names[i]
		}
		bs.List = append(bs.List, b)
	}
	return bs, nil
}

// Close stops every bystander and waits for their accept loops. The
// virtual addresses stay mapped (to closed listeners, so dials to them
// are refused by the kernel).
func (bs *Bystanders) Close() error {
	for _, ln := range bs.lns {
		ln.Close()
	}
	bs.wg.Wait()
	return nil
}

func serveBystander(clk clock.Clock, ln net.Listener, body string) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(clk.Now().Add(10 * time.Second))
			br := bufio.NewReaderSize(c, 1024)
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(bytes.TrimSpace(line)) == 0 {
					break
				}
			}
			c.Write(resp)
		}()
	}
}

// ProbeTarget is a service to probe: an address, and optionally the name
// to reach it by (resolved through the censor, so DNS poisoning counts).
type ProbeTarget struct {
	Addr netip.AddrPort
	Name string
	// Endpoint makes it an operator's own endpoint, whose protocol the
	// prober does not speak: it counts as reached when the connection
	// opens and the request gets anything but an ISP's block page (an
	// HTTP 451): an answer, silence, a close or a reset, which the
	// endpoint itself may send. So a block at connect time or by block
	// page shows; one on the request's bytes (DPI) does not. Otherwise
	// only a bystander's own answer counts.
	Endpoint bool
}

// Targets returns the bystanders as probe targets (by name where they
// have one).
func (bs *Bystanders) Targets() []ProbeTarget {
	out := make([]ProbeTarget, len(bs.List))
	for i, b := range bs.List {
		out[i] = ProbeTarget{Addr: b.Addr, Name: b.Name}
	}
	return out
}

// Outcome is what a probe of one service saw.
type Outcome uint8

// Outcomes.
const (
	Reachable  Outcome = iota // answered 200 with its own body
	Timeout                   // nothing came back in time (drop)
	Refused                   // reset at connect or refused
	ResetConn                 // reset after the request
	Blocked                   // a block page, or an answer that is not the service's
	Unroutable                // no mapping or no such host (e.g. poisoned DNS)
)

var outcomeNames = [...]string{"reachable", "timeout", "refused", "reset", "blocked", "unroutable"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// ProbeResult is the result of probing a set of services from one ISP.
type ProbeResult struct {
	ISP      string
	Outcomes []Outcome // aligned with the targets
	// Censored is aligned with the targets: the censor blocked that
	// probe's flow (a poisoned resolution, or a blocking verdict at
	// connect time, on its first bytes or by Recheck). A probe that
	// failed without it failed for another reason: a slow service or a
	// busy machine. Always false for the control.
	Censored  []bool
	Reachable int
	Broken    int // len(targets) - Reachable
	ByOutcome map[string]int
}

// judgedDial dials and reports whether the censor blocked the flow
// before it was established (see Net.dialJudged).
type judgedDial func(ctx context.Context, network, address string) (net.Conn, bool, error)

func (n *Net) judged(client, isp string, k flowClock) judgedDial {
	return func(ctx context.Context, network, address string) (net.Conn, bool, error) {
		return n.dialJudged(ctx, k, client, isp, network, address)
	}
}

// Probe fetches every target over HTTP as a client of isp ("probe/"+isp)
// through the censored network, at most parallel at a time, each bounded
// by timeout, and reports which are reachable: the collateral damage the
// censor does to isp's subscribers.
func (n *Net) Probe(ctx context.Context, isp string, targets []ProbeTarget, timeout time.Duration, parallel int) ProbeResult {
	return probeAll(ctx, n.clk, isp, n.judged("probe/"+isp, isp, flowClock{n: n}), targets, timeout, parallel)
}

// ProbeAt is Probe with the censor's verdicts taken at lab time at (see
// DialerAt): a probe round scheduled at at measures the censor of that
// moment, however late the machine runs it.
func (n *Net) ProbeAt(ctx context.Context, isp string, at censor.Time, targets []ProbeTarget, timeout time.Duration, parallel int) ProbeResult {
	return probeAll(ctx, n.clk, isp, n.judged("probe/"+isp, isp, flowClock{n: n, pinned: true, at: at}), targets, timeout, parallel)
}

// ProbeControl fetches every target from a vantage point with no censor
// on its path (ControlDialer): the control of a probe round. A target the
// control cannot reach is down or overloaded, not censored. Its result's
// ISP is "".
func (n *Net) ProbeControl(ctx context.Context, targets []ProbeTarget, timeout time.Duration, parallel int) ProbeResult {
	d := n.ControlDialer()
	uncensored := func(ctx context.Context, network, address string) (net.Conn, bool, error) {
		c, err := d(ctx, network, address)
		return c, false, err
	}
	return probeAll(ctx, n.clk, "", uncensored, targets, timeout, parallel)
}

func probeAll(ctx context.Context, clk clock.Clock, isp string, dial judgedDial, targets []ProbeTarget, timeout time.Duration, parallel int) ProbeResult {
	if parallel <= 0 {
		parallel = 16
	}
	res := ProbeResult{ISP: isp, Outcomes: make([]Outcome, len(targets)), Censored: make([]bool, len(targets)), ByOutcome: map[string]int{}}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res.Outcomes[i], res.Censored[i] = probeOne(ctx, clk, dial, t, timeout)
		}()
	}
	wg.Wait()
	for _, o := range res.Outcomes {
		res.ByOutcome[o.String()]++
		if o == Reachable {
			res.Reachable++
		}
	}
	res.Broken = len(targets) - res.Reachable
	return res
}

// probeOne fetches t and reports what it saw and whether the censor
// blocked the flow.
func probeOne(ctx context.Context, clk clock.Clock, dial judgedDial, t ProbeTarget, timeout time.Duration) (Outcome, bool) {
	ctx, cancel := clk.WithTimeout(ctx, timeout)
	defer cancel()
	host := t.Addr.Addr().String()
	if t.Name != "" {
		host = t.Name
	}
	addr := net.JoinHostPort(host, fmt.Sprint(t.Addr.Port()))
	c, censored, err := dial(ctx, "tcp", addr)
	if err != nil {
		return classify(err, true), censored
	}
	defer c.Close()
	o := fetch(ctx, clk, c, host, t)
	if fc, ok := c.(*flowConn); ok && fc.censored() {
		censored = true
	}
	return o, censored
}

// pageWait is how long a probe of an endpoint waits for the ISP's block
// page after its request: the page comes from the ISP's own box on the
// path, within a round trip, while the endpoint itself may hold a request
// it does not understand open for many seconds (transport/tcp's Guard).
const pageWait = 100 * time.Millisecond

// fetch sends an HTTP request for host on c and classifies the answer:
// Reachable for the bystander t's own reply, or for an endpoint t
// anything but a block page within pageWait.
func fetch(ctx context.Context, clk clock.Clock, c net.Conn, host string, t ProbeTarget) Outcome {
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+host+"\r\nUser-Agent: lab-probe\r\n\r\n"); err != nil {
		return classify(err, false)
	}
	if t.Endpoint {
		// A server that does not speak HTTP may answer anything, close,
		// reset or wait: only the ISP's page tells a block here.
		if w := clk.Now().Add(pageWait); w.Before(dl) {
			c.SetReadDeadline(w)
		}
		b := make([]byte, 64)
		if k, _ := io.ReadAtLeast(c, b, len(blockPageStatus)); bytes.HasPrefix(b[:k], []byte(blockPageStatus)) {
			return Blocked
		}
		return Reachable
	}
	b, err := io.ReadAll(io.LimitReader(c, 4096))
	if len(b) == 0 && err != nil {
		return classify(err, false)
	}
	if strings.HasPrefix(string(b), "HTTP/1.1 200 ") && strings.HasSuffix(string(b), bystanderBody(t.Addr)) {
		return Reachable
	}
	if err != nil && len(b) == 0 {
		return classify(err, false)
	}
	return Blocked
}

func classify(err error, connecting bool) Outcome {
	var ne net.Error
	switch {
	case errors.Is(err, ErrUnmapped), errors.Is(err, ErrNoSuchHost):
		return Unroutable
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return Timeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET):
		return ResetConn
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Blocked
	}
	if connecting {
		return Refused
	}
	return Blocked
}
