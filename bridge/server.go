package bridge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"samizdat/transport/selfsigned"
	"samizdat/transport/wss"
)

// Defaults of a Config.
const (
	DefaultMaxCallers = 64
	DefaultPerCaller  = 4
	DefaultSNI        = "www.example.com"
)

// Config configures a bridge. It is not modified after Start.
type Config struct {
	// Listen are the addresses to listen on (host:port).
	Listen []string
	// Identity is the bridge's TLS key; its pin goes into every offer.
	Identity *selfsigned.Identity
	// Key derives each contact's secret and the tunnel path, so offers
	// stay valid when the bridge restarts (at least 32 random bytes,
	// kept by the caller).
	Key []byte
	// SNI is the server name callers send (DefaultSNI).
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
	path    string
	keyring *wss.Keyring
	lns     []net.Listener
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	open    map[string]int           // caller -> tunnels open; guarded by mu
	limits  map[string]*rate.Limiter // caller -> its byte budget; guarded by mu
	tunnels map[net.Conn]struct{}    // every open tunnel's caller side; guarded by mu
	total   int                      // guarded by mu

	stats struct{ tunnels, refused, upstream, bytes atomic.Int64 }
}

// Start listens on every address in cfg.Listen and serves until Close.
// No contact may connect until Allow names it.
func Start(cfg Config) (*Server, error) {
	if len(cfg.Listen) == 0 || cfg.Identity == nil || cfg.Upstream == nil || len(cfg.Key) < 32 {
		return nil, errors.New("bridge: Listen, Identity, Upstream and a 32-byte Key are required")
	}
	if cfg.SNI == "" {
		cfg.SNI = DefaultSNI
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
		path:    "/" + hex.EncodeToString(derive(cfg.Key, "path")[:8]),
		log:     cfg.Logger,
		open:    make(map[string]int),
		limits:  make(map[string]*rate.Limiter),
		tunnels: make(map[net.Conn]struct{}),
	}
	s.keyring = wss.NewKeyring(s.path)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, addr := range cfg.Listen {
		ln, err := wss.Listen(s.ctx, addr, wss.ServerConfig{TLS: cfg.Identity.Config(cfg.SNI), Path: s.path, Keyring: s.keyring})
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

// derive is an HMAC of the bridge key for one purpose.
func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("samizdat bridge: " + purpose))
	return m.Sum(nil)
}

// Addrs are the addresses the bridge listens on.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Allow lets contact in with its own secret and returns the offer to send
// it for address (one the contact can reach), valid until expires.
func (s *Server) Allow(contact, network, relayID, address string, expires time.Time) (Offer, error) {
	secret := derive(s.cfg.Key, "contact secret: "+contact)
	if err := s.keyring.Set(contact, secret); err != nil {
		return Offer{}, err
	}
	return Offer{Network: network, RelayID: relayID, Address: address, SNI: s.cfg.SNI, Path: s.path,
		Secret: secret, TLSPin: s.cfg.Identity.Pin(), Expires: expires}, nil
}

// Deny shuts contact out: its secret stops working (its open tunnels run
// on until they end).
func (s *Server) Deny(contact string) { s.keyring.Remove(contact) }

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
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	up, err := s.cfg.Upstream(ctx)
	cancel()
	if err != nil {
		s.stats.upstream.Add(1)
		s.log.Info("bridge: the relay is out of reach for a tunnel", "contact", c.Caller, "err", err)
		return
	}
	defer up.Close()
	s.log.Debug("bridge: tunnel open", "contact", c.Caller)
	s.mu.Lock()
	lim := s.limits[c.Caller]
	s.mu.Unlock()
	done := make(chan struct{}, 2)
	pump := func(dst, src net.Conn) {
		s.copy(dst, src, lim)
		// One side ended: end the other, so its pump returns too.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pump(up, c)
	go pump(c, up)
	<-done
	<-done
	s.log.Debug("bridge: tunnel closed", "contact", c.Caller)
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
