package dialer

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/transport"
)

// slowClose is a raw stream whose Close waits for release, as a front or
// wss close handshake waits for its timeouts on a blackholed path.
type slowClose struct {
	net.Conn
	release <-chan struct{}
}

func (c *slowClose) Close() error {
	<-c.release
	return c.Conn.Close()
}

// slowCloseTCP dials tcp and makes the connections to addr close slowly
// (until release is closed).
func slowCloseTCP(addr string, release <-chan struct{}) map[string]DialFunc {
	return map[string]DialFunc{"tcp": func(ctx context.Context, ep manifest.Endpoint, _ transport.NetDial) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", ep.Address)
		if err != nil || ep.Address != addr {
			return c, err
		}
		return &slowClose{Conn: c, release: release}, nil
	}}
}

// candidates is a source of candidates that a test changes.
type candidates struct {
	mu   sync.Mutex
	list []Candidate
}

func (c *candidates) get() []Candidate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

func (c *candidates) set(list ...Candidate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = list
}

// handoverSessions runs RunHedged with sessions that report their
// connection's candidate address on started and, for the first one, let
// first act on its Link; later sessions wait until ctx ends. It returns
// RunHedged's result channel.
func handoverSessions(ctx context.Context, cfg Config, source func() []Candidate, started chan<- string, first func(*Link)) <-chan error {
	var n atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- RunHedged(ctx, cfg, source, nil, func(nc *noisechan.Conn, l *Link) error {
			started <- nc.RemoteAddr().String()
			if n.Add(1) == 1 {
				first(l)
				return nil
			}
			<-ctx.Done()
			return nil
		})
	}()
	return done
}

// TestRunHedgedClosesReplacedInBackground: once a replacement connected,
// the session moves to it while the replaced connection's close still
// waits (a graceful close over a dead path). Closing it inline held the
// replacement back for the front transport's 3 s in every hedged
// reconnect of the lab.
func TestRunHedgedClosesReplacedInBackground(t *testing.T) {
	r := newTestRelay(t)
	a, b := r.listen(), r.listen()
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	var log eventLog
	cfg := Config{Local: clientKey(t), Events: log.add, Stagger: time.Minute, Transports: slowCloseTCP(a, release)}
	cs := []Candidate{r.candidate("r1", a), r.candidate("r1", b)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan string, 4)
	done := handoverSessions(ctx, cfg, func() []Candidate { return cs }, started, func(l *Link) {
		l.Suspect()
		<-l.Replaced()
	})
	if got := waitConnected(t, started, 30*time.Second); got != a {
		t.Fatalf("first connection to %s, want %s", got, a)
	}
	// The old connection's close is still blocked: the replacement must
	// be served all the same.
	if got := waitConnected(t, started, 30*time.Second); got != b {
		t.Fatalf("replacement to %s, want %s", got, b)
	}
	releaseOnce.Do(func() { close(release) })
	cancel()
	<-done
}

// TestRunHedgedMovesBeforeBreaking: a new manifest retires the endpoint
// the session is on. While the candidate is still listed nothing
// happens; once it is not, RunHedged connects to a replacement first and
// only then ends the old session, and Healthy (the old connection still
// answers) does not cancel that move.
func TestRunHedgedMovesBeforeBreaking(t *testing.T) {
	r := newTestRelay(t)
	a, b := r.listen(), r.listen()
	var log eventLog
	cfg := Config{Local: clientKey(t), Events: log.add, Stagger: time.Minute}
	cs := &candidates{list: []Candidate{r.candidate("r1", a)}}
	source := cs.get
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan string, 4)
	moved := make(chan bool, 1)
	var stillListed []Event
	done := handoverSessions(ctx, cfg, source, started, func(l *Link) {
		// Still listed (another endpoint added): no move.
		cs.set(r.candidate("r1", a), r.candidate("r1", b))
		l.CandidatesChanged()
		time.Sleep(100 * time.Millisecond) // room for a wrong move to show
		stillListed = log.all()
		// Retired: only b is listed now.
		cs.set(r.candidate("r1", b))
		l.CandidatesChanged()
		l.Healthy()
		<-l.Replaced()
		moved <- l.Moving()
	})
	if got := waitConnected(t, started, 30*time.Second); got != a {
		t.Fatalf("first connection to %s, want %s", got, a)
	}
	if got := waitConnected(t, started, 30*time.Second); got != b {
		t.Fatalf("moved to %s, want %s", got, b)
	}
	if !<-moved {
		t.Errorf("Link.Moving() = false after a move")
	}
	cancel()
	<-done
	if slices.ContainsFunc(stillListed, func(e Event) bool { return e.Kind == EventMove || e.Kind == EventSuspect }) {
		t.Errorf("raced a replacement while the endpoint was still listed: %v", stillListed)
	}
	ev := log.all()
	move := slices.IndexFunc(ev, func(e Event) bool { return e.Kind == EventMove })
	conn := slices.IndexFunc(ev, func(e Event) bool {
		return e.Kind == EventConnected && e.Candidate.Endpoint.Address == b
	})
	drop := slices.IndexFunc(ev, func(e Event) bool {
		return e.Kind == EventDropped && e.Candidate.Endpoint.Address == a
	})
	if move < 0 || conn < move || drop < conn {
		t.Fatalf("want move, then connected to %s, then %s dropped; events %v", b, a, ev)
	}
	if ev[move].Candidate.Endpoint.Address != a {
		t.Errorf("move event for %s, want %s", ev[move].Candidate, a)
	}
}

// TestRunHedgedMoveGivesUp: when nothing the new candidates list answers,
// the working connection is kept after maxMoveRaces races rather than
// redialled in the background for as long as it lasts. On the simulated
// clock, so the minute waited afterwards is exact.
func TestRunHedgedMoveGivesUp(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t.Cleanup(s.Start())
	r := newTestRelay(t)
	n := stallAndGood(t, s, r)
	var log eventLog
	cfg := Config{Local: clientKey(t), NetDial: n.Dial, Clock: s, Events: log.add, AttemptTimeout: 5 * time.Second}
	cs := &candidates{list: []Candidate{r.candidate("r1", "good:443")}}
	source := cs.get
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kept := make(chan bool, 1)
	done := make(chan error, 1)
	go func() {
		done <- RunHedged(ctx, cfg, source, nil, func(nc *noisechan.Conn, l *Link) error {
			cs.set(r.candidate("r1", "gone:443")) // refuses
			l.CandidatesChanged()
			s.Sleep(time.Minute)
			select {
			case <-l.Replaced():
				kept <- false
			default:
				kept <- true
			}
			<-ctx.Done()
			return nil
		})
	}()
	select {
	case ok := <-kept:
		if !ok {
			t.Fatal("the connection was replaced, with nothing listed answering")
		}
	case err := <-done:
		t.Fatalf("RunHedged: %v", err)
	}
	cancel()
	<-done
	moves := 0
	for _, e := range log.all() {
		if e.Kind == EventMove {
			moves++
		}
	}
	if moves != maxMoveRaces {
		t.Fatalf("%d move races in a minute, want %d; events %v", moves, maxMoveRaces, log.all())
	}
}
