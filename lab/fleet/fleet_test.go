package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samizdat/censor"
	"samizdat/client"
	"samizdat/clock"
	"samizdat/dialer"
	"samizdat/lab/fleet"
	"samizdat/lab/scenario"
	"samizdat/lab/vnet"
	"samizdat/manifest"
	"samizdat/manifest/channel"
)

// world is a censor, a virtual network, an address plan and the shared
// infrastructure, as the lab sets them up.
type world struct {
	censor *censor.Censor
	net    *vnet.Net
	plan   *vnet.Plan
	shared *fleet.Shared
	dir    string
}

var cdnSites = []string{"shop.cdn-customer.lab", "news.cdn-customer.lab", "bank.cdn-customer.lab"}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// newWorld builds a world whose censor has two ISPs that reset listed
// addresses at once, and enumeration without delay.
func newWorld(t *testing.T, seed int64) *world {
	t.Helper()
	return newWorldWith(t, seed, nil)
}

// newWorldWith is newWorld with the censor's configuration changed by mod.
func newWorldWith(t *testing.T, seed int64, mod func(*censor.Config)) *world {
	t.Helper()
	cfg := censor.Config{
		Seed: seed, Hour: censor.DefaultHour,
		ISPs: []censor.ISP{
			{Name: "isp-a", Compliance: 1, Method: censor.MethodReset},
			{Name: "isp-b", Compliance: 1, Method: censor.MethodReset, PoisonDNS: true},
		},
		Providers:   censor.Providers2018(),
		Enumeration: censor.Enumeration{Enabled: true},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := censor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := vnet.NewPlan(uint64(seed), censor.Providers2018())
	if err != nil {
		t.Fatal(err)
	}
	n := vnet.New(c, vnet.Options{DropTimeout: 3 * time.Second})
	t.Cleanup(func() { n.Close() })
	sh, err := fleet.StartShared(context.Background(), fleet.SharedConfig{Net: n, Plan: plan, Censor: c,
		CDNBystanders: cdnSites, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return &world{censor: c, net: n, plan: plan, shared: sh, dir: t.TempDir()}
}

func (w *world) fleet(t *testing.T, strategy string, op scenario.Operator, enum int) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Start(context.Background(), fleet.Config{Strategy: strategy, Net: w.net, Plan: w.plan,
		Censor: w.censor, Shared: w.shared, Dir: filepath.Join(w.dir, strategy), ISPs: []string{"isp-a", "isp-b"},
		Operator: op, EnumClients: enum, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

var eager = scenario.Operator{MovesPerMinute: 100}

// probed ticks f from now until a vantage round started at or after now
// has reached the operator (two probe intervals at most), and returns
// every move made meanwhile.
func probed(f *fleet.Fleet, now censor.Time) []fleet.Move {
	var moves []fleet.Move
	for k := range 3 {
		moves = append(moves, f.Tick(now+censor.Time(k)*scenario.DefaultProbeEvery)...)
	}
	return moves
}

// user is a lab client with its events.
type user struct {
	*client.Client
	mu        sync.Mutex
	texts     []string
	connected []string // endpoint addresses connected through
}

func newUser(t *testing.T, f *fleet.Fleet, name, isp string, inv manifest.Invite) *user {
	t.Helper()
	u := &user{}
	cfg := f.ClientConfig(t.TempDir(), isp+"/"+name, isp)
	cfg.OnEvent = func(e client.Event) {
		if e.Kind == client.EventMessage {
			u.mu.Lock()
			u.texts = append(u.texts, e.Text)
			u.mu.Unlock()
		}
	}
	cfg.Logger = testLogger().With("user", name)
	cfg.OnDial = func(e dialer.Event) {
		if testing.Verbose() {
			cfg.Logger.Info("dial", "event", e.String())
		}
		if e.Kind == dialer.EventConnected {
			u.mu.Lock()
			u.connected = append(u.connected, e.Candidate.Endpoint.Address)
			u.mu.Unlock()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Init(ctx, cfg, inv, name)
	if err != nil {
		t.Fatalf("init %s: %v", name, err)
	}
	u.Client = c
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Receive(rctx) }()
	t.Cleanup(func() { stop(); <-done; c.Close() })
	return u
}

func (u *user) has(text string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Contains(u.texts, text)
}

func (u *user) lastConnected() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.connected) == 0 {
		return ""
	}
	return u.connected[len(u.connected)-1]
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chat sends text from a to b (by name) and waits until b shows it.
func chat(t *testing.T, a *user, b *user, to, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Send(ctx, to, text); err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
	waitUntil(t, fmt.Sprintf("%q delivered", text), 30*time.Second, func() bool { return b.has(text) })
}

// TestStrategiesChat: two real clients of each strategy register from the
// built-in invite and chat through the virtual network.
func TestStrategiesChat(t *testing.T) {
	w := newWorld(t, 1)
	for _, s := range fleet.Strategies() {
		t.Run(s, func(t *testing.T) {
			f := w.fleet(t, s, eager, 0)
			alice := newUser(t, f, "alice", "isp-a", f.Invite())
			bob := newUser(t, f, "bob", "isp-b", f.Invite())
			chat(t, alice, bob, "bob", "hello from alice")
			chat(t, bob, alice, "alice", "hello from bob")
			if got := w.net.Stats().Violations; got != 0 {
				t.Fatalf("%d dials outside loopback", got)
			}
		})
	}
}

// blockAll lists every live endpoint address of f at now.
func blockAll(w *world, f *fleet.Fleet, now censor.Time) []netip.AddrPort {
	eps := f.Endpoints()
	for _, a := range eps {
		w.censor.Block(now, a.Addr(), "test")
	}
	return eps
}

// TestOperatorMovesAndClientsFollow: every endpoint a fleet's clients use
// is blocked; the operator replaces each blocked one with an unblocked
// address, connected clients follow (push: they move before the old
// connection drops, or the live flows are cut), the chat goes on, and a new client whose built-in endpoints are all blocked
// still joins through the strategy's channels.
func TestOperatorMovesAndClientsFollow(t *testing.T) {
	w := newWorld(t, 2)
	for _, s := range []string{fleet.Telegram2018, fleet.Samizdat} {
		t.Run(s, func(t *testing.T) {
			f := w.fleet(t, s, eager, 0)
			alice := newUser(t, f, "alice", "isp-a", f.Invite())
			bob := newUser(t, f, "bob", "isp-b", f.Invite())
			chat(t, alice, bob, "bob", "before the block")

			now := w.net.Now()
			old := blockAll(w, f, now)
			moves := probed(f, w.net.Now())
			want := len(old)
			if s == fleet.Samizdat {
				want-- // the front endpoint stays behind the CDN edge
			}
			if len(moves) != want {
				t.Fatalf("%d moves, want %d: %+v", len(moves), want, moves)
			}
			for _, m := range moves {
				if !slices.Contains(old, m.Old) || slices.Contains(old, m.New) || m.Strategy != s {
					t.Errorf("bad move %+v", m)
				}
				if by := w.censor.Collateral(w.net.Now(), []netip.AddrPort{m.New}); by["isp-a"]+by["isp-b"] != 0 {
					t.Errorf("moved to a blocked address: %+v", m)
				}
			}
			for _, a := range f.Endpoints() {
				if slices.Contains(old, a) && a != w.shared.CDNAddr() {
					t.Errorf("blocked endpoint %s still live", a)
				}
			}
			// The pushed manifest retired the endpoints the clients were
			// on: a client that has moved already (make-before-break) has
			// no flow left to cut; one still on a blocked endpoint is cut.
			onOld := func() bool {
				return slices.ContainsFunc([]*user{alice, bob}, func(u *user) bool {
					a, err := netip.ParseAddrPort(u.lastConnected())
					return err == nil && slices.Contains(old, a) && a != w.shared.CDNAddr()
				})
			}
			if w.net.Recheck() == 0 && onOld() {
				t.Errorf("recheck cut no live flow, yet a client was on a blocked endpoint")
			}
			chat(t, alice, bob, "bob", "after the block")
			chat(t, bob, alice, "alice", "after the block, back")
			for _, u := range []*user{alice, bob} {
				if a, err := netip.ParseAddrPort(u.lastConnected()); err != nil || slices.Contains(old, a) {
					t.Errorf("a client is on %q, an old endpoint", u.lastConnected())
				}
			}
			// Cold start: the built-in invite names only blocked endpoints.
			for _, a := range f.BuiltIn() {
				if !slices.Contains(old, a) {
					t.Fatalf("built-in endpoint %s was not blocked", a)
				}
			}
			carol := newUser(t, f, "carol", "isp-b", f.Invite())
			chat(t, carol, alice, "alice", "hello from a cold start")
		})
	}
}

// TestStaticNeverMoves: the static fleet's one endpoint stays put however
// long it is blocked.
func TestStaticNeverMoves(t *testing.T) {
	w := newWorld(t, 3)
	f := w.fleet(t, fleet.Static, eager, 0)
	before := f.Endpoints()
	if len(before) != 1 || !slices.Equal(before, f.BuiltIn()) {
		t.Fatalf("static endpoints %v, built-in %v", before, f.BuiltIn())
	}
	blockAll(w, f, 0)
	for i := range 5 {
		if m := f.Tick(time.Duration(i) * time.Minute); len(m) != 0 {
			t.Fatalf("static fleet moved: %+v", m)
		}
	}
	if got := f.Endpoints(); !slices.Equal(got, before) {
		t.Fatalf("endpoints changed: %v -> %v", before, got)
	}
	m, err := manifest.Open(f.Invite().Manifest, f.Invite().NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Channels) != 0 {
		t.Fatalf("static manifest names channels: %v", m.Channels)
	}
}

// TestOperatorBudgetAndDelay: the operator waits ReactionDelay after it
// first sees a block, moves at most MovesPerMinute addresses per minute
// (keeping one in reserve once some endpoint is unblocked), and makes the
// same moves in two identical worlds.
func TestOperatorBudgetAndDelay(t *testing.T) {
	op := scenario.Operator{CheckEvery: scenario.Duration(time.Second), ReactionDelay: scenario.Duration(5 * time.Second),
		MovesPerMinute: 3}
	run := func() []fleet.Move {
		w := newWorld(t, 4)
		f := w.fleet(t, fleet.Telegram2018, op, 0)
		blockAll(w, f, 10*time.Second)
		var all []fleet.Move
		tick := func(at time.Duration, want int) {
			t.Helper()
			m := f.Tick(at)
			if len(m) != want {
				t.Fatalf("tick at %v: %d moves, want %d", at, len(m), want)
			}
			all = append(all, m...)
		}
		tick(5*time.Second, 0)        // not blocked yet
		tick(10*time.Second, 0)       // blocked, first seen
		tick(12*time.Second, 0)       // reaction delay not over
		tick(15*time.Second, 2)       // budget: 3 a minute, 1 in reserve
		tick(15*time.Second+500e6, 0) // not a check time
		tick(45*time.Second, 0)       // only the reserve left
		tick(75*time.Second+1, 1)     // a minute later: the third
		tick(80*time.Second, 0)       // all moved
		if eps := f.Endpoints(); len(eps) != fleet.TelegramEndpoints {
			t.Fatalf("%d endpoints after the moves", len(eps))
		}
		// A retired address still leads somewhere: to a closed port.
		for _, m := range all {
			real, ok := w.net.Lookup("tcp", m.Old)
			if !ok {
				t.Fatalf("retired %s unmapped", m.Old)
			}
			if c, err := net.Dial("tcp", real.String()); err == nil {
				c.Close()
				t.Fatalf("retired %s still listening on %s", m.Old, real)
			}
		}
		return all
	}
	a, b := run(), run()
	for i := range a {
		a[i].Reason, b[i].Reason = "", ""
	}
	if !slices.Equal(a, b) {
		t.Fatalf("moves differ between identical runs:\n%+v\n%+v", a, b)
	}
}

// TestChannelsThroughVnet: the DoH resolver, the mirror and the front to
// the mirror serve each strategy's current manifest through the censored
// network, per cohort.
func TestChannelsThroughVnet(t *testing.T) {
	w := newWorld(t, 5)
	tg := w.fleet(t, fleet.Telegram2018, eager, 0)
	sz := w.fleet(t, fleet.Samizdat, eager, 0)
	dial := w.net.Dialer("fetcher", "isp-a")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	blob, err := channel.DoH("https://"+fleet.DoHName+"/dns-query", "telegram-2018.config.lab", nil, dial).Fetch(ctx)
	if err == nil {
		t.Fatalf("doh without the pin verified a self-signed resolver")
	}
	m, err := manifest.Open(tg.Invite().Manifest, tg.Invite().NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	srcs := channel.FromManifest(m, dial)
	if len(srcs) != 1 {
		t.Fatalf("telegram-2018 has %d channels", len(srcs))
	}
	if blob, err = srcs[0].Fetch(ctx); err != nil {
		t.Fatalf("doh txt through vnet: %v", err)
	}
	if string(blob) != string(tg.Invite().Manifest) {
		t.Fatalf("doh served another manifest")
	}

	pub, err := manifest.Open(sz.Invite().Manifest, sz.Invite().NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Cohorts != fleet.DefaultCohorts {
		t.Fatalf("samizdat manifest has %d cohorts", pub.Cohorts)
	}
	for c := uint32(1); c <= pub.Cohorts; c++ {
		srcs := channel.FromManifest(pub.ForCohort(c), dial)
		if len(srcs) != 3 {
			t.Fatalf("samizdat has %d channels", len(srcs))
		}
		for _, src := range srcs {
			blob, err := src.Fetch(ctx)
			if err != nil {
				t.Fatalf("cohort %d, %s: %v", c, src.Name(), err)
			}
			got, err := manifest.Open(blob, sz.Invite().NetworkKey)
			if err != nil {
				t.Fatalf("cohort %d, %s: %v", c, src.Name(), err)
			}
			if got.Serial <= pub.Serial {
				t.Errorf("cohort %d, %s: serial %d, not the cohort's", c, src.Name(), got.Serial)
			}
			own := 0
			for _, e := range got.Relays[0].Endpoints {
				switch e.Cohort {
				case c:
					own++
				case 0:
				default:
					t.Errorf("cohort %d, %s: lists cohort %d's endpoint", c, src.Name(), e.Cohort)
				}
			}
			if own != 2 {
				t.Errorf("cohort %d, %s: %d endpoints of its own, want tcp and wss", c, src.Name(), own)
			}
		}
	}
}

// TestCDNBystanders: the sites behind the CDN edge answer the lab's
// prober until the edge's address is listed, then all break together.
func TestCDNBystanders(t *testing.T) {
	w := newWorld(t, 6)
	targets := w.shared.Bystanders()
	if len(targets) != len(cdnSites) {
		t.Fatalf("%d cdn bystanders", len(targets))
	}
	for _, tg := range targets {
		if tg.Addr.Addr() != w.shared.CDNAddr().Addr() || tg.Name == "" {
			t.Fatalf("bystander %+v is not behind the edge %v", tg, w.shared.CDNAddr())
		}
	}
	ctx := context.Background()
	if r := w.net.Probe(ctx, "isp-a", targets, 3*time.Second, 4); r.Reachable != len(targets) {
		t.Fatalf("before the block: %+v", r)
	}
	w.censor.Block(w.net.Now(), w.shared.CDNAddr().Addr(), "test")
	if r := w.net.Probe(ctx, "isp-a", targets, 3*time.Second, 4); r.Broken != len(targets) {
		t.Fatalf("after the block: %+v", r)
	}
}

// TestEnumeration: the censor's clients report what their cohorts'
// manifests list, and nothing of other cohorts.
func TestEnumeration(t *testing.T) {
	w := newWorld(t, 7)
	// One enumeration client, wherever the relay placed it; no moves, so
	// the manifests stay.
	f := w.fleet(t, fleet.Samizdat, scenario.Operator{}, 1)
	joined := f.EnumCohorts()
	if len(joined) != 1 || joined[0] < 1 || joined[0] > fleet.DefaultCohorts {
		t.Fatalf("one account in cohorts %v", joined)
	}
	cj := joined[0]
	f.Tick(time.Second)
	listed := map[netip.Addr]bool{}
	names := map[string]bool{}
	for _, e := range w.censor.Entries() {
		if e.Reason != "enumeration" {
			continue
		}
		if e.Prefix.IsValid() {
			listed[e.Prefix.Addr()] = true
		} else {
			names[e.Name] = true
		}
	}
	inv, _ := manifest.Open(f.Invite().Manifest, f.Invite().NetworkKey)
	blob, err := channel.FromManifest(inv.ForCohort(cj), w.net.Dialer("x", "isp-a"))[0].Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c1, err := manifest.Open(blob, f.Invite().NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	var mine []netip.Addr
	for _, e := range c1.Relays[0].Endpoints {
		a := netip.MustParseAddrPort(e.Address).Addr()
		mine = append(mine, a)
		if !listed[a] {
			t.Errorf("cohort %d's %s endpoint %s not reported", cj, e.Transport, a)
		}
		if e.SNI != "" && !names[e.SNI] {
			t.Errorf("sni %s not reported", e.SNI)
		}
	}
	if !listed[w.shared.CDNAddr().Addr()] {
		t.Errorf("the cdn edge, in every cohort's manifest, not reported")
	}
	for _, n := range []string{fleet.DoHName, fleet.MirrorName, fmt.Sprintf("c%d.samizdat.config.lab", cj)} {
		if !names[n] {
			t.Errorf("channel name %s not reported", n)
		}
	}
	others := 0
	for _, a := range f.Endpoints() {
		if !slices.Contains(mine, a.Addr()) {
			others++
			if listed[a.Addr()] {
				t.Errorf("another cohort's endpoint %s was reported", a)
			}
		}
	}
	if others != 2*(fleet.DefaultCohorts-1) {
		t.Errorf("%d endpoints of other cohorts, want %d", others, 2*(fleet.DefaultCohorts-1))
	}
	if !listed[f.CohortMirror(cj).Addr()] {
		t.Errorf("cohort %d's own mirror %s not reported", cj, f.CohortMirror(cj))
	}
	for c := uint32(1); c <= fleet.DefaultCohorts; c++ {
		if c != cj && listed[f.CohortMirror(c).Addr()] {
			t.Errorf("cohort %d's mirror %s reported", c, f.CohortMirror(c))
		}
	}
	if len(names) == 0 || len(listed) != len(mine)+1 {
		// mine holds the cdn edge once (the front endpoint) and the
		// cohort's tcp and wss; then the cohort's mirror
		t.Errorf("listed %d addresses for cohort %d's %d and its mirror", len(listed), cj, len(mine))
	}
	// A later tick with nothing published reports nothing new.
	n := len(w.censor.Entries())
	f.Tick(2 * time.Second)
	if got := len(w.censor.Entries()); got != n {
		t.Errorf("a tick without a new manifest listed %d more entries", got-n)
	}
}

// TestOperatorUnderWhitelist: when every address outside a whitelist is
// dropped, the operator cannot tell a new address is blocked before its
// vantage points probe it there: it moves, finds the new address blocked
// and moves again, never beyond its budget.
func TestOperatorUnderWhitelist(t *testing.T) {
	w := newWorldWith(t, 8, func(c *censor.Config) {
		c.Whitelist = censor.Whitelist{Enabled: true, From: time.Second,
			Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	})
	f := w.fleet(t, fleet.Telegram2018, eager, 0)
	before := f.Endpoints()
	if m := f.Tick(0); len(m) != 0 {
		t.Fatalf("moves before the whitelist: %+v", m)
	}
	var moves []fleet.Move
	for i := range 60 { // a minute of checks
		moves = append(moves, f.Tick(time.Second+time.Duration(i)*time.Second)...)
	}
	if len(moves) == 0 || len(moves) > eager.MovesPerMinute {
		t.Fatalf("%d moves in a minute under the whitelist, budget %d", len(moves), eager.MovesPerMinute)
	}
	again := 0
	for _, m := range moves {
		if !strings.Contains(m.Reason, "vantage probe") {
			t.Errorf("move not prompted by a vantage probe: %+v", m)
		}
		if !slices.Contains(before, m.Old) {
			again++ // a replacement found blocked in turn
		}
	}
	if again == 0 {
		t.Errorf("no replacement was found blocked and moved again: %+v", moves)
	}
}

// TestCatAndMouseDeterministic plays the rkn-2018 scenario's censor and
// operator against all three fleets on a lab-time tick loop, without
// clients, twice with the same seed: the operator's moves and the censor's
// events must be the same, and the censor must have acted (enumerated,
// listed) and the operator must have moved.
func TestCatAndMouseDeterministic(t *testing.T) {
	sc, err := scenario.Builtin("rkn-2018")
	if err != nil {
		t.Fatal(err)
	}
	const (
		seed = 42
		tick = 100 * time.Millisecond
		end  = 40 * time.Second
	)
	enum := 4
	if e := sc.Censor.Enumeration; e != nil && e.Clients > 0 {
		enum = e.Clients
	}
	type result struct {
		moves  []fleet.Move
		events []censor.Event
	}
	run := func() result {
		cfg, err := sc.CensorConfig(seed, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := censor.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := vnet.NewPlan(seed, append(vnet.DefaultPrefixes(), censor.Providers2018()...))
		if err != nil {
			t.Fatal(err)
		}
		// On a simulated clock over memnet, as in a lab run: the vantage
		// probes' timeouts and the relays' timers cost no wall time.
		sim := clock.NewSim(time.Time{})
		n := vnet.New(c, vnet.Options{Clock: sim, InMemory: true})
		defer n.Close()
		stopSim := sim.Start()
		defer stopSim()
		sh, err := fleet.StartShared(context.Background(), fleet.SharedConfig{Net: n, Plan: plan, Censor: c,
			CDNBystanders: cdnSites})
		if err != nil {
			t.Fatal(err)
		}
		defer sh.Close()
		var isps []string
		for _, s := range sc.ISPShares() {
			isps = append(isps, s.Name)
		}
		dir := t.TempDir()
		var fleets []*fleet.Fleet
		for _, s := range fleet.Strategies() {
			f, err := fleet.Start(context.Background(), fleet.Config{Strategy: s, Net: n, Plan: plan, Censor: c,
				Shared: sh, Dir: filepath.Join(dir, s), ISPs: isps, Operator: sc.Operator, EnumClients: enum})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fleets = append(fleets, f)
		}
		var r result
		for now := time.Duration(0); now <= end; now += tick {
			for _, f := range fleets {
				r.moves = append(r.moves, f.Tick(now)...)
			}
		}
		r.events = c.Events()
		return r
	}
	a, b := run(), run()
	if len(a.moves) == 0 {
		t.Fatalf("no operator moves in %v of rkn-2018", end)
	}
	for _, m := range a.moves {
		if m.Strategy == fleet.Static {
			t.Fatalf("the static fleet moved: %+v", m)
		}
	}
	if !slices.Equal(a.moves, b.moves) {
		t.Fatalf("moves differ between runs with the same seed:\n%+v\n%+v", a.moves, b.moves)
	}
	enumerated := 0
	for _, e := range a.events {
		if e.What == "enumerate" {
			enumerated++
		}
	}
	if enumerated == 0 {
		t.Fatalf("the censor enumerated nothing: %d events", len(a.events))
	}
	if !slices.EqualFunc(a.events, b.events, func(x, y censor.Event) bool {
		return x.At == y.At && x.What == y.What && x.Entry == y.Entry && x.Detail == y.Detail
	}) {
		t.Fatalf("censor events differ between runs with the same seed (%d vs %d)", len(a.events), len(b.events))
	}
	byStrategy, byWhat := map[string]int{}, map[string]int{}
	for _, m := range a.moves {
		byStrategy[m.Strategy]++
	}
	for _, e := range a.events {
		byWhat[e.What]++
	}
	t.Logf("in %v: moves %v; censor events %v", end, byStrategy, byWhat)
}

// TestRoleNamesUnderWhitelist: under a whitelist of the shared services'
// addresses, at an ISP whose DPI checks names, samizdat's channels work
// when the whitelist allows RoleNames, and fail when it does not.
func TestRoleNamesUnderWhitelist(t *testing.T) {
	for _, allow := range []bool{true, false} {
		t.Run(fmt.Sprint("names allowed ", allow), func(t *testing.T) {
			names := []string{"elsewhere.lab"}
			if allow {
				for _, r := range []string{vnet.RoleCDN, vnet.RoleDoH, vnet.RoleMirror} {
					names = append(names, fleet.RoleNames(r, cdnSites)...)
				}
			}
			w := newWorldWith(t, 9, func(c *censor.Config) {
				c.ISPs = append(c.ISPs, censor.ISP{Name: "isp-dpi", Compliance: 1, Method: censor.MethodReset, DPI: true})
				c.Whitelist = censor.Whitelist{Enabled: true, Names: names}
			})
			for _, a := range []netip.AddrPort{w.shared.CDNAddr(), w.shared.DoHAddr(), w.shared.MirrorAddr()} {
				w.censor.AllowPrefixes(netip.PrefixFrom(a.Addr(), 32))
			}
			f := w.fleet(t, fleet.Samizdat, eager, 0)
			m, err := manifest.Open(f.Invite().Manifest, f.Invite().NetworkKey)
			if err != nil {
				t.Fatal(err)
			}
			// Dropped fetches hang until the deadline: fetch at once.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srcs := channel.FromManifest(m.ForCohort(1), w.net.Dialer("fetcher", "isp-dpi"))
			if len(srcs) != 3 {
				t.Fatalf("%d channels", len(srcs))
			}
			errs := make([]error, len(srcs))
			var wg sync.WaitGroup
			for i, src := range srcs {
				wg.Add(1)
				go func() { defer wg.Done(); _, errs[i] = src.Fetch(ctx) }()
			}
			wg.Wait()
			for i, src := range srcs {
				if allow && errs[i] != nil {
					t.Errorf("%s: %v", src.Name(), errs[i])
				}
				if !allow && errs[i] == nil {
					t.Errorf("%s answered though its name is not whitelisted", src.Name())
				}
			}
		})
	}
}

// TestSamizdatFallsBackToWSS: with the CDN edge and every tcp endpoint
// blocked, samizdat clients reach the relay over their cohort's wss
// endpoint through the virtual network.
func TestSamizdatFallsBackToWSS(t *testing.T) {
	w := newWorld(t, 10)
	f := w.fleet(t, fleet.Samizdat, scenario.Operator{}, 0)
	alice := newUser(t, f, "alice", "isp-a", f.Invite())
	bob := newUser(t, f, "bob", "isp-b", f.Invite())
	chat(t, alice, bob, "bob", "over the front")
	if got := alice.lastConnected(); got != w.shared.CDNAddr().String() {
		t.Fatalf("alice first connected through %q, not the cdn edge", got)
	}
	// Find the wss endpoints from a cohort manifest, block everything else.
	var wss []string
	for c := uint32(1); c <= fleet.DefaultCohorts; c++ {
		m := cohortManifest(t, w, f, c)
		for _, e := range m.Relays[0].Endpoints {
			if e.Transport == "wss" {
				wss = append(wss, e.Address)
			}
		}
	}
	for _, a := range f.Endpoints() {
		if !slices.Contains(wss, a.String()) {
			w.censor.Block(w.net.Now(), a.Addr(), "test")
		}
	}
	w.net.Recheck()
	chat(t, alice, bob, "bob", "over wss")
	chat(t, bob, alice, "alice", "over wss, back")
	for _, u := range []*user{alice, bob} {
		if got := u.lastConnected(); !slices.Contains(wss, got) {
			t.Errorf("a client is on %q, not a wss endpoint %v", got, wss)
		}
	}
}

// TestOperatorRelightsEveryCohortFirst: with every samizdat endpoint
// blocked and budget for fewer moves than endpoints, the operator gives
// each cohort one unblocked endpoint before anything else.
func TestOperatorRelightsEveryCohortFirst(t *testing.T) {
	w := newWorld(t, 11)
	f := w.fleet(t, fleet.Samizdat, scenario.Operator{MovesPerMinute: fleet.DefaultCohorts + 2}, 0)
	blockAll(w, f, 0)
	f.Tick(0)
	moves := f.Tick(time.Second)
	if len(moves) != fleet.DefaultCohorts {
		t.Fatalf("%d moves, want one per cohort (%d), the rest kept in reserve", len(moves), fleet.DefaultCohorts)
	}
	for c := uint32(1); c <= fleet.DefaultCohorts; c++ {
		m := cohortManifest(t, w, f, c)
		open := 0
		for _, e := range m.Relays[0].Endpoints {
			by := w.censor.Collateral(time.Second, []netip.AddrPort{netip.MustParseAddrPort(e.Address)})
			if by["isp-a"]+by["isp-b"] == 0 {
				open++
			}
		}
		if open != 1 {
			t.Errorf("cohort %d has %d unblocked endpoints, want 1", c, open)
		}
	}
}

// TestOperatorWatchesRegistry: with Operator.WatchRegistry the operator moves an
// endpoint as soon as the published registry lists it, before the ISPs
// enforce that version; without it, only once they do.
func TestOperatorWatchesRegistry(t *testing.T) {
	for _, watch := range []bool{false, true} {
		t.Run(fmt.Sprint("watch ", watch), func(t *testing.T) {
			w := newWorldWith(t, 12, func(c *censor.Config) {
				c.RegistryInterval = 10 * time.Second
				for i := range c.ISPs {
					c.ISPs[i].Delay = 5 * time.Second
				}
			})
			tg, err := fleet.Start(context.Background(), fleet.Config{Strategy: fleet.Telegram2018, Net: w.net,
				Plan: w.plan, Censor: w.censor, Shared: w.shared, Dir: t.TempDir(),
				Operator: scenario.Operator{MovesPerMinute: 100, WatchRegistry: watch}})
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			target := tg.Endpoints()[0]
			w.censor.Block(time.Second, target.Addr(), "test")
			if m := tg.Tick(9 * time.Second); len(m) != 0 {
				t.Fatalf("moved before the registry was published: %+v", m)
			}
			m := tg.Tick(11 * time.Second) // published at 10 s, enforced at 15 s
			if watch != (len(m) == 1) {
				t.Fatalf("watch %v: moves at 11 s: %+v", watch, m)
			}
			if watch && (m[0].Old != target || m[0].Reason != "listed in the registry") {
				t.Fatalf("bad move %+v", m[0])
			}
			if !watch { // seen by the vantage round of 15 s, known at 16 s
				if m := probed(tg, 15*time.Second); len(m) != 1 || m[0].Old != target || !strings.Contains(m[0].Reason, "vantage probe") {
					t.Fatalf("moves once enforced: %+v", m)
				}
			}
		})
	}
}

// TestSpareShared: enumeration clients that spare the shared services
// report the fleet's own endpoints and names, not the CDN edge, the front
// domain, the resolver or the mirror.
func TestSpareShared(t *testing.T) {
	w := newWorld(t, 13)
	f, err := fleet.Start(context.Background(), fleet.Config{Strategy: fleet.Samizdat, Net: w.net, Plan: w.plan,
		Censor: w.censor, Shared: w.shared, Dir: t.TempDir(), EnumClients: fleet.DefaultCohorts, SpareShared: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Tick(0)
	spared := map[string]bool{w.shared.CDNAddr().Addr().String(): true, w.shared.DoHAddr().Addr().String(): true,
		w.shared.MirrorAddr().Addr().String(): true, fleet.DoHName: true, fleet.MirrorName: true,
		fleet.CDNMirrorHost: true}
	for _, n := range cdnSites {
		spared[n] = true
	}
	addrs := 0
	for _, e := range w.censor.Entries() {
		k := e.Name
		if e.Prefix.IsValid() {
			k = e.Prefix.Addr().String()
			addrs++
		}
		if spared[k] {
			t.Errorf("shared service %s reported", k)
		}
	}
	if want := 3 * len(f.EnumCohorts()); addrs != want {
		t.Errorf("%d addresses reported, want the tcp, wss and mirror of every cohort %v its accounts sit in (%d)", addrs, f.EnumCohorts(), want)
	}
}

// telegram-2018 hops as Telegram did in April 2018: to another
// provider's ranges, never inside the /16 of the blocked address.
func TestTelegramHopsToOtherProviders(t *testing.T) {
	w := newWorld(t, 4)
	f := w.fleet(t, fleet.Telegram2018, eager, 0)
	var moves []fleet.Move
	for round := range 3 {
		at := time.Duration(round+1) * 10 * time.Second
		blockAll(w, f, at)
		moves = append(moves, probed(f, at+time.Second)...)
	}
	if len(moves) < fleet.TelegramEndpoints {
		t.Fatalf("%d moves", len(moves))
	}
	other := 0
	for _, m := range moves {
		near, _ := m.Old.Addr().Prefix(16)
		if near.Contains(m.New.Addr()) {
			t.Errorf("moved %v to %v, inside its /16", m.Old, m.New)
		}
		po, _ := w.plan.PrefixOf(m.Old.Addr())
		pn, _ := w.plan.PrefixOf(m.New.Addr())
		if po.Provider != pn.Provider {
			other++
		}
	}
	if other != len(moves) {
		t.Errorf("%d of %d moves went to another provider", other, len(moves))
	}
}

// TestFrontingEnds: when the CDN provider stops domain fronting, a
// samizdat client on the front is cut and comes back over its cohort's
// own endpoints, the front to the mirror fails while the cohort's other
// channels still serve, and the sites behind the edge stay up.
func TestFrontingEnds(t *testing.T) {
	w := newWorld(t, 11)
	f := w.fleet(t, fleet.Samizdat, scenario.Operator{}, 0)
	alice := newUser(t, f, "alice", "isp-a", f.Invite())
	bob := newUser(t, f, "bob", "isp-b", f.Invite())
	chat(t, alice, bob, "bob", "over the front")
	edge := w.shared.CDNAddr().String()
	if got := alice.lastConnected(); got != edge {
		t.Fatalf("alice first connected through %q, not the cdn edge", got)
	}

	w.shared.SetFronting(false)
	if w.shared.Fronting() {
		t.Fatal("the edge still fronts")
	}
	chat(t, alice, bob, "bob", "after fronting ended")
	chat(t, bob, alice, "alice", "after fronting ended, back")
	for _, u := range []*user{alice, bob} {
		if got := u.lastConnected(); got == edge || got == "" {
			t.Errorf("a client is on %q, want one of its cohort's own endpoints", got)
		}
	}

	if served, refused := w.shared.Fronted(); served == 0 || refused == 0 {
		t.Errorf("the edge served %d and refused %d fronted requests; want both", served, refused)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := w.net.Dialer("fetcher", "isp-a")
	srcs := channel.FromManifest(cohortManifest(t, w, f, 1).ForCohort(1), dial)
	var front, others int
	for _, src := range srcs {
		_, err := src.Fetch(ctx)
		switch {
		case strings.Contains(src.Name(), "front"):
			front++
			if err == nil {
				t.Errorf("%s: fetched through the edge after fronting ended", src.Name())
			}
		default:
			others++
			if err != nil {
				t.Errorf("%s: %v", src.Name(), err)
			}
		}
	}
	if front != 1 || others == 0 {
		t.Fatalf("cohort 1 has %d front and %d other channels: %v", front, others, srcs)
	}
	targets := w.shared.Bystanders()
	if r := w.net.Probe(ctx, "isp-a", targets, 3*time.Second, 4); r.Reachable != len(targets) {
		t.Fatalf("the sites behind the edge after fronting ended: %+v", r)
	}
}

// TestInviteAddrs: what a regulator knows from the app itself is the
// public invite's endpoints: static's one, telegram-2018's three, and for
// samizdat only the CDN edge of its front, which a regulator that spares
// shared hosts leaves out.
func TestInviteAddrs(t *testing.T) {
	w := newWorld(t, 14)
	st := w.fleet(t, fleet.Static, scenario.Operator{}, 0)
	tg := w.fleet(t, fleet.Telegram2018, scenario.Operator{}, 0)
	if got := st.InviteAddrs(); len(got) != 1 || got[0] != st.Endpoints()[0].Addr() {
		t.Errorf("static's invite addresses %v, want its one endpoint %v", got, st.Endpoints())
	}
	if got := tg.InviteAddrs(); len(got) != 3 {
		t.Errorf("telegram-2018's invite addresses %v, want its three endpoints", got)
	}
	edge := w.shared.CDNAddr().Addr()
	sz := w.fleet(t, fleet.Samizdat, scenario.Operator{}, 0)
	if got := sz.InviteAddrs(); len(got) != 1 || got[0] != edge {
		t.Errorf("samizdat's invite addresses %v, want only the CDN edge %v", got, edge)
	}
	spare, err := fleet.Start(context.Background(), fleet.Config{Strategy: fleet.Samizdat, Net: w.net, Plan: w.plan,
		Censor: w.censor, Shared: w.shared, Dir: t.TempDir(), SpareShared: true})
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	if got := spare.InviteAddrs(); len(got) != 0 {
		t.Errorf("samizdat sparing shared hosts: invite addresses %v, want none", got)
	}
}

// TestRegistersWithoutFronting: with the CDN edge refusing fronted
// requests from the start (rkn-2018), new samizdat users whose public
// invite lists only the front get in through the shared channels, which
// name their cohort's own endpoints.
func TestRegistersWithoutFronting(t *testing.T) {
	w := newWorld(t, 15)
	f := w.fleet(t, fleet.Samizdat, scenario.Operator{}, 0)
	w.shared.SetFronting(false)
	alice := newUser(t, f, "alice", "isp-a", f.Invite())
	bob := newUser(t, f, "bob", "isp-b", f.Invite())
	chat(t, alice, bob, "bob", "without the front")
	chat(t, bob, alice, "alice", "without the front, back")
	edge := w.shared.CDNAddr().String()
	for _, u := range []*user{alice, bob} {
		u.mu.Lock()
		if len(u.connected) == 0 || slices.Contains(u.connected, edge) {
			t.Errorf("connected through %v; want cohort endpoints only, never the edge %s", u.connected, edge)
		}
		u.mu.Unlock()
	}
	if served, refused := w.shared.Fronted(); served != 0 || refused == 0 {
		t.Errorf("the edge served %d and refused %d fronted requests; want none served, some refused", served, refused)
	}
}
