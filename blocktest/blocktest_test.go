package blocktest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// clientHello returns the bytes of a real crypto/tls ClientHello for sni.
func clientHello(t testing.TB, sni string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		c.Handshake()
	}()
	var buf []byte
	tmp := make([]byte, 4096)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := b.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if _, perr := ParseSNI(buf); !errors.Is(perr, errShort) {
			return buf
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseSNI(t *testing.T) {
	hello := clientHello(t, "Front.Example.COM")
	noSNI := clientHello(t, "")
	// The same hello split over two records.
	body := hello[5:]
	split := append([]byte{22, 3, 1, 0, 10}, body[:10]...)
	split = append(split, 22, 3, 1, byte((len(body)-10)>>8), byte(len(body)-10))
	split = append(split, body[10:]...)

	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error
	}{
		{"real", hello, "front.example.com", nil},
		{"split records", split, "front.example.com", nil},
		{"no sni", noSNI, "", nil},
		{"truncated", hello[:len(hello)-1], "", errShort},
		{"header only", hello[:5], "", errShort},
		{"empty", nil, "", errShort},
		{"not tls", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "", errNotClientHello},
		{"noise", bytes.Repeat([]byte{0, 96}, 50), "", errNotClientHello},
		{"server hello type", append(append([]byte{}, hello[:5]...), append([]byte{2}, hello[6:]...)...), "", errNotClientHello},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSNI(tt.in)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("ParseSNI = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestMatchSNI(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"relay.example", "relay.example", true},
		{"relay.example", "cdn.relay.example", true},
		{"*.relay.example", "cdn.relay.example", true},
		{"relay.example", "notrelay.example", false},
		{"relay.example", "relay.example.org", false},
		{"Relay.Example", "relay.example.", true},
		{"", "x", false},
		{"x", "", false},
	}
	for _, tt := range tests {
		if got := matchSNI(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchSNI(%q, %q) = %v", tt.pattern, tt.name, got)
		}
	}
}

func FuzzParseSNI(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzParseSNI/*")
	if len(seeds) == 0 {
		f.Add(clientHello(f, "seed.example"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sni, err := ParseSNI(b)
		if err != nil && sni != "" {
			t.Fatalf("name %q with error %v", sni, err)
		}
		if err == nil && len(sni) > 255 {
			t.Fatalf("name of %d bytes", len(sni))
		}
		// More bytes after a complete hello change nothing.
		if err == nil {
			sni2, err2 := ParseSNI(append(append([]byte{}, b...), 1, 2, 3))
			if sni2 != sni || err2 != nil {
				t.Fatalf("trailing bytes changed the result: %q %v", sni2, err2)
			}
		}
	})
}

// TestWriteSeeds regenerates the fuzz seed corpus when BLOCKTEST_WRITE_SEEDS is set.
func TestWriteSeeds(t *testing.T) {
	if os.Getenv("BLOCKTEST_WRITE_SEEDS") == "" {
		t.Skip("set BLOCKTEST_WRITE_SEEDS=1 to regenerate seeds")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseSNI")
	os.MkdirAll(dir, 0o755)
	hello := clientHello(t, "front.example.com")
	for name, b := range map[string][]byte{
		"hello":     hello,
		"nosni":     clientHello(t, ""),
		"truncated": hello[:len(hello)/2],
		"http":      []byte("GET / HTTP/1.1\r\n"),
	} {
		data := []byte("go test fuzz v1\n[]byte(" + quote(b) + ")\n")
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func quote(b []byte) string {
	var s bytes.Buffer
	s.WriteByte('"')
	for _, c := range b {
		s.WriteString("\\x")
		s.WriteByte("0123456789abcdef"[c>>4])
		s.WriteByte("0123456789abcdef"[c&15])
	}
	s.WriteByte('"')
	return s.String()
}

// echoServer echoes on a loopback listener.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return l.Addr().String()
}

func roundTrip(c net.Conn, msg string, wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo mismatch")
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE)
}

func TestModes(t *testing.T) {
	target := echoServer(t)
	b := New()
	defer b.Close()
	p, err := b.Add(target)
	if err != nil {
		t.Fatal(err)
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	live := dial()
	if err := roundTrip(live, "hello", 2*time.Second); err != nil {
		t.Fatalf("pass: %v", err)
	}

	// Drop: the live connection and new ones go silent.
	p.Set(Drop)
	if err := roundTrip(live, "dropped", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("drop on live conn: %v, want timeout", err)
	}
	if err := roundTrip(dial(), "dropped", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("drop on new conn: %v, want timeout", err)
	}

	// Pass again: new connections work.
	p.Set(Pass)
	live2 := dial()
	if err := roundTrip(live2, "again", 2*time.Second); err != nil {
		t.Fatalf("pass after drop: %v", err)
	}

	// Reset: the live connection is reset, and so are new ones.
	p.Set(Reset)
	err = roundTrip(live2, "x", 2*time.Second)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reset on live conn: %v, want ECONNRESET", err)
	}
	// On loopback the proxy's RST can beat connect's return, so the dial
	// itself may be what sees it.
	if c, err := net.Dial("tcp", p.Addr()); err != nil {
		if !isReset(err) {
			t.Fatalf("reset on new conn: dial: %v", err)
		}
	} else {
		t.Cleanup(func() { c.Close() })
		if err := roundTrip(c, "x", 2*time.Second); !isReset(err) {
			t.Fatalf("reset on new conn: %v", err)
		}
	}

	c := p.Counts()
	if c.Accepted != 4 || c.Passed != 2 || c.Dropped < 2 || c.Reset < 2 {
		t.Fatalf("counts %+v", c)
	}
}

func TestSNIFilter(t *testing.T) {
	target := echoServer(t)
	b := New()
	defer b.Close()
	p, err := b.Add(target)
	if err != nil {
		t.Fatal(err)
	}
	p.FilterSNI("blocked.example")
	send := func(hello []byte) error {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		return roundTrip(c, string(hello), 2*time.Second)
	}
	if err := send(clientHello(t, "cdn.blocked.example")); !isReset(err) {
		t.Fatalf("blocked sni: %v, want reset", err)
	}
	if err := send(clientHello(t, "innocent.example")); err != nil {
		t.Fatalf("other sni: %v", err)
	}
	if err := send([]byte("not tls at all, just bytes")); err != nil {
		t.Fatalf("non-tls: %v", err)
	}
	// A live connection whose SNI becomes blocked is reset.
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, string(clientHello(t, "later.example")), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.FilterSNI("later.example")
	if err := roundTrip(c, "x", 2*time.Second); !isReset(err) {
		t.Fatalf("live conn after filter: %v, want reset", err)
	}
	if got := p.Counts().Filtered; got != 2 {
		t.Fatalf("filtered %d, want 2", got)
	}
}

func TestNetDial(t *testing.T) {
	target := echoServer(t)
	b := New()
	defer b.Close()
	p, err := b.Add(target)
	if err != nil {
		t.Fatal(err)
	}
	nd := b.NetDial(nil)
	c, err := nd(context.Background(), "tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, "via", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.Counts().Passed != 1 {
		t.Fatalf("not routed through the proxy: %+v", p.Counts())
	}
}
