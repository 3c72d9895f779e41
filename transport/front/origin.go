package front

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"samizdat/clock"
	"samizdat/internal/netsource"
	"samizdat/transport/decoy"
	"samizdat/transport/internal/pipe"
	"samizdat/transport/internal/token"
)

// OriginConfig configures the relay side of a fronted endpoint.
type OriginConfig struct {
	Path   string       // tunnel path, as in the endpoint
	Secret []byte       // endpoint secret; empty: the origin serves only the decoy
	Decoy  http.Handler // what probes see; nil: decoy.Handler(), a site drawn for this origin
	// IdleTimeout ends sessions with no request for this long; 0 means 60 s.
	IdleTimeout time.Duration
	// MaxSessions bounds the sessions held at once; an open beyond it
	// gets the decoy. 0 means DefaultMaxSessions.
	MaxSessions int
	// MaxProbes bounds the probes held open at once (each for probeHold,
	// so that a buffering CDN shows itself), and MaxProbesPerSource those
	// of one source (a CDN edge); a probe beyond either gets the decoy.
	// 0 means DefaultMaxProbes and DefaultMaxProbesPerSource.
	MaxProbes, MaxProbesPerSource int
	// Clock checks tokens, times idle sessions, the holds of polls and
	// probes, and the tunnels' deadlines; nil: clock.Real.
	Clock clock.Clock
}

// Origin is the relay side of the front transport: an http.Handler to
// mount where the CDN forwards the hidden host's requests, and a
// net.Listener whose Accept yields one conn per tunnel. Sessions are
// identified by a random 128-bit id chosen by the client and opened only
// with a valid token; per-session buffers are bounded; sessions idle for
// IdleTimeout are ended. Close ends every session, since they live inside
// the handler.
//
// What a holder of the secret can fill: every request reaches the origin
// from a CDN edge, whose address all fronted users share, so tokens are
// remembered per edge without a quota per address (see
// transport/internal/token: a flood through an edge costs that edge's own
// entries first, and a newcomer is never turned away for it). The session
// table is bounded three ways: a session whose conn the relay closed is
// forgotten once its client has read the end, or closedGrace after the
// close if no client asks for it; sessions the relay keeps open are the
// relay's to bound (its handshake slots and anonymous connection caps);
// and MaxSessions bounds them all, opens beyond it getting the decoy.
type Origin struct {
	path   string
	verify *token.Verifier // nil when there is no secret
	decoy  http.Handler
	idle   time.Duration
	clk    clock.Clock

	conns      chan net.Conn
	closed     chan struct{}
	janitorEnd chan struct{}
	closeOnce  sync.Once

	maxSessions         int
	maxProbes, perProbe int

	mu       sync.Mutex
	sessions map[[sidSize]byte]*session // guarded by mu
	probes   map[string]int             // probes held, by source; guarded by mu
	nprobes  int                        // probes held in all; guarded by mu
}

// DefaultMaxProbes and DefaultMaxProbesPerSource are OriginConfig's
// MaxProbes and MaxProbesPerSource when 0. A client probes once per dial,
// so an edge's users together rarely hold more than a few; a holder of
// the secret (any manifest's) who sends probes at a high rate holds at
// most these many handler goroutines and connections for probeHold.
const (
	DefaultMaxProbes          = 1024
	DefaultMaxProbesPerSource = 128
)

// DefaultMaxSessions is OriginConfig.MaxSessions when it is 0: a session
// the relay has not closed costs about a kilobyte while idle.
const DefaultMaxSessions = 1 << 16

// closedGrace is how long a session whose conn the relay closed waits for
// its client to fetch what is left and the end, before it is forgotten.
const closedGrace = 5 * time.Second

var (
	_ http.Handler = (*Origin)(nil)
	_ net.Listener = (*Origin)(nil)
)

// Hold is how long a poll waits for downstream data before answering
// empty.
const pollHold = 200 * time.Millisecond

// probeHold is how long a probe's response stays open after the hello.
const probeHold = 10 * time.Second

// NewOrigin returns an origin; call Close to stop it.
func NewOrigin(cfg OriginConfig) *Origin {
	o := &Origin{
		path:        cfg.Path,
		decoy:       cfg.Decoy,
		idle:        cfg.IdleTimeout,
		maxSessions: cfg.MaxSessions,
		clk:         clock.Or(cfg.Clock),
		conns:       make(chan net.Conn),
		closed:      make(chan struct{}),
		janitorEnd:  make(chan struct{}),
		sessions:    make(map[[sidSize]byte]*session),
		probes:      make(map[string]int),
		maxProbes:   cfg.MaxProbes,
		perProbe:    cfg.MaxProbesPerSource,
	}
	if o.maxProbes <= 0 {
		o.maxProbes = DefaultMaxProbes
	}
	if o.perProbe <= 0 {
		o.perProbe = DefaultMaxProbesPerSource
	}
	if o.decoy == nil {
		o.decoy = decoy.Handler()
	}
	if o.idle <= 0 {
		o.idle = 60 * time.Second
	}
	if o.maxSessions <= 0 {
		o.maxSessions = DefaultMaxSessions
	}
	if v, err := token.NewVerifier(cfg.Secret, cfg.Path); err == nil {
		o.verify = v
	}
	go o.janitor()
	return o
}

type session struct {
	id   [sidSize]byte
	conn *pipe.Conn // In: from the client; Out: to the client

	mu       sync.Mutex
	nextSeq  uint64    // guarded by mu
	lastSeen time.Time // guarded by mu
	active   int       // requests in progress; guarded by mu
}

// begin marks a request on s starting at now.
func (s *session) begin(now time.Time) {
	s.mu.Lock()
	s.active++
	s.lastSeen = now
	s.mu.Unlock()
}

// end marks a request on s ending at now.
func (s *session) end(now time.Time) {
	s.mu.Lock()
	s.active--
	s.lastSeen = now
	s.mu.Unlock()
}

var errIdle = errors.New("front: session idle too long")

func (o *Origin) janitor() {
	defer close(o.janitorEnd)
	t := o.clk.NewTicker(o.idle / 4)
	defer t.Stop()
	for {
		select {
		case <-o.closed:
			return
		case <-t.C():
		}
		var stale []*session
		o.mu.Lock()
		for id, s := range o.sessions {
			s.mu.Lock()
			if s.active == 0 && o.clk.Since(s.lastSeen) > o.idle {
				stale = append(stale, s)
				delete(o.sessions, id)
			}
			s.mu.Unlock()
		}
		o.mu.Unlock()
		for _, s := range stale {
			s.conn.In.Close(errIdle)
			s.conn.Out.Close(errIdle)
		}
	}
}

func (o *Origin) lookup(id [sidSize]byte) *session {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sessions[id]
}

// forget removes s from the table, if it is still there (its id may have
// been opened again since).
func (o *Origin) forget(s *session) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sessions[s.id] == s {
		delete(o.sessions, s.id)
	}
}

// ServeHTTP serves tunnel requests and hands everything else to the decoy.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o.verify == nil || r.URL.Path != o.path || r.Method != http.MethodPost {
		o.decoy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, reqHeaderSize+maxPayload))
	if err != nil {
		o.decoy.ServeHTTP(w, r)
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		o.decoy.ServeHTTP(w, r)
		return
	}
	var src token.Source
	if req.op == opProbe || req.op == opOpen {
		// Every request comes from a CDN edge: one source that many
		// users share (see Origin).
		src = token.Source{Key: netsource.Key(remoteAddr(r)), Shared: true}
		ck, err := r.Cookie(cookieName)
		if err != nil || o.verify.Verify(ck.Value, o.clk.Now(), src) != nil {
			o.decoy.ServeHTTP(w, r)
			return
		}
	}
	select {
	case <-o.closed:
		o.decoy.ServeHTTP(w, r)
		return
	default:
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	switch req.op {
	case opProbe:
		if !o.holdProbe(src.Key) {
			o.decoy.ServeHTTP(w, r)
			return
		}
		defer o.releaseProbe(src.Key)
		o.probe(w, r)
	case opOpen:
		o.open(w, r, req)
	default:
		s := o.lookup(req.sid)
		if s == nil {
			o.decoy.ServeHTTP(w, r)
			return
		}
		s.begin(o.clk.Now())
		defer func() { s.end(o.clk.Now()) }()
		switch req.op {
		case opPush:
			o.push(w, r, s, req)
		case opPoll:
			o.poll(w, r, s)
		case opStream:
			o.stream(w, r, s)
		case opClose:
			o.forget(s)
			s.conn.In.Close(io.EOF)
			s.conn.Out.Close(net.ErrClosed)
			s.conn.Out.Discard()
			w.WriteHeader(http.StatusOK)
		}
	}
}

// holdProbe takes a place for a probe from src, if one is left.
func (o *Origin) holdProbe(src string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.nprobes >= o.maxProbes || o.probes[src] >= o.perProbe {
		return false
	}
	o.nprobes++
	o.probes[src]++
	return true
}

// releaseProbe gives back a place holdProbe took.
func (o *Origin) releaseProbe(src string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.nprobes--
	if o.probes[src]--; o.probes[src] == 0 {
		delete(o.probes, src)
	}
}

func (o *Origin) probe(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	w.Write(appendFrame(nil, frameHello, nil))
	http.NewResponseController(w).Flush()
	t := o.clk.NewTimer(probeHold)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-o.closed:
	case <-t.C():
	}
}

func (o *Origin) open(w http.ResponseWriter, r *http.Request, req request) {
	s := &session{id: req.sid, lastSeen: o.clk.Now()}
	s.conn = pipe.NewConn(bufSize, pipe.Addr("front"), remoteAddr(r), o.clk)
	s.conn.OnClose = func() error {
		// Downstream readers see Out's end after the data and send EOF,
		// and forget the session; if none comes, it is forgotten soon.
		s.conn.In.Close(net.ErrClosed)
		o.clk.AfterFunc(closedGrace, func() { o.forget(s) })
		return nil
	}
	o.mu.Lock()
	_, dup := o.sessions[s.id]
	full := len(o.sessions) >= o.maxSessions
	if !dup && !full {
		o.sessions[s.id] = s
	}
	o.mu.Unlock()
	if dup || full {
		o.decoy.ServeHTTP(w, r)
		return
	}
	select {
	case o.conns <- s.conn:
		w.WriteHeader(http.StatusOK)
	case <-o.closed:
		o.forget(s)
		o.decoy.ServeHTTP(w, r)
	case <-r.Context().Done():
		o.forget(s)
	}
}

func remoteAddr(r *http.Request) net.Addr {
	// Parsed, never resolved: on an in-memory network the "address" is
	// a name, and looking it up would send a DNS query.
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return pipe.Addr("front")
}

// closedChan is an already-closed channel: as a deadline it makes a
// pipe.Buffer read return at once when there is no data.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (o *Origin) push(w http.ResponseWriter, r *http.Request, s *session, req request) {
	s.mu.Lock()
	seq := s.nextSeq
	if req.seq == seq {
		s.nextSeq++
	}
	s.mu.Unlock()
	switch {
	case req.seq == seq:
		if len(req.data) > 0 {
			if _, err := s.conn.In.Write(req.data, nil, r.Context().Done()); err != nil && r.Context().Err() != nil {
				return
			}
		}
	case req.seq < seq:
		// a retried request; its data is already in
	default:
		o.forget(s)
		s.conn.In.Close(errMalformed)
		s.conn.Out.Close(errMalformed)
		w.WriteHeader(http.StatusOK)
		w.Write(appendFrame(nil, frameEOF, nil))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (o *Origin) poll(w http.ResponseWriter, r *http.Request, s *session) {
	hold, cancel := o.clk.WithTimeout(r.Context(), pollHold)
	s.conn.Out.Wait(hold.Done(), nil)
	cancel()
	var out []byte
	buf := make([]byte, 64<<10)
	for len(out) < maxPayload {
		n, err := s.conn.Out.Read(buf, closedChan, nil)
		if n > 0 {
			out = appendFrame(out, frameData, buf[:n])
			continue
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			out = appendFrame(out, frameEOF, nil)
			o.forget(s)
		}
		break
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

func (o *Origin) stream(w http.ResponseWriter, r *http.Request, s *session) {
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(appendFrame(bw.AvailableBuffer(), frameHello, nil))
	bw.Flush()
	if rc.Flush() != nil {
		return
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := s.conn.Out.Read(buf, nil, r.Context().Done())
		if n > 0 {
			bw.Write(appendFrame(bw.AvailableBuffer(), frameData, buf[:n]))
			if s.conn.Out.Len() > 0 && bw.Buffered() < 32<<10 {
				continue
			}
			if bw.Flush() != nil || rc.Flush() != nil {
				s.conn.In.Close(io.ErrUnexpectedEOF)
				return
			}
			continue
		}
		if err != nil {
			if r.Context().Err() == nil {
				bw.Write(appendFrame(bw.AvailableBuffer(), frameEOF, nil))
				bw.Flush()
				rc.Flush()
				o.forget(s)
			}
			return
		}
	}
}

// Accept returns the next tunnel.
func (o *Origin) Accept() (net.Conn, error) {
	select {
	case c := <-o.conns:
		return c, nil
	case <-o.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting, ends every session and stops the idle sweeper.
// It is safe to call more than once.
func (o *Origin) Close() error {
	o.closeOnce.Do(func() {
		close(o.closed)
		<-o.janitorEnd
		o.mu.Lock()
		sessions := o.sessions
		o.sessions = map[[sidSize]byte]*session{}
		o.mu.Unlock()
		for _, s := range sessions {
			s.conn.In.Close(net.ErrClosed)
			s.conn.Out.Close(net.ErrClosed)
		}
	})
	return nil
}

// Addr is a placeholder: the origin listens through whatever HTTP server
// mounts it.
func (o *Origin) Addr() net.Addr { return pipe.Addr("front") }
