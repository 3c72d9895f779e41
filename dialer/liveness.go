package dialer

import (
	"sync"
	"time"
)

// Liveness is the policy that tells a live connection from one a censor
// silently blackholed. A blackholed flow sends nothing back and closes
// nothing: the only sign is an answer that does not come. So the session
// keeps one question in the air (a ping when nothing else is pending) and
// calls the connection suspect when a request has waited longer than the
// answer deadline, max(MinDeadline, 4×RTT), with nothing heard meanwhile.
// A suspect connection is kept while a replacement is raced beside it
// (RunHedged); only silence for Dead gives it up without one.
//
// How soon a block is noticed is the ping cadence plus the deadline: a
// block lands at a uniformly random point of the cadence, so detection
// takes Interval/2 + deadline on median and at most Interval + deadline.
// The cadence is Alert on a network where something looked like
// censorship (any failure the Memory recorded there, a dropped connection
// included) within AlertFor, and Calm otherwise.
//
// The zero value means the defaults below.
type Liveness struct {
	// Calm is the ping cadence on a network with no recent trouble
	// (DefaultCalm).
	Calm time.Duration
	// Alert is the ping cadence on a network with recent trouble
	// (DefaultAlert).
	Alert time.Duration
	// AlertFor is how long a failure counts as recent (DefaultAlertFor).
	AlertFor time.Duration
	// MinDeadline is the floor of the answer deadline (DefaultMinDeadline).
	MinDeadline time.Duration
	// Dead: a connection silent this long is given up even though no
	// replacement connected (DefaultDead).
	Dead time.Duration
}

// Defaults for Liveness's zero fields, chosen against the design's
// target for reconnecting after a block (median ≤ 2 s, p99 ≤ 10 s) and a
// phone's battery and data plan:
//
//   - DefaultAlert, 750 ms: on a network that is being censored, detection
//     takes 375 ms + 1.5 s ≈ 1.9 s on median and at most 2.25 s, which
//     leaves the redial room inside the 2 s median (a 1 s cadence would
//     put the median detection alone at 2.0 s). It costs about 1.3 small
//     round trips a second, ~1 MB an hour, for AlertFor after each sign of
//     trouble.
//   - DefaultCalm, 6 s: a first block on a quiet network is still noticed
//     within 7.5 s, leaving 2.5 s of the 10 s p99 for the redial, at a
//     sixth fewer pings than the old keepalive (every 5 s). A slower
//     cadence would let a phone's radio sleep between pings (LTE drops to
//     idle after ~10 s) but breaks the p99 target on the first block.
//   - DefaultAlertFor, 10 min: blocks come in waves (a registry update, an
//     ISP rolling it out, the operator moving, the censor following); ten
//     minutes of alert costs ~800 extra pings, ~200 KB.
//   - DefaultMinDeadline, 1.5 s: above the RTT of almost every mobile
//     network (4×RTT takes over beyond 375 ms) and its ordinary jitter; a
//     false alarm costs one hedged dial, never the connection.
//   - DefaultDead, 15 s: the old keepalive limit; it matters only when no
//     replacement can be had, and then the connection is dead anyway.
const (
	DefaultAlert       = 750 * time.Millisecond
	DefaultCalm        = 6 * time.Second
	DefaultAlertFor    = 10 * time.Minute
	DefaultMinDeadline = 1500 * time.Millisecond
	DefaultDead        = 15 * time.Second
)

// rttFactor times the smoothed RTT is the answer deadline when that is
// above MinDeadline.
const rttFactor = 4

// WithDefaults returns l with its zero fields set to the defaults.
func (l Liveness) WithDefaults() Liveness {
	if l.Calm <= 0 {
		l.Calm = DefaultCalm
	}
	if l.Alert <= 0 {
		l.Alert = min(DefaultAlert, l.Calm)
	}
	if l.AlertFor <= 0 {
		l.AlertFor = DefaultAlertFor
	}
	if l.MinDeadline <= 0 {
		l.MinDeadline = DefaultMinDeadline
	}
	if l.Dead <= 0 {
		l.Dead = max(DefaultDead, l.Calm+2*l.MinDeadline)
	}
	return l
}

// Verdict is what a Monitor makes of a connection.
type Verdict int

// Verdicts.
const (
	// Alive: answers come in time.
	Alive Verdict = iota
	// Suspect: an answer is overdue and nothing else was heard; race a
	// replacement and keep the connection until it connects.
	Suspect
	// Dead: nothing heard for Liveness.Dead; give the connection up.
	Dead
)

func (v Verdict) String() string {
	switch v {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	}
	return "verdict?"
}

// Monitor applies a Liveness policy to one connection. The session tells
// it what went out (Sent), what came back (Answered, Heard) and what it
// stopped waiting for (Abandoned), and asks Check what to do. Its
// methods are safe for concurrent use.
type Monitor struct {
	l   Liveness
	mem *Memory
	now func() time.Time

	mu      sync.Mutex
	srtt    time.Duration        // guarded by mu; smoothed ping RTT, 0 before the first
	heard   time.Time            // guarded by mu; the last frame from the peer (or the start)
	pinged  time.Time            // guarded by mu; the last ping sent
	ping    uint64               // guarded by mu; id of the ping in the air, 0 if none
	pending map[uint64]time.Time // guarded by mu; request id -> when it went out
	suspect bool                 // guarded by mu; Check said Suspect and nothing was heard since
	wake    chan struct{}        // signalled when a pong makes the next ping's time known
}

// Monitor returns a monitor for a connection that has just connected.
// mem (may be nil) tells it whether the network has seen trouble
// recently; now is the clock (nil: time.Now).
func (l Liveness) Monitor(mem *Memory, now func() time.Time) *Monitor {
	if now == nil {
		now = time.Now
	}
	t := now()
	return &Monitor{l: l.WithDefaults(), mem: mem, now: now, heard: t, pinged: t, pending: map[uint64]time.Time{},
		wake: make(chan struct{}, 1)}
}

// Wake is signalled when the monitor wants Check called before the time
// Check last returned: a pong came, so the next ping is due a cadence
// from now rather than at the deadline Check waited for.
func (m *Monitor) Wake() <-chan struct{} { return m.wake }

// Sent records that request id went out; ping says it is a ping (only
// pings measure the RTT: other requests include the peer's work). Ids
// must be unique and nonzero.
func (m *Monitor) Sent(id uint64, ping bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.now()
	m.pending[id] = t
	if ping {
		m.ping, m.pinged = id, t
	}
}

// Answered records the answer to request id. It reports whether this
// ended a suspicion (the connection was alive after all).
func (m *Monitor) Answered(id uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.now()
	if sent, ok := m.pending[id]; ok && id == m.ping {
		rtt := t.Sub(sent)
		if m.srtt == 0 {
			m.srtt = rtt
		} else {
			m.srtt = (7*m.srtt + rtt) / 8 // as TCP's SRTT (RFC 6298)
		}
	}
	delete(m.pending, id)
	if id == m.ping {
		m.ping = 0
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
	return m.heardLocked(t)
}

// Abandoned records that nobody waits for request id any more.
func (m *Monitor) Abandoned(id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, id)
	if id == m.ping {
		m.ping = 0
	}
}

// Heard records a frame that answers no request (a push). It reports
// whether this ended a suspicion.
func (m *Monitor) Heard() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.heardLocked(m.now())
}

func (m *Monitor) heardLocked(t time.Time) bool {
	m.heard = t
	was := m.suspect
	m.suspect = false
	return was
}

// RTT returns the smoothed ping round-trip time, 0 before the first pong.
func (m *Monitor) RTT() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.srtt
}

// Deadline returns how long an answer may take: max(MinDeadline, 4×RTT).
func (m *Monitor) Deadline() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deadlineLocked()
}

func (m *Monitor) deadlineLocked() time.Duration {
	return max(m.l.MinDeadline, rttFactor*m.srtt)
}

// Interval returns the ping cadence now: Alert when the network had
// trouble within AlertFor, else Calm.
func (m *Monitor) Interval() time.Duration {
	if m.mem != nil {
		if t := m.mem.LastTrouble(); !t.IsZero() && m.now().Sub(t) < m.l.AlertFor {
			return m.l.Alert
		}
	}
	return m.l.Calm
}

// Check returns the verdict now, whether a ping should go out now (the
// caller sends it and reports it with Sent), and when to check again.
func (m *Monitor) Check() (v Verdict, ping bool, next time.Duration) {
	every := m.Interval()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	dl := m.deadlineLocked()
	silent := now.Sub(m.heard)
	if silent >= m.l.Dead {
		return Dead, false, 0
	}
	next = m.heard.Add(m.l.Dead).Sub(now)
	var oldest time.Time
	for _, t := range m.pending {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if !oldest.IsZero() {
		overdue := oldest.Add(dl)
		if h := m.heard.Add(dl); h.After(overdue) {
			overdue = h
		}
		if !now.Before(overdue) {
			m.suspect = true
		} else {
			next = min(next, overdue.Sub(now))
		}
	}
	if m.suspect {
		// Look again a deadline later: a replacement race that failed is
		// retried then.
		next = min(next, dl)
		v = Suspect
	}
	if m.ping == 0 {
		last := m.heard
		if m.pinged.After(last) {
			last = m.pinged
		}
		if due := last.Add(every); !now.Before(due) {
			ping = true
			next = min(next, dl) // the answer's deadline
		} else {
			next = min(next, due.Sub(now))
		}
	}
	return v, ping, max(next, time.Millisecond)
}
