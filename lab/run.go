package lab

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/censor"
	"samizdat/clock"
	"samizdat/lab/fleet"
	"samizdat/lab/labdata"
	"samizdat/lab/report"
	"samizdat/lab/scenario"
	"samizdat/lab/vnet"
)

// labTime is lab time: frozen at 0 while the world is built, then the
// time elapsed on the run's simulated clock since the run began.
type labTime struct {
	clk   clock.Clock
	start atomic.Int64 // UnixNano on clk; 0 before begin
}

func (c *labTime) Now() censor.Time {
	s := c.start.Load()
	if s == 0 {
		return 0
	}
	return time.Duration(c.clk.Now().UnixNano() - s)
}

func (c *labTime) begin() { c.start.Store(c.clk.Now().UnixNano()) }

// world is one run: everything Run builds, and what it measures.
type world struct {
	sc    *scenario.Scenario
	seed  int64
	opt   Options
	log   *slog.Logger
	work  string
	sim   *clock.Sim // every component's clock: the discrete-event loop runs it
	clock labTime

	plan       *vnet.Plan
	cen        *censor.Censor
	hist       *history // what the network asks: nothing blocked during setup, then cen
	net        *vnet.Net
	shared     *fleet.Shared
	strategies []*strategyRun
	byID       map[string]*labClient // every client, built before the run; read-only afterwards
	bys        *vnet.Bystanders
	targets    []vnet.ProbeTarget

	probeMu     sync.Mutex
	probing     bool
	broken      int            // bystanders unreachable from at least one ISP (control reached), last round
	brokenByISP map[string]int // last round
	complaints  []netip.Addr   // the services the last round's blocks broke, until the regulator has read them
	complained  bool           // a round's complaints wait for the regulator
	unmeasured  int            // bystander probes the control could not reach, all rounds
	retried     int            // ISP probes retried: failed without a block verdict, control reached (all rounds)
	cleared     int            // of those, reached on the retry
	maxBroken   int
	probeRounds int

	events         []report.Event // operator moves, in tick order
	timeline       []report.Sample
	lastNote       string // the latest operator move, for Progress.Event
	offlineAtStart int    // regular clients not connected when the run began
	seenEvents     int    // censor events already reported through Progress
}

// Run builds the world sc describes, runs it for sc.Duration plus
// sc.Drain of lab time, tears it down and returns the report (also
// written to opt.Out when set). It returns an error if the world cannot
// be built or ctx ends first; the lab's findings, good or bad, are in the
// report.
func Run(ctx context.Context, sc *scenario.Scenario, opt Options) (*report.Report, error) {
	_, rep, err := run(ctx, sc, opt)
	return rep, err
}

// run is Run, also returning the world for tests to inspect (its address
// plan), torn down.
func run(ctx context.Context, sc *scenario.Scenario, opt Options) (w *world, rep *report.Report, err error) {
	w = &world{sc: sc, seed: sc.Seed, opt: opt, log: opt.Logger, byID: map[string]*labClient{}}
	if opt.Seed != 0 {
		w.seed = opt.Seed
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.work = opt.Work
	if w.work == "" {
		if w.work, err = scratchDir(); err != nil {
			return w, nil, fmt.Errorf("lab: work dir: %w", err)
		}
		defer os.RemoveAll(w.work)
	}
	// One simulated clock for the censor, the network, the relays and the
	// clients, run discrete-event style until everything is torn down.
	w.sim = clock.NewSim(time.Time{})
	w.clock.clk = w.sim
	stopSim := w.sim.Start()
	defer func() { stopSim() }()
	w.progress("setup", "")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var closers []func() error
	defer func() {
		cancel()
		for i := len(closers) - 1; i >= 0; i-- {
			if cerr := closers[i](); cerr != nil {
				w.log.Debug("closing", "err", cerr)
			}
		}
	}()
	if err := w.build(ctx, &closers); err != nil {
		return w, nil, err
	}

	// Clients run in their own goroutines, tied to runCtx; the tick loop
	// drives everything else.
	runCtx, stopClients := context.WithCancel(ctx)
	var clients sync.WaitGroup
	closers = append(closers, func() error {
		stopClients()
		clients.Wait()
		for _, s := range w.strategies {
			for _, lc := range s.clients {
				if lc.c != nil {
					lc.c.Close()
				}
			}
		}
		return nil
	})
	// The regular clients come online before the censorship begins (and
	// before lab time runs), so the run starts from a steady state: the
	// censor's first moves hit connected users, not a crowd still dialling.
	begun := make(chan struct{})
	sendUntil := sc.Duration.D()
	for _, s := range w.strategies {
		for _, lc := range s.clients {
			clients.Add(1)
			go func() {
				defer clients.Done()
				if lc.cold {
					select {
					case <-begun:
					case <-runCtx.Done():
						return
					}
					if !w.sleepUntil(runCtx, sc.ColdStartAt.D()) {
						return
					}
					s.mu.Lock()
					lc.initAt = w.clock.Now()
					s.mu.Unlock()
					if err := w.initClient(runCtx, lc); err != nil {
						w.log.Debug("cold start failed", "client", lc.id, "err", err)
						return
					}
				}
				w.run(runCtx, lc, sendUntil, begun)
			}()
		}
	}
	if err := w.waitOnline(ctx); err != nil {
		return w, nil, err
	}
	if err := w.startBridges(ctx, &closers); err != nil {
		return w, nil, err
	}
	w.hist.end()
	w.clock.begin()
	close(begun)
	if err := w.loop(ctx); err != nil {
		return w, nil, err
	}
	// Stop the clients before counting: every Send has returned, so each
	// message is either known by its envelope or known not to be stored.
	// They stay open so that their outboxes can be read.
	stopClients()
	clients.Wait()
	// The clock stands still while the report is read (the relays and
	// the operators' probes would go on), so that it is the world as the
	// run ended, however long reading it takes; it runs again for the
	// teardown.
	stopSim()
	w.progress("report", "")
	rep = w.report()
	stopSim = w.sim.Start()
	if opt.Out != "" {
		if err := rep.Write(opt.Out); err != nil {
			return w, rep, fmt.Errorf("lab: writing the report: %w", err)
		}
	}
	return w, rep, nil
}

// connectDelay returns the round trip a flow's handshake takes: between
// minRTT and minRTT+spreadRTT, fixed per client, ISP and destination and
// drawn from the seed, to the microsecond — so dials that would
// otherwise happen at one simulated instant (clients cut by one censor
// update) are taken in an order the seed fixes, not the scheduler.
func connectDelay(seed int64) func(censor.Flow) time.Duration {
	return func(f censor.Flow) time.Duration {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d %s %s %s", seed, f.Client, f.ISP, f.Dst)
		return minRTT + time.Duration(h.Sum64()%uint64(spreadRTT/time.Microsecond))*time.Microsecond
	}
}

// minRTT and spreadRTT bound the handshake round trip from a Russian ISP
// to a cloud host in Europe: 20 to 120 ms.
const (
	minRTT    = 20 * time.Millisecond
	spreadRTT = 100 * time.Millisecond
)

// scratchDir makes the directory where a run keeps relay and client
// state by default: in memory (/dev/shm) where the system has it, else in
// the temporary directory. Disk syscalls are waits the simulated clock
// cannot see through exactly (a goroutine leaving a long fsync is briefly
// counted nowhere by the scheduler, see clock.Quiet); in memory they are
// short.
func scratchDir() (string, error) {
	if dir, err := os.MkdirTemp("/dev/shm", "samizdat-lab-"); err == nil {
		return dir, nil
	}
	return os.MkdirTemp("", "samizdat-lab-")
}

// onlineTimeout bounds how long the regular clients get to connect before
// the run begins; those still offline then start the run offline (the
// report says how many).
const onlineTimeout = time.Minute

// waitOnline waits until every regular client has connected once, or
// onlineTimeout has passed.
func (w *world) waitOnline(ctx context.Context) error {
	offline, err := w.waitSetup(ctx, "clients to connect", func() (int, error) {
		offline := 0
		for _, s := range w.strategies {
			s.mu.Lock()
			for _, lc := range s.clients {
				if !lc.cold && !lc.up {
					offline++
				}
			}
			s.mu.Unlock()
		}
		return offline, nil
	})
	w.offlineAtStart = offline
	return err
}

// waitSetup polls left every 50 ms of simulated time until it counts
// nothing left or onlineTimeout has passed, and returns its last count;
// what names what it waits for, in an error.
func (w *world) waitSetup(ctx context.Context, what string, left func() (int, error)) (int, error) {
	deadline := w.sim.Now().Add(onlineTimeout)
	for {
		n, err := left()
		if err != nil || n == 0 || w.sim.Now().After(deadline) {
			return n, err
		}
		select {
		case <-ctx.Done():
			return n, fmt.Errorf("lab: waiting for %s: %w", what, ctx.Err())
		case <-w.sim.After(50 * time.Millisecond):
		}
	}
}

// sleepUntil waits until lab time t; false if ctx ended first.
func (w *world) sleepUntil(ctx context.Context, t censor.Time) bool {
	d := t - w.clock.Now()
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := w.sim.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C():
		return true
	}
}

// planPrefixes are the prefixes virtual addresses are drawn from: the EC2
// ranges AWS published just before the 2018 block (relays, mirrors and
// bystanders, as in 2018) and Google's own ranges (the CDN edge and the
// DoH resolver live on a big shared network, as fronting needs).
func planPrefixes() []vnet.Prefix {
	return append(vnet.DefaultPrefixes(), labdata.Goog()...)
}

// bystanderWeights is the share of the services Russians used in 2018
// that each provider of the plan hosted: an estimate. Synergy Research put
// AWS at about 33% of cloud infrastructure in the first quarter of 2018
// and Google Cloud at about 6%; Google's own services (search, mail,
// YouTube) ran on the address space of goog.json besides. We take 4 to 1.
var bystanderWeights = []struct {
	provider string
	weight   float64
	ranges   func() []labdata.Prefix
}{
	{"AWS", 0.8, labdata.AWS2018},
	{"Google", 0.2, labdata.Goog},
}

// bystanderAddrs draws n bystander addresses (port 443): a provider by
// bystanderWeights, then an address uniformly over that provider's
// published ranges (each range weighted by its size, ranges inside
// another counted once), seeded.
func bystanderAddrs(plan *vnet.Plan, seed int64, n int) ([]netip.AddrPort, error) {
	type pool struct {
		ranges []labdata.Prefix
		cum    []float64 // cumulative sizes
	}
	pools := make([]pool, len(bystanderWeights))
	var total float64
	for i, bw := range bystanderWeights {
		rs := outermost(bw.ranges())
		for _, r := range rs {
			size := float64(r.Size())
			if k := len(pools[i].cum); k > 0 {
				size += pools[i].cum[k-1]
			}
			pools[i].cum = append(pools[i].cum, size)
		}
		pools[i].ranges = rs
		total += bw.weight
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0xb75)) // "bys"
	out := make([]netip.AddrPort, n)
	for j := range out {
		u, i := rng.Float64()*total, 0
		for i < len(bystanderWeights)-1 && u >= bystanderWeights[i].weight {
			u -= bystanderWeights[i].weight
			i++
		}
		p := pools[i]
		if len(p.ranges) == 0 {
			return nil, fmt.Errorf("lab: no published ranges for %s", bystanderWeights[i].provider)
		}
		k, _ := slices.BinarySearch(p.cum, rng.Float64()*p.cum[len(p.cum)-1])
		a, err := plan.AllocIn(p.ranges[min(k, len(p.ranges)-1)], vnet.RoleBystander, fmt.Sprintf("bystander-%d", j))
		if err != nil {
			return nil, fmt.Errorf("lab: bystander address: %w", err)
		}
		out[j] = netip.AddrPortFrom(a.Addr, 443)
	}
	return out, nil
}

// outermost returns the IPv4 ranges of ps not inside another one of ps,
// each once, in a fixed order.
func outermost(ps []labdata.Prefix) []labdata.Prefix {
	sorted := slices.Clone(ps)
	slices.SortStableFunc(sorted, func(a, b labdata.Prefix) int {
		if c := a.Prefix.Bits() - b.Prefix.Bits(); c != 0 {
			return c
		}
		return a.Prefix.Addr().Compare(b.Prefix.Addr())
	})
	var out []labdata.Prefix
	for _, p := range sorted {
		if !p.Prefix.Addr().Is4() {
			continue
		}
		if !slices.ContainsFunc(out, func(o labdata.Prefix) bool { return o.Prefix.Overlaps(p.Prefix) }) {
			out = append(out, p)
		}
	}
	return out
}

// build makes the world at lab time 0: plan, censor, network, shared
// infrastructure, fleets, bystanders and the regular clients (registered).
// It appends what must be closed to closers, in order.
func (w *world) build(ctx context.Context, closers *[]func() error) error {
	sc := w.sc
	plan, err := vnet.NewPlan(uint64(w.seed), planPrefixes())
	if err != nil {
		return fmt.Errorf("lab: address plan: %w", err)
	}
	w.plan = plan
	// The whitelist's roles are allowed once the shared services have
	// addresses (allowInfrastructure).
	cfg, err := sc.CensorConfig(w.seed, nil, w.whitelistNames())
	if err != nil {
		return fmt.Errorf("lab: censor: %w", err)
	}
	if w.cen, err = censor.New(cfg); err != nil {
		return fmt.Errorf("lab: censor: %w", err)
	}
	w.hist = newHistory(w.cen)
	w.net = vnet.New(w.hist, vnet.Options{Clock: w.sim, InMemory: true, Now: w.clock.Now, OnCut: w.onCut,
		ConnectDelay: connectDelay(w.seed)})
	*closers = append(*closers, w.net.Close)

	nPlain := sc.Bystanders - sc.BystandersBehindCDN
	cdnNames := make([]string, sc.BystandersBehindCDN)
	for i := range cdnNames {
		cdnNames[i] = fmt.Sprintf("shop%d.example.ru", i)
	}
	w.shared, err = fleet.StartShared(ctx, fleet.SharedConfig{
		Net: w.net, Plan: plan, Censor: w.cen, CDNBystanders: cdnNames, Logger: w.log.With("fleet", "shared"),
	})
	if err != nil {
		return fmt.Errorf("lab: shared infrastructure: %w", err)
	}
	*closers = append(*closers, w.shared.Close)
	w.allowInfrastructure()
	if !sc.FrontingAt(0) {
		// The provider ended fronting before the modelled window (rkn-2018:
		// Google's front ends, 13 April 2018): not even registration
		// goes through a front.
		w.shared.SetFronting(false)
	}

	isps := make([]string, 0)
	for _, sh := range sc.ISPShares() {
		isps = append(isps, sh.Name)
	}
	for _, name := range sc.Strategies {
		f, err := fleet.Start(ctx, fleet.Config{
			Strategy: name, Net: w.net, Plan: plan, Censor: w.cen, Shared: w.shared,
			Dir: filepath.Join(w.work, "fleet", name), ISPs: isps, Operator: sc.OperatorOf(name),
			EnumClients: w.enumClients(), SpareShared: sc.Censor.Enumeration != nil && sc.Censor.Enumeration.SpareShared,
			Seed: uint64(w.seed),
			// Seeded, as the clients' keys are: root invites place
			// users and the censor's accounts alike in every run of a seed.
			CohortKey: seededKey(w.seed, "cohort key "+name),
			Logger:    w.log.With("fleet", name),
		})
		if err != nil {
			return fmt.Errorf("lab: fleet %s: %w", name, err)
		}
		*closers = append(*closers, f.Close)
		s := newStrategyRun(name)
		s.fleet = f
		w.strategies = append(w.strategies, s)
	}

	// Bystanders: ordinary services anywhere in the providers' published
	// ranges, and the sites behind the shared CDN edge.
	addrs, err := bystanderAddrs(plan, w.seed, nPlain)
	if err != nil {
		return err
	}
	if w.bys, err = w.net.StartBystanders(addrs, nil); err != nil {
		return fmt.Errorf("lab: bystanders: %w", err)
	}
	*closers = append(*closers, w.bys.Close)
	w.targets = append(w.bys.Targets(), w.shared.Bystanders()...)

	// The regulator knows the addresses every installed app starts from
	// before it blocks anything (Telegram's own subnets, 16 April 2018).
	if at := sc.Censor.ListInviteAt; at != nil {
		for _, s := range w.strategies {
			for _, a := range s.fleet.InviteAddrs() {
				if err := w.cen.List(censor.IPEntry(a, at.D(), "regulator: the app's built-in addresses")); err != nil {
					return fmt.Errorf("lab: listing %s's invite: %w", s.name, err)
				}
			}
		}
	}

	// The cold-start scenario: every built-in endpoint listed at a time
	// the scenario chose (the registry's schedule, not the clients').
	if at := sc.Censor.BlockBuiltInAt; at != nil {
		for _, s := range w.strategies {
			for _, ep := range s.fleet.BuiltIn() {
				if err := w.cen.List(censor.IPEntry(ep.Addr(), at.D(), "regulator: built-in endpoints")); err != nil {
					return fmt.Errorf("lab: listing built-in endpoints: %w", err)
				}
			}
		}
	}

	// Clients: all built now so the cut hook's index is read-only during
	// the run; the regular ones register now, the cold ones at ColdStartAt.
	for _, s := range w.strategies {
		regular := w.newClients(s, sc.Clients, false, nil)
		s.clients = append(regular, w.newClients(s, sc.ColdStart, true, regular)...)
	}
	if err := w.initRegular(ctx); err != nil {
		return err
	}
	return nil
}

// initRegular registers every regular client, all at once: on the
// simulated clock each registration's timings are its own (its flows'
// round trips), whatever order the scheduler runs them in.
func (w *world) initRegular(ctx context.Context) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, s := range w.strategies {
		for _, lc := range s.clients {
			if lc.cold {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.initClient(ctx, lc); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if firstErr != nil {
		// Close the ones that made it; Run's closers do not know them.
		for _, s := range w.strategies {
			for _, lc := range s.clients {
				if lc.c != nil {
					lc.c.Close()
				}
			}
		}
	}
	return firstErr
}

// enumClients is the number of enumeration clients per strategy.
func (w *world) enumClients() int {
	if e := w.sc.Censor.Enumeration; e != nil {
		return e.Clients
	}
	return 0
}

// whitelistNames returns the host names a whitelist scenario allows (its
// Allow entries other than the roles of the shared infrastructure).
func (w *world) whitelistNames() []string {
	wl := w.sc.Censor.Whitelist
	if wl == nil {
		return nil
	}
	var names []string
	for _, a := range wl.Allow {
		switch a {
		case vnet.RoleCDN, vnet.RoleDoH, vnet.RoleMirror:
		default:
			names = append(names, a)
		}
	}
	return names
}

// allowInfrastructure whitelists the shared services a whitelist scenario
// allows by role, each by its own address (a whitelist lists services, not
// their providers' networks; the sites behind the CDN edge share its
// address and so stay reachable with it).
func (w *world) allowInfrastructure() {
	wl := w.sc.Censor.Whitelist
	if wl == nil {
		return
	}
	for _, role := range wl.Allow {
		var ap netip.AddrPort
		switch role {
		case vnet.RoleCDN:
			ap = w.shared.CDNAddr()
		case vnet.RoleDoH:
			ap = w.shared.DoHAddr()
		case vnet.RoleMirror:
			ap = w.shared.MirrorAddr()
		default:
			continue
		}
		w.cen.AllowPrefixes(netip.PrefixFrom(ap.Addr(), ap.Addr().BitLen()))
	}
}

// seededKey is a 32-byte secret fixed by the seed and purpose. A lab's
// secrets protect nothing; they make a run repeat.
func seededKey(seed int64, purpose string) []byte {
	k := sha256.Sum256(fmt.Appendf(nil, "samizdat lab %d %s", seed, purpose))
	return k[:]
}
