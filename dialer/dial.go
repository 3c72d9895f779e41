// Package dialer connects a client to its network through whatever is not
// blocked. It turns a manifest into candidates (relay, endpoint, transport,
// front), orders them by what worked before on the network the device is
// on (Memory), and races them: a new attempt every Stagger, or at once when
// one fails, several in flight, the first completed Noise handshake wins
// and the others are cancelled and their connections closed. Failures are
// classified (dns, tcp-timeout, reset, refused, tls, http, handshake, ...)
// and remembered. Run keeps a connection up: it redials at once when the
// connection drops, asks for newer manifests when every candidate failed,
// and backs off with jitter only when nothing worked at all. A censor who
// blackholes a live connection closes nothing, so sessions watch for
// overdue answers under a Liveness policy (Monitor) and RunHedged races a
// replacement beside a suspect connection, keeping it until the
// replacement connects.
//
// # Security properties
//
// The dialer trusts no path: a candidate wins only by completing the Noise
// IK handshake against the relay key pinned in the signed manifest, so a
// censor answering on a relay's address gains nothing but a failed
// attempt. Events and the memory file name candidates by relay id,
// transport, address and front names, never by their secrets; they reveal
// to anyone who reads them which endpoints the device knows.
package dialer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	"samizdat/clock"
	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/transport"
	"samizdat/transport/front"
	"samizdat/transport/tcp"
	"samizdat/transport/wss"
)

// Defaults for Config's zero fields.
const (
	DefaultStagger        = 250 * time.Millisecond
	DefaultMaxInFlight    = 4
	DefaultAttemptTimeout = 10 * time.Second
)

// ErrNoCandidates means Dial had nothing it could try (none given, or none
// with a known transport).
var ErrNoCandidates = errors.New("dialer: no candidates")

// ErrAllFailed means every candidate was tried and failed. The returned
// error wraps it and says how each failed.
var ErrAllFailed = errors.New("dialer: every candidate failed")

// errLostRace is the cancellation cause of attempts that another won.
var errLostRace = errors.New("dialer: another attempt won")

// DialFunc opens the raw stream of one transport to ep, reaching the
// network only through netDial (nil means a plain net.Dialer).
type DialFunc func(ctx context.Context, ep manifest.Endpoint, netDial transport.NetDial) (net.Conn, error)

// builtinDial is a built-in transport's dial function: a DialFunc that
// also takes the clock the transport runs on.
type builtinDial func(ctx context.Context, ep manifest.Endpoint, netDial transport.NetDial, clk clock.Clock) (net.Conn, error)

// transports maps a manifest transport name to its dial function. A new
// transport plugs in with one line.
var transports = map[string]builtinDial{
	"tcp":   dialTCP,
	"wss":   dialWSS,
	"front": dialFront,
}

func dialTCP(ctx context.Context, ep manifest.Endpoint, netDial transport.NetDial, _ clock.Clock) (net.Conn, error) {
	if netDial == nil {
		return tcp.Dialer{}.Dial(ctx, ep.Address)
	}
	return netDial(ctx, "tcp", ep.Address)
}

func dialWSS(ctx context.Context, ep manifest.Endpoint, netDial transport.NetDial, clk clock.Clock) (net.Conn, error) {
	c, err := wss.Dial(ctx, wss.ClientConfig{Address: ep.Address, SNI: ep.SNI, Host: ep.Host, Path: ep.Path,
		Secret: ep.Secret, TLSPin: ep.TLSPin, NetDial: netDial, Clock: clk})
	if errors.Is(err, wss.ErrRejected) {
		// The endpoint answered as a web site, not as a tunnel.
		err = &ClassError{Class: ClassProbeLike, Err: err}
	}
	return c, err
}

func dialFront(ctx context.Context, ep manifest.Endpoint, netDial transport.NetDial, clk clock.Clock) (net.Conn, error) {
	c, err := front.Dial(ctx, front.ClientConfig{Address: ep.Address, SNI: ep.SNI, Host: ep.Host, Path: ep.Path,
		Secret: ep.Secret, TLSPin: ep.TLSPin, NetDial: netDial, Clock: clk})
	if errors.Is(err, front.ErrRejected) {
		// The CDN or the origin refused: an HTTP-level failure.
		err = &ClassError{Class: ClassHTTP, Err: err}
	}
	return c, err
}

// Transports returns the names of the transports the dialer knows.
func Transports() []string {
	out := make([]string, 0, len(transports))
	for k := range transports {
		out = append(out, k)
	}
	return out
}

// Event is something the dialer did, for logs and the censorship lab.
type Event struct {
	Time time.Time
	// Kind is EventAttempt, EventFailure, EventConnected, EventDropped,
	// EventRefresh, EventBackoff, EventSuspect or EventMove.
	Kind      string
	Candidate Candidate // for attempt, failure, connected, dropped
	Class     FailureClass
	// Elapsed: for failure, since the attempt began; for connected, since
	// the race began (the time to connect); for dropped, how long the
	// connection lasted; for backoff, the delay.
	Elapsed time.Duration
	// Err is the failure's error (failure, refresh), or nil. It may name
	// addresses but never secrets.
	Err error
}

// Event kinds.
const (
	EventAttempt   = "attempt"
	EventFailure   = "failure"
	EventConnected = "connected"
	EventDropped   = "dropped"
	EventRefresh   = "refresh"
	EventBackoff   = "backoff"
	EventSuspect   = "suspect" // RunHedged races a replacement for a quiet connection
	EventMove      = "move"    // RunHedged races a replacement for a connection whose candidate is no longer listed
)

func (e Event) String() string {
	switch e.Kind {
	case EventAttempt:
		return fmt.Sprintf("attempt %s", e.Candidate)
	case EventFailure:
		return fmt.Sprintf("failure %s: %s after %v", e.Candidate, e.Class, e.Elapsed.Round(time.Millisecond))
	case EventConnected:
		return fmt.Sprintf("connected via %s after %d ms", e.Candidate, e.Elapsed.Milliseconds())
	case EventDropped:
		return fmt.Sprintf("dropped %s after %v", e.Candidate, e.Elapsed.Round(time.Millisecond))
	case EventRefresh:
		if e.Err != nil {
			return fmt.Sprintf("refresh failed: %v", e.Err)
		}
		return "refresh"
	case EventBackoff:
		return fmt.Sprintf("backoff %v", e.Elapsed.Round(time.Millisecond))
	case EventSuspect:
		return fmt.Sprintf("suspect %s: racing a replacement", e.Candidate)
	case EventMove:
		return fmt.Sprintf("%s is no longer listed: racing its replacement", e.Candidate)
	}
	return e.Kind
}

// Config configures Dial and Run. It must not be modified after use.
type Config struct {
	// Local is the device's static Noise key pair.
	Local noisechan.KeyPair
	// Prologue is the extra Noise prologue the relay expects (usually nil).
	Prologue []byte
	// NetDial is how transports reach the network; nil means net.Dialer.
	NetDial transport.NetDial
	// Memory orders candidates and learns from outcomes; nil means the
	// given order and nothing learned.
	Memory *Memory
	// Stagger is the time between starting attempts (DefaultStagger).
	Stagger time.Duration
	// MaxInFlight bounds attempts running at once (DefaultMaxInFlight).
	MaxInFlight int
	// Events, if set, receives every event. Calls are made one at a time,
	// never after Dial or Run returns; it must not block for long.
	Events func(Event)
	// Clock times attempts, the stagger between them, Run's backoff and
	// refresh (nil: clock.Real).
	Clock clock.Clock
	// Now reads the time for events and the memory (Clock.Now).
	Now func() time.Time

	// AttemptTimeout bounds one attempt: transport dial plus Noise
	// handshake (DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// Transports overrides dial functions by transport name; names not
	// in it use the built-in ones.
	Transports map[string]DialFunc
	// RefreshAfter is how long Run races before it also asks for newer
	// manifests (3 s).
	RefreshAfter time.Duration
	// BackoffBase and BackoffMax shape Run's backoff (250 ms and 4 s).
	BackoffBase, BackoffMax time.Duration
	// Rand draws the jitter of Run's backoff; nil means math/rand/v2's
	// global source. Seeded (rand.New(rand.NewPCG(seed, 0))), it makes
	// the delays after failed rounds repeat for the seed. Only the
	// goroutine running Run draws from it: give each concurrent Run its
	// own.
	Rand *rand.Rand
	// MinUptime: connections that keep dropping sooner count as failed
	// rounds for Run's backoff, so a relay that accepts and hangs up at
	// once is not redialled in a tight loop (1 s).
	MinUptime time.Duration

	last string // Key of a candidate to try last (RunHedged's suspect)
}

func (cfg *Config) defaults() Config {
	c := *cfg
	if c.Stagger <= 0 {
		c.Stagger = DefaultStagger
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	c.Clock = clock.Or(c.Clock)
	if c.Now == nil {
		c.Now = c.Clock.Now
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 250 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 4 * time.Second
	}
	if c.RefreshAfter <= 0 {
		c.RefreshAfter = 3 * time.Second
	}
	if c.MinUptime <= 0 {
		c.MinUptime = time.Second
	}
	return c
}

// dialFunc returns the dial function for transport name: cfg.Transports',
// else the built-in one on cfg.Clock; nil if there is none.
func (cfg *Config) dialFunc(name string) DialFunc {
	if f, ok := cfg.Transports[name]; ok {
		return f
	}
	f := transports[name]
	if f == nil {
		return nil
	}
	clk := clock.Or(cfg.Clock)
	return func(ctx context.Context, ep manifest.Endpoint, netDial transport.NetDial) (net.Conn, error) {
		return f(ctx, ep, netDial, clk)
	}
}

func (cfg *Config) emit(e Event) {
	if cfg.Events != nil {
		if e.Time.IsZero() {
			e.Time = cfg.Now()
		}
		cfg.Events(e)
	}
}

type result struct {
	idx     int
	conn    *noisechan.Conn
	err     error
	elapsed time.Duration
}

// Dial races cands (ordered by cfg.Memory when set) and returns the first
// Noise channel to complete its handshake, with the candidate it went
// through. An attempt starts every Stagger, or at once when one fails,
// with at most MaxInFlight running; when one wins the others are
// cancelled and any connection they still make is closed. Outcomes are
// recorded in cfg.Memory. If every candidate fails the error wraps
// ErrAllFailed; if ctx ends first, ctx's error.
func Dial(ctx context.Context, cfg Config, cands []Candidate) (*noisechan.Conn, Candidate, error) {
	cfg = cfg.defaults()
	usable := cfg.usable(cands)
	if len(usable) == 0 {
		return nil, Candidate{}, ErrNoCandidates
	}
	if cfg.last != "" {
		// Stable: the others keep their order, the suspect goes last.
		slices.SortStableFunc(usable, func(a, b Candidate) int {
			return boolInt(a.Key() == cfg.last) - boolInt(b.Key() == cfg.last)
		})
	}

	start := cfg.Now()
	raceCtx, cancelRace := context.WithCancelCause(ctx)
	results := make(chan result, len(usable)) // buffered: attempts never block
	cancels := make([]context.CancelFunc, len(usable))
	attemptStart := make([]time.Time, len(usable))
	running := map[int]bool{}
	next := 0
	var failures []error

	launch := func() {
		i := next
		next++
		c := usable[i]
		actx, cancel := cfg.Clock.WithTimeout(raceCtx, cfg.AttemptTimeout)
		cancels[i] = cancel
		attemptStart[i] = cfg.Now()
		running[i] = true
		cfg.emit(Event{Kind: EventAttempt, Candidate: c})
		dial := cfg.dialFunc(c.Endpoint.Transport)
		go func() {
			t0 := cfg.Clock.Now()
			nc, err := attempt(actx, cfg, dial, c)
			results <- result{idx: i, conn: nc, err: err, elapsed: cfg.Clock.Since(t0)}
		}()
	}

	timer := cfg.Clock.NewTimer(cfg.Stagger)
	defer timer.Stop()
	launch()
	done := ctx.Done()
	for {
		select {
		case r := <-results:
			delete(running, r.idx)
			cancels[r.idx]()
			c := usable[r.idx]
			if r.err == nil {
				cancelRace(errLostRace)
				elapsed := cfg.Now().Sub(start)
				for j := range running {
					cfg.emit(Event{Kind: EventFailure, Candidate: usable[j], Class: ClassCanceled,
						Elapsed: cfg.Now().Sub(attemptStart[j]), Err: errLostRace})
				}
				if len(running) > 0 {
					go drain(results, len(running))
				}
				if cfg.Memory != nil {
					cfg.Memory.Success(c, r.elapsed)
				}
				cfg.emit(Event{Kind: EventConnected, Candidate: c, Elapsed: elapsed})
				return r.conn, c, nil
			}
			class := Classify(r.err)
			if ctx.Err() != nil {
				class = ClassCanceled
			}
			if cfg.Memory != nil {
				cfg.Memory.Failure(c, class)
			}
			cfg.emit(Event{Kind: EventFailure, Candidate: c, Class: class, Elapsed: r.elapsed, Err: r.err})
			failures = append(failures, fmt.Errorf("%s: %s: %w", c, class, r.err))
			if ctx.Err() != nil && len(running) == 0 {
				cancelRace(context.Cause(ctx))
				return nil, Candidate{}, ctx.Err()
			}
			if next < len(usable) && len(running) < cfg.MaxInFlight && ctx.Err() == nil {
				launch()
				timer.Reset(cfg.Stagger)
			}
			if len(running) == 0 && next == len(usable) {
				cancelRace(ErrAllFailed)
				return nil, Candidate{}, fmt.Errorf("%w: %w", ErrAllFailed, errors.Join(failures...))
			}
		case <-timer.C():
			if next < len(usable) && len(running) < cfg.MaxInFlight && ctx.Err() == nil {
				launch()
			}
			timer.Reset(cfg.Stagger)
		case <-done:
			// Attempts see the cancellation through raceCtx and report
			// back; keep collecting until they have.
			done = nil
			timer.Stop()
			if len(running) == 0 {
				cancelRace(context.Cause(ctx))
				return nil, Candidate{}, ctx.Err()
			}
			next = len(usable)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// attempt dials one candidate and runs the Noise handshake over it.
func attempt(ctx context.Context, cfg Config, dial DialFunc, c Candidate) (*noisechan.Conn, error) {
	raw, err := dial(ctx, c.Endpoint, cfg.NetDial)
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil && ctx.Err() == context.Canceled {
			return nil, fmt.Errorf("%w: %w", cerr, err)
		}
		return nil, err
	}
	nc, err := noisechan.ClientAt(ctx, raw, cfg.Local, c.RelayKey, cfg.Prologue, clock.Or(cfg.Clock).Now())
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil && ctx.Err() == context.Canceled {
			return nil, fmt.Errorf("%w: %w", cerr, err)
		}
		return nil, err
	}
	return nc, nil
}

// drain collects the results of attempts that lost the race and closes
// any connection they made.
func drain(results <-chan result, n int) {
	for range n {
		if r := <-results; r.conn != nil {
			r.conn.Close()
		}
	}
}

// usable returns the candidates of a transport the dialer knows, in
// cfg.Memory's order.
func (cfg *Config) usable(cands []Candidate) []Candidate {
	var out []Candidate
	for _, c := range cands {
		if cfg.dialFunc(c.Endpoint.Transport) != nil {
			out = append(out, c)
		}
	}
	if cfg.Memory != nil && len(out) > 0 {
		out = cfg.Memory.Order(out)
	}
	return out
}

// DialRaw opens the raw stream of one transport (no Noise handshake) to
// the first of cands that connects, trying them one at a time in
// cfg.Memory's order, each for at most cfg.AttemptTimeout. It is for a
// bridge: its caller runs its own Noise handshake with the relay through
// the stream, so a stream that connects but leads nowhere is found out by
// the caller, not here. Outcomes are not recorded in cfg.Memory.
func DialRaw(ctx context.Context, cfg Config, cands []Candidate) (net.Conn, Candidate, error) {
	cfg = cfg.defaults()
	usable := cfg.usable(cands)
	if len(usable) == 0 {
		return nil, Candidate{}, ErrNoCandidates
	}
	var failures []error
	for _, c := range usable {
		actx, cancel := cfg.Clock.WithTimeout(ctx, cfg.AttemptTimeout)
		conn, err := cfg.dialFunc(c.Endpoint.Transport)(actx, c.Endpoint, cfg.NetDial)
		cancel()
		if err == nil {
			return conn, c, nil
		}
		if ctx.Err() != nil {
			return nil, Candidate{}, ctx.Err()
		}
		failures = append(failures, fmt.Errorf("%s: %w", c.Key(), err))
	}
	return nil, Candidate{}, fmt.Errorf("%w: %w", ErrAllFailed, errors.Join(failures...))
}
