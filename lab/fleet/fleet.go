package fleet

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"samizdat/censor"
	"samizdat/client"
	"samizdat/lab/scenario"
	"samizdat/lab/vnet"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/relay/endpoints"
	"samizdat/relay/invitation"
	"samizdat/store/memstore"
)

// Strategies: the scenario's names.
const (
	Static       = scenario.Static       // one relay, one tcp endpoint, no channels, never moves
	Telegram2018 = scenario.Telegram2018 // tcp address hopping, config in DNS TXT, push
	Samizdat     = scenario.Samizdat     // cohorts, tcp + wss + front, mirrors, DoH, push
)

// Strategies returns the strategy names, in the order the lab runs them.
func Strategies() []string { return scenario.Strategies() }

// Defaults for what the scenario leaves zero.
const (
	// DefaultCohorts is the samizdat fleet's cohort count when
	// Operator.Cohorts is 0.
	DefaultCohorts = 4
	// TelegramEndpoints is how many tcp endpoints the telegram-2018 fleet
	// starts with (all in every manifest).
	TelegramEndpoints = 3
	// PreKeyBatch is the lab clients' one-time prekey batch: small, so
	// hundreds of clients register quickly.
	PreKeyBatch = 5
	// relayPort is the port of every relay endpoint's virtual address.
	relayPort = 443
	// moveTries bounds the addresses the operator draws for one move
	// before giving up until the next check.
	moveTries = 16
	// hopBits is the block around an old address that telegram-2018's
	// operator never draws a new one from: Telegram hopped to other
	// providers' ranges (Amazon, Google, others), not next door.
	hopBits = 16
)

// Config configures one strategy's fleet.
type Config struct {
	Strategy string // Static, Telegram2018 or Samizdat
	Net      *vnet.Net
	Plan     *vnet.Plan
	Censor   *censor.Censor
	Shared   *Shared // required for telegram-2018 and samizdat
	// Dir holds the relay's state (keys, endpoint secrets,
	// manifests). It should be empty: a fleet does not resume.
	Dir string
	// ISPs are the ISPs where the operator has a vantage point (a
	// subscriber it probes its endpoints as); empty means every ISP the
	// censor has.
	ISPs     []string
	Operator scenario.Operator
	// EnumClients is how many of the censor's clients learn this fleet's
	// manifests (see the package doc).
	EnumClients int
	// SpareShared makes the enumeration clients leave out the shared
	// services their manifests name (the CDN edge's address, the front
	// domain, the DoH resolver and the mirror host): a censor that will
	// not list big shared hosts for the collateral damage. Default: they
	// report everything, as a literal censor does.
	SpareShared bool
	// Seed seeds the operator's standby draws (Operator.Standby), which
	// come from a generator of their own.
	Seed uint64
	// CohortKey is the relay's secret for placing accounts in cohorts
	// (relay.Config.CohortKey): seeded, so that where root invites place
	// the (seeded) clients and the censor's accounts repeats for a seed.
	// nil: one fixed by the strategy's name.
	CohortKey []byte
	Logger    *slog.Logger
}

// Move is one operator move: an endpoint retired for a new address, a
// standby endpoint or mirror opened (Old is the zero AddrPort), or a
// standby promoted in a retired endpoint's place (Promoted: New is the
// standby's address, no new address was spent).
type Move struct {
	At        censor.Time
	Strategy  string
	Old, New  netip.AddrPort
	Transport string
	Reason    string
	Promoted  bool
}

// endpoint is one live endpoint of the fleet.
type endpoint struct {
	spec      endpoints.Spec
	name      string
	transport string
	virt      netip.AddrPort // what clients dial (the CDN edge's, for front)
	cohort    uint32
	since     censor.Time // when the operator first saw it blocked, if blocked
	blocked   bool
	standby   bool // listed with the standby mark (Operator.Standby)
}

// Fleet is one strategy's relay network and its operator.
type Fleet struct {
	cfg     Config
	log     *slog.Logger
	network string
	cohorts uint32
	keys    relay.Keys
	store   *memstore.Store
	srv     *relay.Server
	mgr     *endpoints.Manager
	invite  manifest.Invite
	invites []manifest.Invite // samizdat: each cohort's, as the fleet started, with a token that places its holder there
	placer  *invitation.Key   // the relay's placement of root invitees, for the censor's accounts
	builtIn []netip.AddrPort
	mirrors []*cohortMirror // samizdat: one per cohort (two with Operator.Standby)

	standbyRng *rand.Rand // the standby draws (guarded by mu after Start)

	mu        sync.Mutex
	eps       []*endpoint // live, in creation order
	seq       int
	moves     []Move
	checked   bool
	lastCheck censor.Time
	fresh     bool            // a manifest not yet read by the enumeration clients
	reported  map[string]bool // addresses and names already reported
	vantage   vantage
	closed    bool
	pending   []Move // standby addresses opened at Start, for the first Tick to report
}

// Start starts the strategy's relay, its first endpoints (mapped onto
// new virtual addresses) and signs and publishes the first manifest.
func Start(ctx context.Context, cfg Config) (_ *Fleet, err error) {
	if cfg.Net == nil || cfg.Plan == nil || cfg.Censor == nil || cfg.Dir == "" {
		return nil, errors.New("fleet: a net, a plan, a censor and a directory are required")
	}
	if cfg.Strategy != Static && cfg.Shared == nil {
		return nil, fmt.Errorf("fleet: strategy %s needs the shared infrastructure", cfg.Strategy)
	}
	if !slices.Contains(Strategies(), cfg.Strategy) {
		return nil, fmt.Errorf("fleet: unknown strategy %q", cfg.Strategy)
	}
	if cfg.Operator.Cohorts < 0 || cfg.Operator.MovesPerMinute < 0 || cfg.EnumClients < 0 {
		return nil, errors.New("fleet: negative cohorts, moves per minute or enumeration clients")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Operator.ProbeEvery <= 0 {
		cfg.Operator.ProbeEvery = scenario.Duration(scenario.DefaultProbeEvery)
	}
	f := &Fleet{cfg: cfg, log: cfg.Logger.With("strategy", cfg.Strategy), network: "lab-" + cfg.Strategy,
		reported: map[string]bool{}, fresh: true, standbyRng: standbyRand(cfg.Seed)}
	f.vantage.ctx, f.vantage.cancel = context.WithCancel(context.Background())
	if cfg.Strategy == Samizdat {
		f.cohorts = uint32(cfg.Operator.Cohorts)
		if f.cohorts == 0 {
			f.cohorts = DefaultCohorts
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if f.keys, _, err = relay.LoadOrCreateKeys(cfg.Dir, crand.Reader); err != nil {
		return nil, fmt.Errorf("fleet: relay keys: %w", err)
	}
	// In memory: a lab relay's store does not outlive the run, and no
	// system call (an fsync) should stand between two simulated instants.
	clk := cfg.Net.Clock()
	f.store = memstore.New(memstore.Options{Now: clk.Now})
	if cfg.CohortKey == nil {
		k := sha256.Sum256([]byte("samizdat lab cohort key " + cfg.Strategy))
		cfg.CohortKey = k[:]
		f.cfg.CohortKey = cfg.CohortKey
	}
	if f.placer, err = invitation.NewKey(cfg.CohortKey); err != nil {
		return nil, fmt.Errorf("fleet: cohort key: %w", err)
	}
	// Every lab client comes from loopback, so per-address limits would
	// throttle the whole population as one user: lift them all.
	u := relay.Unlimited
	f.srv, err = relay.New(relay.Config{
		CohortKey: cfg.CohortKey,
		Store:     f.store, NoiseKey: f.keys.Noise,
		ServerCertificate: f.keys.ServerCertificate, ServerCertificateKey: f.keys.ServerCertificateKey,
		Limits: relay.Limits{ConnFrames: u, Messages: u, SealedMessages: u, RecipientBytes: u,
			ProxiedSealed: u, Registrations: u, PreKeyUploads: u, PreKeyFetches: u, Lookups: u,
			HandshakesPerSource: -1, AnonymousPerSource: -1, AnonymousProxied: -1, RegistrationWork: -1},
		Logger: f.log,
		Clock:  clk,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: relay: %w", err)
	}

	add := func(transport string, cohort uint32) error {
		_, err := f.newSpec(transport, cohort, netip.AddrPort{})
		return err
	}
	switch cfg.Strategy {
	case Static:
		err = add(endpoints.TCP, 0)
	case Telegram2018:
		for i := 0; i < TelegramEndpoints && err == nil; i++ {
			err = add(endpoints.TCP, 0)
		}
	case Samizdat:
		err = add(endpoints.Front, 0)
		for c := uint32(1); c <= f.cohorts && err == nil; c++ {
			if err = add(endpoints.TCP, c); err == nil {
				err = add(endpoints.WSS, c)
			}
		}
		for c := uint32(1); c <= f.cohorts && err == nil && cfg.Operator.Standby; c++ {
			var mv Move
			if mv, err = f.addStandby(0, f.monitor(0), c, standbyTransport); err == nil {
				f.pending = append(f.pending, mv)
			}
		}
		if err == nil {
			err = f.startMirrors()
		}
		f.moves = append(f.moves, f.pending...)
	}
	if err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(cfg.Dir, endpoints.AdminFile))
	for try := 0; ; try++ {
		if err = f.writeConfig(); err != nil {
			return nil, err
		}
		f.mgr, err = endpoints.Start(endpoints.Options{
			Dir: cfg.Dir, Server: f.srv, Keys: f.keys, Network: f.network,
			ConfigFile: f.configPath(), Channels: f.channels(), Logger: f.log,
			Clock: clk, NetListen: func(_ context.Context, addr string) (net.Listener, error) {
				return cfg.Net.ListenLoopback(addr)
			},
		})
		if err == nil {
			break
		}
		// A reserved port taken meanwhile: the same addresses, new ports.
		if try == 2 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("fleet: endpoints: %w", err)
		}
		for _, e := range f.eps {
			if err := f.rebind(e); err != nil {
				return nil, err
			}
		}
	}
	f.invite = manifest.Invite{NetworkKey: f.keys.Network.Public().(ed25519.PublicKey), Manifest: f.mgr.Manifest()}
	if err := f.cohortInvites(); err != nil {
		return nil, err
	}
	if err := f.publishChannels(); err != nil {
		return nil, err
	}
	f.log.Info("fleet up", "endpoints", len(f.eps), "cohorts", f.cohorts)
	return f, nil
}

// newSpec draws a virtual address for a new endpoint (the CDN edge's for
// front; virt if valid), reserves a loopback port for it, maps or routes
// the address onto that port and returns the endpoint's spec. The
// endpoint is recorded as live.
func (f *Fleet) newSpec(transport string, cohort uint32, virt netip.AddrPort) (endpoints.Spec, error) {
	f.seq++
	name := fmt.Sprintf("%s-%d", transport, f.seq)
	if cohort > 0 {
		name = fmt.Sprintf("c%d-%s", cohort, name)
	}
	listen, err := reservePort(f.cfg.Net)
	if err != nil {
		return endpoints.Spec{}, err
	}
	s := endpoints.Spec{Name: name, Transport: transport, Listen: listen, Cohort: cohort}
	switch transport {
	case endpoints.Front:
		sh := f.cfg.Shared
		virt = sh.cdnAddr
		s.SNI = sh.frontDomain()
		s.Host = fmt.Sprintf("%s.%s.cdn-origin.lab", name, f.cfg.Strategy)
		s.TLSPin = hex.EncodeToString(sh.cdn.Pin())
		if err := sh.cdn.Route(s.Host, "http://"+listen); err != nil {
			return endpoints.Spec{}, fmt.Errorf("fleet: cdn route: %w", err)
		}
	default:
		if !virt.IsValid() {
			a, err := f.cfg.Plan.Alloc(vnet.RoleRelay, f.cfg.Strategy+"/"+name, nil)
			if err != nil {
				return endpoints.Spec{}, fmt.Errorf("fleet: relay address: %w", err)
			}
			virt = netip.AddrPortFrom(a.Addr, relayPort)
		}
		if err := mapTo(f.cfg.Net, virt, listen); err != nil {
			return endpoints.Spec{}, err
		}
		if transport == endpoints.WSS {
			s.SNI = fmt.Sprintf("www.site%d-%s.lab", f.seq, f.cfg.Strategy)
		}
	}
	s.Address = virt.String()
	f.eps = append(f.eps, &endpoint{spec: s, name: name, transport: transport, virt: virt, cohort: cohort})
	return s, nil
}

// rebind moves endpoint e, not open, to a newly reserved loopback port.
func (f *Fleet) rebind(e *endpoint) error {
	listen, err := reservePort(f.cfg.Net)
	if err != nil {
		return err
	}
	e.spec.Listen = listen
	if e.transport == endpoints.Front {
		if err := f.cfg.Shared.cdn.Route(e.spec.Host, "http://"+listen); err != nil {
			return fmt.Errorf("fleet: cdn route: %w", err)
		}
		return nil
	}
	f.cfg.Net.Unmap("tcp", e.virt)
	return mapTo(f.cfg.Net, e.virt, listen)
}

// configPath is the endpoint config file the fleet's Manager reloads.
func (f *Fleet) configPath() string { return filepath.Join(f.cfg.Dir, "endpoints.json") }

// writeConfig writes the live endpoints to the config file.
func (f *Fleet) writeConfig() error {
	file := endpoints.File{Network: f.network, Channels: f.mirrorChannels()}
	for _, e := range f.eps {
		file.Endpoints = append(file.Endpoints, e.spec)
	}
	b, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return fmt.Errorf("fleet: endpoint config: %w", err)
	}
	if err := os.WriteFile(f.configPath(), b, 0o600); err != nil {
		return fmt.Errorf("fleet: endpoint config: %w", err)
	}
	return nil
}

// apply makes the Manager run the live endpoints: one reload, so one
// new manifest for all the moves of a check. Endpoints whose reserved
// port was taken meanwhile get new ports and another reload.
func (f *Fleet) apply() error {
	var err error
	for try := 0; try < 3; try++ {
		if err = f.writeConfig(); err != nil {
			return err
		}
		if err = f.mgr.Reload(); err == nil {
			return nil
		}
		running := map[string]bool{}
		for _, i := range f.mgr.List() {
			running[i.Name] = true
		}
		for _, e := range f.eps {
			if !running[e.name] {
				if rerr := f.rebind(e); rerr != nil {
					return rerr
				}
			}
		}
	}
	return fmt.Errorf("fleet: opening endpoints: %w", err)
}

// reservePort returns a free loopback address of n for an endpoint to
// listen on, so that its virtual address can be mapped before it is
// announced. It is a variable so that a test can hand out a port that is
// taken.
var reservePort = func(n *vnet.Net) (string, error) { return n.Reserve() }

// Config names of a strategy's manifests.
func (f *Fleet) txtName() string {
	if f.cohorts > 0 {
		return "c" + manifest.CohortPlaceholder + "." + f.cfg.Strategy + ".config.lab"
	}
	return f.cfg.Strategy + ".config.lab"
}

func (f *Fleet) mirrorPath() string {
	return "/" + f.cfg.Strategy + "/manifest-" + manifest.CohortPlaceholder + ".bin"
}

// cohortPath is where mirrors serve cohort c's manifest.
func (f *Fleet) cohortPath(c uint32) string {
	return strings.ReplaceAll(f.mirrorPath(), manifest.CohortPlaceholder, fmt.Sprint(c))
}

// channels are the manifest channels the strategy puts in its manifests.
func (f *Fleet) channels() []manifest.Channel {
	sh := f.cfg.Shared
	switch f.cfg.Strategy {
	case Telegram2018:
		return []manifest.Channel{{Kind: "doh", URL: sh.dohURL(), Name: f.txtName(), TLSPin: sh.doh.Pin()}}
	case Samizdat:
		return []manifest.Channel{
			{Kind: "doh", URL: sh.dohURL(), Name: f.txtName(), TLSPin: sh.doh.Pin()},
			{Kind: "https", URL: sh.mirrorURL(f.mirrorPath()), TLSPin: sh.mirror.Pin()},
			{Kind: "front", Address: sh.cdnAddr.String(), SNI: sh.frontDomain(), Host: CDNMirrorHost,
				Path: f.mirrorPath(), TLSPin: sh.cdn.Pin()},
		}
	}
	return nil
}

// cohortBlob is the signed manifest a client of cohort c gets: its
// cohort's, or the public one.
func (f *Fleet) cohortBlob(c uint32) []byte {
	if c > 0 {
		if b, err := os.ReadFile(filepath.Join(f.cfg.Dir, endpoints.CohortManifestFile(c))); err == nil {
			return b
		}
	}
	return f.mgr.Manifest()
}

// publishChannels puts the current manifests on the strategy's channels.
func (f *Fleet) publishChannels() error {
	if f.cfg.Strategy == Static {
		return nil
	}
	for c := uint32(0); c <= f.cohorts; c++ {
		path := ""
		if f.cfg.Strategy == Samizdat {
			path = f.cohortPath(c)
		}
		txt := strings.ReplaceAll(f.txtName(), manifest.CohortPlaceholder, fmt.Sprint(c))
		if err := f.cfg.Shared.publish(path, txt, f.cohortBlob(c)); err != nil {
			return err
		}
	}
	f.publishMirrors()
	return nil
}

// manifestAddrs lists the distinct endpoint addresses of m, sorted.
func manifestAddrs(m *manifest.Manifest) []netip.AddrPort {
	var out []netip.AddrPort
	for _, r := range m.Relays {
		for _, e := range r.Endpoints {
			if a, err := netip.ParseAddrPort(e.Address); err == nil && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// Invite returns the built-in invite new clients start from: the
// manifest the fleet started with (for samizdat, the public one: only
// the front endpoint and the shared channels).
func (f *Fleet) Invite() manifest.Invite { return f.invite }

// InviteAddrs returns the endpoint addresses of the public invite (the
// one every installed copy of the app starts from), without the shared
// hosts when the fleet spares them (Config.SpareShared): a front's CDN
// edge.
func (f *Fleet) InviteAddrs() []netip.Addr {
	m, err := manifest.Open(f.invite.Manifest, f.invite.NetworkKey)
	if err != nil {
		return nil // the fleet opened it when it started
	}
	var out []netip.Addr
	for _, a := range manifestAddrs(m) {
		if f.spared(a.Addr()) || slices.Contains(out, a.Addr()) {
			continue
		}
		out = append(out, a.Addr())
	}
	return out
}

// spared reports whether a is a shared host the fleet's censor accounts
// leave out (Config.SpareShared).
func (f *Fleet) spared(a netip.Addr) bool {
	sh := f.cfg.Shared
	if !f.cfg.SpareShared || sh == nil {
		return false
	}
	return a == sh.cdnAddr.Addr() || a == sh.dohAddr.Addr() || a == sh.mirrorAddr.Addr()
}

// BuiltIn returns every endpoint address in the invites the fleet hands
// out (Invite and InviteFor): what a regulator collecting invites seen in
// the wild knows. Channels are not endpoints and are not in it.
func (f *Fleet) BuiltIn() []netip.AddrPort { return slices.Clone(f.builtIn) }

// ClientConfig returns the configuration of a lab client of this fleet
// living in home: every transport (the dialer's built-in tcp, wss and
// front, which take the endpoint's SNI, secret and pin from the manifest)
// reaches the network through vnet as clientID on isp; the dialer's
// memory is kept per ISP; prekey batches are small. Everything else is
// the client's default.
func (f *Fleet) ClientConfig(home, clientID, isp string) client.Config {
	return client.Config{
		Home:        home,
		Clock:       f.cfg.Net.Clock(),
		NetDial:     f.cfg.Net.Dialer(clientID, isp),
		Network:     isp,
		PreKeyBatch: PreKeyBatch,
	}
}

// Endpoints returns the virtual addresses of the live endpoints, sorted
// (the CDN edge's once, for front endpoints).
func (f *Fleet) Endpoints() []netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netip.AddrPort
	for _, e := range f.eps {
		if !slices.Contains(out, e.virt) {
			out = append(out, e.virt)
		}
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// Moves returns every move the operator made so far.
func (f *Fleet) Moves() []Move {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.moves)
}

// Tick is the operator's step at lab time now (see the package doc):
// every Operator.ProbeEvery it takes in its vantage points' last round
// (waiting for it if the machine ran it late) and, after its check,
// starts the next; every Operator.CheckEvery it checks the live
// endpoints, replaces those blocked for Operator.ReactionDelay within the
// MovesPerMinute budget and publishes the new manifests; and it lets the
// censor's enumeration clients report what the manifests published since
// the last Tick list.
func (f *Fleet) Tick(now censor.Time) []Move {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	moves := f.pending // the standby addresses opened at Start
	f.pending = nil
	probe := f.cfg.Strategy != Static && now >= f.vantage.next
	if probe {
		f.vantage.collect()
	}
	if f.cfg.Strategy != Static && (!f.checked || now-f.lastCheck >= f.cfg.Operator.CheckEvery.D()) {
		f.checked, f.lastCheck = true, now
		if checked := f.check(now); len(checked) > 0 {
			f.commit(checked)
			moves = append(moves, checked...)
			if err := f.publishChannels(); err != nil {
				f.log.Error("publishing manifests", "err", err)
			}
			f.fresh = true
		}
	}
	if probe {
		f.vantage.next = now + f.cfg.Operator.ProbeEvery.D()
		f.vantage.start(f.cfg.Net, f.watchedISPs(), now, f.cfg.Operator.ProbeEvery.D(), f.probeTargets())
	}
	if f.fresh {
		f.fresh = false
		f.enumerate(now)
	}
	return moves
}

// check looks at every live endpoint and cohort mirror at now and moves
// those blocked for ReactionDelay, within the budget: first one endpoint
// of each cohort left with nothing unblocked (cohort 0's endpoints serve
// every cohort), in creation order; then the blocked mirrors, then the
// other endpoints, as long as a move per cohort stays in reserve for the
// next check. It stops at the first endpoint with
// nowhere to go: under a whitelist every draw is blocked, so it tries
// again at the next check rather than drain the plan now.
func (f *Fleet) check(now censor.Time) []Move {
	mon := f.monitor(now)
	lit := map[uint32]bool{} // cohorts with an unblocked endpoint
	var due []*endpoint
	reasons := map[*endpoint]string{}
	for _, e := range f.eps {
		blocked, since, reason := mon.blocked(e.virt)
		if !blocked {
			e.blocked = false
			lit[e.cohort] = true
			continue
		}
		if !e.blocked {
			e.blocked, e.since = true, since
		}
		if e.transport != endpoints.Front && now-e.since >= f.cfg.Operator.ReactionDelay.D() {
			due = append(due, e)
			reasons[e] = reason
		}
	}
	dueMirrors, mirrorReasons := f.checkMirrors(now, mon)
	reserve := max(1, int(f.cohorts))
	var moves []Move
	moved := map[*endpoint]bool{}
	// First, for free: a blocked endpoint's cohort standby takes its
	// place (its clients know it already).
	for _, e := range due {
		if e.standby {
			continue
		}
		if mv, ok := f.promote(now, mon, e, reasons[e]); ok {
			moved[e], lit[e.cohort] = true, true
			moves = append(moves, mv)
		}
	}
	for pass := 0; pass < 2; pass++ {
		// Then the blocked cohort mirrors, the way in for the cohort's
		// clients cut off from every endpoint they know, and new standby
		// endpoints for the cohorts that used theirs.
		if pass == 1 {
			for _, m := range dueMirrors {
				if left := f.budgetLeft(now) - spent(moves); left <= reserve {
					return moves
				}
				mv, err := f.moveMirror(now, mon, m, mirrorReasons[m])
				if err != nil {
					f.log.Debug("operator could not move a cohort mirror", "cohort", m.cohort, "err", err)
					return moves
				}
				moves = append(moves, mv)
			}
			for c := uint32(1); c <= f.cohorts && f.cfg.Operator.Standby; c++ {
				if f.standbyOf(c) != nil {
					continue
				}
				if left := f.budgetLeft(now) - spent(moves); left <= reserve {
					return moves
				}
				transport := standbyTransport
				for _, mv := range moves {
					if mv.Promoted && f.cohortOf(mv.New) == c {
						transport = mv.Transport // the cohort keeps its mix of transports
					}
				}
				mv, err := f.addStandby(now, mon, c, transport)
				if err != nil {
					f.log.Debug("operator could not open a standby endpoint", "cohort", c, "err", err)
					return moves
				}
				moves = append(moves, mv)
			}
		}
		for _, e := range due {
			if moved[e] {
				continue
			}
			if pass == 0 && (lit[e.cohort] || lit[0]) {
				continue
			}
			left := f.budgetLeft(now) - spent(moves)
			if left <= 0 || pass == 1 && left <= reserve {
				return moves
			}
			mv, err := f.move(now, mon, e, reasons[e])
			if err != nil {
				f.log.Debug("operator could not move an endpoint", "endpoint", e.name, "err", err)
				return moves
			}
			moved[e], lit[e.cohort] = true, true
			moves = append(moves, mv)
		}
	}
	return moves
}

// commit opens the moved endpoints' replacements and retires the old ones
// in one new manifest, and records the moves.
func (f *Fleet) commit(moves []Move) {
	if err := f.apply(); err != nil {
		f.log.Error("operator could not apply its moves", "err", err)
	}
	f.moves = append(f.moves, moves...)
	for _, mv := range moves {
		f.log.Info("operator moved an endpoint", "old", mv.Old, "new", mv.New, "transport", mv.Transport, "reason", mv.Reason)
	}
}

// monitor is what the operator sees at one check: its vantage points'
// last findings and (with Operator.WatchRegistry) the published registry.
type monitor struct {
	f      *Fleet
	now    censor.Time
	watch  bool           // Operator.WatchRegistry
	read   bool           // listed is filled in
	listed []netip.Prefix // address entries of the published registry
}

func (f *Fleet) monitor(now censor.Time) *monitor {
	return &monitor{f: f, now: now, watch: f.cfg.Operator.WatchRegistry}
}

// registry returns the address entries of the registry published at
// now, or nothing if the operator does not watch it.
func (m *monitor) registry() []netip.Prefix {
	if !m.read && m.watch {
		m.read = true
		_, at := m.f.cfg.Censor.Version(m.now)
		for _, e := range m.f.cfg.Censor.Entries() {
			if (e.Kind == censor.KindIP || e.Kind == censor.KindCIDR) && e.Listed <= at &&
				(e.Unlisted == 0 || e.Unlisted > at) {
				m.listed = append(m.listed, e.Prefix)
			}
		}
	}
	return m.listed
}

// listedAddr reports whether the published registry lists a (always
// false without Operator.WatchRegistry).
func (m *monitor) listedAddr(a netip.Addr) bool {
	return slices.ContainsFunc(m.registry(), func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
}

// prefixListed reports whether the published registry lists a network
// (not a single address) within or around the plan prefix p.
func (m *monitor) prefixListed(p netip.Prefix) bool {
	return slices.ContainsFunc(m.registry(), func(e netip.Prefix) bool {
		return e.Bits() < e.Addr().BitLen() && e.Overlaps(p)
	})
}

// blocked reports whether a is listed in the published registry (with
// Operator.WatchRegistry) or the vantage points' last complete round
// found it blocked from an ISP, since when as far as the operator
// knows (now, or the round's time), and why.
func (m *monitor) blocked(a netip.AddrPort) (bool, censor.Time, string) {
	if m.listedAddr(a.Addr()) {
		return true, m.now, "listed in the registry"
	}
	if fd, ok := m.f.vantage.found[a]; ok {
		return true, fd.at, fd.why
	}
	return false, 0, ""
}

// budgetLeft returns how many moves MovesPerMinute still allows at now.
func (f *Fleet) budgetLeft(now censor.Time) int {
	n := 0
	for _, m := range f.moves {
		if now-m.At < time.Minute && !m.Promoted {
			n++
		}
	}
	return max(0, f.cfg.Operator.MovesPerMinute-n)
}

// move replaces e, among the live endpoints, by one of the same
// transport and cohort at a new address (mapped at once) that the censor
// does not block at now; commit then opens it and retires e.
func (f *Fleet) move(now censor.Time, mon *monitor, e *endpoint, reason string) (Move, error) {
	if e.standby {
		return f.moveStandby(now, mon, e, reason)
	}
	var virt netip.AddrPort
	old := e.virt.Addr()
	otherProvider := func(vnet.Prefix) bool { return true }
	if p, ok := f.cfg.Plan.PrefixOf(old); ok {
		otherProvider = func(q vnet.Prefix) bool { return q.Provider != p.Provider }
	}
	near, _ := old.Prefix(hopBits)
	label := f.cfg.Strategy + "/move"
	for try := 0; try < moveTries && !virt.IsValid(); try++ {
		var a vnet.Addr
		var err error
		switch {
		case f.cfg.Strategy == Telegram2018 && try < moveTries/2:
			a, err = f.cfg.Plan.Alloc(vnet.RoleRelay, label, otherProvider)
		default:
			a, err = f.cfg.Plan.Alloc(vnet.RoleRelay, label, nil)
		}
		if err != nil {
			continue
		}
		if f.cfg.Strategy == Telegram2018 && near.Contains(a.Addr) {
			continue
		}
		// A new address is known only by the registry: the vantage
		// points probe it once it serves.
		if cand := netip.AddrPortFrom(a.Addr, relayPort); !mon.listedAddr(cand.Addr()) {
			virt = cand
		}
	}
	if !virt.IsValid() {
		return Move{}, fmt.Errorf("fleet: no unlisted address in %d draws", moveTries)
	}
	if _, err := f.newSpec(e.transport, e.cohort, virt); err != nil {
		return Move{}, err
	}
	// The old address stays mapped to its closed port: a client still
	// dialling it meets the censor's verdict or, where that lets it
	// through, a refused connection, as at a server that has gone.
	f.eps = slices.DeleteFunc(f.eps, func(x *endpoint) bool { return x == e })
	return Move{At: now, Strategy: f.cfg.Strategy, Old: e.virt, New: virt, Transport: e.transport, Reason: reason}, nil
}

// EnumCohorts returns the cohorts the censor's enumeration clients sit
// in (cohort 0 alone for a fleet without cohorts), in order. Each account
// joins through the relay's own invite, as any user may, and sits where
// the relay places it (relay/invitation: a keyed hash of its device key
// under the relay's secret): the censor cannot choose, so its accounts
// cover the cohorts as independent draws do, not one each.
func (f *Fleet) EnumCohorts() []uint32 {
	var out []uint32
	for i := 0; i < f.cfg.EnumClients; i++ {
		c := uint32(0)
		if f.cohorts > 0 {
			c = manifest.Slot(f.placer.RootSlot(censorDeviceKey(f.cfg.Strategy, i))).Cohort(f.cohorts)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// enumerate lets each enumeration client read its cohort's current
// manifest and report what it lists.
func (f *Fleet) enumerate(now censor.Time) {
	if f.cfg.EnumClients <= 0 {
		return
	}
	var addrs []netip.Addr
	var names []string
	for _, c := range f.EnumCohorts() {
		m, err := manifest.Open(f.cohortBlob(c), f.invite.NetworkKey)
		if err != nil {
			f.log.Error("enumeration client refused a manifest", "err", err)
			continue
		}
		a, n := learned(m.ForCohort(c))
		addrs, names = append(addrs, a...), append(names, n...)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	sort.Strings(names)
	if sh := f.cfg.Shared; f.cfg.SpareShared && sh != nil {
		addrs = slices.DeleteFunc(addrs, f.spared)
		spareNames := append(RoleNames(vnet.RoleCDN, sh.cfg.CDNBystanders), DoHName, MirrorName, CDNMirrorHost)
		names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(spareNames, n) })
	}
	for _, a := range addrs {
		if k := a.String(); !f.reported[k] {
			f.reported[k] = true
			f.cfg.Censor.Enumerate(now, a)
		}
	}
	for _, n := range names {
		if !f.reported[n] {
			f.reported[n] = true
			f.cfg.Censor.EnumerateName(now, n)
		}
	}
}

// learned returns the addresses and names a manifest tells its reader:
// endpoint addresses, SNI and Host names, and the hosts and DNS names of
// its channels.
func learned(m *manifest.Manifest) (addrs []netip.Addr, names []string) {
	host := func(hostport string) {
		if hostport == "" {
			return
		}
		h := hostport
		if hh, _, err := net.SplitHostPort(hostport); err == nil {
			h = hh
		}
		if a, err := netip.ParseAddr(h); err == nil {
			addrs = append(addrs, a.Unmap())
		} else if h != "" {
			names = append(names, strings.ToLower(h))
		}
	}
	for _, r := range m.Relays {
		for _, e := range r.Endpoints {
			host(e.Address)
			host(e.SNI)
			host(e.Host)
		}
	}
	for _, c := range m.Channels {
		if u, err := url.Parse(c.URL); err == nil && c.URL != "" {
			host(u.Host)
		}
		host(c.Name)
		host(c.Address)
		host(c.SNI)
		host(c.Host)
	}
	return addrs, names
}

// Close stops the relay and its endpoints. Virtual addresses of live
// endpoints are unmapped (retired ones stay mapped to closed ports until
// the Net closes).
func (f *Fleet) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	eps, mirrors := f.eps, f.mirrors
	f.vantage.cancel()
	f.vantage.collect()
	f.mu.Unlock()
	if f.mgr != nil {
		f.mgr.Close()
	}
	if f.srv != nil {
		f.srv.Close()
	}
	var err error
	if f.store != nil {
		err = f.store.Close()
	}
	for _, e := range eps {
		if e.transport != endpoints.Front {
			f.cfg.Net.Unmap("tcp", e.virt)
		}
	}
	for _, m := range mirrors {
		f.cfg.Net.Unmap("tcp", m.virt)
		m.srv.Close()
	}
	return err
}

// censorDeviceKey is the device key of the censor's i-th account with the
// strategy's relay: fixed, so that its placement repeats for a seed (the
// relay's secret is seeded).
func censorDeviceKey(strategy string, i int) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "lab censor account %s %d", strategy, i))
}
