package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"samizdat/censor"
	"samizdat/client"
	"samizdat/dialer"
	"samizdat/lab/fleet"
	"samizdat/lab/scenario"
	"samizdat/lab/vnet"
)

// msgPrefix starts every lab message; the rest is the message id.
const msgPrefix = "lab message "

// msgID names one message: the strategy's sequence number.
type msgID uint64

// sentMsg is what the runner knows about one message it queued.
type sentMsg struct {
	from        *labClient  // nil until Send returned it stored
	at          time.Time   // when the user wrote it (on the run's clock, for latency)
	atLab       censor.Time // the same in lab time
	envelope    [16]byte    // the client's envelope id
	delivered   bool
	deliveredAt time.Time // when its partner first received it
	acked       bool      // the relay acknowledged it (EventSent)
	failed      bool      // the relay refused it for good (EventFailed)
	deliveries  int       // EventMessage count at the receiver (duplicates included)
}

// labClient is one real client of one strategy and what the runner saw of
// it.
type labClient struct {
	s       *strategyRun
	id      string // vnet client id
	isp     string
	name    string // username on its strategy's relay
	partner *labClient
	cold    bool
	n       int // index among the regular or the cold-start clients
	home    string
	rng     *rand.Rand // message jitter, seeded

	c     *client.Client // nil until Init succeeded
	ready chan struct{}  // closed once c is set (registered)

	// Set at setup (startBridges), read-only afterwards.
	contacts []*labClient // accepted contacts: the partner first, then the drawn ones
	bridge   *labBridge   // the bridge it runs (at home or abroad), or nil

	// Guarded by s.mu.
	up         bool
	downAt     censor.Time // lab time the current outage began; -1: none
	downBy     string      // what began it, for the log
	cutAt      censor.Time // a pending cut of the connection (see onCut); -1: none
	cutBy      string
	dialed     string              // address of the endpoint the dialer connected to last (Receive's or a sealed send's)
	lastFail   dialer.FailureClass // how the latest failed dial attempt failed
	refreshes  int                 // manifest refreshes from the channels, and how many failed
	refreshErr int
	endpoint   string      // address of the endpoint of Receive's connection (dialed when EventConnected came)
	dialedVia  string      // how the endpoint dialed last was listed: its transport, "standby_" before a standby's
	manifestBy string      // since the outage began: "channel_refresh" (one succeeded), "contact_manifest" (one was handed on), or ""
	initAt     censor.Time // cold start: lab time of the first Init attempt
	firstAcked censor.Time // cold start: lab time the relay first stored one of its messages durably; -1: none
	sent       int
	delivered  int // distinct messages it received
	samples    int // availability samples while sending since it started
	upSamples  int // of them, those in which it was connected
}

// strategyRun is one strategy: its fleet, its clients and its figures.
type strategyRun struct {
	name    string
	fleet   *fleet.Fleet
	clients []*labClient // regular clients, then cold-start ones; fixed before the run

	mu          sync.Mutex
	seq         msgID
	msgs        map[msgID]*sentMsg
	acked       map[[16]byte]bool // envelopes the relay acknowledged (may arrive before Send returns)
	failedEnv   map[[16]byte]bool
	unknown     int // messages received that the runner never sent
	notQueued   int // messages Send could not even store in the outbox
	whileDown   int // deliveries to clients the runner counted as cut off (must be 0)
	cutsRefuted int // pending cuts a later delivery showed were not of the client's connection
	coldInTime  int // cold-start clients whose first message got through within the target
	reconnects  []time.Duration
	recoveredBy map[string]int        // the reconnects by the way back (report.Strategy.RecoveredBy)
	bridgeAddrs map[string]*labBridge // the strategy's bridges by virtual address, set at setup
	bridges     *bridgeSetup          // set at setup; read-only afterwards (nil: no bridges)
	moves       int
	started     int // clients Init'ed (regular + cold)
	availSum    float64
	availN      int
}

func newStrategyRun(name string) *strategyRun {
	return &strategyRun{
		name: name, msgs: map[msgID]*sentMsg{},
		acked: map[[16]byte]bool{}, failedEnv: map[[16]byte]bool{},
	}
}

// usernameBase turns a strategy name into a username stem the relay
// accepts (a-z, 0-9, _ and .).
func usernameBase(strategy string) string {
	return strings.ReplaceAll(strategy, "-", "")
}

// newClients prepares n paired clients of s (not yet initialised), spread
// over the ISPs by share. Regular clients write to each other in pairs; a
// cold-start client writes to an established user, as a new user writes
// first to the friend who invited them (inviters, the regular clients, are
// given), so whether it got in does not hang on another newcomer.
func (w *world) newClients(s *strategyRun, n int, cold bool, inviters []*labClient) []*labClient {
	kind := "u"
	if cold {
		kind = "c"
	}
	// The same placement for every strategy: client i of each meets the
	// same ISP.
	isps := clientISPs(w.sc, w.seed, kind, n)
	out := make([]*labClient, n)
	for i := range n {
		id := strconv.Itoa(i)
		cid := s.name + "/" + kind + id
		h := fnv.New64a()
		h.Write([]byte(cid))
		out[i] = &labClient{
			s: s, id: cid, isp: isps[i], cold: cold, n: i,
			name:   fmt.Sprintf("%s%s%04d", usernameBase(s.name), kind, i),
			home:   filepath.Join(w.work, "clients", s.name, kind+id),
			rng:    rand.New(rand.NewPCG(uint64(w.seed), h.Sum64())),
			ready:  make(chan struct{}),
			downAt: -1, cutAt: -1, firstAcked: -1,
		}
		w.byID[cid] = out[i]
	}
	if cold && len(inviters) > 0 {
		for i, lc := range out {
			lc.partner = inviters[i%len(inviters)]
		}
		return out
	}
	for i := 0; i+1 < n; i += 2 {
		out[i].partner, out[i+1].partner = out[i+1], out[i]
	}
	return out
}

// clientISPs places n clients of one group (a strategy's regular or
// cold-start clients) on ISPs: the counts follow the scenario's shares
// (scenario.ClientISPs), the order is a shuffle seeded with the run's seed
// and the group ("u" or "c"), so client 2i and its partner 2i+1 share an ISP only by
// chance, as in life.
func clientISPs(sc *scenario.Scenario, seed int64, group string, n int) []string {
	out := sc.ClientISPs(n)
	if len(out) == 0 && n > 0 {
		out = make([]string, n)
		for i := range out {
			out[i] = "isp"
		}
	}
	h := fnv.New64a()
	h.Write([]byte(group))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// config is the client configuration of lc, with the runner's hooks.
func (w *world) config(lc *labClient, home string) client.Config {
	cfg := lc.s.fleet.ClientConfig(home, lc.id, lc.isp)
	// Seeded per client (and per home: a cold start's every attempt):
	// the dialer's backoff jitter, so reconnect timings repeat for a seed,
	// and the client's keys, whose device key decides its cohort and so
	// the endpoints it dials. A lab's keys protect nothing.
	h := fnv.New64a()
	h.Write([]byte(lc.id + " " + filepath.Base(home))) // not the work directory's name
	cfg.DialJitter = rand.New(rand.NewPCG(uint64(w.seed), h.Sum64()))
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], uint64(w.seed))
	binary.LittleEndian.PutUint64(key[8:], h.Sum64())
	cfg.Rand = rand.NewChaCha8(key)
	userEvent, userDial := cfg.OnEvent, cfg.OnDial
	cfg.OnEvent = func(e client.Event) {
		w.onEvent(lc, e)
		if userEvent != nil {
			userEvent(e)
		}
	}
	cfg.OnDial = func(e dialer.Event) {
		lc.s.mu.Lock()
		switch e.Kind {
		case dialer.EventConnected:
			lc.dialed = e.Candidate.Endpoint.Address
			lc.dialedVia = e.Candidate.Endpoint.Transport
			if e.Candidate.Endpoint.Standby {
				lc.dialedVia = "standby_" + lc.dialedVia
			}
		case dialer.EventFailure:
			if e.Class != dialer.ClassCanceled {
				lc.lastFail = e.Class
			}
		case dialer.EventRefresh:
			lc.refreshes++
			if e.Err != nil {
				lc.refreshErr++
			} else if lc.downAt >= 0 && lc.manifestBy == "" {
				lc.manifestBy = "channel_refresh"
			}
		}
		lc.s.mu.Unlock()
		if userDial != nil {
			userDial(e)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = w.log.With("client", lc.id)
	}
	return cfg
}

// initClient registers lc with its strategy's relay from the built-in
// invite (a cold-start client: the invite of the user who invited it,
// fleet.InviteFor). A cold-start client keeps trying, as a user would, until it
// gets through or the sending time is over; each attempt starts from a
// fresh home.
func (w *world) initClient(ctx context.Context, lc *labClient) error {
	inv := lc.s.fleet.Invite()
	if lc.cold { // invited by a user: their cohort's invite
		inv = lc.s.fleet.InviteFor(lc.n)
	}
	for attempt := 0; ; attempt++ {
		home := lc.home
		if attempt > 0 {
			home = fmt.Sprintf("%s.%d", lc.home, attempt)
		}
		if err := os.MkdirAll(home, 0o700); err != nil {
			return fmt.Errorf("lab: client home: %w", err)
		}
		c, err := client.Init(ctx, w.config(lc, home), inv, lc.name)
		if err == nil {
			lc.s.mu.Lock()
			lc.c = c
			lc.s.started++
			lc.s.mu.Unlock()
			close(lc.ready)
			return nil
		}
		if !lc.cold || ctx.Err() != nil {
			return fmt.Errorf("lab: init %s: %w", lc.id, err)
		}
		w.log.Debug("cold start attempt failed", "client", lc.id, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.sim.After(time.Second):
		}
		if w.clock.Now() >= w.sc.Duration.D() {
			return fmt.Errorf("lab: cold start %s: %w", lc.id, err)
		}
	}
}

// run keeps lc connected (Receive) and, once the run has begun, sends its
// partner a message every MessageEvery (jittered) until the sending time
// is over; Receive runs on
// until ctx ends (the drain). It returns when Receive and every Send have.
func (w *world) run(ctx context.Context, lc *labClient, sendUntil censor.Time, begun <-chan struct{}) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := lc.c.Receive(ctx); err != nil && ctx.Err() == nil {
			w.log.Debug("receive ended", "client", lc.id, "err", err)
		}
	}()
	defer wg.Wait()
	if lc.partner == nil {
		return
	}
	for _, ch := range []<-chan struct{}{begun, lc.partner.ready} {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
	every := w.sc.MessageEvery.D()
	wait := time.Duration(lc.rng.Float64() * float64(every))
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.sim.After(wait):
		}
		if w.clock.Now() >= sendUntil {
			return
		}
		// A user writes whether or not the app is connected: each message
		// is queued on time even while an earlier Send still waits.
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.send(ctx, lc)
		}()
		wait = time.Duration((0.5 + lc.rng.Float64()) * float64(every))
	}
}

// sendTimeout bounds one Send; a message it gives up on stays queued.
const sendTimeout = 20 * time.Second

// send queues one message from lc to its partner. Send returns once the
// relay acknowledged it, or when the connection is down, with the message
// still queued; the Receive loop flushes the outbox when it reconnects.
func (w *world) send(ctx context.Context, lc *labClient) {
	s := lc.s
	s.mu.Lock()
	s.seq++
	id := s.seq
	sm := &sentMsg{at: w.sim.Now(), atLab: w.clock.Now()}
	s.msgs[id] = sm
	s.mu.Unlock()
	sctx, cancel := w.sim.WithTimeout(ctx, sendTimeout)
	defer cancel()
	m, err := lc.c.Send(sctx, lc.partner.name, msgPrefix+strconv.FormatUint(uint64(id), 10))
	if lc.bridge != nil && lc.bridge.abroad {
		// As every send of the CLI does: tell the bridge abroad of a
		// newer manifest (or a block) if it has not heard of it.
		lc.c.SyncBridges(sctx)
	}
	var zero [16]byte
	s.mu.Lock()
	defer s.mu.Unlock()
	lc.sent++
	if m.EnvelopeID == zero {
		// The app could not even store it: lost on the sender's side.
		s.notQueued++
		if !sm.delivered {
			delete(s.msgs, id)
		} // else: delivered without being stored; the accounting flags it
		w.log.Debug("send not queued", "client", lc.id, "err", err)
		return
	}
	sm.from, sm.envelope = lc, m.EnvelopeID
	if err == nil {
		sm.acked = true
	}
	if errors.Is(err, client.ErrGaveUp) {
		sm.failed = true
	}
}

// wayBack names how lc came back from its outage (report.Strategy.RecoveredBy).
// The caller holds lc.s.mu.
func (lc *labClient) wayBack() string {
	switch {
	case lc.s.bridgeAddrs[lc.dialed] != nil:
		return "bridge"
	case lc.dialed == lc.endpoint:
		return "same_endpoint"
	case lc.manifestBy != "":
		return lc.dialedVia + "_after_" + lc.manifestBy
	}
	return lc.dialedVia
}

// onEvent follows one client's events: connections for reconnect times
// and availability, messages for delivery and latency.
func (w *world) onEvent(lc *labClient, e client.Event) {
	now := w.clock.Now()
	s := lc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Kind {
	case client.EventConnected:
		if lc.downAt >= 0 {
			s.reconnects = append(s.reconnects, now-lc.downAt)
			if s.recoveredBy == nil {
				s.recoveredBy = map[string]int{}
			}
			s.recoveredBy[lc.wayBack()]++
		}
		lc.up, lc.downAt, lc.cutAt, lc.endpoint = true, -1, -1, lc.dialed
	case client.EventDisconnected:
		if errors.Is(e.Err, client.ErrMoved) && lc.cutAt < 0 {
			// Make-before-break: the client left a retired endpoint once
			// its replacement was up. No outage; the next connected event
			// names the new endpoint.
			return
		}
		if lc.up && lc.downAt < 0 {
			// The outage began when the censor cut the connection, if it
			// did; else now.
			lc.downAt, lc.downBy, lc.manifestBy = now, "disconnect", ""
			if lc.cutAt >= 0 {
				lc.downAt, lc.downBy = lc.cutAt, lc.cutBy
			}
		}
		lc.up, lc.cutAt = false, -1
	case client.EventSent:
		s.acked[e.EnvelopeID] = true
		// A cold start ends when the new user's first message is durable
		// at the relay: the user got in. Whether the inviter is online to
		// receive it is the inviter's outage, measured on its own.
		if lc.cold && lc.firstAcked < 0 {
			lc.firstAcked = now
		}
	case client.EventFailed:
		s.failedEnv[e.EnvelopeID] = true
	case client.EventManifest:
		if lc.downAt >= 0 {
			lc.manifestBy = "contact_manifest"
		}
	case client.EventMessage:
		rest, ok := strings.CutPrefix(e.Text, msgPrefix)
		n, err := strconv.ParseUint(rest, 10, 64)
		if !ok || err != nil {
			s.unknown++
			return
		}
		sm, ok := s.msgs[msgID(n)]
		if !ok {
			s.unknown++
			return
		}
		sm.deliveries++
		if lc.cutAt >= 0 && sm.atLab > lc.cutAt {
			// Written after the cut, yet it got here: the flow cut was
			// not the one this client receives on (a sealed-send channel,
			// say). It is still connected.
			lc.cutAt = -1
			s.cutsRefuted++
		}
		if lc.downAt >= 0 && sm.atLab > lc.downAt {
			// Written after this client lost its connection, yet it got
			// here before the client said it reconnected.
			s.whileDown++
			w.log.Debug("delivery during an outage", "client", lc.id, "down_at", lc.downAt, "down_by", lc.downBy,
				"written_at", sm.atLab, "now", now)
		}
		if sm.delivered {
			return
		}
		sm.delivered, sm.deliveredAt = true, w.sim.Now()
		lc.delivered++
	}
}

// onCut hears from the virtual network that the censor cut a live flow.
// If the flow went to the endpoint the client is connected to, the cut is
// pending: the outage began at the cut if the client goes on to lose its
// connection (it may notice only much later), unless a message written
// after the cut still reaches it (then the cut flow was another one). The
// latest such cut stands: a connection dialled just before a registry
// update may be cut one tick after an older one.
func (w *world) onCut(cut vnet.Cut) {
	lc := w.byID[cut.Client]
	if lc == nil {
		return
	}
	s := lc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !lc.up || lc.downAt >= 0 {
		return
	}
	dst := cut.Dst.String()
	host, _, _ := strings.Cut(lc.endpoint, ":")
	if dst == lc.endpoint || dst == lc.dialed || (cut.Domain != "" && host == cut.Domain) {
		lc.cutAt, lc.cutBy = cut.At, "cut "+dst+" "+cut.Action.String()
	}
}

// outage returns when lc's current outage began: a confirmed one, or a
// cut it has not noticed yet; -1 if it is connected. The caller holds
// lc.s.mu.
func (lc *labClient) outage() censor.Time {
	if lc.downAt >= 0 {
		return lc.downAt
	}
	return lc.cutAt
}

// opened returns s's clients that got through Init (they have a Client).
func (s *strategyRun) opened() []*labClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*labClient
	for _, lc := range s.clients {
		if lc.c != nil {
			out = append(out, lc)
		}
	}
	return out
}

// strandedSince returns when lc's outage began if lc is stranded at the
// end of the run: an outage still open that began before drainFrom, the
// end of the sending time (the caller holds lc.s.mu). An outage that
// began during the drain had less time than the drain to heal: it counts
// in the reconnect percentiles, not as unrecovered.
func (lc *labClient) strandedSince(drainFrom censor.Time) (censor.Time, bool) {
	at := lc.outage()
	return at, lc.c != nil && at >= 0 && at < drainFrom
}
