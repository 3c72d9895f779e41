// Package front is the domain-fronting transport: the client speaks HTTPS
// to a CDN edge (Address) with an innocuous name in SNI (the front
// domain), while the encrypted HTTP Host header names the hidden relay
// that the CDN forwards to. A censor sees only a TLS connection to the
// front domain's CDN; blocking it means blocking everything on that CDN.
//
// The tunnel runs over ordinary POST requests to Path (see wire.go for the
// bodies). Upstream bytes always go in short POSTs, one at a time. In
// Stream mode one long response carries the downstream bytes as they
// come; in Poll mode, for CDNs that buffer responses, polls alongside the
// pushes fetch the downstream bytes waiting at the origin (the origin
// holds an empty poll briefly; the client backs off from 0 to 1 s while
// idle, and polls again at once after data either way). Auto probes first: if the probe's first bytes do not arrive
// within ProbeTimeout, the CDN buffers, and the conn polls.
//
// Security properties and limits:
//   - Session opens (and probes) carry a token (transport/internal/token:
//     HMAC over time and nonce, short window, accepted once) in a cookie;
//     later requests are bound to the session by its random 128-bit id.
//     Anything else gets the decoy site, so probing the hidden host
//     through the CDN shows a web site.
//   - The CDN terminates TLS and sees the tunnel's bytes; they are Noise
//     ciphertext, but the CDN can observe timing and volume and knows the
//     client's address. TLS to the CDN is checked against TLSPin or the
//     system roots for the SNI name.
//   - The ClientHello is Go's, not a browser's (no uTLS); see
//     transport/internal/tlsconf.
//   - A lost poll response or broken stream ends the conn (there is no
//     retransmission); the dialer redials and Noise notices nothing
//     silently lost.
package front

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/clock"
	"samizdat/transport"
	"samizdat/transport/internal/pipe"
	"samizdat/transport/internal/tlsconf"
	"samizdat/transport/internal/token"
)

const (
	cookieName = "sid"
	bufSize    = 256 << 10
)

// ProbeTimeout is how long Auto waits for the probe's first bytes before
// deciding that the CDN buffers responses.
const ProbeTimeout = 1500 * time.Millisecond

// Mode selects how downstream bytes travel.
type Mode int

const (
	Auto   Mode = iota // probe, then Stream if the CDN streams, else Poll
	Stream             // one long streaming response
	Poll               // request/response polling
)

func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Stream:
		return "stream"
	case Poll:
		return "poll"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Errors callers may branch on.
var (
	// ErrRejected means the CDN or origin answered without opening the
	// tunnel (unknown host, wrong path or secret, not an origin at all).
	ErrRejected = errors.New("front: tunnel refused")
	// ErrConfig means the configuration is incomplete.
	ErrConfig = errors.New("front: bad config")
)

// ClientConfig says how to reach a relay through a CDN.
type ClientConfig struct {
	Address string // CDN edge host:port dialed
	SNI     string // innocuous front domain sent in SNI
	Host    string // hidden relay's name at the CDN (HTTP Host)
	Path    string // tunnel path
	Secret  []byte // endpoint secret
	TLSPin  []byte // optional SPKI SHA-256 of the CDN's certificate
	NetDial transport.NetDial
	Mode    Mode
	Clock   clock.Clock // token time, certificate validity, timeouts, poll pacing; nil: clock.Real
}

type client struct {
	cfg  ClientConfig
	clk  clock.Clock
	url  string
	tr   *http.Transport
	http *http.Client

	mu    sync.Mutex
	raw   []net.Conn // every connection dialed; guarded by mu
	ended bool       // no more dialing; guarded by mu
}

// closeAll closes every connection the client's transport opened; the
// transport is per tunnel, so none is shared.
func (cl *client) closeAll() {
	cl.tr.CloseIdleConnections()
	cl.mu.Lock()
	raw := cl.raw
	cl.raw, cl.ended = nil, true
	cl.mu.Unlock()
	for _, c := range raw {
		c.Close()
	}
}

// Dial opens a tunnel through the CDN. It returns once the origin has
// opened the session (and, when streaming, the stream has started) or
// ctx ends.
func Dial(ctx context.Context, cfg ClientConfig) (net.Conn, error) {
	if cfg.Address == "" || cfg.Host == "" || len(cfg.Secret) == 0 || cfg.Path == "" || cfg.Path[0] != '/' {
		return nil, fmt.Errorf("%w: address, host, path and secret are required", ErrConfig)
	}
	clk := clock.Or(cfg.Clock)
	tlsCfg := tlsconf.Client(cfg.SNI, cfg.TLSPin, []string{"h2", "http/1.1"})
	tlsCfg.Time = clk.Now
	cl := &client{cfg: cfg, clk: clk, url: "https://" + cfg.Host + cfg.Path}
	cl.tr = &http.Transport{
		Proxy: nil,
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := cfg.NetDial.Dial(ctx, "tcp", cfg.Address)
			if err != nil {
				return nil, err
			}
			cl.mu.Lock()
			if cl.ended {
				cl.mu.Unlock()
				c.Close()
				return nil, net.ErrClosed
			}
			cl.raw = append(cl.raw, c)
			cl.mu.Unlock()
			tc := tls.Client(c, tlsCfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	cl.http = &http.Client{Transport: cl.tr}
	conn, err := cl.dial(ctx)
	if err != nil {
		cl.closeAll()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("front: %w", ctx.Err())
		}
		return nil, err
	}
	return conn, nil
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

// do sends one tunnel request and checks the status.
func (cl *client) do(ctx context.Context, req request) (*http.Response, error) {
	tok, err := token.New(cl.cfg.Secret, cl.cfg.Path, cl.clk.Now(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("front: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.url, bytes.NewReader(req.marshal()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	hr.Host = cl.cfg.Host
	hr.Header.Set("Content-Type", "application/octet-stream")
	hr.Header.Set("Cookie", cookieName+"="+tok)
	resp, err := cl.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("front: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, fmt.Errorf("%w (status %d)", ErrRejected, resp.StatusCode)
	}
	return resp, nil
}

// probe reports whether the path to the origin streams responses.
func (cl *client) probe(ctx context.Context) (bool, error) {
	pctx, cancel := cl.clk.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	resp, err := cl.do(pctx, request{op: opProbe})
	if err != nil {
		if ctx.Err() == nil && pctx.Err() != nil {
			return false, nil // nothing came back in time: buffered
		}
		return false, err
	}
	defer resp.Body.Close()
	typ, _, err := readFrame(bufio.NewReader(resp.Body), nil)
	if err == nil && typ == frameHello {
		return true, nil
	}
	if ctx.Err() == nil && pctx.Err() != nil {
		return false, nil
	}
	if err == nil {
		err = errMalformed
	}
	return false, fmt.Errorf("front: probe: %w", err)
}

// conn is the client side of a tunnel.
type conn struct {
	*pipe.Conn
	cl       *client
	sid      [sidSize]byte
	ctx      context.Context // ends with the conn
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	upDone   chan struct{} // closed when the upstream goroutine exits
	activity chan struct{} // up signals the poller after each push
	ended    atomic.Bool   // the origin ended the session
	seq      uint64        // next push seq; used by the upstream goroutine only
}

func (cl *client) dial(ctx context.Context) (net.Conn, error) {
	mode := cl.cfg.Mode
	if mode == Auto {
		streams, err := cl.probe(ctx)
		if err != nil {
			return nil, err
		}
		mode = Poll
		if streams {
			mode = Stream
		}
	}
	c := &conn{cl: cl, upDone: make(chan struct{}), activity: make(chan struct{}, 1)}
	if _, err := io.ReadFull(rand.Reader, c.sid[:]); err != nil {
		return nil, fmt.Errorf("front: %w", err)
	}
	resp, err := cl.do(ctx, request{op: opOpen, sid: c.sid})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.Conn = pipe.NewConn(bufSize, pipe.Addr("front"), pipe.Addr("front"), cl.clk)
	c.Conn.OnClose = c.onClose
	if mode == Stream {
		stop := context.AfterFunc(ctx, c.cancel)
		resp, err := cl.do(c.ctx, request{op: opStream, sid: c.sid})
		var br *bufio.Reader
		if err == nil {
			br = bufio.NewReaderSize(resp.Body, 64<<10)
			var typ byte
			typ, _, err = readFrame(br, nil)
			if err == nil && typ != frameHello {
				err = errMalformed
			}
			if err != nil {
				resp.Body.Close()
			}
		}
		if !stop() || err != nil {
			c.cancel()
			cl.closeSession(c.sid)
			if err == nil {
				resp.Body.Close()
				err = ctx.Err()
			}
			return nil, fmt.Errorf("front: stream: %w", err)
		}
		c.wg.Add(2)
		go c.down(resp.Body, br)
		go c.up()
	} else {
		c.wg.Add(2)
		go c.poll()
		go c.up()
	}
	return c, nil
}

func (cl *client) closeSession(sid [sidSize]byte) {
	ctx, cancel := cl.clk.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if resp, err := cl.do(ctx, request{op: opClose, sid: sid}); err == nil {
		resp.Body.Close()
	}
}

// fail ends the conn's streams with err.
func (c *conn) fail(err error) {
	c.In.Close(err)
	c.Out.Close(err)
	c.Out.Discard()
}

// deliver passes a downstream frame to In; it reports whether to go on.
func (c *conn) deliver(typ byte, data []byte) bool {
	switch typ {
	case frameData:
		if _, err := c.In.Write(data, nil, c.Done()); err != nil {
			return false
		}
		return true
	case frameEOF:
		c.ended.Store(true)
		c.In.Close(io.EOF)
		c.Out.Close(net.ErrClosed)
		c.Out.Discard()
		return false
	}
	c.fail(fmt.Errorf("front: unexpected frame %d", typ))
	return false
}

func (c *conn) down(body io.ReadCloser, br *bufio.Reader) {
	defer c.wg.Done()
	defer body.Close()
	buf := make([]byte, 64<<10)
	for {
		typ, data, err := readFrame(br, buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			c.fail(fmt.Errorf("front: stream: %w", err))
			return
		}
		if !c.deliver(typ, data) {
			return
		}
	}
}

func (c *conn) push(op byte, data []byte) (*http.Response, error) {
	resp, err := c.cl.do(c.ctx, request{op: op, sid: c.sid, seq: c.seq, data: data})
	c.seq++
	return resp, err
}

// up sends upstream bytes, one POST at a time.
func (c *conn) up() {
	defer c.wg.Done()
	defer close(c.upDone)
	buf := make([]byte, maxPayload)
	for {
		c.Out.Wait(nil, nil)
		n, err := c.Out.Read(buf, closedChan, nil)
		if n > 0 {
			resp, err := c.push(opPush, buf[:n])
			if err != nil {
				c.fail(err)
				return
			}
			resp.Body.Close()
			select {
			case c.activity <- struct{}{}:
			default:
			}
			continue
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
	}
}

const maxPollInterval = time.Second

// poll fetches downstream bytes in Poll mode; up sends upstream ones
// alongside. Empty polls are held briefly by the origin; while idle the
// poller backs off to maxPollInterval, and upstream activity (which
// usually brings an answer) wakes it at once.
func (c *conn) poll() {
	defer c.wg.Done()
	down := make([]byte, 64<<10)
	var interval time.Duration
	for {
		resp, err := c.cl.do(c.ctx, request{op: opPoll, sid: c.sid})
		if err != nil {
			c.fail(err)
			return
		}
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		got := false
		for {
			typ, data, err := readFrame(br, down)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				resp.Body.Close()
				c.fail(fmt.Errorf("front: poll: %w", err))
				return
			}
			got = true
			if !c.deliver(typ, data) {
				resp.Body.Close()
				return
			}
		}
		resp.Body.Close()
		if got {
			interval = 0
			continue
		}
		interval = min(max(2*interval, 20*time.Millisecond), maxPollInterval)
		t := c.cl.clk.NewTimer(interval)
		select {
		case <-t.C():
		case <-c.activity:
			interval = 0
		case <-c.ctx.Done():
		}
		t.Stop()
		if c.ctx.Err() != nil {
			return
		}
	}
}

func (c *conn) onClose() error {
	// Give queued writes a moment to go out, then tell the origin.
	t := c.cl.clk.NewTimer(time.Second)
	select {
	case <-c.upDone:
	case <-t.C():
	}
	t.Stop()
	c.In.Close(net.ErrClosed)
	c.cancel()
	c.wg.Wait()
	if !c.ended.Load() {
		c.cl.closeSession(c.sid)
	}
	c.cl.closeAll()
	return nil
}
