package bridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"samizdat/clock"
	"samizdat/transport/selfsigned"
	"samizdat/transport/wss"
)

// Defaults of a Config.
const (
	DefaultMaxCallers = 64
	DefaultPerCaller  = 4
)

// Config configures a bridge. It is not modified after Start.
type Config struct {
	// Listen are the addresses to listen on (host:port).
	Listen []string
	// Identity is the bridge's TLS key; its pin goes into every offer.
	Identity *selfsigned.Identity
	// Key derives each contact's secret from the label and expiry in
	// its path (see Label), so offers stay valid when the bridge restarts
	// (KeySize random bytes, kept by the caller).
	Key []byte
	// SNI is the server name callers send (SNIFor(Key) if empty).
	SNI string
	// Upstream opens a raw transport stream to the relay for one caller.
	Upstream func(ctx context.Context) (net.Conn, error)
	// MaxCallers bounds the tunnels open at once (DefaultMaxCallers);
	// PerCaller bounds one contact's (DefaultPerCaller).
	MaxCallers, PerCaller int
	// Rate bounds each contact's bytes per second in each direction,
	// across its tunnels (0: no bound).
	Rate int64
	// Logger receives tunnel events (never the bytes); nil discards.
	Logger *slog.Logger
	// Clock reads the time for offers' expiry and tokens (nil:
	// clock.Real).
	Clock clock.Clock
	// Control, if set, takes the updates the user's home sends over the
	// control tunnel (a bridge run abroad: see Abroad) and returns the
	// answer; nil: there is no control tunnel (its path gets the decoy).
	Control func(Update) Ack
	// NetListen, if set, opens the listener of each Listen address
	// instead of a TCP socket (an in-memory network, with Clock a
	// simulated clock: the censor lab); nil means TCP.
	NetListen func(ctx context.Context, address string) (net.Listener, error)
}

// Stats is what a bridge has carried.
type Stats struct {
	Tunnels  int64 // tunnels carried so far
	Open     int64 // tunnels open now
	Refused  int64 // tunnels refused for a limit
	Upstream int64 // tunnels whose relay stream could not be opened
	Bytes    int64 // bytes carried, both directions
}

// Server is a running bridge.
type Server struct {
	cfg     Config
	keys    keys
	keyring *wss.Keyring
	lns     []net.Listener
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	denied  map[Label]time.Time      // label -> when its last offer ends; guarded by mu
	open    map[string]int           // caller -> tunnels open; guarded by mu
	limits  map[string]*rate.Limiter // caller -> its byte budget; guarded by mu
	tunnels map[net.Conn]struct{}    // every open tunnel's caller side; guarded by mu
	total   int                      // guarded by mu

	stats struct{ tunnels, refused, upstream, bytes atomic.Int64 }
}

// Start listens on every address in cfg.Listen and serves until Close.
// Every unexpired offer its key issued (Issuer) opens a tunnel, unless
// its label is denied.
func Start(cfg Config) (*Server, error) {
	if len(cfg.Listen) == 0 || cfg.Identity == nil || cfg.Upstream == nil || len(cfg.Key) != KeySize {
		return nil, fmt.Errorf("bridge: Listen, Identity, Upstream and a %d-byte Key are required", KeySize)
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.SNI == "" {
		cfg.SNI = SNIFor(cfg.Key)
	}
	if cfg.MaxCallers <= 0 {
		cfg.MaxCallers = DefaultMaxCallers
	}
	if cfg.PerCaller <= 0 {
		cfg.PerCaller = DefaultPerCaller
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:     cfg,
		keys:    newKeys(cfg.Key),
		log:     cfg.Logger,
		denied:  make(map[Label]time.Time),
		open:    make(map[string]int),
		limits:  make(map[string]*rate.Limiter),
		tunnels: make(map[net.Conn]struct{}),
	}
	s.keyring = wss.NewDerivedKeyring(s.keys.base, s.secretFor)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, addr := range cfg.Listen {
		ln, err := s.listen(addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("bridge: listening on %s: %w", addr, err)
		}
		s.lns = append(s.lns, ln)
	}
	for _, ln := range s.lns {
		s.wg.Add(1)
		go s.accept(ln)
	}
	return s, nil
}

// listen serves the bridge's wss listener on addr.
func (s *Server) listen(addr string) (net.Listener, error) {
	wcfg := wss.ServerConfig{TLS: s.cfg.Identity.Config(s.cfg.SNI), Path: s.keys.base, Keyring: s.keyring, Clock: s.cfg.Clock}
	if s.cfg.NetListen == nil {
		return wss.Listen(s.ctx, addr, wcfg)
	}
	ln, err := s.cfg.NetListen(s.ctx, addr)
	if err != nil {
		return nil, err
	}
	return wss.Serve(ln, wcfg)
}

// Addrs are the addresses the bridge listens on.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

// controlCaller names the home's control tunnel among the callers (a
// label's name is hex, so none is named so).
const controlCaller = "control"

// secretFor derives the caller and secret of a tunnel path (see Label):
// the control path's, or an unexpired, undenied label's.
func (s *Server) secretFor(path string, now time.Time) (string, []byte, bool) {
	if path == s.keys.control {
		return controlCaller, s.keys.controlSecret(), s.cfg.Control != nil
	}
	l, exp, ok := s.keys.parsePath(path)
	if !ok || exp <= now.Unix() || exp > now.Add(MaxLifetime+time.Hour).Unix() {
		return "", nil, false
	}
	s.mu.Lock()
	_, denied := s.denied[l]
	s.mu.Unlock()
	if denied {
		return "", nil, false
	}
	return l.String(), s.keys.secret(l, exp), true
}

// Issuer mints this bridge's offers.
func (s *Server) Issuer() Issuer {
	return Issuer{Key: s.cfg.Key, Pin: s.cfg.Identity.Pin(), SNI: s.cfg.SNI}
}

// Deny takes labels back: their offers stop opening tunnels (the tunnels
// open already run on until they end).
func (s *Server) Deny(ds ...Denial) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny(ds)
}

// SetDenied replaces the deny list with ds (the home's whole list) and
// returns how many labels it holds. Denials that ended are dropped; past
// MaxDenied, those that end first.
func (s *Server) SetDenied(ds []Denial) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.denied)
	s.deny(ds)
	return len(s.denied)
}

// deny adds ds to the deny list; mu must be held.
func (s *Server) deny(ds []Denial) {
	for _, d := range ds {
		if until, ok := s.denied[d.Label]; !ok || d.Until.After(until) {
			s.denied[d.Label] = d.Until
		}
	}
	s.pruneDenied()
}

// Denied lists the deny list.
func (s *Server) Denied() []Denial {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deniedByEnd()
}

// deniedByEnd lists the deny list, those that end first first; mu must be
// held.
func (s *Server) deniedByEnd() []Denial {
	out := make([]Denial, 0, len(s.denied))
	for l, u := range s.denied {
		out = append(out, Denial{Label: l, Until: u})
	}
	slices.SortFunc(out, func(a, b Denial) int { return a.Until.Compare(b.Until) })
	return out
}

// pruneDenied forgets the denials whose offers have all ended and, past
// MaxDenied, those that end first; mu must be held.
func (s *Server) pruneDenied() {
	now := s.cfg.Clock.Now()
	for l, u := range s.denied {
		if !u.After(now) {
			delete(s.denied, l)
		}
	}
	if len(s.denied) <= MaxDenied {
		return
	}
	ends := s.deniedByEnd()
	for _, d := range ends[:len(ends)-MaxDenied] {
		delete(s.denied, d.Label)
	}
}

// Stats reports what the bridge has carried.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := int64(s.total)
	s.mu.Unlock()
	return Stats{Tunnels: s.stats.tunnels.Load(), Open: open, Refused: s.stats.refused.Load(),
		Upstream: s.stats.upstream.Load(), Bytes: s.stats.bytes.Load()}
}

// Close stops listening, ends every tunnel and waits for them.
func (s *Server) Close() error {
	s.cancel()
	for _, ln := range s.lns {
		ln.Close()
	}
	s.mu.Lock()
	for c := range s.tunnels {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		cc, ok := c.(*wss.CallerConn)
		if !ok {
			c.Close()
			continue
		}
		if cc.Caller == controlCaller {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.control(cc)
			}()
			continue
		}
		if !s.admit(cc) {
			s.stats.refused.Add(1)
			s.log.Info("bridge: tunnel refused: over a limit", "contact", cc.Caller)
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.release(cc)
			s.carry(cc)
		}()
	}
}

// admit counts a tunnel in if the limits allow it.
func (s *Server) admit(c *wss.CallerConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil || s.total >= s.cfg.MaxCallers || s.open[c.Caller] >= s.cfg.PerCaller {
		return false
	}
	s.total++
	s.open[c.Caller]++
	s.tunnels[c] = struct{}{}
	if s.cfg.Rate > 0 && s.limits[c.Caller] == nil {
		burst := int(min(max(s.cfg.Rate, 16<<10), 1<<20))
		s.limits[c.Caller] = rate.NewLimiter(rate.Limit(s.cfg.Rate), burst)
	}
	return true
}

func (s *Server) release(c *wss.CallerConn) {
	c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	delete(s.tunnels, c)
	if s.open[c.Caller]--; s.open[c.Caller] == 0 {
		delete(s.open, c.Caller)
		delete(s.limits, c.Caller)
	}
}

// carry opens the relay stream for one tunnel and copies both ways until
// either side ends.
func (s *Server) carry(c *wss.CallerConn) {
	s.stats.tunnels.Add(1)
	up, err := s.dialUp()
	if err != nil {
		s.stats.upstream.Add(1)
		s.log.Info("bridge: the relay is out of reach for a tunnel", "contact", c.Caller, "err", err)
		return
	}
	l := &leg{s: s, up: up}
	defer l.Close()
	s.log.Debug("bridge: tunnel open", "contact", c.Caller)
	s.mu.Lock()
	lim := s.limits[c.Caller]
	s.mu.Unlock()
	done := make(chan struct{}, 2)
	pump := func(dst, src io.ReadWriteCloser) {
		s.copy(dst, src, lim)
		// One side ended: end the other, so its pump returns too.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pump(l, c)
	go pump(c, l)
	<-done
	<-done
	s.log.Debug("bridge: tunnel closed", "contact", c.Caller)
}

// dialUp opens a stream to the relay.
func (s *Server) dialUp() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	return s.cfg.Upstream(ctx)
}

// Reporting may be implemented by the streams Config.Upstream returns, to
// hear what became of them (so that the next dial orders its candidates
// better): Answered when the relay first said something through the
// stream, LedNowhere when it ended before that.
type Reporting interface {
	Answered()
	LedNowhere()
}

// Limits of a leg's swaps.
const (
	maxHeld    = 64 << 10 // the caller's bytes kept until the relay answers
	maxUpTries = 3        // streams tried for one tunnel
)

// leg is a tunnel's stream to the relay (an io.ReadWriteCloser: reads
// come from the relay, writes go to it). Until the relay has said
// anything, it keeps what the caller sent, so that a stream that connected
// but led nowhere (a blocked endpoint that accepts and resets, which only
// the relay's silence gives away) is replaced by another, which gets the
// caller's bytes again: the caller's Noise handshake never knows.
type leg struct {
	s     *Server
	mu    sync.Mutex
	up    net.Conn // guarded by mu
	held  []byte   // the caller's bytes while the relay has said nothing; guarded by mu
	spoke bool     // the relay said something; guarded by mu
	over  bool     // held overflowed: no swap any more; guarded by mu
	shut  bool     // Close was called; guarded by mu
	tries int      // streams tried; guarded by mu
}

// Write sends the caller's bytes to the relay.
func (l *leg) Write(p []byte) (int, error) {
	l.mu.Lock()
	swappable := !l.spoke && !l.over
	if swappable {
		if len(l.held)+len(p) > maxHeld {
			l.over, l.held, swappable = true, nil, false
		} else {
			l.held = append(l.held, p...)
		}
	}
	up := l.up
	l.mu.Unlock()
	n, err := up.Write(p)
	if err != nil && swappable {
		return len(p), nil // the next stream gets them
	}
	return n, err
}

// Read reads what the relay says, replacing a stream that ends before
// the relay said anything.
func (l *leg) Read(p []byte) (int, error) {
	for {
		l.mu.Lock()
		up := l.up
		l.mu.Unlock()
		n, err := up.Read(p)
		if n > 0 {
			l.mu.Lock()
			first := !l.spoke
			l.spoke, l.held = true, nil
			l.mu.Unlock()
			if r, ok := up.(Reporting); ok && first {
				r.Answered()
			}
			return n, nil
		}
		if err == nil {
			continue
		}
		if !l.swap(up) {
			return 0, err
		}
	}
}

// swap replaces dead, which ended before the relay said anything, with a
// new stream that gets the caller's bytes so far; it reports whether it
// did.
func (l *leg) swap(dead net.Conn) bool {
	l.mu.Lock()
	if l.spoke || l.over || l.shut || l.tries+1 >= maxUpTries {
		l.mu.Unlock()
		return false
	}
	l.tries++
	l.mu.Unlock()
	dead.Close()
	if r, ok := dead.(Reporting); ok {
		r.LedNowhere()
	}
	nu, err := l.s.dialUp()
	if err != nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shut {
		nu.Close()
		return false
	}
	if _, err := nu.Write(l.held); err != nil {
		nu.Close()
		return false
	}
	l.up = nu
	l.s.log.Debug("bridge: a relay stream led nowhere; another carries the tunnel")
	return true
}

// Close closes the stream to the relay.
func (l *leg) Close() error {
	l.mu.Lock()
	l.shut = true
	up := l.up
	l.mu.Unlock()
	return up.Close()
}

// copy copies src to dst within lim (nil: no bound).
func (s *Server) copy(dst io.Writer, src io.Reader, lim *rate.Limiter) {
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if lim != nil && lim.WaitN(s.ctx, n) != nil {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			s.stats.bytes.Add(int64(n))
		}
		if err != nil {
			return
		}
	}
}
