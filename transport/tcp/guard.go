package tcp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"time"

	"samizdat/clock"
	"samizdat/internal/netsource"
	"samizdat/transport/internal/token"
)

// GuardConfig says how a guarded listener's connections end when their
// handshake fails.
type GuardConfig struct {
	// Secret draws this server's close behaviour (the ranges below), so
	// that two servers do not give way alike. Required.
	Secret []byte
	// MaxHold bounds how long past the handshake's deadline a rejected
	// connection may be kept; zero means DefaultMaxHold.
	MaxHold time.Duration
	// Rand draws each connection's close point; nil means crypto/rand.
	Rand io.Reader
	// Clock tells whether a hold has already passed; nil means the wall
	// clock. Under a simulated clock the connections' deadlines must run
	// on it too (transport/memnet's do).
	Clock clock.Clock
}

// DefaultMaxHold is GuardConfig.MaxHold's default.
const DefaultMaxHold = 30 * time.Second

// MinCloseBytes is the fewest bytes a rejected connection is read to
// before it closes: more than the Noise handshake reads before it can
// fail (a 2-byte length and at most 1024 bytes), so that a probe's first
// bytes never decide where the connection ends.
const MinCloseBytes = 1100

// closeSpan is the most bytes a server's close range starts above
// MinCloseBytes, and the most bytes it spans.
const closeSpan = 4096

// Guard wraps ln so that a connection whose handshake fails does not end
// where the probe's bytes make it end. Plain TCP with a length-prefixed
// handshake otherwise answers a prober at once: a bad length is refused
// after 2 bytes, a good one after the message, and a short one when the
// handshake times out, so the bytes and time until the close name the
// protocol ("bytes until close", as probers use against Shadowsocks).
//
// A guarded connection offers Reject, which the relay calls instead of
// Close when the handshake fails (as obfs4 does): it keeps reading and
// discarding until the connection has been read to a close point, or
// until a hold time past the handshake's deadline, and only then closes.
// Each server draws from its secret the range its close points lie in
// (between MinCloseBytes and about 9 KiB) and the range of its hold times
// (within MaxHold); each connection draws its own within them. The close
// point counts every byte read since the connection was accepted, so it
// is the same whatever the first bytes were.
//
// What it does not hide: a probe that sends fewer bytes than the close
// point sees the connection held open and then closed without an answer,
// as by any server waiting for more; that the server never answers
// anything a probe can send is itself a trait, shared with other
// probe-resistant protocols. Holding rejected connections costs the
// relay their handshake slots for longer (the relay keeps a rejected
// connection on its slot, so the per-source caps still bound them).
func Guard(ln net.Listener, cfg GuardConfig) net.Listener {
	if cfg.MaxHold <= 0 {
		cfg.MaxHold = DefaultMaxHold
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	m := hmac.New(sha256.New, cfg.Secret)
	m.Write([]byte("samizdat tcp close point"))
	d := m.Sum(nil)
	draw := func(b []byte, n uint64) uint64 {
		if n == 0 {
			return 0
		}
		return binary.BigEndian.Uint64(b) % n
	}
	g := &guard{Listener: ln, rand: cfg.Rand, clk: clock.Or(cfg.Clock), seen: token.NewReplayCache()}
	g.bytesLo = MinCloseBytes + int64(draw(d[0:8], closeSpan))
	g.bytesSpan = 256 + int64(draw(d[8:16], closeSpan-256))
	g.holdLo = time.Duration(draw(d[16:24], uint64(cfg.MaxHold/2)))
	g.holdSpan = cfg.MaxHold/10 + time.Duration(draw(d[24:32], uint64(cfg.MaxHold/2-cfg.MaxHold/10)))
	return g
}

type guard struct {
	net.Listener
	rand      io.Reader
	clk       clock.Clock
	bytesLo   int64 // close points lie in [bytesLo, bytesLo+bytesSpan)
	bytesSpan int64
	holdLo    time.Duration // holds lie in [holdLo, holdLo+holdSpan)
	holdSpan  time.Duration
	seen      *token.ReplayCache // first handshake messages accepted
}

func (g *guard) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &GuardedConn{Conn: c, g: g}, nil
}

// GuardedConn is a connection accepted by a guarded listener.
type GuardedConn struct {
	net.Conn
	g    *guard
	read atomic.Int64 // bytes read since accepted
}

// Read reads from the connection, counting the bytes.
func (c *GuardedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// Reject ends a connection whose handshake failed: it reads and discards
// until the connection has been read to its close point or its hold past
// notBefore (the handshake's deadline) has passed, the peer closes, or
// ctx ends, and then closes it. It returns once the connection is closed.
func (c *GuardedConn) Reject(ctx context.Context, notBefore time.Time) {
	defer c.Conn.Close()
	limit := c.g.bytesLo + c.draw(c.g.bytesSpan)
	deadline := notBefore.Add(c.g.holdLo + time.Duration(c.draw(int64(c.g.holdSpan))))
	if ctx.Err() != nil || !c.g.clk.Now().Before(deadline) {
		return
	}
	if c.Conn.SetReadDeadline(deadline) != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { c.Conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var buf [2048]byte
	for {
		left := limit - c.read.Load()
		if left <= 0 {
			return
		}
		if _, err := c.Read(buf[:min(left, int64(len(buf)))]); err != nil {
			return
		}
	}
}

// ReplayWindow is how far the time a client's first handshake message
// carries may be from the server's clock (CheckFirst).
const ReplayWindow = token.Window

// errStale and errReplayed refuse a first handshake message.
var (
	errStale    = errors.New("tcp: first handshake message carries no time within the replay window")
	errReplayed = errors.New("tcp: first handshake message replayed")
)

// CheckFirst says whether a first handshake message, authenticated under
// the server's key, may be answered: its time (sent) must lie within
// ReplayWindow of the server's clock and its ephemeral key must not have
// been seen in that window. A recorded message replayed by a prober is so
// refused, and the caller ends the connection as for garbage (Reject): an
// answer to it would confirm the server. A source (the peer's address, or
// its /64) holds a bounded share of what is remembered of each time slot,
// as a wss token's nonce does (transport/internal/token); past its share,
// its fresh messages are refused too.
func (c *GuardedConn) CheckFirst(ephemeral [32]byte, sent time.Time) error {
	now := c.g.clk.Now()
	if sent.IsZero() || sent.Before(now.Add(-ReplayWindow)) || sent.After(now.Add(ReplayWindow)) {
		return errStale
	}
	var nonce [16]byte
	copy(nonce[:], ephemeral[:])
	switch err := c.g.seen.Add(sent.Unix(), nonce, token.Source{Key: netsource.Key(c.RemoteAddr())}); {
	case errors.Is(err, token.ErrReplayed):
		return errReplayed
	case err != nil:
		return fmt.Errorf("tcp: first handshake message: %w", err)
	}
	return nil
}

// draw returns a uniform number in [0, n), or 0 when randomness fails.
func (c *GuardedConn) draw(n int64) int64 {
	if n <= 0 {
		return 0
	}
	v, err := rand.Int(c.g.rand, big.NewInt(n))
	if err != nil {
		return 0
	}
	return v.Int64()
}
