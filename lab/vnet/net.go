package vnet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"samizdat/censor"
	"samizdat/clock"
	"samizdat/transport"
	"samizdat/transport/memnet"
)

// Errors returned by the virtual network.
var (
	// ErrUnmapped means the address is not a mapped virtual address; it
	// was not dialled.
	ErrUnmapped = errors.New("vnet: address not mapped, refusing to dial")
	// ErrNotLoopback means a real address outside 127.0.0.0/8 was
	// offered as a mapping target or reached the socket layer; it was
	// not dialled.
	ErrNotLoopback = errors.New("vnet: real address outside 127.0.0.0/8, refusing")
	// ErrNetwork means an unsupported network (only tcp and udp are).
	ErrNetwork = errors.New("vnet: unsupported network")
	// ErrNoSuchHost means the censor's resolver returned no address for
	// a name, or none that is mapped.
	ErrNoSuchHost = errors.New("vnet: no such host")
	// ErrMapped means a virtual address is already mapped.
	ErrMapped = errors.New("vnet: virtual address already mapped")
	// ErrClosed is returned after Net.Close.
	ErrClosed = errors.New("vnet: network closed")
)

// Options configures a Net.
type Options struct {
	// Clock runs every wait of the network: deadlines of its conns, the
	// hang of a dropped dial, throttling, probe timeouts and bystanders'
	// idle limits. Nil means clock.Real.
	Clock clock.Clock
	// InMemory carries the bytes on an in-memory network on Clock
	// (memnet): listeners and "loopback" dials are there (at 127.0.0.0/8
	// names it hands out, never reused), so nothing touches a real
	// socket. False means real loopback sockets. UDP needs real sockets.
	InMemory bool
	// Now returns the lab time passed to the Decider. Default: the time
	// elapsed on Clock since New.
	Now func() censor.Time
	// DropTimeout bounds how long a dial whose connection attempt is
	// silently dropped hangs when its context has no deadline (a real
	// client's SYN retries give up after a while). Default 20s.
	DropTimeout time.Duration
	// ConnectDelay, if set, is how long a flow takes to open (the round
	// trip of the TCP handshake): a dial waits that long on Clock before
	// the censor's connect-time verdict. Drawn per flow from a seed, it
	// also separates dials that a simulated clock would otherwise run at
	// the same instant. Nil means none.
	ConnectDelay func(f censor.Flow) time.Duration
	// OnCut, if set, is told about every live flow Recheck blocks (its
	// new action is Drop or Reset): the moment a censor applying an
	// update cut a client's established connection, which the client
	// may notice only much later (a silent drop). It is called from
	// Recheck, one flow at a time, and must not block for long.
	OnCut func(Cut)
}

// Cut is a live flow that Recheck blocked.
type Cut struct {
	At     censor.Time    // the lab time the flow was cut (after its new verdict took effect)
	Client string         // the client id the flow was dialled for (Dialer's client)
	ISP    string         // the client's ISP
	Dst    netip.AddrPort // the virtual destination
	Domain string         // the name the client resolved to reach Dst, if any
	Action censor.Action  // Drop or Reset (a block page mid-stream is a reset)
}

// Net is the virtual network: a set of virtual-to-loopback mappings and a
// censor that decides every flow. It is safe for concurrent use.
type Net struct {
	clk     clock.Clock
	mem     *memnet.Network
	memPort atomic.Uint64 // names handed out on mem
	d       censor.Decider
	obs     censor.Observer // d, if it implements Observer
	now     func() censor.Time
	dropTO  time.Duration
	delay   func(censor.Flow) time.Duration
	onCut   func(Cut)
	flowSeq atomic.Uint64 // numbers flows in the order they opened
	mu      sync.RWMutex
	maps    map[mapKey]netip.AddrPort
	closers []func() error
	closed  bool
	st      counters
	liveMu  sync.Mutex
	live    map[*flowConn]struct{}
}

type mapKey struct {
	udp  bool
	virt netip.AddrPort
}

// New returns a virtual network whose flows d decides.
func New(d censor.Decider, opt Options) *Net {
	n := &Net{clk: clock.Or(opt.Clock), d: d, now: opt.Now, dropTO: opt.DropTimeout, delay: opt.ConnectDelay, onCut: opt.OnCut,
		maps: make(map[mapKey]netip.AddrPort), live: make(map[*flowConn]struct{})}
	if opt.InMemory {
		n.mem = memnet.New(n.clk)
	}
	if o, ok := d.(censor.Observer); ok {
		n.obs = o
	}
	if n.now == nil {
		clk, start := n.clk, n.clk.Now()
		n.now = func() censor.Time { return clk.Since(start) }
	}
	if n.dropTO <= 0 {
		n.dropTO = 20 * time.Second
	}
	return n
}

// Now returns the current lab time.
func (n *Net) Now() censor.Time { return n.now() }

// Clock returns the clock the network's waits run on.
func (n *Net) Clock() clock.Clock { return n.clk }

// Reserve returns a loopback address (host:port) for a listener opened
// later with ListenLoopback. On a real network it is a free port, which
// another process may take meanwhile; in memory it is a name never handed
// out before.
func (n *Net) Reserve() (string, error) {
	if n.mem != nil {
		k := n.memPort.Add(1)
		a := netip.AddrFrom4([4]byte{127, byte(k >> 16), byte(k >> 8), byte(k)})
		return netip.AddrPortFrom(a, 443).String(), nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("vnet: reserving a port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// ListenLoopback listens on addr, a loopback address (host:port; port 0
// on a real network picks one; in memory an address from Reserve, or
// 127.0.0.1:0 for a fresh one): a real socket, or an in-memory one
// (Options.InMemory). It maps nothing.
func (n *Net) ListenLoopback(addr string) (net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !IsLoopback(ap.Addr()) {
		n.st.violations.Add(1)
		return nil, fmt.Errorf("%w: %s", ErrNotLoopback, addr)
	}
	if n.mem == nil {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("vnet: listen: %w", err)
		}
		return ln, nil
	}
	if ap.Port() == 0 {
		if addr, err = n.Reserve(); err != nil {
			return nil, err
		}
	}
	ln, err := n.mem.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("vnet: listen: %w", err)
	}
	return ln, nil
}

// DialLoopback dials a loopback address (a listener of ListenLoopback)
// with no censor on the path: how a service reaches its own origin. It
// refuses any other address.
func (n *Net) DialLoopback(ctx context.Context, network, address string) (net.Conn, error) {
	udp, err := parseNetwork(network)
	if err != nil {
		return nil, opErr(network, address, err)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		n.st.violations.Add(1)
		return nil, opErr(network, address, fmt.Errorf("%w: %s", ErrNotLoopback, address))
	}
	return n.dialLoopback(ctx, udp, ap)
}

// IsLoopback reports whether a is in 127.0.0.0/8 (IPv4 or IPv4-mapped).
func IsLoopback(a netip.Addr) bool {
	a = a.Unmap()
	return a.Is4() && a.As4()[0] == 127
}

func parseNetwork(network string) (udp bool, err error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return false, nil
	case "udp", "udp4", "udp6":
		return true, nil
	}
	return false, fmt.Errorf("%w: %q", ErrNetwork, network)
}

func normVirt(v netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(v.Addr().Unmap(), v.Port())
}

// Map maps the virtual address virt on network ("tcp" or "udp") onto the
// real loopback address real, which must be in 127.0.0.0/8. virt must
// not itself be a loopback or unspecified address.
func (n *Net) Map(network string, virt, real netip.AddrPort) error {
	udp, err := parseNetwork(network)
	if err != nil {
		return err
	}
	virt = normVirt(virt)
	if !virt.IsValid() || virt.Port() == 0 || IsLoopback(virt.Addr()) || virt.Addr().IsLoopback() || virt.Addr().IsUnspecified() {
		return fmt.Errorf("vnet: bad virtual address %v", virt)
	}
	if !IsLoopback(real.Addr()) || real.Port() == 0 {
		return fmt.Errorf("%w: %v", ErrNotLoopback, real)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	k := mapKey{udp, virt}
	if _, ok := n.maps[k]; ok {
		return fmt.Errorf("%w: %s %v", ErrMapped, network, virt)
	}
	n.maps[k] = real
	return nil
}

// Unmap removes the mapping of virt on network, if any.
func (n *Net) Unmap(network string, virt netip.AddrPort) {
	udp, err := parseNetwork(network)
	if err != nil {
		return
	}
	n.mu.Lock()
	delete(n.maps, mapKey{udp, normVirt(virt)})
	n.mu.Unlock()
}

// Lookup returns the loopback address virt is mapped onto.
func (n *Net) Lookup(network string, virt netip.AddrPort) (netip.AddrPort, bool) {
	udp, err := parseNetwork(network)
	if err != nil {
		return netip.AddrPort{}, false
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	r, ok := n.maps[mapKey{udp, normVirt(virt)}]
	return r, ok
}

// Listen opens a TCP listener on 127.0.0.1 (a free port) and maps virt
// onto it. Closing the listener does not unmap virt; Net.Close closes
// every listener Listen opened.
func (n *Net) Listen(virt netip.AddrPort) (net.Listener, error) {
	ln, err := n.ListenLoopback("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	real, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("vnet: listen: %w", err)
	}
	if err := n.Map("tcp", virt, real); err != nil {
		ln.Close()
		return nil, err
	}
	n.mu.Lock()
	n.closers = append(n.closers, ln.Close)
	n.mu.Unlock()
	return ln, nil
}

// ListenPacket opens a UDP socket on 127.0.0.1 (a free port) and maps
// virt onto it.
func (n *Net) ListenPacket(virt netip.AddrPort) (net.PacketConn, error) {
	if n.mem != nil {
		return nil, fmt.Errorf("%w: udp in memory", ErrNetwork)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("vnet: listen: %w", err)
	}
	real := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := n.Map("udp", virt, real); err != nil {
		pc.Close()
		return nil, err
	}
	n.mu.Lock()
	n.closers = append(n.closers, pc.Close)
	n.mu.Unlock()
	return pc, nil
}

// Close closes every listener opened by Listen and ListenPacket and
// refuses further mappings. Established connections are not closed.
func (n *Net) Close() error {
	n.mu.Lock()
	cs := n.closers
	n.closers, n.closed = nil, true
	n.mu.Unlock()
	var first error
	for _, c := range cs {
		if err := c(); err != nil && first == nil && !errors.Is(err, net.ErrClosed) {
			first = err
		}
	}
	return first
}

// Resolve answers a DNS query for a subscriber of isp, as the censor's
// resolver does (possibly poisoned). The lab's DoH server uses it.
func (n *Net) Resolve(isp, name string) (addrs []netip.Addr, poisoned bool) {
	n.st.resolves.Add(1)
	addrs, poisoned = n.d.Resolve(n.now(), isp, name)
	if poisoned {
		n.st.poisoned.Add(1)
	}
	return addrs, poisoned
}

// sysDial opens a real socket. Tests replace it to record every real
// dial; only dialLoopback calls it.
var sysDial = func(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, ap.String())
}

// dialLoopback is the only place a socket is opened. It re-checks the
// target is in 127.0.0.0/8.
func (n *Net) dialLoopback(ctx context.Context, udp bool, real netip.AddrPort) (net.Conn, error) {
	if !IsLoopback(real.Addr()) {
		n.st.violations.Add(1)
		return nil, fmt.Errorf("%w: %v", ErrNotLoopback, real)
	}
	n.st.realDials.Add(1)
	network := "tcp4"
	if udp {
		network = "udp4"
	}
	real = netip.AddrPortFrom(real.Addr().Unmap(), real.Port())
	if n.mem != nil {
		if udp {
			return nil, fmt.Errorf("%w: udp in memory", ErrNetwork)
		}
		return n.mem.Dial(ctx, network, real.String())
	}
	return sysDial(ctx, network, real)
}

// Dialer returns the NetDial for a lab client on isp. It accepts
// "tcp" and "udp" networks and addresses host:port where host is a
// virtual IP or a name (resolved by the censor's Resolve for isp). It
// refuses, without dialling, anything that is not mapped. Every flow is
// put to the censor: Decide at connect time, Inspect on the client's
// first write; the verdicts are enforced on the returned conn.
func (n *Net) Dialer(client, isp string) transport.NetDial {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		return n.dial(ctx, flowClock{n: n}, client, isp, network, address)
	}
}

// DialerAt is Dialer with every verdict (resolution, connect, first
// packet, Recheck) taken at lab time at, whenever the dial really
// happens: a probe scheduled at a lab time sees the censor as it was
// then, however late a busy machine runs it.
func (n *Net) DialerAt(client, isp string, at censor.Time) transport.NetDial {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		return n.dial(ctx, flowClock{n: n, pinned: true, at: at}, client, isp, network, address)
	}
}

// ControlDialer returns the NetDial of a vantage point outside the
// censored country (the control of a measurement): no censor on its path,
// names resolved as by no ISP (censor.Censor poisons only at the ISPs it
// knows), and still only mapped loopback addresses dialled.
func (n *Net) ControlDialer() transport.NetDial {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		n.st.dials.Add(1)
		udp, err := parseNetwork(network)
		if err != nil {
			return nil, opErr(network, address, err)
		}
		host, portStr, err := net.SplitHostPort(address)
		if err != nil {
			return nil, opErr(network, address, fmt.Errorf("%w: %v", ErrUnmapped, err))
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || port == 0 {
			return nil, opErr(network, address, fmt.Errorf("%w: bad port", ErrUnmapped))
		}
		addrs := []netip.Addr{}
		if ip, perr := netip.ParseAddr(host); perr == nil {
			addrs = append(addrs, ip.Unmap())
		} else {
			// No ISP: the censor's resolver gives the true answer.
			addrs, _ = n.d.Resolve(n.now(), "", host)
		}
		for _, a := range addrs {
			if real, ok := n.Lookup(network, netip.AddrPortFrom(a, uint16(port))); ok {
				c, err := n.dialLoopback(ctx, udp, real)
				if err != nil {
					return nil, opErr(network, address, err)
				}
				return c, nil
			}
		}
		return nil, opErr(network, address, ErrUnmapped)
	}
}

func (n *Net) dial(ctx context.Context, now flowClock, client, isp, network, address string) (net.Conn, error) {
	c, _, err := n.dialJudged(ctx, now, client, isp, network, address)
	return c, err
}

// flowClock is the lab time a flow's verdicts are taken at: the
// network's, or a pinned time (DialerAt).
type flowClock struct {
	n      *Net
	pinned bool
	at     censor.Time
}

func (k flowClock) now() censor.Time {
	if k.pinned {
		return k.at
	}
	return k.n.now()
}

// dialJudged is dial that also reports whether the censor blocked the
// flow before it was established: a poisoned resolution or a blocking
// connect-time verdict. A flow it returns may still be blocked later (on
// its first bytes, or by Recheck): see flowConn.censored.
func (n *Net) dialJudged(ctx context.Context, now flowClock, client, isp, network, address string) (_ net.Conn, censored bool, _ error) {
	poisoned := false // the resolution, if any, was poisoned
	n.st.dials.Add(1)
	udp, err := parseNetwork(network)
	if err != nil {
		n.st.refused.Add(1)
		return nil, poisoned, opErr(network, address, err)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		n.st.refused.Add(1)
		return nil, poisoned, opErr(network, address, fmt.Errorf("%w: %v", ErrUnmapped, err))
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		n.st.refused.Add(1)
		return nil, poisoned, opErr(network, address, fmt.Errorf("%w: bad port", ErrUnmapped))
	}
	var (
		domain string
		virt   netip.AddrPort
		real   netip.AddrPort
		found  bool
	)
	if ip, perr := netip.ParseAddr(host); perr == nil {
		if ip.Zone() != "" {
			n.st.refused.Add(1)
			return nil, poisoned, opErr(network, address, ErrUnmapped)
		}
		virt = netip.AddrPortFrom(ip.Unmap(), uint16(port))
		real, found = n.Lookup(network, virt)
	} else {
		domain = host
		n.st.resolves.Add(1)
		var addrs []netip.Addr
		addrs, poisoned = n.d.Resolve(now.now(), isp, host)
		if poisoned {
			n.st.poisoned.Add(1)
		}
		if len(addrs) == 0 {
			n.st.refused.Add(1)
			return nil, poisoned, opErr(network, address, fmt.Errorf("%w: %s", ErrNoSuchHost, host))
		}
		for _, a := range addrs {
			virt = netip.AddrPortFrom(a.Unmap(), uint16(port))
			if real, found = n.Lookup(network, virt); found {
				break
			}
		}
	}
	if !found {
		n.st.refused.Add(1)
		return nil, poisoned, opErr(network, address, ErrUnmapped)
	}
	f := censor.Flow{Client: client, ISP: isp, Dst: virt, Domain: domain, UDP: udp}
	if n.delay != nil {
		if d := n.delay(f); d > 0 {
			t := n.clk.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, poisoned, opErr(network, address, ctx.Err())
			case <-t.C():
			}
		}
	}
	n.st.flows.Add(1)
	v := n.d.Decide(now.now(), f)
	n.st.connect[actionIndex(v.Action)].Add(1)
	censored = poisoned || v.Blocked()
	raddr := netAddr(udp, virt)
	switch v.Action {
	case censor.Drop:
		if udp {
			// UDP has no handshake: the datagrams vanish.
			return newFlowConn(n, now, f, nil, raddr, v), censored, nil
		}
		t := n.clk.NewTimer(n.dropTO)
		defer t.Stop()
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, censored, opErr(network, address, ctx.Err())
			}
		case <-t.C():
		}
		return nil, censored, opErr(network, address, errTimeout{})
	case censor.Reset:
		return nil, censored, opErr(network, address, errRefused)
	case censor.BlockPage:
		return newFlowConn(n, now, f, nil, raddr, v), censored, nil
	}
	c, err := n.dialLoopback(ctx, udp, real)
	if err != nil {
		return nil, censored, opErr(network, address, err)
	}
	return newFlowConn(n, now, f, c, raddr, v), censored, nil
}

func netAddr(udp bool, ap netip.AddrPort) net.Addr {
	if udp {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

func opErr(network, address string, err error) error {
	return &net.OpError{Op: "dial", Net: network, Addr: strAddr{network, address}, Err: err}
}

type strAddr struct{ n, s string }

func (a strAddr) Network() string { return a.n }
func (a strAddr) String() string  { return a.s }

// errTimeout is a dial or read that the censor blackholed.
type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }
func (errTimeout) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}

// errRefused and errReset are what a client sees for a reset verdict at
// connect time and on an established connection.
var (
	errRefused = &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}
	errReset   = &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}
)

// counters are the network's running totals.
type counters struct {
	dials, refused, flows, realDials, violations atomic.Int64
	resolves, poisoned, probes, probeHits        atomic.Int64
	bytesUp, bytesDown                           atomic.Int64
	connect, inspect, recheck                    [numActions]atomic.Int64
}

const numActions = int(censor.Throttle) + 2 // + one slot for unknown actions

func actionIndex(a censor.Action) int {
	if int(a) < numActions-1 {
		return int(a)
	}
	return numActions - 1
}

// Stats is a snapshot of the network's counters.
type Stats struct {
	Dials      int64            // NetDial calls
	Refused    int64            // dials refused without a flow: unmapped, bad address, no such host
	Flows      int64            // flows put to the censor (Decide calls)
	RealDials  int64            // loopback sockets opened
	Violations int64            // attempts to open a socket outside 127.0.0.0/8 (refused); must be 0
	Resolves   int64            // Resolve calls
	Poisoned   int64            // poisoned answers
	BytesUp    int64            // bytes delivered client → server
	BytesDown  int64            // bytes delivered server → client
	Connect    map[string]int64 // verdicts at connect time, by action name
	Inspect    map[string]int64 // verdicts on the first bytes, by action name
	Recheck    map[string]int64 // live flows whose action Recheck changed, by new action
	Live       int              // flows open now
	Probes     int64            // active probes the censor made through Prober
	ProbeHits  int64            // probes that found a proxy
}

// Stats returns a snapshot of the counters.
func (n *Net) Stats() Stats {
	s := Stats{
		Dials: n.st.dials.Load(), Refused: n.st.refused.Load(), Flows: n.st.flows.Load(),
		RealDials: n.st.realDials.Load(), Violations: n.st.violations.Load(),
		Resolves: n.st.resolves.Load(), Poisoned: n.st.poisoned.Load(),
		BytesUp: n.st.bytesUp.Load(), BytesDown: n.st.bytesDown.Load(),
		Probes: n.st.probes.Load(), ProbeHits: n.st.probeHits.Load(),
		Connect: map[string]int64{}, Inspect: map[string]int64{}, Recheck: map[string]int64{},
	}
	n.liveMu.Lock()
	s.Live = len(n.live)
	n.liveMu.Unlock()
	for i := range numActions {
		name := censor.Action(i).String()
		if v := n.st.connect[i].Load(); v != 0 {
			s.Connect[name] = v
		}
		if v := n.st.inspect[i].Load(); v != 0 {
			s.Inspect[name] = v
		}
		if v := n.st.recheck[i].Load(); v != 0 {
			s.Recheck[name] = v
		}
	}
	return s
}

func (n *Net) addLive(c *flowConn) {
	n.liveMu.Lock()
	n.live[c] = struct{}{}
	n.liveMu.Unlock()
}

func (n *Net) removeLive(c *flowConn) {
	n.liveMu.Lock()
	delete(n.live, c)
	n.liveMu.Unlock()
}

// Recheck puts every open flow to the censor again at the current lab
// time, as a censor applying a registry update to established traffic
// does (an address blocked now also cuts the connections already open
// to it). A flow dialled with DialerAt is judged again at its own lab
// time: it measures the censor of that moment. A flow newly judged Drop
// goes silent, Reset or BlockPage resets it, Throttle meters it; a
// blocked flow is never unblocked. The lab calls it after each censor
// update, and Options.OnCut hears of each flow it blocks. It returns how
// many flows changed.
func (n *Net) Recheck() int {
	n.liveMu.Lock()
	cs := make([]*flowConn, 0, len(n.live))
	for c := range n.live {
		cs = append(cs, c)
	}
	n.liveMu.Unlock()
	// In a fixed order (not the map's): by client and destination, then
	// by when the flow opened.
	slices.SortFunc(cs, func(a, b *flowConn) int {
		if c := strings.Compare(a.f.Client, b.f.Client); c != 0 {
			return c
		}
		if c := a.f.Dst.Compare(b.f.Dst); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	now, changed := n.now(), 0
	for _, c := range cs {
		t := now
		if c.clock.pinned {
			t = c.clock.at // a flow pinned to a lab time is judged at that time
		}
		if c.recheck(t) {
			changed++
		}
	}
	return changed
}
