package noisechan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flynn/noise"
)

// fakeConn is a net.Conn that reads from r and writes to w.
type fakeConn struct {
	r      io.Reader
	w      io.Writer
	mu     sync.Mutex
	closed bool
}

func (c *fakeConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(b)
}

func (c *fakeConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.w.Write(b)
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (*fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (*fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (*fakeConn) SetDeadline(time.Time) error      { return nil }
func (*fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (*fakeConn) SetWriteDeadline(time.Time) error { return nil }

var fuzzKey = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}

func fixedKeyPair(seed byte) KeyPair {
	kp, err := GenerateKeyPair(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		panic(err)
	}
	return kp
}

// cipherPair returns a reader Conn over data and the matching sender state.
func readerConn(data []byte) *Conn {
	recv := noise.UnsafeNewCipherState(suite, fuzzKey, 0)
	send := noise.UnsafeNewCipherState(suite, [32]byte{}, 0)
	return newConn(&fakeConn{r: bytes.NewReader(data), w: io.Discard}, send, recv, [32]byte{})
}

// writerConn returns a Conn whose frames, encrypted under fuzzKey, land in w.
func writerConn(w io.Writer) *Conn {
	send := noise.UnsafeNewCipherState(suite, fuzzKey, 0)
	recv := noise.UnsafeNewCipherState(suite, [32]byte{}, 0)
	return newConn(&fakeConn{r: bytes.NewReader(nil), w: w}, send, recv, [32]byte{})
}

func expectedReadError(err error) bool {
	return err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrProtocol) ||
		errors.Is(err, ErrDecrypt) || errors.Is(err, ErrFrameTooLarge)
}

// drain reads frames until an error and checks the error is an expected one.
func drain(t *testing.T, c *Conn) [][]byte {
	var frames [][]byte
	for {
		f, err := c.ReadFrame()
		if err != nil {
			if !expectedReadError(err) {
				t.Fatalf("unexpected error: %v", err)
			}
			return frames
		}
		if len(f) > MaxFrame {
			t.Fatalf("frame of %d bytes", len(f))
		}
		frames = append(frames, f)
	}
}

// sealedStream encrypts chunks as Noise messages under fuzzKey.
func sealedStream(chunks ...[]byte) []byte {
	cs := noise.UnsafeNewCipherState(suite, fuzzKey, 0)
	var out []byte
	for _, c := range chunks {
		start := len(out)
		out = append(out, 0, 0)
		out, _ = cs.Encrypt(out, nil, c)
		binary.BigEndian.PutUint16(out[start:], uint16(len(out)-start-2))
	}
	return out
}

func frameStream(frames ...[]byte) []byte {
	var buf bytes.Buffer
	w := writerConn(&buf)
	for _, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

// FuzzReadFrame feeds arbitrary bytes to a Conn right after a handshake.
func FuzzReadFrame(f *testing.F) {
	f.Add(frameStream([]byte("hello"), nil))
	f.Add(sealedStream(binary.BigEndian.AppendUint32(nil, 5), []byte("ab"), []byte("cde")))
	f.Fuzz(func(t *testing.T, data []byte) {
		drain(t, readerConn(data))
	})
}

// FuzzReadFrameChunks encrypts arbitrary plaintexts correctly, so that the
// fuzzer reaches the frame reassembly rules. data is a sequence of
// (2-byte big-endian length, plaintext) records.
func FuzzReadFrameChunks(f *testing.F) {
	rec := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = binary.BigEndian.AppendUint16(out, uint16(len(p)))
			out = append(out, p...)
		}
		return out
	}
	f.Add(rec([]byte{0, 0, 0, 3, 'a'}, []byte("bc"), []byte{0, 0, 0, 0}))
	f.Add(rec([]byte{0, 0x10, 0, 1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var chunks [][]byte
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			n = min(n, len(data), maxPlain)
			chunks = append(chunks, data[:n])
			data = data[n:]
		}
		drain(t, readerConn(sealedStream(chunks...)))
	})
}

// FuzzFrameRoundTrip checks that what WriteFrame sends, ReadFrame returns.
func FuzzFrameRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint8(3))
	f.Add([]byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, frame []byte, copies uint8) {
		n := int(copies%4) + 1
		frames := make([][]byte, n)
		for i := range frames {
			frames[i] = bytes.Repeat(frame, i*7+1)
			if len(frames[i]) > MaxFrame {
				frames[i] = frames[i][:MaxFrame]
			}
		}
		got := drain(t, readerConn(frameStream(frames...)))
		if len(got) != n {
			t.Fatalf("read %d frames, want %d", len(got), n)
		}
		for i := range got {
			if !bytes.Equal(got[i], frames[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
	})
}

// FuzzServerHandshake feeds arbitrary bytes to the relay side as the
// client's first message (and whatever follows).
func FuzzServerHandshake(f *testing.F) {
	f.Add(clientHello())
	f.Add([]byte{0, 96})
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := &fakeConn{r: bytes.NewReader(data), w: io.Discard}
		c, err := Server(context.Background(), raw, fixedKeyPair(2), nil)
		if err != nil {
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		drain(t, c)
	})
}

// FuzzClientHandshake feeds arbitrary bytes to the client side as the
// relay's answer.
func FuzzClientHandshake(f *testing.F) {
	f.Add(append([]byte{0, 48}, make([]byte, 48)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := &fakeConn{r: bytes.NewReader(data), w: io.Discard}
		_, err := Client(context.Background(), raw, fixedKeyPair(1), fixedKeyPair(2).Public, nil)
		if !errors.Is(err, ErrHandshake) {
			t.Fatalf("got %v, want ErrHandshake", err)
		}
	})
}

// clientHello returns a first handshake message from fixedKeyPair(1) to
// fixedKeyPair(2), followed by a valid-looking transport message.
func clientHello() []byte {
	var buf bytes.Buffer
	raw := &fakeConn{r: bytes.NewReader(nil), w: &buf}
	Client(context.Background(), raw, fixedKeyPair(1), fixedKeyPair(2).Public, nil)
	return append(buf.Bytes(), frameStream([]byte("x"))...)
}

// TestWriteSeeds regenerates the seed corpora in testdata/fuzz when
// SAMIZDAT_WRITE_SEEDS=1.
func TestWriteSeeds(t *testing.T) {
	if os.Getenv("SAMIZDAT_WRITE_SEEDS") != "1" {
		t.Skip("set SAMIZDAT_WRITE_SEEDS=1 to regenerate testdata/fuzz")
	}
	hdr := func(n uint32, rest ...byte) []byte { return append(binary.BigEndian.AppendUint32(nil, n), rest...) }
	rec := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = binary.BigEndian.AppendUint16(out, uint16(len(p)))
			out = append(out, p...)
		}
		return out
	}
	split := sealedStream(hdr(5, 'a'), []byte("bc"), []byte("de"))
	write := func(name string, seeds ...string) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte("go test fuzz v1\n"+s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := func(x []byte) string { return "[]byte(" + strconv.Quote(string(x)) + ")\n" }
	write("FuzzReadFrame",
		b(frameStream([]byte("hello"), nil)),
		b(split),
		b(split[:len(split)-3]),
		b([]byte{0xff, 0xff, 1, 2, 3}),
		b(sealedStream(hdr(MaxFrame+1))))
	write("FuzzReadFrameChunks",
		b(rec(hdr(3, 'a'), []byte("bc"), hdr(0))),
		b(rec(hdr(5, 'a'), []byte{}, []byte("bcde"))),
		b(rec(hdr(2, 'a'), []byte("bcd"))),
		b(rec([]byte{1})))
	write("FuzzFrameRoundTrip",
		b([]byte("hello"))+"uint8(3)\n",
		b(nil)+"uint8(0)\n",
		b(bytes.Repeat([]byte{7}, 3000))+"uint8(2)\n")
	write("FuzzServerHandshake",
		b(clientHello()),
		b([]byte("GET / HTTP/1.1\r\n\r\n")),
		b(append([]byte{0, 96}, make([]byte, 96)...)))
	write("FuzzClientHandshake",
		b(append([]byte{0, 48}, make([]byte, 48)...)),
		b([]byte{0, 0}),
		b([]byte{4, 0, 1}))
}
