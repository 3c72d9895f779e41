// Package noisechan runs a Noise IK channel (Noise_IK_25519_ChaChaPoly_BLAKE2s)
// over any stream, such as a TCP connection or a tunnel through a front, and
// carries length-delimited application frames inside it.
//
// # Security properties
//
// The client (initiator) knows the relay's static X25519 key in advance,
// from a signed manifest or an invite, and the handshake fails unless the
// peer holds the matching private key: a proxy, CDN or censor in the path sees
// only ciphertext and cannot impersonate the relay. The client's own static
// key travels encrypted in the first message and is authenticated by the
// handshake, so the relay learns which device connected (RemoteStatic)
// without a password or token. Both sides mix a prologue that names the
// protocol version ("samizdat/1") and any caller bytes into the handshake
// hash, so peers that disagree about either fail the handshake. After the
// handshake every message is encrypted and authenticated with ChaCha20-Poly1305
// under a per-direction key and a counter nonce: a dropped, replayed,
// reordered or modified message fails authentication, and the Conn then
// closes the underlying stream and reports ErrDecrypt. Keys never appear in
// errors or printed values.
//
// # Wire format
//
// Every Noise message travels as a 2-byte big-endian length L (1 ≤ L ≤ 65535)
// followed by L bytes of Noise message.
//
// The handshake is the IK pattern's two messages:
//
//	-> e, es, s, ss     (client to relay, 104 bytes)
//	<- e, ee, se        (relay to client, 48 bytes)
//
// The first message's payload is the client's clock, Unix seconds as 8
// bytes big-endian, so that a relay can refuse a recorded first message
// replayed later (ServerChecked); the second's payload is empty.
//
// The prologue is "samizdat/1" || 0x00 || the caller's prologue bytes. The
// relay reads nothing beyond the first handshake message before it has
// processed it, and the client sends nothing after it before the handshake
// completes. A handshake message longer than 1024 bytes is rejected.
//
// An application frame of n bytes (0 ≤ n ≤ MaxFrame) is carried by one or
// more transport messages. The plaintext of the first is the frame length n as
// 4 bytes big-endian followed by the first bytes of the frame (at most 65515);
// each following message's plaintext continues the frame (1 to 65519 bytes)
// until n bytes have arrived. The receiver checks n against MaxFrame before it
// allocates anything for the frame, and rejects a continuation that would
// overrun n. Messages of different frames never interleave.
//
// # Memory
//
// A Conn borrows its read-ahead and write buffers from shared pools for
// the length of one read or write, and holds none while it waits for a
// frame, so a relay can keep many idle channels open cheaply.
package noisechan

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flynn/noise"
	"golang.org/x/crypto/chacha20poly1305"
)

// ProtocolName is mixed into every handshake's prologue; peers speaking
// another version of the channel fail the handshake.
const ProtocolName = "samizdat/1"

// MaxFrame is the largest application frame, in bytes, that ReadFrame
// accepts and WriteFrame sends.
const MaxFrame = 1 << 20

const (
	maxMsg          = noise.MaxMsgLen        // largest Noise message on the wire
	tagSize         = 16                     // ChaCha20-Poly1305 tag
	maxPlain        = maxMsg - tagSize       // largest plaintext in one message
	frameHeader     = 4                      // frame length prefix in the first message
	firstChunk      = maxPlain - frameHeader // frame bytes in the first message
	maxHandshakeMsg = 1024                   // largest accepted handshake message
	smallBufSize    = 4096                   // read-ahead buffer; write buffer of small frames
	largeBufSize    = 2 + maxMsg             // write buffer of one full-size message
)

// Buffers are borrowed for one read or write and given back at once, so
// an idle Conn holds none: a relay with many idle channels pays for the
// buffers of the ones that are busy, not of all.
var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBufSize); return &b }}
	largeBufs = sync.Pool{New: func() any { b := make([]byte, largeBufSize); return &b }}
)

var suite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s)

// Errors callers may branch on. Returned errors wrap these with %w and
// usually a cause.
var (
	// ErrHandshake means the handshake failed: the peer spoke garbage, holds
	// a different static key than the one pinned, uses another protocol
	// version or prologue, went away, or the context ended. The raw
	// connection has been closed.
	ErrHandshake = errors.New("noisechan: handshake failed")
	// ErrFrameTooLarge means a frame exceeds MaxFrame. On the receive side
	// the connection is unusable afterwards.
	ErrFrameTooLarge = errors.New("noisechan: frame too large")
	// ErrDecrypt means a message failed authentication (tampered, replayed,
	// reordered or injected data). The raw connection has been closed.
	ErrDecrypt = errors.New("noisechan: message authentication failed")
	// ErrProtocol means the peer broke the framing rules above.
	ErrProtocol = errors.New("noisechan: protocol violation")
)

// KeyPair is an X25519 static key pair.
type KeyPair struct {
	Private PrivateKey
	Public  [32]byte
}

// PrivateKey is an X25519 private key. It is a [32]byte so that it converts
// and assigns freely, but it never prints.
type PrivateKey [32]byte

// String returns a redacted placeholder.
func (PrivateKey) String() string { return "noisechan.PrivateKey(REDACTED)" }

// GoString returns a redacted placeholder.
func (PrivateKey) GoString() string { return "noisechan.PrivateKey(REDACTED)" }

// Format prints a redacted placeholder for every verb.
func (k PrivateKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// String prints the public key only.
func (kp KeyPair) String() string { return fmt.Sprintf("noisechan.KeyPair{Public: %x}", kp.Public[:]) }

// GoString prints the public key only.
func (kp KeyPair) GoString() string { return kp.String() }

// Format prints the public key only, for every verb.
func (kp KeyPair) Format(f fmt.State, _ rune) { io.WriteString(f, kp.String()) }

// GenerateKeyPair returns a new static key pair drawn from rand (crypto/rand
// when nil).
func GenerateKeyPair(rnd io.Reader) (KeyPair, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	k, err := suite.GenerateKeypair(rnd)
	if err != nil {
		return KeyPair{}, fmt.Errorf("noisechan: generate key pair: %w", err)
	}
	var kp KeyPair
	copy(kp.Private[:], k.Private)
	copy(kp.Public[:], k.Public)
	return kp, nil
}

// Conn is an established Noise channel. ReadFrame and WriteFrame may be
// called concurrently with each other; concurrent WriteFrame calls are
// serialized, and concurrent ReadFrame calls are serialized.
type Conn struct {
	raw    net.Conn
	remote [32]byte

	closeOnce sync.Once
	closed    atomic.Bool

	rmu  sync.Mutex // guards the fields below it
	recv transportCipher
	rerr error // sticky read error
	// Bytes read ahead of the message being read: ahead[aheadPos:] of a
	// buffer from smallBufs, returned to the pool when it runs empty.
	ahead    *[]byte
	aheadPos int
	aheadEnd int
	// Progress of the Noise message being read, kept across a read
	// timeout so that a later ReadFrame resumes where it stopped.
	hdr    [2]byte
	hdrN   int
	rawErr error  // returned by the raw read that started a frame, for the next read
	msg    []byte // ciphertext of the current message, len = its length
	msgN   int
	frame  []byte // frame being reassembled, nil when none
	frameN int    // announced length of frame; valid when frame != nil

	wmu  sync.Mutex // guards the fields below it
	send transportCipher
	werr error // sticky write error
}

// Client performs the initiator side of the handshake over raw, pinning the
// relay's static key. It closes raw on failure. ctx bounds the handshake
// only: its deadline applies to the handshake's I/O and its cancellation
// aborts it; once Client returns, ctx no longer matters.
func Client(ctx context.Context, raw net.Conn, local KeyPair, relayStatic [32]byte, prologue []byte) (*Conn, error) {
	return ClientAt(ctx, raw, local, relayStatic, prologue, time.Now())
}

// ClientAt is Client, telling the relay that the time is now (a simulated
// clock's, in the lab).
func ClientAt(ctx context.Context, raw net.Conn, local KeyPair, relayStatic [32]byte, prologue []byte, now time.Time) (*Conn, error) {
	return handshake(ctx, raw, local, &relayStatic, prologue, true, now, nil)
}

// FirstMessage is what a relay learns from a client's first handshake
// message before it answers.
type FirstMessage struct {
	// Ephemeral is the client's ephemeral key, fresh for every handshake:
	// a message seen twice is a replay.
	Ephemeral [32]byte
	// Sent is the client's clock when it made the message (zero when the
	// payload carried none).
	Sent time.Time
}

// Server performs the responder side of the handshake over raw and learns
// the client's static key (RemoteStatic); deciding whether that key is
// welcome is up to the caller. It closes raw on failure. ctx bounds the
// handshake as for Client.
func Server(ctx context.Context, raw net.Conn, local KeyPair, prologue []byte) (*Conn, error) {
	return handshake(ctx, raw, local, nil, prologue, true, time.Time{}, nil)
}

// ServerKeepOpen is Server, except that it leaves raw open when the
// handshake fails, for a caller that ends failed connections its own way
// (a relay that does not show a prober where it gives up, see
// transport/tcp's Guard). On success raw belongs to the Conn, as with
// Server.
func ServerKeepOpen(ctx context.Context, raw net.Conn, local KeyPair, prologue []byte) (*Conn, error) {
	return handshake(ctx, raw, local, nil, prologue, false, time.Time{}, nil)
}

// ServerChecked is ServerKeepOpen that calls check with the first message,
// once it has authenticated under the relay's key and before anything is
// answered; an error from check fails the handshake (wrapped in
// ErrHandshake), so that a replayed first message is answered as garbage
// is.
func ServerChecked(ctx context.Context, raw net.Conn, local KeyPair, prologue []byte, check func(FirstMessage) error) (*Conn, error) {
	return handshake(ctx, raw, local, nil, prologue, false, time.Time{}, check)
}

func handshake(ctx context.Context, raw net.Conn, local KeyPair, relayStatic *[32]byte, prologue []byte, closeOnFail bool,
	now time.Time, check func(FirstMessage) error) (c *Conn, err error) {
	defer func() {
		if err != nil {
			c = nil
			if closeOnFail {
				raw.Close()
			}
			if !errors.Is(err, ErrHandshake) {
				err = fmt.Errorf("%w: %w", ErrHandshake, err)
			}
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		if err := raw.SetDeadline(dl); err != nil {
			return nil, err
		}
	}
	// Cancellation: push the deadline into the past so blocked I/O returns.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			// ctx ended while the handshake finished: honor it.
			err = context.Cause(ctx)
		}
	}()
	// Prefer the context's error over the I/O error it caused.
	ioErr := func(err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%w (%w)", cerr, err)
		}
		if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
			// The conn's deadline (ctx's) can fire just before ctx's timer.
			return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
		return err
	}

	pro := make([]byte, 0, len(ProtocolName)+1+len(prologue))
	pro = append(pro, ProtocolName...)
	pro = append(pro, 0)
	pro = append(pro, prologue...)
	cfg := noise.Config{
		CipherSuite:   suite,
		Random:        rand.Reader,
		Pattern:       noise.HandshakeIK,
		Initiator:     relayStatic != nil,
		Prologue:      pro,
		StaticKeypair: noise.DHKey{Private: local.Private[:], Public: local.Public[:]},
	}
	if relayStatic != nil {
		cfg.PeerStatic = relayStatic[:]
	}
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, err
	}

	var send, recv *noise.CipherState
	if relayStatic != nil {
		var sent [8]byte
		binary.BigEndian.PutUint64(sent[:], uint64(now.Unix()))
		out, _, _, err := hs.WriteMessage(make([]byte, 2, 2+104), sent[:])
		if err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint16(out, uint16(len(out)-2))
		if _, err := raw.Write(out); err != nil {
			return nil, ioErr(fmt.Errorf("write message 1: %w", err))
		}
		in, err := readHandshakeMsg(raw)
		if err != nil {
			return nil, ioErr(fmt.Errorf("read message 2: %w", err))
		}
		var cs1, cs2 *noise.CipherState
		if _, cs1, cs2, err = hs.ReadMessage(nil, in); err != nil {
			return nil, fmt.Errorf("message 2: %w", err)
		}
		send, recv = cs1, cs2
	} else {
		in, err := readHandshakeMsg(raw)
		if err != nil {
			return nil, ioErr(fmt.Errorf("read message 1: %w", err))
		}
		payload, _, _, err := hs.ReadMessage(nil, in)
		if err != nil {
			return nil, fmt.Errorf("message 1: %w", err)
		}
		if check != nil {
			var m FirstMessage
			copy(m.Ephemeral[:], in) // e comes first, in the clear
			if len(payload) == 8 {
				m.Sent = time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)
			}
			if err := check(m); err != nil {
				return nil, fmt.Errorf("message 1: %w", err)
			}
		}
		out, cs1, cs2, err := hs.WriteMessage(make([]byte, 2, 2+48), nil)
		if err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint16(out, uint16(len(out)-2))
		if _, err := raw.Write(out); err != nil {
			return nil, ioErr(fmt.Errorf("write message 2: %w", err))
		}
		send, recv = cs2, cs1
	}
	if send == nil || recv == nil {
		return nil, errors.New("handshake did not complete")
	}

	var remote [32]byte
	copy(remote[:], hs.PeerStatic())
	c = newConn(raw, send, recv, remote)
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return c, nil
}

// readHandshakeMsg reads one length-prefixed handshake message, reading no
// byte beyond it.
func readHandshakeMsg(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 || n > maxHandshakeMsg {
		return nil, fmt.Errorf("%w: handshake message of %d bytes", ErrProtocol, n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}

func newConn(raw net.Conn, send, recv *noise.CipherState, remote [32]byte) *Conn {
	return &Conn{
		raw:    raw,
		remote: remote,
		send:   newTransportCipher(send),
		recv:   newTransportCipher(recv),
	}
}

// transportCipher is one direction of the channel after the handshake: the
// Noise CipherState for ChaChaPoly (ChaCha20-Poly1305 under the key the
// handshake split off, the nonce a 64-bit counter encoded little-endian
// after 4 zero bytes), kept in fewer bytes than noise.CipherState and the
// values behind it, since a relay keeps two per connection.
type transportCipher struct {
	aead cipher.AEAD
	n    uint64
}

func newTransportCipher(cs *noise.CipherState) transportCipher {
	k := cs.UnsafeKey()
	aead, err := chacha20poly1305.New(k[:])
	if err != nil {
		panic(err) // only for a key of the wrong size
	}
	return transportCipher{aead: aead, n: cs.Nonce()}
}

func (t *transportCipher) nonce() ([chacha20poly1305.NonceSize]byte, error) {
	var nonce [chacha20poly1305.NonceSize]byte
	if t.n > noise.MaxNonce {
		return nonce, noise.ErrMaxNonce
	}
	binary.LittleEndian.PutUint64(nonce[4:], t.n)
	return nonce, nil
}

// Encrypt appends the ciphertext of plaintext, with its tag, to out.
func (t *transportCipher) Encrypt(out, ad, plaintext []byte) ([]byte, error) {
	nonce, err := t.nonce()
	if err != nil {
		return nil, err
	}
	t.n++
	return t.aead.Seal(out, nonce[:], plaintext, ad), nil
}

// Decrypt authenticates ciphertext and appends its plaintext to out.
func (t *transportCipher) Decrypt(out, ad, ciphertext []byte) ([]byte, error) {
	nonce, err := t.nonce()
	if err != nil {
		return nil, err
	}
	out, err = t.aead.Open(out, nonce[:], ciphertext, ad)
	if err != nil {
		return nil, err
	}
	t.n++
	return out, nil
}

// RemoteStatic returns the peer's static public key, authenticated by the
// handshake.
func (c *Conn) RemoteStatic() [32]byte { return c.remote }

// LocalAddr returns the raw connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the raw connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetReadDeadline sets the deadline for ReadFrame. A ReadFrame that times
// out returns an error wrapping os.ErrDeadlineExceeded and may be called
// again after the deadline is extended: it resumes the partly read frame.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for WriteFrame. A write that times out
// may have sent part of a frame, so the Conn refuses further writes.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// Close closes the raw connection, unblocking pending reads and writes. It
// is safe to call more than once; later calls return nil.
func (c *Conn) Close() (err error) {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		err = c.raw.Close()
	})
	return err
}

func (c *Conn) isClosed() bool { return c.closed.Load() }

// WriteFrame encrypts b and sends it as one frame. It is safe for concurrent
// use; frames from concurrent calls do not interleave. After an error other
// than ErrFrameTooLarge the Conn refuses further writes.
func (c *Conn) WriteFrame(b []byte) error {
	frames := [1][]byte{b}
	return c.WriteFrames(frames[:])
}

// WriteFrames sends each of frames as WriteFrame would, in order and
// without frames of concurrent calls between them, in as few writes to the
// underlying connection as a buffer of one full-size Noise message allows
// (one for up to about 64 KiB of frames). If one is larger than MaxFrame
// it returns ErrFrameTooLarge and sends none.
func (c *Conn) WriteFrames(frames [][]byte) error {
	total := 0
	for _, b := range frames {
		if len(b) > MaxFrame {
			return fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, len(b), MaxFrame)
		}
		total += 2 + frameHeader + len(b) + tagSize
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	if c.isClosed() {
		return fmt.Errorf("noisechan: write: %w", net.ErrClosed)
	}

	// Small frames borrow a small buffer; larger ones borrow one the size
	// of a Noise message, which goes out whenever the next message would
	// not fit.
	pool := &largeBufs
	if total <= smallBufSize {
		pool = &smallBufs
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	out := (*bp)[:0]
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		_, err := c.raw.Write(out)
		out = out[:0]
		if err != nil {
			c.werr = fmt.Errorf("noisechan: write: %w", err)
		}
		return err
	}
	for _, b := range frames {
		for first := true; first || len(b) > 0; first = false {
			var chunk []byte
			head := 2 // the message's length, filled in below
			if first {
				n := min(len(b), firstChunk)
				chunk, b = b[:n], b[n:]
				head += frameHeader
			} else {
				n := min(len(b), maxPlain)
				chunk, b = b[:n], b[n:]
			}
			if len(out)+head+len(chunk)+tagSize > cap(out) {
				if err := flush(); err != nil {
					return c.werr
				}
			}
			at := len(out)
			out = append(out, 0, 0)
			if first {
				out = binary.BigEndian.AppendUint32(out, uint32(len(chunk)+len(b)))
			}
			out = append(out, chunk...)
			// Encrypt in place: the plaintext starts exactly where the
			// ciphertext is appended, and the buffer has room for the tag.
			msg, err := c.send.Encrypt(out[:at+2], nil, out[at+2:])
			if err != nil {
				c.werr = fmt.Errorf("noisechan: encrypt: %w", err)
				return c.werr
			}
			out = msg
			binary.BigEndian.PutUint16(out[at:], uint16(len(out)-at-2))
		}
	}
	if err := flush(); err != nil {
		return c.werr
	}
	return nil
}

// ReadFrame returns the next whole frame. Concurrent calls are serialized.
// At a clean end of stream between frames it returns io.EOF. After a read
// deadline passes it returns an error wrapping os.ErrDeadlineExceeded and
// may be called again; after any other error the Conn refuses further reads.
// The returned slice is the caller's.
func (c *Conn) ReadFrame() ([]byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rerr == nil && c.hdrN == 0 && c.frame == nil && c.ahead == nil && !c.isClosed() {
		// Between frames with nothing read ahead: wait for the next one
		// here, in a small stack frame and holding no buffer, since a
		// server may have a goroutine waiting like this for every idle
		// channel. (A goroutine's stack shrinks to four times what it
		// uses while it waits.) The work starts once bytes arrive.
		n, err := c.raw.Read(c.hdr[:])
		c.hdrN, c.rawErr = n, err
	}
	return c.readFrame()
}

// readFrame is ReadFrame with rmu held.
func (c *Conn) readFrame() ([]byte, error) {
	if c.rerr != nil {
		return nil, c.rerr
	}
	if c.isClosed() {
		return nil, fmt.Errorf("noisechan: read: %w", net.ErrClosed)
	}
	for {
		atBoundary := c.frame == nil && c.hdrN == 0
		plain, err := c.readMsg()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("noisechan: read: %w", err)
			}
			switch {
			case errors.Is(err, ErrDecrypt), errors.Is(err, ErrProtocol), errors.Is(err, ErrFrameTooLarge):
				c.Close()
			case err == io.EOF && atBoundary:
				// clean end of stream
			case errors.Is(err, io.EOF):
				err = fmt.Errorf("noisechan: read: %w", io.ErrUnexpectedEOF)
			case c.isClosed():
				err = fmt.Errorf("noisechan: read: %w", net.ErrClosed)
			default:
				err = fmt.Errorf("noisechan: read: %w", err)
			}
			c.rerr = err
			return nil, err
		}
		if c.frame == nil {
			if len(plain) < frameHeader {
				return nil, c.fail(fmt.Errorf("%w: first message of a frame has %d bytes", ErrProtocol, len(plain)))
			}
			n := int(binary.BigEndian.Uint32(plain))
			plain = plain[frameHeader:]
			if n > MaxFrame {
				return nil, c.fail(fmt.Errorf("%w: peer announced %d bytes (max %d)", ErrFrameTooLarge, n, MaxFrame))
			}
			if len(plain) > n {
				return nil, c.fail(fmt.Errorf("%w: message overruns its frame", ErrProtocol))
			}
			if len(plain) == n {
				// The whole frame in one message: hand out the
				// decrypted buffer itself.
				return plain, nil
			}
			c.frameN = n
			// Grow with the data actually received, not the announced size.
			c.frame = make([]byte, 0, min(n, 2*maxPlain))
			c.frame = append(c.frame, plain...)
			continue
		}
		if len(plain) == 0 || len(plain) > c.frameN-len(c.frame) {
			return nil, c.fail(fmt.Errorf("%w: continuation of %d bytes with %d left", ErrProtocol, len(plain), c.frameN-len(c.frame)))
		}
		c.frame = append(c.frame, plain...)
		if len(c.frame) == c.frameN {
			f := c.frame
			c.frame, c.frameN = nil, 0
			return f, nil
		}
	}
}

func (c *Conn) fail(err error) error {
	c.rerr = err
	c.frame = nil
	c.Close()
	return err
}

// readMsg reads and decrypts one Noise message, keeping partial progress in
// c across errors so that a timed-out read can resume.
func (c *Conn) readMsg() ([]byte, error) {
	for c.hdrN < 2 {
		n, err := c.read(c.hdr[c.hdrN:], false)
		c.hdrN += n
		if c.hdrN < 2 && err != nil {
			if err == io.EOF && c.hdrN > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	if c.msg == nil {
		l := int(binary.BigEndian.Uint16(c.hdr[:]))
		if l < tagSize {
			return nil, fmt.Errorf("%w: message of %d bytes", ErrProtocol, l)
		}
		c.msg, c.msgN = make([]byte, l), 0
	}
	for c.msgN < len(c.msg) {
		n, err := c.read(c.msg[c.msgN:], true)
		c.msgN += n
		if c.msgN < len(c.msg) && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	msg := c.msg
	c.msg, c.msgN, c.hdrN = nil, 0, 0
	plain, err := c.recv.Decrypt(msg[:0], nil, msg)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// read fills p from the bytes read ahead, or else from the raw stream.
// Waiting for a message to begin, a reader holds no buffer: it reads the
// 2-byte length straight into p. Once a message has begun (ahead), the
// rest is normally in flight already, so it reads into a borrowed buffer
// to pick up the messages after it in the same call, and gives the
// buffer back as soon as those have been consumed.
func (c *Conn) read(p []byte, ahead bool) (int, error) {
	if err := c.rawErr; err != nil {
		c.rawErr = nil
		return 0, err
	}
	if c.ahead == nil {
		if !ahead || len(p) >= smallBufSize {
			return c.raw.Read(p)
		}
		bp := smallBufs.Get().(*[]byte)
		n, err := c.raw.Read(*bp)
		if n == 0 {
			smallBufs.Put(bp)
			return 0, err
		}
		// Any error comes back from the next read of the raw stream,
		// as net.Conn errors do.
		c.ahead, c.aheadPos, c.aheadEnd = bp, 0, n
	}
	n := copy(p, (*c.ahead)[c.aheadPos:c.aheadEnd])
	c.aheadPos += n
	if c.aheadPos == c.aheadEnd {
		smallBufs.Put(c.ahead)
		c.ahead = nil
	}
	return n, nil
}
