package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/transport/selfsigned"
	"samizdat/transport/wss"
	"samizdat/transport/wss/wsstest"
)

// The siege scenario's peers each have source addresses of their own in
// 127/8, so that the relay's per-source limits see them as the different
// users they play: the chatters one each in 127.1/16, the honest
// reconnects in 127.2/16, the silent connections spread over 127.3/16,
// the token flooder in 127.4/16 and the strangers in 127.5/16.
const (
	chatNet      = 1
	reconnectNet = 2
	silentNet    = 3
	tokenNet     = 4
	strangerNet  = 5
)

// siegePath is the wss endpoint's tunnel path.
const siegePath = "/assets/ws"

// strangerPhase marks a stranger's message content, so that receivers
// tell it from the chats (and acknowledge it, as a client acks and drops
// a message it cannot process).
const strangerPhase = 0xee

// silentPerSource is how many silent connections each of the flood's
// source addresses holds: under the relay's cap per source, so the cap
// alone does not shed them.
const silentPerSource = 25

// siege: the flood scenario's chats (ChatPairs pairs at ChatRate each)
// through alternating windows, calm and under siege, SiegeWindows of each
// (calm, siege, calm, siege, ...), each SiegeFor/SiegeWindows long, so
// that a slow spell of the machine falls on both kinds alike; each kind's
// samples are pooled. A siege window runs every flood a censor can mount
// with its own accounts and a manifest (issue 12), all at once:
// SiegeSilent connections that never say a word, opened at once when the
// window begins and then SiegeSilentRate new ones a second from
// SiegeSilent/25 addresses; SiegeTokenRate wss upgrade requests a second
// carrying forged or replayed tokens; and SiegeStrangerRate messages a
// second from strangers, half from registered strangers with content
// whose claims a client refuses, half sealed with a wrong access key. A
// calm window has none of it: the siege window ends by stopping the
// floods, closing the silent connections and waiting for the strangers'
// accepted messages to be delivered (that teardown counts as siege), and a
// settling pause a tenth of a window long, whose messages count as
// neither, comes before each calm window (the first is the warm-up).
// Throughout, honest devices reconnect over wss ReconnectRate times a
// second. The relay has its default limits. The headline is the
// chatters' p99 send→deliver in the siege windows; the ratio is that over
// their p99 in the calm ones.
func (r *runner) siege(ctx context.Context, res *Result) error {
	sz := r.sz
	if soft, _, err := raiseNoFile(uint64(2*sz.SiegeSilent + 8192)); err == nil && soft < uint64(2*sz.SiegeSilent+1024) {
		res.Limit = fmt.Sprintf("open files limited to %d; the silent connections need about %d", soft, 2*sz.SiegeSilent)
	}
	windows := max(sz.SiegeWindows, 1)
	if heldWindow(windows-1) >= strangerPhase {
		return fmt.Errorf("siege: %d windows of each kind; at most %d", windows, (strangerPhase-1)/3)
	}
	window := sz.SiegeFor / time.Duration(windows)
	n, err := r.startNode(ctx, ScenarioSiege, relay.Limits{}, []string{"127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer n.close()
	ep, err := serveWSS(ctx, n)
	if err != nil {
		return err
	}

	p := sz.ChatPairs
	const reconnectors, strangers, anonymous = 64, 16, 4
	ids, err := provision(ctx, n.store, newSeed(), 0, 2*p+reconnectors+strangers)
	if err != nil {
		return err
	}
	chatFrom, chatTo := ids[:p], ids[p:2*p]
	reconnIDs, strangerIDs := ids[2*p:2*p+reconnectors], ids[2*p+reconnectors:]
	chatTr, strangerTr := newTracker(), newTracker()
	route := func(pr *peer, push *wire.Push) {
		if e := push.GetDelivery(); e != nil && len(e.Content) > 0 && e.Content[0] == strangerPhase {
			strangerTr.onPush(pr, push)
			return
		}
		chatTr.onPush(pr, push)
	}
	recv, err := receiversFrom(ctx, n, chatTo, route, func(i int) *net.TCPAddr { return tcpAddr(loopAddr(chatNet, p+i)) })
	if err != nil {
		return err
	}
	defer closeAll(recv)
	send, err := connectFrom(ctx, n, chatFrom, nil, func(i int) *net.TCPAddr { return tcpAddr(loopAddr(chatNet, i)) })
	if err != nil {
		return err
	}
	defer closeAll(send)

	// The floods' peers, ready before the first window.
	silent := &silentChildren{r: r, spec: SilentSpec{Addr: n.addrs[0], Total: sz.SiegeSilent, Rate: sz.SiegeSilentRate}}
	tokens := &tokenFlood{ep: ep}
	if err := tokens.prime(ctx); err != nil {
		return err
	}
	sf := &strangerFlood{to: chatTo, tr: strangerTr}
	defer sf.close()
	if err := sf.connect(ctx, n, strangerIDs, anonymous); err != nil {
		return err
	}

	r.progress("siege: %d pairs chatting at %g msg/s each and honest wss reconnects at %g/s, through %d calm and %d siege windows of %v: "+
		"%d silent connections (+%g/s) from %d addresses, %g forged or replayed tokens/s, %g strangers' messages/s",
		p, sz.ChatRate, sz.ReconnectRate, windows, windows, window, sz.SiegeSilent, sz.SiegeSilentRate,
		max(sz.SiegeSilent/silentPerSource, 1), sz.SiegeTokenRate, sz.SiegeStrangerRate)
	var tl timeline
	clock := newKindClock(&tl)
	rc := newReconnects(ep, reconnIDs, n.key.Public)
	stopRC := rc.run(ctx, &tl, sz.ReconnectRate)
	var chat counter
	chatsDone := make(chan struct{})
	go func() {
		defer close(chatsDone)
		chatting(send, chatTo, chatTr, sz.ChatRate, &tl, &chat)
	}()
	var floodsFor time.Duration // the floods' time in all, for their rates
	err = func() error {
		for k := range windows {
			clock.begin(0)
			if err := sleep(ctx, window/10); err != nil {
				return err
			}
			clock.begin(calmWindow(k))
			if err := sleep(ctx, window); err != nil {
				return err
			}
			clock.begin(openingWindow(k))
			floodCtx, stopFloods := context.WithCancel(ctx)
			var floods sync.WaitGroup
			floods.Go(func() { silent.run(floodCtx) })
			floods.Go(func() { tokens.run(floodCtx, sz.SiegeTokenRate) })
			floods.Go(func() { sf.run(floodCtx, sz.SiegeStrangerRate) })
			t0 := time.Now()
			err := sleep(ctx, window/5)
			if err == nil {
				clock.begin(heldWindow(k))
				err = sleep(ctx, window-window/5)
			}
			stopFloods()
			floodsFor += time.Since(t0)
			floods.Wait()
			if err == nil {
				err = silent.err()
			}
			if err != nil {
				return err
			}
			if err := strangerTr.waitDelivered(ctx, sf.msgs.ok.Load(), deliveryTimeout); err != nil {
				return err
			}
		}
		return nil
	}()
	clock.end()
	<-chatsDone
	stopRC()
	if err != nil {
		return err
	}
	if err := chatTr.waitDelivered(ctx, chat.ok.Load(), deliveryTimeout); err != nil {
		return err
	}
	acksFailed := settleAcks(recv)

	calmPhases, siegePhases := tl.phasesOf(isCalmWindow), tl.phasesOf(isSiegeWindow)
	calm, stormy := chatTr.pooled(calmPhases), chatTr.pooled(siegePhases)
	p99Calm, p99Siege := percentile(calm, 99), percentile(stormy, 99)
	res.add("chat_p99_siege", p99Siege, "ms")
	res.add("siege_ratio", zeroNaN(p99Siege/p99Calm), "×")
	res.add("chat_p50_siege", percentile(stormy, 50), "ms")
	res.add("chat_p50_calm", percentile(calm, 50), "ms")
	res.add("chat_p99_siege_opening", percentile(chatTr.pooled(tl.phasesOf(isOpeningWindow)), 99), "ms")
	res.add("chat_p99_siege_held", percentile(chatTr.pooled(tl.phasesOf(isHeldWindow)), 99), "ms")
	res.add("chat_samples_calm", float64(len(calm)), "msgs")
	res.add("chat_samples_siege", float64(len(stormy)), "msgs")
	res.add("siege_windows", float64(windows), "windows")
	res.add("connect_p99_calm", percentile(rc.latencies(calmPhases), 99), "ms")
	res.add("connect_p99_siege", percentile(rc.latencies(siegePhases), 99), "ms")
	res.add("silent_opened", float64(silent.opened), "conns")
	res.add("silent_held_mean", silent.heldMean(), "conns")
	res.add("tokens_per_s", float64(tokens.sent.Load())/floodsFor.Seconds(), "req/s")
	res.add("cpu_calm", clock.cores(kindCalm), "cores")
	res.add("cpu_siege", clock.cores(kindSiege), "cores")
	res.add("sched_p99_calm", clock.sched(kindCalm), "ms")
	res.add("sched_p99_siege", clock.sched(kindSiege), "ms")
	res.add("gc_per_s_calm", clock.gcs(kindCalm), "GCs/s")
	res.add("gc_per_s_siege", clock.gcs(kindSiege), "GCs/s")
	res.add("stranger_msgs_per_s", float64(sf.msgs.ok.Load()+sf.msgs.limited.Load()+sf.sealed.Load())/floodsFor.Seconds(), "req/s")
	res.ratioTo(Metric{Name: "chat_p99_calm", Value: p99Calm, Unit: "ms"})
	atSize := sz.SiegeSilent >= Full().SiegeSilent && sz.SiegeTokenRate >= Full().SiegeTokenRate &&
		sz.SiegeSilentRate >= Full().SiegeSilentRate && sz.ChatPairs >= Full().ChatPairs
	res.target("p99 under siege < 2× calm", "siege_ratio", below, 2, atSize)

	chatCheck(res, "chats", &chat, chatTr, acksFailed)
	res.check("honest reconnects", rc.failed.Load() == 0 && rc.ok.Load() > 0, "%d connected over wss, %d failed (%s)", rc.ok.Load(), rc.failed.Load(), rc.firstErr())
	res.check("forged and replayed tokens opened nothing", tokens.opened.Load() == 0 && tokens.sent.Load() > 0,
		"%d sent (%d replays of %d tokens used once), %d opened a tunnel, %d failed", tokens.sent.Load(), tokens.replays.Load(), len(tokens.used), tokens.opened.Load(), tokens.failed.Load())
	res.check("sealed sends with a wrong key refused", sf.sealedOK.Load() == 0 && sf.sealed.Load() > 0, "%d sent, %d accepted", sf.sealed.Load(), sf.sealedOK.Load())
	res.check("strangers' accepted messages delivered once", strangerTr.delivered.Load() == sf.msgs.ok.Load() && strangerTr.duplicates() == 0,
		"%d accepted (%d rate-limited), %d delivered, %d duplicates", sf.msgs.ok.Load(), sf.msgs.limited.Load(), strangerTr.delivered.Load(), strangerTr.duplicates())
	res.Notes = append(res.Notes,
		fmt.Sprintf("default limits; the silent connections come from a process of their own (one per siege window), the other floods run in this process beside the relay and share its CPUs "+
			"(cpu_*, sched_* and gc_* are this process's: relay, chatters, tokens and strangers); "+
			"%d calm and %d siege windows of %v, alternating, each siege window opening its %d silent connections afresh; %d silent connections failed to dial; "+
			"ratio = chatters' p99 pooled over the siege windows / over the calm ones", windows, windows, window, sz.SiegeSilent, silent.failed),
		"chatters' p99 (ms) per window, calm: "+chatTr.p99s(each(calmPhases))+"; siege: "+chatTr.p99s(siegeWindows(windows))+
			"; their opening fifths: "+chatTr.p99s(each(tl.phasesOf(isOpeningWindow))))
	return nil
}

// The siege's windows: calm window k (from 0) has phase 3k+1; siege window
// k is two, its opening fifth (while the silent connections are opened)
// 3k+2 and the rest (while they are held) 3k+3; the settling pauses 0.
func calmWindow(k int) byte       { return byte(3*k + 1) }
func openingWindow(k int) byte    { return byte(3*k + 2) }
func heldWindow(k int) byte       { return byte(3*k + 3) }
func isCalmWindow(p byte) bool    { return p%3 == 1 }
func isOpeningWindow(p byte) bool { return p%3 == 2 }
func isHeldWindow(p byte) bool    { return p != 0 && p%3 == 0 }
func isSiegeWindow(p byte) bool   { return isOpeningWindow(p) || isHeldWindow(p) }

// siegeWindows returns the phases of each of n siege windows.
func siegeWindows(n int) [][]byte {
	ws := make([][]byte, n)
	for k := range ws {
		ws[k] = []byte{openingWindow(k), heldWindow(k)}
	}
	return ws
}

// each returns each phase on its own.
func each(phases []byte) [][]byte {
	ws := make([][]byte, len(phases))
	for i, p := range phases {
		ws[i] = []byte{p}
	}
	return ws
}

// The kinds of siege window kindClock adds time up for.
const (
	kindSettle = iota
	kindCalm
	kindSiege
)

// kindClock begins a timeline's windows and adds up the wall time, the
// process's CPU time and what its Go runtime counts (runStats) in each
// kind of window.
type kindClock struct {
	tl         *timeline
	kind       int
	since      time.Time
	cpuSince   time.Duration
	wall, cpus [3]time.Duration // by kind
	rs         *runStats
	rsSince    runSnapshot
	run        [3]runTally // by kind
}

func newKindClock(tl *timeline) *kindClock {
	rs := newRunStats()
	return &kindClock{tl: tl, since: time.Now(), cpuSince: cpuTime(), rs: rs, rsSince: rs.read()}
}

// begin begins a window of phase (see calmWindow).
func (c *kindClock) begin(phase byte) {
	c.lap()
	c.tl.begin(phase)
	switch {
	case isCalmWindow(phase):
		c.kind = kindCalm
	case isSiegeWindow(phase):
		c.kind = kindSiege
	default:
		c.kind = kindSettle
	}
}

// end ends the timeline.
func (c *kindClock) end() {
	c.lap()
	c.tl.close(0)
}

func (c *kindClock) lap() {
	now, cpu, rs := time.Now(), cpuTime(), c.rs.read()
	c.wall[c.kind] += now.Sub(c.since)
	c.cpus[c.kind] += cpu - c.cpuSince
	c.run[c.kind].add(c.rsSince, rs)
	c.since, c.cpuSince, c.rsSince = now, cpu, rs
}

// sched is the p99 of how long runnable goroutines waited for a CPU in the
// windows of kind, in ms.
func (c *kindClock) sched(kind int) float64 { return c.run[kind].schedQuantile(0.99) }

// gcs is the garbage collections per second in the windows of kind.
func (c *kindClock) gcs(kind int) float64 {
	return float64(c.run[kind].gcs) / c.wall[kind].Seconds()
}

// cores is the process's CPU in the windows of kind, in cores.
func (c *kindClock) cores(kind int) float64 {
	return c.cpus[kind].Seconds() / c.wall[kind].Seconds()
}

// sleep waits d or until ctx ends, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// serveWSS starts a wss listener on loopback for n, with a self-signed
// certificate, and returns how a client reaches it.
func serveWSS(ctx context.Context, n *node) (wss.ClientConfig, error) {
	id, err := selfsigned.New(rand.Reader, time.Now)
	if err != nil {
		return wss.ClientConfig{}, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	const name = "relay.example"
	l, err := wss.Listen(ctx, "127.0.0.1:0", wss.ServerConfig{TLS: id.Config(name), Path: siegePath, Secret: secret})
	if err != nil {
		return wss.ClientConfig{}, err
	}
	n.serve(relay.NamedListener(l, "wss"))
	return wss.ClientConfig{Address: l.Addr().String(), SNI: name, Path: siegePath, Secret: secret, TLSPin: id.Pin()}, nil
}

// dialFrom returns a NetDial that dials from the local address a.
func dialFrom(a *net.TCPAddr) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: a}
		return d.DialContext(ctx, network, address)
	}
}

// reconnects has honest devices connect over wss, one after another at a
// rate, each completing the Noise handshake and one ping. A device
// reconnects only once its last connection is closed (a newer connection
// of a device replaces the older one).
type reconnects struct {
	ep       wss.ClientConfig
	relayKey [32]byte
	free     chan int // indexes of ids not connected now
	ids      []ident
	ok       atomic.Int64
	failed   atomic.Int64

	mu    sync.Mutex
	lat   map[byte][]float64 // ms per window phase (see timeline); guarded by mu
	first error              // guarded by mu
}

// run reconnects at rate per second, each filed under the phase of the
// window of tl it began in, until the returned stop is called (which
// waits for the reconnects in progress).
func (rc *reconnects) run(ctx context.Context, tl *timeline, rate float64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		pace(ctx, rate, func(int) { wg.Go(func() { rc.once(ctx, tl) }) })
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

func newReconnects(ep wss.ClientConfig, ids []ident, relayKey [32]byte) *reconnects {
	rc := &reconnects{ep: ep, ids: ids, relayKey: relayKey, free: make(chan int, len(ids)), lat: map[byte][]float64{}}
	for i := range ids {
		rc.free <- i
	}
	return rc
}

func (rc *reconnects) once(ctx context.Context, tl *timeline) {
	start := time.Now()
	phase, _ := tl.at(sinceEpoch())
	var i int
	select {
	case i = <-rc.free:
	case <-ctx.Done():
		return
	}
	err := rc.connect(ctx, rc.ids[i], tcpAddr(loopAddr(reconnectNet, i)))
	rc.free <- i
	if ctx.Err() != nil {
		return // stopped, not failed
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.failed.Add(1)
		if rc.first == nil {
			rc.first = err
		}
		return
	}
	rc.ok.Add(1)
	rc.lat[phase] = append(rc.lat[phase], float64(time.Since(start))/float64(time.Millisecond))
}

// connect dials the relay over wss as id, from local, and exchanges a
// ping.
func (rc *reconnects) connect(ctx context.Context, id ident, local *net.TCPAddr) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cfg := rc.ep
	cfg.NetDial = dialFrom(local)
	raw, err := wss.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer raw.Close()
	nc, err := noisechan.Client(ctx, raw, id.noise, rc.relayKey, nil)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	defer nc.Close()
	dl, _ := ctx.Deadline()
	return ping(nc, dl)
}

// latencies returns the reconnects' latencies (ms, sorted) in the windows
// of phases.
func (rc *reconnects) latencies(phases []byte) []float64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return pool(rc.lat, phases)
}

func (rc *reconnects) firstErr() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.first == nil {
		return "no error"
	}
	return rc.first.Error()
}

// SilentSpec tells a client process (RunIdleClients, IdleSpec.Silent)
// to play the siege's silent flood: open Total connections to Addr at
// once and then Rate new ones a second, each from the source whose turn
// it is among Total/25 in 127.3/16, until its input ends.
type SilentSpec struct {
	Addr  string  `json:"addr"`
	Total int     `json:"total"`
	Rate  float64 `json:"rate"`
}

// runSilentFlood is the silent-flood process: it floods as spec says,
// reporting IdleStatus lines (Connected: opened so far, Open: open now,
// Failed: failed dials) every 100 ms, until in reaches EOF or ctx ends;
// then it closes its connections and reports once more with Done.
func runSilentFlood(ctx context.Context, spec SilentSpec, in io.Reader, out io.Writer) error {
	if spec.Addr == "" || spec.Total <= 0 || spec.Rate <= 0 {
		return errors.New("loadgen: a silent flood needs an address, a number and a rate")
	}
	raiseNoFile(uint64(2*spec.Total + 1024))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // EOF on in ends the flood
		io.Copy(io.Discard, in)
		cancel()
	}()
	f := &silentFlood{addr: spec.Addr}
	report := func(done bool) {
		b, _ := json.Marshal(IdleStatus{Connected: int(f.opened.Load()), Open: f.open.Load(), Failed: int(f.failed.Load()), Done: done, RSS: rss()})
		fmt.Fprintf(out, "%s\n", b)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		f.fill(ctx, spec.Total)
		f.trickle(ctx, spec.Total, spec.Rate)
	})
	t := time.NewTicker(100 * time.Millisecond)
	for ctx.Err() == nil {
		select {
		case <-t.C:
			report(false)
		case <-ctx.Done():
		}
	}
	t.Stop()
	wg.Wait()
	f.close()
	report(true)
	return nil
}

// silentChildren runs the siege's silent flood in a process of its own
// per siege window, as a censor's would be, so that its thousands of
// dials and goroutines are not scheduled among the relay's (the bench's
// process holds the relay and the chatters). It adds up what the
// processes report.
type silentChildren struct {
	r    *runner
	spec SilentSpec

	opened, failed int     // in all windows
	heldSum        float64 // the samples of connections open, added up
	heldN          int
	firstErr       error
}

// run floods from a new process until ctx ends, then has it close its
// connections and waits for it.
func (s *silentChildren) run(ctx context.Context) {
	k, err := s.r.startIdleChild(IdleSpec{Silent: &s.spec})
	if err != nil {
		s.fail(err)
		return
	}
	defer k.stop()
	var last IdleStatus
	status := k.status
	for status != nil {
		select {
		case st, ok := <-status:
			if !ok {
				status = nil
				continue
			}
			last = st
			if !st.Done && ctx.Err() == nil {
				s.heldSum += float64(st.Open)
				s.heldN++
			}
		case <-ctx.Done():
			// The end of the window: the process closes its
			// connections, reports Done and exits.
			k.stdin.Close()
			ctx = context.Background()
		}
	}
	if !last.Done {
		s.fail(fmt.Errorf("siege: the silent flood's process ended early: %s", k.stderr))
	}
	s.opened += last.Connected
	s.failed += last.Failed
}

func (s *silentChildren) fail(err error) {
	if s.firstErr == nil {
		s.firstErr = err
	}
}

// err is the first failure to run a flood process, if any.
func (s *silentChildren) err() error { return s.firstErr }

// heldMean is the mean of the connections open, as sampled.
func (s *silentChildren) heldMean() float64 { return s.heldSum / float64(s.heldN) }

// silentFlood opens TCP connections to the relay that never say a word,
// each held until the relay closes it.
type silentFlood struct {
	addr   string
	next   atomic.Int64
	opened atomic.Int64
	open   atomic.Int64 // open on this side now
	failed atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{} // guarded by mu
	wg    sync.WaitGroup
}

// dial opens one silent connection, from the source whose turn it is
// among total/silentPerSource.
func (f *silentFlood) dial(ctx context.Context, total int) {
	i := int(f.next.Add(1))
	src := i % max(total/silentPerSource, 1)
	d := net.Dialer{LocalAddr: tcpAddr(loopAddr(silentNet, src)), Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", f.addr)
	if err != nil {
		if ctx.Err() == nil {
			f.failed.Add(1)
		}
		return
	}
	f.mu.Lock()
	if f.conns == nil {
		f.conns = make(map[net.Conn]struct{})
	}
	f.conns[c] = struct{}{}
	f.mu.Unlock()
	f.opened.Add(1)
	f.open.Add(1)
	f.wg.Go(func() {
		c.Read(make([]byte, 1)) // until the relay (or close) ends it
		f.open.Add(-1)
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		c.Close()
	})
}

// fill opens n at once (64 dials at a time).
func (f *silentFlood) fill(ctx context.Context, n int) {
	parallel(ctx, n, 64, func(ctx context.Context, _ int) error {
		f.dial(ctx, n)
		return nil
	})
}

// trickle opens rate new ones a second until ctx ends.
func (f *silentFlood) trickle(ctx context.Context, total int, rate float64) {
	pace(ctx, rate, func(int) { f.dial(ctx, total) })
}

// pace calls f(0), f(1), ... at rate per second until ctx ends: call i at
// i/rate after the start, at once when behind (so a slow moment is made
// up for, and the rate is the one asked, unless f itself cannot keep up).
func pace(ctx context.Context, rate float64, f func(i int)) {
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for i := 0; ; i++ {
		if wait := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); wait > 0 {
			t.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		f(i)
	}
}

// close ends every connection still open and waits for their readers.
func (f *silentFlood) close() {
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// tokenFlood sends wss upgrade requests whose tokens are forged (a valid
// token with one character of its tag changed) or replayed (tokens it
// used once to open a tunnel), over kept-alive HTTPS connections from its
// own addresses, as a holder of the manifest can.
type tokenFlood struct {
	ep      wss.ClientConfig
	client  *http.Client
	used    []string // cookies used once, replayed since
	sent    atomic.Int64
	replays atomic.Int64
	opened  atomic.Int64 // answered 101: a tunnel opened (must stay 0)
	failed  atomic.Int64 // no answer
}

// prime makes the HTTP client and uses 8 fresh tokens once each, which
// must open tunnels (closed at once).
func (f *tokenFlood) prime(ctx context.Context) error {
	var next atomic.Int64
	f.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: f.ep.SNI, InsecureSkipVerify: true}, // the flooder checks nothing
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialFrom(tcpAddr(loopAddr(tokenNet, int(next.Add(1))%8)))(ctx, network, f.ep.Address)
		},
		MaxIdleConnsPerHost: 64,
	}}
	for range 8 {
		ck, err := wss.Cookie(f.ep.Secret, f.ep.Path, time.Now())
		if err != nil {
			return err
		}
		status, err := f.upgrade(ctx, ck)
		if err != nil {
			return fmt.Errorf("siege: a valid token: %w", err)
		}
		if status != http.StatusSwitchingProtocols {
			return fmt.Errorf("siege: a valid token opened no tunnel (status %d)", status)
		}
		f.used = append(f.used, ck)
	}
	return nil
}

// upgrade sends one upgrade request with cookie and returns the status.
func (f *tokenFlood) upgrade(ctx context.Context, cookie string) (int, error) {
	req, err := wsstest.Request(f.ep.SNI, f.ep.Path, cookie)
	if err != nil {
		return 0, err
	}
	resp, err := f.client.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, resp.Body) // the decoy page, so the connection is kept
	}
	resp.Body.Close() // for a 101, the tunnel
	return resp.StatusCode, nil
}

// run sends rate requests a second, alternating forged and replayed
// tokens, from 64 workers, until ctx ends.
func (f *tokenFlood) run(ctx context.Context, rate float64) {
	work := make(chan int, 64)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := range work {
				ck := f.used[i%len(f.used)]
				if i%2 == 0 {
					forged, err := wss.Cookie(f.ep.Secret, f.ep.Path, time.Now())
					if err != nil {
						continue
					}
					b := []byte(forged)
					b[len(b)-8] ^= 'A' ^ 'B' // in the tag
					ck = string(b)
				} else {
					f.replays.Add(1)
				}
				f.sent.Add(1)
				status, err := f.upgrade(ctx, ck)
				switch {
				case err != nil && ctx.Err() == nil:
					f.failed.Add(1)
				case status == http.StatusSwitchingProtocols:
					f.opened.Add(1)
				}
			}
		})
	}
	pace(ctx, rate, func(i int) {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	})
	close(work)
	wg.Wait()
	f.client.CloseIdleConnections()
}

// strangerFlood sends strangers' messages to the chatters' receivers:
// ordinary messages from registered strangers, whose content claims what
// a client refuses, and sealed sends with a wrong access key from
// anonymous connections.
type strangerFlood struct {
	to       []ident
	devs     []*peer
	anon     []*peer
	tr       *tracker // the receivers' tracker of strangers' messages
	msgs     counter
	sealed   atomic.Int64
	sealedOK atomic.Int64
}

func (f *strangerFlood) connect(ctx context.Context, n *node, ids []ident, anonymous int) error {
	var err error
	f.devs, err = connectFrom(ctx, n, ids, nil, func(i int) *net.TCPAddr { return tcpAddr(loopAddr(strangerNet, i)) })
	if err != nil {
		return err
	}
	for i := range anonymous {
		k, err := noisechan.GenerateKeyPair(rand.Reader)
		if err != nil {
			return err
		}
		a, err := dialPeer(ctx, n.addrs[0], tcpAddr(loopAddr(strangerNet, 250+i)), k, n.key.Public, nil, false)
		if err != nil {
			return err
		}
		f.anon = append(f.anon, a)
	}
	return nil
}

// run sends rate messages a second, half of each kind, until ctx ends.
func (f *strangerFlood) run(ctx context.Context, rate float64) {
	w := newWindow(256, &f.msgs)
	var wrong counter
	sw := newWindow(256, &wrong)
	defer sw.wait()
	defer w.wait()
	pace(ctx, rate, func(i int) {
		to := f.to[i%len(f.to)]
		id, content := f.tr.message(strangerPhase, sinceEpoch())
		copy(content[16:], "claims:ab") // a username the relay refuses
		if i%2 == 0 {
			w.send(f.devs[i%len(f.devs)], sendReq(to, id, content), nil)
			return
		}
		key := make([]byte, 16) // not the recipient's
		f.sealed.Add(1)
		sw.send(f.anon[i%len(f.anon)], &wire.Request{Op: &wire.Request_SendSealed{SendSealed: &wire.SendSealed{
			Recipient: to.account[:], UnidentifiedAccessKey: key, Timestamp: uint64(time.Now().UnixMilli()), EnvelopeId: id,
			Messages: []*wire.OutgoingMessage{{DeviceId: to.dev, RegistrationId: to.regID, Type: 6, Content: content}},
		}}}, func(r *wire.Response) {
			if r != nil && r.Status == wire.Status_OK {
				f.sealedOK.Add(1)
			}
		})
	})
}

func (f *strangerFlood) close() {
	closeAll(f.devs)
	closeAll(f.anon)
}
