package dialer

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/clock"
	"samizdat/internal/poll"
	"samizdat/noisechan"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func checkOf(m *Monitor) (Verdict, bool) { v, p, _ := m.Check(); return v, p }
func nextOf(m *Monitor) time.Duration    { _, _, n := m.Check(); return n }

func TestMonitorCalm(t *testing.T) {
	clk := newFakeClock()
	m := Liveness{}.Monitor(NewMemory(), clk.now)
	if v, ping := checkOf(m); v != Alive || ping {
		t.Fatalf("fresh: %v ping=%v", v, ping)
	}
	if n := nextOf(m); n != DefaultCalm {
		t.Fatalf("next check in %v, want the calm cadence %v", n, DefaultCalm)
	}
	clk.add(DefaultCalm)
	if v, ping := checkOf(m); v != Alive || !ping {
		t.Fatalf("after the cadence: %v ping=%v", v, ping)
	}
	m.Sent(1, true)
	if v, ping := checkOf(m); v != Alive || ping {
		t.Fatalf("ping in the air: %v, second ping=%v", v, ping)
	}
	if n := nextOf(m); n != DefaultMinDeadline {
		t.Fatalf("next check in %v, want the deadline", n)
	}
	clk.add(DefaultMinDeadline - time.Millisecond)
	if v, _ := checkOf(m); v != Alive {
		t.Fatalf("before the deadline: %v", v)
	}
	clk.add(time.Millisecond)
	if v, _ := checkOf(m); v != Suspect {
		t.Fatalf("at the deadline: %v", v)
	}
	if !m.Answered(1) {
		t.Fatalf("a late pong did not end the suspicion")
	}
	select {
	case <-m.Wake():
	default:
		t.Fatalf("a pong did not wake the session to schedule the next ping")
	}
	if n := nextOf(m); n != DefaultCalm {
		t.Fatalf("after a pong the next check is in %v, want the cadence", n)
	}
	if v, ping := checkOf(m); v != Alive || ping {
		t.Fatalf("after the pong: %v ping=%v", v, ping)
	}
	if m.Heard() {
		t.Fatalf("a frame ended a suspicion that was over")
	}
}

func TestMonitorDeadlineFollowsRTT(t *testing.T) {
	clk := newFakeClock()
	m := Liveness{}.Monitor(nil, clk.now)
	for i := uint64(1); i <= 30; i++ {
		m.Sent(i, true)
		clk.add(time.Second)
		m.Answered(i)
	}
	if rtt := m.RTT(); rtt < 990*time.Millisecond || rtt > time.Second {
		t.Fatalf("rtt %v, want about 1s", rtt)
	}
	if dl := m.Deadline(); dl < 3960*time.Millisecond || dl > 4*time.Second {
		t.Fatalf("deadline %v, want 4×RTT", dl)
	}
	m.Sent(31, true)
	clk.add(3 * time.Second) // late for 1.5 s, not for 4×RTT
	if v, _ := checkOf(m); v != Alive {
		t.Fatalf("3 s into a 4 s deadline: %v", v)
	}
	clk.add(time.Second)
	if v, _ := checkOf(m); v != Suspect {
		t.Fatalf("past 4×RTT: %v", v)
	}
}

func TestMonitorRequests(t *testing.T) {
	clk := newFakeClock()
	m := Liveness{}.Monitor(nil, clk.now)
	m.Sent(7, false) // a message to send, say
	clk.add(time.Second)
	m.Heard() // a push: the path works, the request is only slow
	clk.add(time.Second)
	if v, _ := checkOf(m); v != Alive {
		t.Fatalf("slow request on a live path: %v", v)
	}
	clk.add(time.Second)
	if v, _ := checkOf(m); v != Suspect {
		t.Fatalf("request unanswered and nothing heard for the deadline: %v", v)
	}
	m.Abandoned(7)
	if v, _ := checkOf(m); v != Suspect {
		t.Fatalf("giving up on the request cleared the suspicion: %v", v)
	}
	clk.add(DefaultDead)
	if v, _ := checkOf(m); v != Dead {
		t.Fatalf("silent for %v: %v", DefaultDead+3*time.Second, v)
	}
}

func TestMonitorAlertAfterTrouble(t *testing.T) {
	clk := newFakeClock()
	mem := NewMemory()
	mem.now = clk.now
	m := Liveness{}.Monitor(mem, clk.now)
	if got := m.Interval(); got != DefaultCalm {
		t.Fatalf("quiet network: %v", got)
	}
	r := newTestRelay(t)
	mem.Failure(r.candidate("r1", "192.0.2.1:443"), ClassTimeout)
	if got := m.Interval(); got != DefaultAlert {
		t.Fatalf("just after a failure: %v", got)
	}
	mem.Failure(r.candidate("r1", "192.0.2.1:443"), ClassCanceled) // not trouble
	clk.add(DefaultAlertFor)
	if got := m.Interval(); got != DefaultCalm {
		t.Fatalf("%v after the failure: %v", DefaultAlertFor, got)
	}
	mem.SetNetwork("other")
	clk.add(-time.Minute)
	if got := m.Interval(); got != DefaultCalm {
		t.Fatalf("another network inherited the alert: %v", got)
	}
}

// TestRunHedgedDrop: the endpoint a client is on is blackholed; the
// liveness policy notices within the calm cadence plus the deadline and a
// replacement is raced beside the old connection, which is closed only
// after the replacement completed its handshake.
func TestRunHedgedDrop(t *testing.T) {
	r := newTestRelay(t)
	ps, cs := blocked(t, r, 2)
	var log eventLog
	mem := NewMemory()
	// Pings every 300 ms; an answer may take up to a second before the
	// connection is suspected, so a busy machine raises no false alarm.
	lv := Liveness{Calm: 300 * time.Millisecond, MinDeadline: time.Second}
	// Attempts that were blackholed wait for AttemptTimeout.
	cfg := Config{Local: clientKey(t), Memory: mem, Events: log.add, AttemptTimeout: time.Second, MinUptime: 10 * time.Millisecond}
	connected := make(chan string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- RunHedged(ctx, cfg, func() []Candidate { return cs }, nil, liveSession(lv, mem, connected))
	}()
	first := waitConnected(t, connected, 10*time.Second)
	cur := 0
	if first == ps[1].Addr() {
		cur = 1
	}
	time.Sleep(time.Second) // several pings answered: no false alarm
	select {
	case a := <-connected:
		t.Fatalf("reconnected via %s without a block; events %v", a, log.all())
	default:
	}
	// Blackhole both, so the replacement race cannot finish at once: let
	// one through only once the connection is suspected.
	ps[0].Set(blocktest.Drop)
	ps[1].Set(blocktest.Drop)
	if !poll.Until(time.Minute, func() bool {
		return slices.ContainsFunc(log.all(), func(e Event) bool { return e.Kind == EventSuspect })
	}) {
		t.Fatalf("the blackholed connection was never suspected: %v", log.all())
	}
	ps[1-cur].Set(blocktest.Pass)
	if got := waitConnected(t, connected, time.Minute); got != ps[1-cur].Addr() {
		t.Fatalf("moved to %s, want %s", got, ps[1-cur].Addr())
	}
	cancel()
	<-done
	suspected, connectedNew := -1, -1
	for i, e := range log.all() {
		switch {
		case e.Kind == EventSuspect && suspected < 0:
			suspected = i
			if e.Candidate.Endpoint.Address != ps[cur].Addr() {
				t.Errorf("suspected %s", e.Candidate)
			}
		case e.Kind == EventConnected && suspected >= 0 && connectedNew < 0:
			connectedNew = i
		case e.Kind == EventDropped && e.Candidate.Endpoint.Address == ps[cur].Addr():
			if suspected < 0 || connectedNew < 0 {
				t.Errorf("old connection closed before its replacement connected: %v", log.all())
			}
		}
	}
	if suspected < 0 || connectedNew < 0 {
		t.Fatalf("no hedged redial: %v", log.all())
	}
	if got := mem.LastTrouble(); got.IsZero() {
		t.Errorf("the drop left no trouble in the memory")
	}
}

// TestRunHedgedHealthy: a session that suspects its connection and then
// hears from it again keeps it: the replacement race is cancelled (its
// only candidate is blackholed, so it cannot win first). It runs on a
// simulated clock: on the wall clock, a busy machine can stretch the
// session's pause past the stagger (the suspect's own endpoint then
// joins the race and wins it) or the first dial past it (the blackholed
// endpoint then joins the first race too).
func TestRunHedgedHealthy(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t.Cleanup(s.Start())
	r := newTestRelay(t)
	n := stallAndGood(t, s, r)
	cs := []Candidate{r.candidate("r1", "good:443"), r.candidate("r1", "stall:443")}
	mem := NewMemory()
	mem.SetClock(s)
	var log eventLog
	cfg := Config{Local: clientKey(t), NetDial: n.Dial, Clock: s, Memory: mem, Events: log.add, AttemptTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	healed := make(chan struct{})
	var once sync.Once
	go func() {
		done <- RunHedged(ctx, cfg, func() []Candidate { return cs }, nil, func(nc *noisechan.Conn, l *Link) error {
			l.Suspect()
			// The race is on; its first attempt (the blackholed endpoint)
			// hangs, and the suspect's own endpoint is due only after
			// DefaultStagger.
			s.Sleep(DefaultStagger / 3)
			l.Healthy()
			once.Do(func() { close(healed) })
			select {
			case <-l.Replaced():
				t.Errorf("replaced although healthy")
			case <-ctx.Done():
			}
			return nil
		})
	}()
	select {
	case <-healed:
	case err := <-done:
		t.Fatalf("RunHedged: %v", err)
	}
	// Were the race still running, the suspect's own endpoint would join
	// it a stagger in and win.
	s.Sleep(4 * DefaultStagger)
	cancel()
	<-done
	var suspects, connects, cancelled int
	for _, e := range log.all() {
		switch {
		case e.Kind == EventSuspect:
			suspects++
		case e.Kind == EventConnected:
			connects++
		case e.Kind == EventFailure && e.Class == ClassCanceled && e.Candidate.Endpoint.Address == "stall:443":
			cancelled++
		}
	}
	if suspects != 1 || connects != 1 || cancelled != 1 {
		t.Fatalf("suspects %d, connects %d, cancelled race attempts %d; events %v", suspects, connects, cancelled, log.all())
	}
}
