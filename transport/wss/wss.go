// Package wss is the TLS 1.3 + WebSocket transport: the tunnel is a
// WebSocket (binary messages) on an HTTPS server that, to anyone without
// the endpoint's secret, is an ordinary small web site.
//
// Security properties and limits:
//   - On the wire an observer sees a TLS 1.3 connection to the SNI name and
//     nothing else; the HTTP request, the token and the tunnelled bytes are
//     encrypted. The Noise channel above provides the real end-to-end
//     security; TLS here is camouflage.
//   - The client proves knowledge of the secret with a token (see
//     transport/internal/token) in a cookie of the encrypted upgrade
//     request: an HMAC over a timestamp and a nonce, valid for a short
//     window and accepted once, and each source address may have only
//     so many accepted in a while (see transport/internal/token), so a
//     holder of the secret cannot fill the replay cache and turn others
//     away. Anything without a valid token — a wrong
//     path, no token, an old or replayed one, a plain GET — gets the decoy
//     site, so an active prober sees a web site; only a plain GET of a
//     path ServerConfig.Files publishes gets that file (the relay
//     publishes its manifest at a path derived from the endpoint secret).
//   - The ClientHello is Go's (see transport/internal/tlsconf): it looks
//     like any Go HTTPS client, not like a browser; a censor that
//     fingerprints ClientHellos can single out Go programs. No uTLS.
//   - The server certificate is checked against Endpoint.TLSPin (SHA-256 of
//     the SubjectPublicKeyInfo) when set, else against the system roots for
//     the SNI name.
//   - Read deadlines do not hurt the conn (unlike websocket.NetConn's); a
//     Write that times out leaves the conn usable too, since writes go
//     through a bounded buffer.
//
// # Time
//
// Both ends take their time from a clock.Clock (ClientConfig.Clock,
// ServerConfig.Clock; nil is the wall clock): tokens are made and checked
// on it, TLS checks certificates and tickets against it (tls.Config.Time),
// the conns' deadlines and the waits of Close run on it. What does not:
// coder/websocket's own timers (5 s for a close frame and for the close
// handshake, 15 s for its goroutines, 3 s to drain a refused handshake's
// body) and net/http's (the server's ReadHeaderTimeout and IdleTimeout).
// Each of the websocket waits is bounded sooner by a wait on the clock
// (Close gives the peer 1 s to take queued bytes and 2 s to answer the
// close, then drops the conn; a dial ends with its ctx), so on a
// simulated clock they never decide an outcome; net/http's timeouts guard
// against slow or idle peers, which a simulated world does not model
// (under clock.Sim, whose epoch is years before the wall clock, they lie
// far in the simulated future and never fire).
package wss

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"samizdat/clock"
	"samizdat/internal/netsource"
	"samizdat/transport"
	"samizdat/transport/decoy"
	"samizdat/transport/internal/pipe"
	"samizdat/transport/internal/tlsconf"
	"samizdat/transport/internal/token"
)

// cookieName carries the token; an ordinary-looking session cookie.
const cookieName = "sid"

// bufSize bounds each direction's buffer in a conn.
const bufSize = 256 << 10

// Errors callers may branch on.
var (
	// ErrRejected means the server answered without opening the tunnel
	// (wrong path or secret, or not a tunnel endpoint at all).
	ErrRejected = errors.New("wss: endpoint did not open the tunnel")
	// ErrConfig means the configuration is incomplete.
	ErrConfig = errors.New("wss: bad config")
)

// ClientConfig says how to reach one wss endpoint.
type ClientConfig struct {
	Address string // host:port dialed
	SNI     string // TLS server name
	Host    string // HTTP Host; empty means SNI
	Path    string // tunnel path, e.g. "/assets/ws"
	Secret  []byte // endpoint secret
	TLSPin  []byte // optional SPKI SHA-256 of the server's certificate
	NetDial transport.NetDial
	Clock   clock.Clock // token time, certificate validity, deadlines, Close's waits; nil: clock.Real
}

// Dial opens a tunnel to cfg's endpoint. It returns when the WebSocket is
// open or ctx ends.
func Dial(ctx context.Context, cfg ClientConfig) (net.Conn, error) {
	if cfg.Address == "" || len(cfg.Secret) == 0 || cfg.Path == "" || cfg.Path[0] != '/' {
		return nil, fmt.Errorf("%w: address, path and secret are required", ErrConfig)
	}
	host := cfg.Host
	if host == "" {
		host = cfg.SNI
	}
	if host == "" {
		return nil, fmt.Errorf("%w: no host or SNI", ErrConfig)
	}
	clk := clock.Or(cfg.Clock)
	cookie, err := Cookie(cfg.Secret, cfg.Path, clk.Now())
	if err != nil {
		return nil, err
	}
	tlsCfg := tlsconf.Client(cfg.SNI, cfg.TLSPin, []string{"http/1.1"})
	tlsCfg.Time = clk.Now
	var raw net.Conn
	tr := &http.Transport{
		Proxy: nil,
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := cfg.NetDial.Dial(ctx, "tcp", cfg.Address)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, tlsCfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			raw = tc
			return tc, nil
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	h := http.Header{}
	h.Set("Cookie", cookie)
	ws, resp, err := websocket.Dial(ctx, "wss://"+host+cfg.Path, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr},
		HTTPHeader: h,
		Host:       host,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wss: %w", ctx.Err())
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("%w (status %d)", ErrRejected, resp.StatusCode)
		}
		return nil, fmt.Errorf("wss: %w", err)
	}
	var local, remote net.Addr = pipe.Addr("wss"), pipe.Addr("wss")
	if raw != nil {
		local, remote = raw.LocalAddr(), raw.RemoteAddr()
	}
	return newConn(ws, local, remote, clk), nil
}

// Dialer adapts Dial to transport.Dialer: Dial's address replaces
// Config.Address.
type Dialer struct{ Config ClientConfig }

var _ transport.Dialer = Dialer{}

// Dial dials address with d's config.
func (d Dialer) Dial(ctx context.Context, address string) (net.Conn, error) {
	cfg := d.Config
	cfg.Address = address
	return Dial(ctx, cfg)
}

// newConn wraps ws in a net.Conn whose reads and writes go through
// buffers, pumped by two goroutines that Close waits for; its deadlines
// and Close's waits run on clk.
func newConn(ws *websocket.Conn, local, remote net.Addr, clk clock.Clock) net.Conn {
	ctx, cancel := context.WithCancel(context.Background())
	nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	c := pipe.NewConn(bufSize, local, remote, clk)
	var wg sync.WaitGroup
	wg.Add(2)
	writerDone := make(chan struct{})
	go func() { // network -> In
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := nc.Read(buf)
			if n > 0 {
				if _, werr := c.In.Write(buf[:n], nil, c.Done()); werr != nil {
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					err = fmt.Errorf("wss: %w", err)
				}
				c.In.Close(err)
				return
			}
		}
	}()
	go func() { // Out -> network
		defer wg.Done()
		defer close(writerDone)
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Out.Read(buf, nil, nil)
			if n > 0 {
				if _, werr := nc.Write(buf[:n]); werr != nil {
					c.Out.Close(werr)
					c.Out.Discard()
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	c.OnClose = func() error {
		// Let queued writes go out, briefly, then close the WebSocket.
		waitFor(clk, writerDone, closeFlush)
		c.In.Close(net.ErrClosed)
		closed := make(chan struct{})
		go func() {
			nc.Close()
			close(closed)
		}()
		if !waitFor(clk, closed, closeHandshake) {
			ws.CloseNow()
			<-closed
		}
		cancel()
		wg.Wait()
		return nil
	}
	return c
}

// How long Close lets queued writes go out, and then waits for the peer
// to answer the WebSocket close, before it drops the conn.
const (
	closeFlush     = time.Second
	closeHandshake = 2 * time.Second
)

// waitFor waits until done is closed or d has passed on clk; it reports
// whether done was closed.
func waitFor(clk clock.Clock, done <-chan struct{}, d time.Duration) bool {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C():
		return false
	}
}

// ServerConfig configures a wss listener.
type ServerConfig struct {
	TLS    *tls.Config  // certificate(s); cloned, not modified
	Path   string       // tunnel path
	Secret []byte       // endpoint secret
	Decoy  http.Handler // what probes see; nil: decoy.Handler(), a site drawn for this listener
	// Keyring, if set, replaces Secret: each caller's own secret opens
	// the tunnel, and Accept returns a *CallerConn naming the caller.
	// Its path (the prefix of the tunnels' paths) must be Path.
	Keyring *Keyring
	// Clock checks tokens, is TLS's time (unless TLS sets its own) and
	// runs the tunnels' deadlines and Close's waits; nil: clock.Real.
	Clock clock.Clock
	// Files, if set, answers plain GET and HEAD requests (not tunnel
	// upgrades) for the paths it knows with their content, for anyone who
	// asks: what the server publishes, such as its signed manifest at a
	// path only its clients know. A nil answer gets the decoy.
	Files func(path string) []byte
}

// Listen serves HTTPS on addr (TCP): tunnels come out of the returned
// listener's Accept; everything else gets the decoy site. Closing the
// listener stops the server but not the tunnels already accepted.
func Listen(ctx context.Context, addr string, cfg ServerConfig) (net.Listener, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	tl, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("wss: %w", err)
	}
	return Serve(tl, cfg)
}

// Serve is Listen on a listener the caller made (an in-memory one, say):
// it serves HTTPS on ln, which the returned listener's Close closes.
func Serve(ln net.Listener, cfg ServerConfig) (net.Listener, error) {
	if err := cfg.check(); err != nil {
		ln.Close()
		return nil, err
	}
	var v *token.Verifier
	if cfg.Keyring == nil {
		var err error
		if v, err = token.NewVerifier(cfg.Secret, cfg.Path); err != nil {
			ln.Close()
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	clk := clock.Or(cfg.Clock)
	tlsCfg := cfg.TLS.Clone()
	if tlsCfg.Time == nil {
		tlsCfg.Time = clk.Now
	}
	if tlsCfg.MinVersion < tls.VersionTLS12 {
		tlsCfg.MinVersion = tls.VersionTLS12 // a plain site accepts 1.2; our client insists on 1.3
	}
	tlsCfg.NextProtos = []string{"http/1.1"}
	l := &listener{
		tcp:     ln,
		clk:     clk,
		path:    cfg.Path,
		verify:  v,
		keyring: cfg.Keyring,
		decoy:   cfg.Decoy,
		files:   cfg.Files,
		conns:   make(chan net.Conn),
		closed:  make(chan struct{}),
		served:  make(chan struct{}),
	}
	if l.decoy == nil {
		l.decoy = decoy.Handler()
	}
	l.srv = &http.Server{
		Handler:           l,
		ConnContext:       withRemoteAddr,
		TLSConfig:         tlsCfg,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(l.served)
		l.srv.ServeTLS(ln, "", "")
	}()
	return l, nil
}

// check reports what is missing from cfg.
func (cfg *ServerConfig) check() error {
	if cfg.TLS == nil || cfg.Path == "" || cfg.Path[0] != '/' {
		return fmt.Errorf("%w: TLS and path are required", ErrConfig)
	}
	if cfg.Keyring != nil && cfg.Keyring.path != cfg.Path {
		return fmt.Errorf("%w: the keyring is for path %q, not %q", ErrConfig, cfg.Keyring.path, cfg.Path)
	}
	return nil
}

// remoteAddrKey is the request context key of the conn's remote address.
type remoteAddrKey struct{}

// withRemoteAddr puts c's remote address in ctx, as the tunnel's: the
// address as the listener's conns give it (a TCP address, or an
// in-memory network's name), never resolved.
func withRemoteAddr(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, remoteAddrKey{}, c.RemoteAddr())
}

// remoteOf returns the remote address of r's conn.
func remoteOf(r *http.Request) net.Addr {
	if a, ok := r.Context().Value(remoteAddrKey{}).(net.Addr); ok && a != nil {
		return a
	}
	return pipe.Addr(r.RemoteAddr)
}

type listener struct {
	tcp     net.Listener
	clk     clock.Clock
	srv     *http.Server
	path    string
	verify  *token.Verifier // nil with a keyring
	keyring *Keyring
	decoy   http.Handler
	files   func(string) []byte
	conns   chan net.Conn
	closed  chan struct{}
	served  chan struct{}
	once    sync.Once
}

// authorized checks the request's token and names its caller ("" without
// a keyring).
func (l *listener) authorized(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet {
		return "", false
	}
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return "", false
	}
	// The replay cache holds each address to its share: a wss client
	// connects directly, so the address is the client's own.
	src := token.Source{Key: netsource.Key(remoteOf(r))}
	if l.keyring != nil {
		return l.keyring.verify(r.URL.Path, ck.Value, l.clk.Now(), src)
	}
	if r.URL.Path != l.path {
		return "", false
	}
	return "", l.verify.Verify(ck.Value, l.clk.Now(), src) == nil
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	caller, ok := "", false
	if isUpgrade(r) {
		caller, ok = l.authorized(r)
	}
	if !ok {
		if !l.serveFile(w, r) {
			l.decoy.ServeHTTP(w, r)
		}
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		local = l.tcp.Addr()
	}
	c := newConn(ws, local, remoteOf(r), l.clk)
	if l.keyring != nil {
		c = &CallerConn{Conn: c, Caller: caller}
	}
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	}
}

// serveFile answers r from ServerConfig.Files, and reports whether it
// did.
func (l *listener) serveFile(w http.ResponseWriter, r *http.Request) bool {
	if l.files == nil || isUpgrade(r) || r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	b := l.files(r.URL.Path)
	if b == nil {
		return false
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	return true
}

func isUpgrade(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for len(v) > 0 {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the server; tunnels already accepted stay open.
func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.srv.Close()
		<-l.served
	})
	return nil
}

func (l *listener) Addr() net.Addr { return l.tcp.Addr() }
