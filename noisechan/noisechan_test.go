package noisechan

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flynn/noise"

	"samizdat/internal/leaktest"
)

// patience bounds the waits for what must happen; they end as soon as it
// does, so only a failing test waits this long.
const patience = time.Minute

// checkLeaks fails the test if goroutines started during it outlive it.
func checkLeaks(t testing.TB) { leaktest.Check(t) }

func mustKey(t testing.TB) KeyPair {
	t.Helper()
	kp, err := GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

type result struct {
	c   *Conn
	err error
}

// handshakePair runs both sides of a handshake over the given raw conns.
func handshakePair(t testing.TB, ctx context.Context, craw, sraw net.Conn, client, server KeyPair, pin [32]byte, cpro, spro []byte) (c, s *Conn, cerr, serr error) {
	t.Helper()
	ch := make(chan result, 1)
	go func() {
		s, err := Server(ctx, sraw, server, spro)
		ch <- result{s, err}
	}()
	c, cerr = Client(ctx, craw, client, pin, cpro)
	r := <-ch
	return c, r.c, cerr, r.err
}

// tcpPair returns two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-ch
	if s == nil {
		t.Fatal("accept failed")
	}
	return c, s
}

// pair returns an established client and server Conn.
func pair(t testing.TB, overTCP bool) (c, s *Conn) {
	t.Helper()
	var craw, sraw net.Conn
	if overTCP {
		craw, sraw = tcpPair(t)
	} else {
		craw, sraw = net.Pipe()
	}
	ck, sk := mustKey(t), mustKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, s, cerr, serr := handshakePair(t, ctx, craw, sraw, ck, sk, sk.Public, []byte("test"), []byte("test"))
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	if c.RemoteStatic() != sk.Public || s.RemoteStatic() != ck.Public {
		t.Fatal("remote static keys do not match")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func TestFrames(t *testing.T) {
	sizes := []int{0, 1, 100, firstChunk - 1, firstChunk, firstChunk + 1, maxMsg, firstChunk + maxPlain, firstChunk + maxPlain + 1, 200_000, MaxFrame - 1, MaxFrame}
	for _, transport := range []string{"pipe", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			checkLeaks(t)
			c, s := pair(t, transport == "tcp")
			for _, n := range sizes {
				want := pattern(n, byte(n))
				errc := make(chan error, 1)
				go func() { errc <- c.WriteFrame(want) }()
				got, err := s.ReadFrame()
				if err != nil {
					t.Fatalf("size %d: read: %v", n, err)
				}
				if err := <-errc; err != nil {
					t.Fatalf("size %d: write: %v", n, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("size %d: frame differs", n)
				}
				// and back
				go func() { errc <- s.WriteFrame(want) }()
				got, err = c.ReadFrame()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("size %d: reverse: %v", n, err)
				}
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			if _, err := s.ReadFrame(); err != io.EOF {
				t.Fatalf("after peer close: got %v, want io.EOF", err)
			}
		})
	}
}

// writeCounter counts the writes made to it.
type writeCounter struct {
	net.Conn
	writes int
}

func (c *writeCounter) Write(b []byte) (int, error) {
	c.writes++
	return c.Conn.Write(b)
}

// TestWriteFrames: frames written together arrive as written, in as few
// writes as one full-size message's buffer allows; a frame too large sends
// none of them.
func TestWriteFrames(t *testing.T) {
	checkLeaks(t)
	c, s := pair(t, true)
	cc := &writeCounter{Conn: c.raw}
	c.raw = cc
	for _, tc := range []struct {
		sizes     []int
		maxWrites int
	}{
		{[]int{0, 1, 100, 1024, 1024, 1024}, 1}, // fits the small buffer
		{[]int{1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024}, 1},
		{[]int{30_000, 30_000, 30_000, 1}, 2},
		{[]int{firstChunk, 1, firstChunk + 1, 200_000, 5}, 8},
	} {
		var frames [][]byte
		for i, n := range tc.sizes {
			frames = append(frames, pattern(n, byte(i)))
		}
		cc.writes = 0
		errc := make(chan error, 1)
		go func() { errc <- c.WriteFrames(frames) }()
		for i, want := range frames {
			got, err := s.ReadFrame()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("sizes %v: frame %d: %d bytes, %v", tc.sizes, i, len(got), err)
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if cc.writes > tc.maxWrites || cc.writes == 0 {
			t.Errorf("sizes %v: %d writes, want at most %d", tc.sizes, cc.writes, tc.maxWrites)
		}
	}
	cc.writes = 0
	if err := c.WriteFrames([][]byte{{1}, make([]byte, MaxFrame+1)}); !errors.Is(err, ErrFrameTooLarge) || cc.writes != 0 {
		t.Fatalf("a frame too large among others: %v, %d writes", err, cc.writes)
	}
	// The channel still works.
	go func() { c.WriteFrame([]byte("after")) }()
	if got, err := s.ReadFrame(); err != nil || string(got) != "after" {
		t.Fatalf("after: %q %v", got, err)
	}
}

func TestFrameTooLarge(t *testing.T) {
	checkLeaks(t)
	c, s := pair(t, false)
	if err := c.WriteFrame(make([]byte, MaxFrame+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("write: got %v, want ErrFrameTooLarge", err)
	}
	// The conn still works after refusing to send.
	go c.WriteFrame([]byte("ok"))
	if b, err := s.ReadFrame(); err != nil || string(b) != "ok" {
		t.Fatalf("read after refused write: %q %v", b, err)
	}

	// A peer that announces a frame beyond MaxFrame is cut off.
	var plain [frameHeader]byte
	binary.BigEndian.PutUint32(plain[:], MaxFrame+1)
	msg := sealRaw(t, c, plain[:])
	go c.raw.Write(msg)
	if _, err := s.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("read: got %v, want ErrFrameTooLarge", err)
	}
	if _, err := s.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("second read: got %v, want sticky ErrFrameTooLarge", err)
	}
}

// sealRaw encrypts one Noise message with c's send state and frames it.
func sealRaw(t testing.TB, c *Conn, plain []byte) []byte {
	t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	out, err := c.send.Encrypt([]byte{0, 0}, nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(out, uint16(len(out)-2))
	return out
}

func TestProtocolViolations(t *testing.T) {
	hdr := func(n uint32, rest ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, n), rest...)
	}
	tests := []struct {
		name string
		msgs [][]byte // plaintexts
		want error
	}{
		{"short first message", [][]byte{{1, 2}}, ErrProtocol},
		{"overrun in first message", [][]byte{hdr(1, 'a', 'b')}, ErrProtocol},
		{"empty continuation", [][]byte{hdr(3, 'a'), {}}, ErrProtocol},
		{"overrun in continuation", [][]byte{hdr(3, 'a'), {'b', 'c', 'd'}}, ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			c, s := pair(t, true)
			var wire []byte
			for _, m := range tt.msgs {
				wire = append(wire, sealRaw(t, c, m)...)
			}
			if _, err := c.raw.Write(wire); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ReadFrame(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWrongRelayKey(t *testing.T) {
	checkLeaks(t)
	ck, sk, other := mustKey(t), mustKey(t), mustKey(t)
	craw, sraw := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, s, cerr, serr := handshakePair(t, ctx, craw, sraw, ck, sk, other.Public, nil, nil)
	if c != nil || s != nil {
		t.Fatal("handshake returned a Conn")
	}
	if !errors.Is(cerr, ErrHandshake) || !errors.Is(serr, ErrHandshake) {
		t.Fatalf("client %v, server %v; want ErrHandshake", cerr, serr)
	}
	for _, err := range []error{cerr, serr} {
		if s := err.Error(); strings.Contains(s, fmt.Sprintf("%x", sk.Private[:])) || strings.Contains(s, fmt.Sprintf("%x", ck.Private[:])) {
			t.Fatal("error mentions key material")
		}
	}
}

func TestPrologueMismatch(t *testing.T) {
	checkLeaks(t)
	ck, sk := mustKey(t), mustKey(t)
	craw, sraw := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	_, _, cerr, serr := handshakePair(t, ctx, craw, sraw, ck, sk, sk.Public, []byte("net-a"), []byte("net-b"))
	if !errors.Is(cerr, ErrHandshake) || !errors.Is(serr, ErrHandshake) {
		t.Fatalf("client %v, server %v; want ErrHandshake", cerr, serr)
	}
}

func TestGarbageBeforeHandshake(t *testing.T) {
	for _, garbage := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
		{0, 0},
		{0xff, 0xff, 1, 2, 3},
		append([]byte{0, 96}, make([]byte, 96)...),
		{0, 10, 1, 2, 3}, // truncated, then EOF
	} {
		t.Run(fmt.Sprintf("%x", garbage[:2]), func(t *testing.T) {
			checkLeaks(t)
			craw, sraw := net.Pipe()
			go func() {
				craw.Write(garbage)
				craw.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			if _, err := Server(ctx, sraw, mustKey(t), nil); !errors.Is(err, ErrHandshake) {
				t.Fatalf("got %v, want ErrHandshake", err)
			}
		})
	}
}

// tamperConn flips one bit of the n-th byte written after arm is set.
type tamperConn struct {
	net.Conn
	mu    sync.Mutex
	armed bool
}

func (c *tamperConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	armed := c.armed
	c.mu.Unlock()
	if armed && len(b) > 10 {
		b = bytes.Clone(b)
		b[10] ^= 1
	}
	return c.Conn.Write(b)
}

func TestTamperedCiphertext(t *testing.T) {
	checkLeaks(t)
	craw, sraw := tcpPair(t)
	tc := &tamperConn{Conn: craw}
	ck, sk := mustKey(t), mustKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, s, cerr, serr := handshakePair(t, ctx, tc, sraw, ck, sk, sk.Public, nil, nil)
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	defer c.Close()
	defer s.Close()
	if err := c.WriteFrame([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.ReadFrame(); err != nil || string(b) != "first" {
		t.Fatal(b, err)
	}
	tc.mu.Lock()
	tc.armed = true
	tc.mu.Unlock()
	if err := c.WriteFrame([]byte("second frame, tampered")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFrame(); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("got %v, want ErrDecrypt", err)
	}
	// The server closed the stream: the client sees the end.
	c.SetReadDeadline(time.Now().Add(patience))
	if _, err := c.ReadFrame(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client read after tamper: %v, want closed stream", err)
	}
}

func TestConcurrentWrites(t *testing.T) {
	checkLeaks(t)
	c, s := pair(t, true)
	const writers, perWriter = 16, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				n := 8 + (w*perWriter+i)*997%100_000
				b := pattern(n, byte(w+i))
				binary.BigEndian.PutUint32(b[0:], uint32(w))
				binary.BigEndian.PutUint32(b[4:], uint32(i))
				if err := c.WriteFrame(b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Concurrent reads on the other direction at the same time.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			if err := s.WriteFrame([]byte{byte(i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 50 {
		b, err := c.ReadFrame()
		if err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Fatalf("reverse frame %d: %v %v", i, b, err)
		}
	}
	<-done
	next := make([]int, writers)
	for range writers * perWriter {
		b, err := s.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		w, i := int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:]))
		if w >= writers || i != next[w] {
			t.Fatalf("frame from writer %d seq %d, want seq %d", w, i, next[w])
		}
		next[w]++
		want := pattern(len(b), byte(w+i))
		if !bytes.Equal(b[8:], want[8:]) {
			t.Fatalf("frame %d/%d corrupted", w, i)
		}
	}
	wg.Wait()
}

func TestClose(t *testing.T) {
	checkLeaks(t)
	c, s := pair(t, false)
	// A blocked read returns when the Conn is closed.
	errc := make(chan error, 1)
	go func() { _, err := s.ReadFrame(); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked read: got %v, want net.ErrClosed", err)
	}
	if _, err := s.ReadFrame(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := s.WriteFrame([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if err := c.WriteFrame([]byte("x")); err == nil {
		t.Fatal("write to a closed peer succeeded")
	}
}

// slowConn holds back the second half of every write after arm until
// release is closed.
type slowConn struct {
	net.Conn
	arm     chan struct{}
	release chan struct{}
}

func (c *slowConn) Write(b []byte) (int, error) {
	select {
	case <-c.arm:
	default:
		return c.Conn.Write(b)
	}
	half := len(b) / 2
	n, err := c.Conn.Write(b[:half])
	if err != nil {
		return n, err
	}
	<-c.release
	m, err := c.Conn.Write(b[half:])
	return n + m, err
}

func TestReadDeadlineResumes(t *testing.T) {
	checkLeaks(t)
	craw, sraw := tcpPair(t)
	sc := &slowConn{Conn: craw, arm: make(chan struct{}), release: make(chan struct{})}
	ck, sk := mustKey(t), mustKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, s, cerr, serr := handshakePair(t, ctx, sc, sraw, ck, sk, sk.Public, nil, nil)
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	defer c.Close()
	defer s.Close()

	// Nothing sent: the read times out.
	s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := s.ReadFrame(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	// Half a frame sent: the read times out mid-frame, then resumes.
	close(sc.arm)
	want := pattern(150_000, 9)
	errc := make(chan error, 1)
	go func() { errc <- c.WriteFrame(want) }()
	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := s.ReadFrame(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	close(sc.release)
	s.SetReadDeadline(time.Now().Add(patience))
	got, err := s.ReadFrame()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("resumed read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestWriteDeadline(t *testing.T) {
	checkLeaks(t)
	c, _ := pair(t, false) // nobody reads the pipe
	c.SetWriteDeadline(time.Now().Add(30 * time.Millisecond))
	if err := c.WriteFrame([]byte("stuck")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	c.SetWriteDeadline(time.Time{})
	if err := c.WriteFrame([]byte("again")); err == nil {
		t.Fatal("write after a failed write succeeded")
	}
}

func TestHandshakeContext(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		checkLeaks(t)
		craw, sraw := net.Pipe()
		defer craw.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		errc := make(chan error, 1)
		go func() {
			_, err := Server(ctx, sraw, mustKey(t), nil) // the client never speaks
			errc <- err
		}()
		select {
		case err := <-errc:
			if !errors.Is(err, ErrHandshake) || !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want ErrHandshake and context.Canceled", err)
			}
		case <-time.After(patience):
			t.Fatal("cancel did not interrupt the handshake")
		}
		// raw was closed
		if _, err := sraw.Write([]byte{1}); err == nil {
			t.Fatal("raw conn still open")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		checkLeaks(t)
		craw, sraw := net.Pipe()
		defer sraw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		go io.Copy(io.Discard, sraw) // a relay that reads and never answers
		sk := mustKey(t)
		_, err := Client(ctx, craw, mustKey(t), sk.Public, nil)
		if !errors.Is(err, ErrHandshake) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want ErrHandshake and context.DeadlineExceeded", err)
		}
	})
	t.Run("already canceled", func(t *testing.T) {
		craw, sraw := net.Pipe()
		defer sraw.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Client(ctx, craw, mustKey(t), [32]byte{}, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("deadline cleared after handshake", func(t *testing.T) {
		checkLeaks(t)
		ck, sk := mustKey(t), mustKey(t)
		// A busy machine may not finish the handshake within a short
		// deadline; try again with a longer one.
		var c, s *Conn
		var ctx context.Context
		for d := 200 * time.Millisecond; c == nil; d *= 2 {
			if d > patience {
				t.Fatal("no handshake finished within its deadline")
			}
			craw, sraw := net.Pipe()
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.Background(), d)
			defer cancel()
			var cerr, serr error
			c, s, cerr, serr = handshakePair(t, ctx, craw, sraw, ck, sk, sk.Public, nil, nil)
			if cerr != nil || serr != nil {
				if !errors.Is(cerr, context.DeadlineExceeded) && !errors.Is(serr, context.DeadlineExceeded) {
					t.Fatal(cerr, serr)
				}
				c, s = nil, nil
				craw.Close()
				sraw.Close()
			}
		}
		defer c.Close()
		defer s.Close()
		<-ctx.Done() // the handshake's deadline has passed
		go c.WriteFrame([]byte("late"))
		if b, err := s.ReadFrame(); err != nil || string(b) != "late" {
			t.Fatalf("read after the handshake deadline: %v", err)
		}
	})
}

func TestKeyPairRedacted(t *testing.T) {
	kp := mustKey(t)
	priv := fmt.Sprintf("%x", kp.Private[:])
	for _, s := range []string{
		fmt.Sprint(kp), fmt.Sprintf("%v %+v %#v %x %s", kp, kp, kp, kp, kp),
		fmt.Sprint(kp.Private), fmt.Sprintf("%v %+v %#v %x %s %d", kp.Private, kp.Private, kp.Private, kp.Private, kp.Private, kp.Private),
		fmt.Sprintf("%v", &kp), fmt.Sprintf("%v", struct{ K KeyPair }{kp}),
	} {
		if strings.Contains(s, priv) || strings.Contains(s, fmt.Sprint([32]byte(kp.Private))) {
			t.Fatalf("private key printed: %s", s)
		}
	}
	// A [32]byte assigns to and from PrivateKey.
	var raw [32]byte = kp.Private
	kp2 := KeyPair{Private: raw, Public: kp.Public}
	if kp2.Private != kp.Private {
		t.Fatal("assignment changed the key")
	}
}

func BenchmarkRoundTrip1KiB(b *testing.B) {
	for _, transport := range []string{"pipe", "tcp"} {
		b.Run(transport, func(b *testing.B) {
			c, s := pair(b, transport == "tcp")
			go func() {
				for {
					f, err := s.ReadFrame()
					if err != nil {
						return
					}
					if s.WriteFrame(f) != nil {
						return
					}
				}
			}()
			msg := pattern(1024, 1)
			b.SetBytes(1024)
			b.ResetTimer()
			for b.Loop() {
				if err := c.WriteFrame(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := c.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStream1KiB(b *testing.B) {
	c, s := pair(b, true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := s.ReadFrame(); err != nil {
				return
			}
		}
	}()
	msg := pattern(1024, 1)
	b.SetBytes(1024)
	for b.Loop() {
		if err := c.WriteFrame(msg); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	<-done
}

func BenchmarkHandshake(b *testing.B) {
	ck, sk := mustKey(b), mustKey(b)
	ctx := context.Background()
	for b.Loop() {
		craw, sraw := net.Pipe()
		c, s, cerr, serr := handshakePair(b, ctx, craw, sraw, ck, sk, sk.Public, nil, nil)
		if cerr != nil || serr != nil {
			b.Fatal(cerr, serr)
		}
		c.Close()
		s.Close()
	}
}

// countingConn counts the reads of the raw stream.
type countingConn struct {
	net.Conn
	mu    sync.Mutex
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// TestIdleHoldsNoBuffer checks that a Conn waiting for a frame holds no
// read buffer, while a burst of small frames is still read ahead in few
// reads of the raw stream rather than two per message, and that frames
// larger than one message still arrive whole.
func TestIdleHoldsNoBuffer(t *testing.T) {
	checkLeaks(t)
	craw, sraw := tcpPair(t)
	defer craw.Close()
	counted := &countingConn{Conn: sraw}
	s := newConn(counted, noise.UnsafeNewCipherState(suite, [32]byte{}, 0), noise.UnsafeNewCipherState(suite, fuzzKey, 0), [32]byte{})
	defer s.Close()

	const burst = 64
	var want [][]byte
	for i := range burst {
		want = append(want, pattern(40+i, byte(i)))
	}
	want = append(want, pattern(3*maxPlain+17, 9), pattern(5, 1))
	// Encrypt everything first and send it in one write, so that it
	// arrives together.
	var buf bytes.Buffer
	w := writerConn(&buf)
	for _, f := range want {
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := craw.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	for i, f := range want {
		got, err := s.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, f) {
			t.Fatalf("frame %d: %d bytes differ from the %d sent", i, len(got), len(f))
		}
	}
	counted.mu.Lock()
	reads := counted.reads
	counted.mu.Unlock()
	// 66 messages in the burst plus 4 of the large frame: without read-
	// ahead that is at least 140 reads.
	if reads > 40 {
		t.Errorf("%d reads of the raw stream for %d frames: not reading ahead", reads, len(want))
	}
	if s.ahead != nil {
		t.Errorf("a Conn between frames holds a %d-byte read buffer", len(*s.ahead))
	}

	// A read that waits for the next frame holds no buffer either, and
	// the frame arrives whole after it.
	done := make(chan error, 1)
	go func() {
		f, err := s.ReadFrame()
		if err == nil && !bytes.Equal(f, []byte("late")) {
			err = fmt.Errorf("got %q", f)
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	buf.Reset()
	if err := w.WriteFrame([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if _, err := craw.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.ahead != nil {
		t.Error("a read buffer is still held after the frame")
	}
}

// TestTransportCipherMatchesNoise checks the channel's own transport
// cipher against noise.CipherState: the same ciphertexts from the same key
// and nonce, each opening the other's, a failed decryption not advancing
// the nonce, and ErrMaxNonce past the last nonce.
func TestTransportCipherMatchesNoise(t *testing.T) {
	key := [32]byte{1, 2, 3}
	ref := noise.UnsafeNewCipherState(suite, key, 5)
	tc := newTransportCipher(noise.UnsafeNewCipherState(suite, key, 5))
	for i, msg := range [][]byte{nil, []byte("x"), pattern(1000, 3)} {
		want, err := ref.Encrypt(nil, []byte("ad"), msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tc.Encrypt(nil, []byte("ad"), msg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: ciphertext differs from noise.CipherState's", i)
		}
	}
	refIn := noise.UnsafeNewCipherState(suite, key, 0)
	tcIn := newTransportCipher(noise.UnsafeNewCipherState(suite, key, 0))
	ct, _ := refIn.Encrypt(nil, nil, []byte("hello"))
	bad := append([]byte(nil), ct...)
	bad[0] ^= 1
	if _, err := tcIn.Decrypt(nil, nil, bad); err == nil {
		t.Fatal("tampered message decrypted")
	}
	if pt, err := tcIn.Decrypt(nil, nil, ct); err != nil || string(pt) != "hello" {
		t.Fatalf("after a failed decryption: %q, %v", pt, err)
	}
	back, _ := tcIn.Encrypt(nil, nil, []byte("back"))
	refOut := noise.UnsafeNewCipherState(suite, key, 1)
	if pt, err := refOut.Decrypt(nil, nil, back); err != nil || string(pt) != "back" {
		t.Fatalf("noise.CipherState could not open ours: %q, %v", pt, err)
	}

	last := newTransportCipher(noise.UnsafeNewCipherState(suite, key, noise.MaxNonce))
	if _, err := last.Encrypt(nil, nil, []byte("last")); err != nil {
		t.Fatalf("the last nonce: %v", err)
	}
	if _, err := last.Encrypt(nil, nil, []byte("one more")); !errors.Is(err, noise.ErrMaxNonce) {
		t.Fatalf("past the last nonce: %v, want ErrMaxNonce", err)
	}
}
