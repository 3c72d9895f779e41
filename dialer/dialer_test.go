package dialer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/transport"
)

func TestClassify(t *testing.T) {
	opErr := func(e error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", e)}
	}
	tests := []struct {
		name string
		err  error
		want FailureClass
	}{
		{"refused", opErr(syscall.ECONNREFUSED), ClassRefused},
		{"reset", opErr(syscall.ECONNRESET), ClassReset},
		{"reset in handshake", fmt.Errorf("%w: %w", noisechan.ErrHandshake, opErr(syscall.ECONNRESET)), ClassReset},
		{"broken pipe", opErr(syscall.EPIPE), ClassReset},
		{"dial timeout", &net.OpError{Op: "dial", Err: context.DeadlineExceeded}, ClassTimeout},
		{"handshake timeout", fmt.Errorf("%w: %w", noisechan.ErrHandshake, os.ErrDeadlineExceeded), ClassTimeout},
		{"dns", &net.DNSError{Err: "no such host", Name: "relay.example", IsNotFound: true}, ClassDNS},
		{"dns timeout", &net.DNSError{Err: "timeout", Name: "relay.example", IsTimeout: true}, ClassTimeout},
		{"tls alert", fmt.Errorf("wss: %w", tls.AlertError(40)), ClassTLS},
		{"tls record", tls.RecordHeaderError{Msg: "bad"}, ClassTLS},
		{"unknown ca", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, ClassTLS},
		{"hostname", x509.HostnameError{Host: "x"}, ClassTLS},
		{"handshake eof", fmt.Errorf("%w: %w", noisechan.ErrHandshake, io.EOF), ClassHandshake},
		{"handshake", noisechan.ErrHandshake, ClassHandshake},
		{"canceled", fmt.Errorf("%w: %w", noisechan.ErrHandshake, context.Canceled), ClassCanceled},
		{"lost race", errLostRace, ClassCanceled},
		{"classed", &ClassError{Class: ClassHTTP, Err: errors.New("status 404")}, ClassHTTP},
		{"classed wrapped", fmt.Errorf("wss: %w", &ClassError{Class: ClassProbeLike, Err: errors.New("decoy")}), ClassProbeLike},
		{"other", errors.New("something"), ClassOther},
		{"tls by text", errors.New(`get "https://x/": tls: server key does not match the pin`), ClassTLS},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Fatalf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestClassifyReal classifies real failures on loopback.
func TestClassifyReal(t *testing.T) {
	r := newTestRelay(t)
	ps, cs := blocked(t, r, 3)
	ps[0].Set(blocktest.Reset)
	ps[1].Set(blocktest.Drop)
	// A closed port: refused.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	// A TLS server: the Noise client gets garbage back (handshake).
	tl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no cert")
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	wrongKey := cs[2]
	wrongKey.RelayKey[0] ^= 1

	tests := []struct {
		name string
		c    Candidate
		want FailureClass
	}{
		{"reset", cs[0], ClassReset},
		{"drop", cs[1], ClassTimeout},
		{"refused", r.candidate("r1", closed), ClassRefused},
		{"not noise", r.candidate("r1", tl.Addr().String()), ClassHandshake},
		{"wrong key", wrongKey, ClassHandshake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log eventLog
			cfg := Config{Local: clientKey(t), AttemptTimeout: time.Second, Events: log.add}
			_, _, err := Dial(context.Background(), cfg, []Candidate{tt.c})
			if !errors.Is(err, ErrAllFailed) {
				t.Fatalf("Dial: %v", err)
			}
			if got := log.failures(tt.c.Endpoint.Address); !slices.Equal(got, []FailureClass{tt.want}) {
				t.Fatalf("classes %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}

func TestDialRace(t *testing.T) {
	r := newTestRelay(t)
	ps, cs := blocked(t, r, 4)
	ps[0].Set(blocktest.Drop)  // hangs until cancelled
	ps[1].Set(blocktest.Reset) // fails fast, so the next starts at once
	// ps[2] and ps[3] pass; ps[2] starts first and wins.
	var log eventLog
	const stagger = 2 * time.Second
	cfg := Config{Local: clientKey(t), Stagger: stagger, Events: log.add}
	nc, won, err := Dial(context.Background(), cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if won.Endpoint.Address != cs[2].Endpoint.Address {
		t.Fatalf("won via %s, want %s", won, cs[2])
	}
	// The reset made the third start at once, not after a second stagger.
	var attempts []time.Time
	for _, e := range log.all() {
		if e.Kind == EventAttempt {
			attempts = append(attempts, e.Time)
		}
	}
	if len(attempts) == 3 {
		if d := attempts[2].Sub(attempts[0]); d >= 2*stagger {
			t.Errorf("the third attempt started %v after the first, want before a second stagger", d)
		}
	}
	if got := log.failures(cs[1].Endpoint.Address); !slices.Equal(got, []FailureClass{ClassReset}) {
		t.Errorf("reset candidate: %v", got)
	}
	if got := log.failures(cs[0].Endpoint.Address); !slices.Equal(got, []FailureClass{ClassCanceled}) {
		t.Errorf("dropped candidate: %v", got)
	}
	var kinds []string
	for _, e := range log.all() {
		kinds = append(kinds, e.Kind)
	}
	want := []string{"attempt", "attempt", "failure", "attempt", "failure", "connected"}
	if !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
	if e := log.all()[len(log.all())-1]; e.Elapsed < stagger {
		t.Errorf("connected after %v, before the second attempt was due", e.Elapsed)
	}
	if err := nc.WriteFrame([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if f, err := nc.ReadFrame(); err != nil || string(f) != "hi" {
		t.Fatalf("echo %q %v", f, err)
	}
	// The blackholed attempt's connection was closed.
	deadline := time.Now().Add(time.Minute)
	for ps[0].Counts().Live != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := ps[0].Counts().Live; n != 0 {
		t.Errorf("%d losing connections left open", n)
	}
}

// TestDialClosesLosers: when several handshakes complete, one wins and
// the others' connections are closed.
func TestDialClosesLosers(t *testing.T) {
	r := newTestRelay(t)
	var cs []Candidate
	for range 3 {
		cs = append(cs, r.candidate("r1", r.listen()))
	}
	// Every attempt is held until all three have connected, then they all
	// complete at once.
	var n atomic.Int32
	all := make(chan struct{})
	slow := func(ctx context.Context, ep manifest.Endpoint, _ transport.NetDial) (net.Conn, error) {
		c, err := dialTCP(ctx, ep, nil, nil)
		if n.Add(1) == 3 {
			close(all)
		}
		select {
		case <-all:
		case <-ctx.Done():
		}
		return c, err
	}
	cfg := Config{Local: clientKey(t), Stagger: time.Millisecond, Transports: map[string]DialFunc{"tcp": slow}}
	nc, _, err := Dial(context.Background(), cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	deadline := time.Now().Add(time.Minute)
	for r.liveConns() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := r.liveConns(); got != 1 {
		t.Fatalf("relay holds %d connections, want 1", got)
	}
}

func TestDialErrors(t *testing.T) {
	cfg := Config{Local: clientKey(t)}
	if _, _, err := Dial(context.Background(), cfg, nil); !errors.Is(err, ErrNoCandidates) {
		t.Fatalf("no candidates: %v", err)
	}
	unknown := []Candidate{{RelayID: "r", Endpoint: manifest.Endpoint{Transport: "carrier-pigeon", Address: "x"}}}
	if _, _, err := Dial(context.Background(), cfg, unknown); !errors.Is(err, ErrNoCandidates) {
		t.Fatalf("unknown transport: %v", err)
	}
	r := newTestRelay(t)
	ps, cs := blocked(t, r, 2)
	ps[0].Set(blocktest.Drop)
	ps[1].Set(blocktest.Drop)
	// The attempts would hang for an hour: Dial returns when ctx ends.
	cfg.AttemptTimeout = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, _, err := Dial(ctx, cfg, cs); errc <- err }()
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ctx deadline: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Dial still running a minute after its ctx ended")
	}
}

func TestCandidatesFrom(t *testing.T) {
	m := &manifest.Manifest{Relays: []manifest.Relay{
		{ID: "a", Endpoints: []manifest.Endpoint{{Transport: "tcp", Address: "a1"}, {Transport: "wss", Address: "a2"}, {Transport: "tcp", Address: "a3"}}},
		{ID: "b", Endpoints: []manifest.Endpoint{{Transport: "front", Address: "b1"}}},
	}}
	var got []string
	for _, c := range CandidatesFrom(m) {
		got = append(got, c.Endpoint.Address)
	}
	if want := []string{"a1", "b1", "a2", "a3"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if CandidatesFrom(nil) != nil {
		t.Fatal("nil manifest")
	}
}

// TestStandbyLast: standby endpoints come after every ordinary one, in
// the manifest's order and in the Memory's while nothing is known about
// them; one that worked where the ordinary ones failed comes first.
func TestStandbyLast(t *testing.T) {
	m := &manifest.Manifest{Relays: []manifest.Relay{
		{ID: "a", Endpoints: []manifest.Endpoint{{Transport: "tcp", Address: "a-spare", Standby: true}, {Transport: "tcp", Address: "a1"}}},
		{ID: "b", Endpoints: []manifest.Endpoint{{Transport: "tcp", Address: "b1"}, {Transport: "wss", Address: "b-spare", Standby: true}}},
	}}
	addrs := func(cs []Candidate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Endpoint.Address)
		}
		return out
	}
	cands := CandidatesFrom(m)
	if got, want := addrs(cands), []string{"b1", "a1", "a-spare", "b-spare"}; !slices.Equal(got, want) {
		t.Fatalf("CandidatesFrom: %v, want %v", got, want)
	}
	mem := NewMemory()
	if got, want := addrs(mem.Order(cands)), []string{"b1", "a1", "a-spare", "b-spare"}; !slices.Equal(got, want) {
		t.Fatalf("Order with an empty memory: %v, want %v", got, want)
	}
	mem.Failure(cands[0], ClassTimeout)
	mem.Failure(cands[1], ClassTimeout)
	mem.Success(cands[3], 40*time.Millisecond)
	if got, want := addrs(mem.Order(cands)), []string{"b-spare", "a-spare", "b1", "a1"}; !slices.Equal(got, want) {
		t.Fatalf("Order after the ordinary ones failed: %v, want %v", got, want)
	}
}

func TestCandidateKeyHidesSecret(t *testing.T) {
	c := Candidate{RelayID: "r", Endpoint: manifest.Endpoint{Transport: "wss", Address: "127.0.0.1:1", SNI: "a.example", Host: "b.example", Path: "/t", Secret: []byte("SECRETSECRET")}}
	for _, s := range []string{c.Key(), c.String(), fmt.Sprint(Event{Kind: EventFailure, Candidate: c})} {
		if strings.Contains(s, "SECRETSECRET") {
			t.Fatalf("secret in %q", s)
		}
	}
}

func TestMemoryOrder(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	mk := func(addr string) Candidate {
		return Candidate{RelayID: "r", Endpoint: manifest.Endpoint{Transport: "tcp", Address: addr}}
	}
	a, b, c, d, e, f := mk("a"), mk("b"), mk("c"), mk("d"), mk("e"), mk("f")
	m := NewMemory()
	m.now = func() time.Time { return now }
	at := func(dt time.Duration) { m.now = func() time.Time { return now.Add(dt) } }

	at(-3 * time.Hour)
	m.Success(c, 50*time.Millisecond) // worked long ago
	at(-2 * time.Hour)
	m.Failure(d, ClassReset) // blocked
	at(-1 * time.Hour)
	m.Success(e, 80*time.Millisecond) // worked recently
	m.Failure(f, ClassTimeout)        // dropped: ranks before the reset
	at(-48 * time.Hour)
	m.Failure(b, ClassReset)    // failed, but long ago: as good as untried
	m.Failure(a, ClassCanceled) // not held against it
	at(0)

	var got []string
	for _, x := range m.Order([]Candidate{a, b, c, d, e, f}) {
		got = append(got, x.Endpoint.Address)
	}
	if want := []string{"e", "c", "a", "b", "f", "d"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}

	// A success after failures puts a candidate back in front.
	m.Success(d, 10*time.Millisecond)
	if o := m.Order([]Candidate{a, d}); o[0].Endpoint.Address != "d" {
		t.Fatalf("recovered candidate not first: %v", o)
	}
	// Another network has its own history.
	m.SetNetwork("other")
	if o := m.Order([]Candidate{a, d}); o[0].Endpoint.Address != "a" {
		t.Fatalf("other network: %v", o)
	}
}

func TestMemoryPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dialer.json")
	a := Candidate{RelayID: "r", Endpoint: manifest.Endpoint{Transport: "tcp", Address: "a", Secret: []byte("SECRETSECRET")}}
	b := Candidate{RelayID: "r", Endpoint: manifest.Endpoint{Transport: "tcp", Address: "b"}}
	m, err := OpenMemory(path, "wifi-1")
	if err != nil {
		t.Fatal(err)
	}
	m.Failure(a, ClassReset)
	m.Success(b, time.Millisecond)
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "SECRETSECRET") {
		t.Fatal("secret persisted")
	}
	m2, err := OpenMemory(path, "wifi-1")
	if err != nil {
		t.Fatal(err)
	}
	if o := m2.Order([]Candidate{a, b}); o[0].Endpoint.Address != "b" {
		t.Fatalf("reloaded order %v", o)
	}
	m3, _ := OpenMemory(path, "lte")
	if o := m3.Order([]Candidate{a, b}); o[0].Endpoint.Address != "a" {
		t.Fatalf("other network order %v", o)
	}
	// A damaged file is an empty memory, not an error.
	os.WriteFile(path, []byte("{garbage"), 0o600)
	if _, err := OpenMemory(path, "x"); err != nil {
		t.Fatal(err)
	}
}

// TestDialUsesMemory: after a failure, the next race tries the other
// endpoint first.
func TestDialUsesMemory(t *testing.T) {
	r := newTestRelay(t)
	ps, cs := blocked(t, r, 2)
	mem := NewMemory()
	var log eventLog
	cfg := Config{Local: clientKey(t), Memory: mem, Events: log.add, Stagger: time.Second}
	ps[0].Set(blocktest.Reset)
	nc, won, err := Dial(context.Background(), cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if won.Endpoint.Address != cs[1].Endpoint.Address {
		t.Fatalf("won via %s", won)
	}
	if o := mem.Order(cs); o[0].Endpoint.Address != cs[1].Endpoint.Address {
		t.Fatalf("memory order %v", o)
	}
	log = eventLog{}
	cfg.Events = log.add
	nc, _, err = Dial(context.Background(), cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if ev := log.all(); ev[0].Kind != EventAttempt || ev[0].Candidate.Endpoint.Address != cs[1].Endpoint.Address {
		t.Fatalf("first attempt %v", ev[0])
	}
	if n := ps[0].Counts().Accepted; n != 1 {
		t.Fatalf("blocked endpoint tried %d times, want once", n)
	}
}
