package relay_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/transport/tcp"
)

// closed is what a countingListener learned of one conn when it closed.
type closed struct {
	read int64         // bytes read from it
	held time.Duration // from accepted to closed
}

// countingListener sends, for each conn it accepted, the bytes read from
// it and how long it was open, when it is closed: what the peer can
// measure, taken at the socket.
type countingListener struct {
	net.Listener
	closed chan closed
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, start: time.Now(), out: l.closed}, nil
}

type countingConn struct {
	net.Conn
	start time.Time
	read  atomic.Int64
	once  sync.Once
	out   chan closed
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.out <- closed{read: c.read.Load(), held: time.Since(c.start)} })
	return err
}

// guardedRelay serves a relay on a guarded tcp listener and returns its
// address and the conns' close records.
func guardedRelay(t *testing.T, mod func(*relay.Config), g tcp.GuardConfig) (string, chan closed) {
	t.Helper()
	_, addr, rec := guardedEnv(t, mod, g)
	return addr, rec
}

// guardedEnv is guardedRelay that returns the relay's env too.
func guardedEnv(t *testing.T, mod func(*relay.Config), g tcp.GuardConfig) (*env, string, chan closed) {
	t.Helper()
	e := newEnv(t, mod)
	inner, err := tcp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := make(chan closed, 1024)
	ln := tcp.Guard(countingListener{inner, rec}, g)
	served := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { served <- e.srv.Serve(ctx, relay.NamedListener(ln, "tcp")) }()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	return e, inner.Addr().String(), rec
}

// probe sends b on a new conn to addr and reads until the relay ends it;
// it returns the read's error.
func probe(t *testing.T, addr string, b []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	c.Write(b) // the relay may reset before it has all of it
	_, err = io.Copy(io.Discard, c)
	if err == nil {
		err = io.EOF
	}
	return err
}

// probeKinds are first bytes a prober tries: a length the relay refuses at
// once, a length of 0, a plain HTTP request, the length of a real first
// handshake message, the longest length accepted, and random bytes.
var probeKinds = []struct {
	name  string
	first []byte
}{
	{"bad length", []byte{0xff, 0xff}},
	{"zero length", []byte{0, 0}},
	{"http get", []byte("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n")},
	{"handshake length", []byte{0x00, 0x60}},
	{"longest handshake", []byte{0x04, 0x00}},
	{"random", nil},
}

// TestTCPCloseDoesNotDependOnFirstBytes: however a probe begins, the relay
// reads the same amount of it (drawn per connection) before it closes, so
// the bytes until the close do not tell a relay's tcp endpoint. On a relay
// that judges the length prefix first, a bad length closes after 2 bytes
// and a good one after the message.
func TestTCPCloseDoesNotDependOnFirstBytes(t *testing.T) {
	const (
		perKind = 40
		size    = 16 << 10 // more than any close point
	)
	addr, rec := guardedRelay(t, nil, tcp.GuardConfig{Secret: []byte("probe test secret"), MaxHold: 5 * time.Second})
	byKind := make([][]float64, len(probeKinds))
	for k, kind := range probeKinds {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8) // under the per-source handshake cap
		for range perKind {
			b := make([]byte, size)
			rand.Read(b)
			copy(b, kind.first)
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				probe(t, addr, b)
			}()
		}
		wg.Wait()
		for range perKind {
			select {
			case c := <-rec:
				if c.read < tcp.MinCloseBytes || c.read >= size {
					t.Errorf("%s: the relay read %d bytes before it closed; want at least %d and less than the probe", kind.name, c.read, tcp.MinCloseBytes)
				}
				byKind[k] = append(byKind[k], float64(c.read))
			case <-time.After(time.Minute):
				t.Fatalf("%s: the relay did not close its probes", kind.name)
			}
		}
		if slices.Min(byKind[k]) == slices.Max(byKind[k]) {
			t.Errorf("%s: every probe closed after %v bytes; want a close point drawn per connection", kind.name, byKind[k][0])
		}
	}
	// Each kind against all the others: a two-sample Kolmogorov-Smirnov
	// test that fails by chance with probability about 1e-6.
	for k, kind := range probeKinds {
		var rest []float64
		for j := range probeKinds {
			if j != k {
				rest = append(rest, byKind[j]...)
			}
		}
		d := ksStatistic(byKind[k], rest)
		n, m := float64(len(byKind[k])), float64(len(rest))
		crit := math.Sqrt(-math.Log(1e-6/2)/2) * math.Sqrt((n+m)/(n*m))
		if d > crit {
			t.Errorf("%s: bytes until close differ from the other probes' (KS D=%.2f > %.2f): %v", kind.name, d, crit, byKind[k])
		}
	}
}

// ksStatistic is the two-sample Kolmogorov-Smirnov statistic: the largest
// gap between the two empirical distribution functions.
func ksStatistic(a, b []float64) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	var d float64
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

// TestTCPShortProbeIsHeldNotReset: a probe shorter than the close point
// (20 or 200 bytes, an HTTP request, a bad length prefix) is read in full
// and held at least until the handshake's deadline, then closed without a
// reset. A relay that judges the prefix first resets at once.
func TestTCPShortProbeIsHeldNotReset(t *testing.T) {
	const handshakeTimeout = 500 * time.Millisecond
	addr, rec := guardedRelay(t, func(c *relay.Config) { c.Limits.HandshakeTimeout = handshakeTimeout },
		tcp.GuardConfig{Secret: []byte("another secret"), MaxHold: time.Second})
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"20 random bytes", random(20)},
		{"200 random bytes", random(200)},
		{"bad length", append([]byte{0xff, 0xff}, random(18)...)},
		{"http get", []byte("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := probe(t, addr, tc.b); !errors.Is(err, io.EOF) {
				if errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("the relay reset the connection: %v", err)
				}
				t.Fatalf("read: %v, want the relay's orderly close", err)
			}
			select {
			case c := <-rec:
				if c.read != int64(len(tc.b)) {
					t.Errorf("the relay read %d of the probe's %d bytes", c.read, len(tc.b))
				}
				if c.held < handshakeTimeout {
					t.Errorf("closed after %v, before the handshake's deadline (%v)", c.held, handshakeTimeout)
				}
			case <-time.After(time.Minute):
				t.Fatal("no close recorded")
			}
		})
	}
}

// TestTCPHeldProbesCountAgainstTheCaps: probes held open after a failed
// handshake keep their handshake slots, so one source cannot hold more
// than its share by sending garbage: its next connection is shed at once.
func TestTCPHeldProbesCountAgainstTheCaps(t *testing.T) {
	const perSource = 4
	obs := &handshakeCounter{n: map[string]int{}}
	addr, rec := guardedRelay(t, func(c *relay.Config) {
		c.Limits.HandshakesPerSource = perSource
		c.Limits.HandshakeTimeout = time.Minute // probes are held well past the test
		c.Observer = obs
	}, tcp.GuardConfig{Secret: []byte("caps"), MaxHold: time.Second})
	var held []net.Conn
	for range perSource {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0xff, 0xff, 1, 2, 3}) // a bad length: the handshake fails at once
		held = append(held, c)
	}
	// One more from the same source is shed, while the others are held.
	if err := probe(t, addr, []byte{0xff, 0xff}); err == nil {
		t.Fatal("no error")
	}
	select {
	case c := <-rec:
		if c.read != 0 {
			t.Errorf("the closed connection was read (%d bytes); want the extra one shed unread", c.read)
		}
	case <-time.After(time.Minute):
		t.Fatal("no connection was closed")
	}
	// The relay counts the shed connection after closing it: wait for the
	// count (a busy machine may run the test first), then check it.
	for deadline := time.Now().Add(time.Minute); obs.get("shed") < 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := obs.get("shed"); n != 1 {
		t.Errorf("%d connections shed, want 1", n)
	}
	for _, c := range held {
		c.Close()
	}
	for range perSource {
		select {
		case <-rec:
		case <-time.After(time.Minute):
			t.Fatal("a held probe was not closed after its peer left")
		}
	}
}

// recordingConn keeps what is written to it.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written []byte // guarded by mu
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.written = append(c.written, p...)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestTCPReplayedFirstMessageIsGarbage: a censor that recorded a real
// client's first handshake message and replays it gets no answer: the
// relay reads to a close point in its garbage range and closes, as for
// random bytes. A relay that answered it (the second handshake message)
// would confirm itself to anyone who saw one client connect.
func TestTCPReplayedFirstMessageIsGarbage(t *testing.T) {
	const size = 16 << 10 // more than any close point
	e, addr, rec := guardedEnv(t, nil, tcp.GuardConfig{Secret: []byte("replay test secret"), MaxHold: 5 * time.Second})

	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &recordingConn{Conn: raw}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	nc, err := noisechan.Client(ctx, rc, newKey(t), e.relayKey, nil)
	if err != nil {
		t.Fatalf("the real client's handshake: %v", err)
	}
	rc.mu.Lock()
	first := slices.Clone(rc.written)
	rc.mu.Unlock()
	nc.Close()
	select {
	case <-rec: // the real client's conn
	case <-time.After(patience):
		t.Fatal("the relay did not close the real client's conn")
	}

	for _, kind := range []struct {
		name  string
		first []byte
	}{{"replayed first message", first}, {"random", nil}} {
		b := make([]byte, size)
		rand.Read(b)
		copy(b, kind.first)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(patience))
		c.Write(b)
		got, _ := io.Copy(io.Discard, c)
		c.Close()
		if got != 0 {
			t.Errorf("%s: the relay answered %d bytes", kind.name, got)
		}
		select {
		case r := <-rec:
			if r.read < tcp.MinCloseBytes || r.read >= size {
				t.Errorf("%s: the relay read %d bytes before it closed; want at least %d and less than the probe", kind.name, r.read, tcp.MinCloseBytes)
			}
		case <-time.After(patience):
			t.Fatalf("%s: the relay did not close the probe", kind.name)
		}
	}
}
