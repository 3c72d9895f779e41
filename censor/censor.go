package censor

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"samizdat/lab/labdata"
)

// Escalation widens blocks when an operator keeps moving inside one
// provider's network. In April 2018 Telegram moved to Amazon and Google
// addresses; the regulator answered within a day with whole cloud blocks
// from /16 to /10 (about 16 M addresses by 17 April, close to 20 M at the
// peak, against ~38 thousand in all the years before). It listed the
// networks Telegram had been seen in, not every network of a provider, so
// moves are counted per network (ScopeBits), not per provider.
type Escalation struct {
	Enabled bool
	// K is how many addresses the censor blocks one by one inside one
	// network before each step up.
	K int
	// ScopeBits sets the network moves are counted in: the provider's
	// announced prefix holding the address (the most specific one), or
	// the /ScopeBits around the address if that prefix is wider (0: the
	// announced prefix, however wide).
	ScopeBits int
	// Levels are the prefix lengths of successive steps, e.g. {14, 11}:
	// after K addresses, the /14 around each new one; after 2K, the /11.
	Levels []int
	// MaxBlocked caps the IPv4 addresses listed; an escalation that would
	// exceed it falls back to the single address (0: no cap).
	MaxBlocked uint64
}

// Enumeration models the censor's own clients: they learn endpoints as any
// user does (manifests, DNS-carried config, invitations) and report them;
// each is listed Delay after the report.
type Enumeration struct {
	Enabled bool
	Delay   Time
}

// Probing models active probing: after a suspicious flow the censor
// connects to the endpoint itself, Delay later, with a replay of the
// client's first bytes and with random data; if the endpoint answers like a
// proxy it is listed. The GFW has done this against Tor, Shadowsocks and
// obfs4 since 2011–2019, often within seconds.
type Probing struct {
	Enabled bool
	Delay   Time
}

// Relief models the regulator backing down over collateral damage. In
// April–May 2018 the list went from about 20 M addresses (17 April) down to
// about 16 M as entries were removed after businesses complained, then
// back up to 18.9 M; about 2.7 M Amazon addresses were unlisted in January
// 2019. When the share of probed services its subscribers cannot reach
// passes Threshold, the regulator unlists the networks (cidr entries)
// breaking the most of them until the share is back under it, and spares
// those networks from later escalation. Single addresses stay listed.
type Relief struct {
	Enabled bool
	// Threshold is the fraction of probed services broken (0–1) above
	// which the regulator unlists.
	Threshold float64
}

// Prober is implemented by the lab: it connects to dst (on loopback, via the
// virtual network) with a replay of first and with random data and reports
// whether the endpoint answered like a proxy (it accepted the replay, or
// answered random data with anything but the behaviour of a plain server).
type Prober interface {
	Probe(dst netip.AddrPort, first []byte) (answersLikeProxy bool)
}

// QUIC blocks UDP. Russia's TSPU and Iran have dropped QUIC wholesale at
// times, leaving TCP to DPI.
type QUIC struct {
	Block  bool
	From   Time
	AllUDP bool // every UDP flow, not only port 443
}

// ThrottleRule slows matching flows instead of blocking them. In March 2021
// Russia throttled Twitter to ~130–150 kbit/s, matching SNI by substring
// ("t.co" also hit microsoft.com and reddit.com).
type ThrottleRule struct {
	Name            string
	Prefix          netip.Prefix // destination prefix, if set
	SNISuffix       string       // label-aligned SNI suffix, if set
	SNISubstring    string       // SNI substring, if set
	RateBytesPerSec int
	From            Time
}

// Whitelist is the regime where only listed destinations are reachable,
// as on Russian mobile networks during the shutdowns since 2025. With
// Names set, a flow that shows an SNI or Host must also name one of them.
type Whitelist struct {
	Enabled  bool
	From     Time
	Prefixes []netip.Prefix
	Names    []string // label-aligned suffixes
}

// Config is one scenario's censor. Times are lab times.
type Config struct {
	Seed int64
	// Hour is the lab duration of one real hour; the presets express their
	// 2018 delays with it.
	Hour Time
	// RegistryInterval is the time between published registry versions.
	RegistryInterval Time
	ISPs             []ISP
	// Initial entries are listed at their own Listed times (the regulator's
	// schedule, independent of what clients do).
	Initial []Entry
	// Providers are the cloud and operator prefixes used for escalation
	// (which addresses count as moves inside one provider).
	Providers      []labdata.Prefix
	Escalation     Escalation
	Relief         Relief
	Enumeration    Enumeration
	Fingerprints   []Fingerprint
	FullyEncrypted FullyEncrypted
	QUIC           QUIC
	Throttle       []ThrottleRule
	Probing        Probing
	Whitelist      Whitelist
	// StubAddr is the answer a poisoning resolver gives for listed names
	// (the operator's block-page server); invalid: an empty answer.
	StubAddr netip.Addr
}

// Event is one move of the censor, for reports and charts.
type Event struct {
	At     Time   // when the entry was listed
	What   string // "list", "unlist", "escalate", "enumerate", "probe"
	Entry  Entry
	Detail string
}

type residualKey struct {
	client string
	dst    netip.AddrPort
}

type probeTask struct {
	due   Time
	dst   netip.AddrPort
	first []byte
}

// Censor is the configurable censor. It implements Decider and Observer.
// All methods are safe for concurrent use. Decisions depend only on the
// seed, the lab times passed in and the order of calls that change state
// (listing, probing, the fully-encrypted heuristic's per-flow draws).
type Censor struct {
	cfg       Config
	isps      map[string]ISP
	providers []labdata.Prefix // largest first

	mu       sync.Mutex
	reg      Registry                // guarded by mu
	moves    map[string]int          // guarded by mu: addresses blocked per escalation scope
	spared   []netip.Prefix          // guarded by mu: networks unlisted for their collateral
	residual map[residualKey]Time    // guarded by mu: residual block until
	flowSeq  map[residualKey]uint64  // guarded by mu: flows seen per client and dst
	probes   []probeTask             // guarded by mu: due probes, in order of scheduling
	probed   map[netip.AddrPort]bool // guarded by mu: scheduled or done
	zone     map[string][]netip.Addr // guarded by mu
	events   []Event                 // guarded by mu
	stats    map[string]int          // guarded by mu: verdicts by reason prefix
}

var (
	_ Decider  = (*Censor)(nil)
	_ Observer = (*Censor)(nil)
)

// New returns a censor for cfg. It rejects bad initial entries and
// duplicate ISP names.
func New(cfg Config) (*Censor, error) {
	c := &Censor{
		cfg:      cfg,
		isps:     make(map[string]ISP),
		moves:    make(map[string]int),
		residual: make(map[residualKey]Time),
		flowSeq:  make(map[residualKey]uint64),
		probed:   make(map[netip.AddrPort]bool),
		zone:     make(map[string][]netip.Addr),
		stats:    make(map[string]int),
	}
	c.reg.Interval = cfg.RegistryInterval
	for _, isp := range cfg.ISPs {
		if _, dup := c.isps[isp.Name]; dup || isp.Name == "" {
			return nil, fmt.Errorf("censor: duplicate or empty isp name %q", isp.Name)
		}
		if isp.Compliance < 0 || isp.Compliance > 1 || isp.Delay < 0 {
			return nil, fmt.Errorf("censor: isp %q: compliance must be in [0, 1] and delay not negative", isp.Name)
		}
		c.isps[isp.Name] = isp
	}
	for _, e := range cfg.Initial {
		if err := c.reg.Add(e); err != nil {
			return nil, err
		}
		c.events = append(c.events, Event{At: e.Listed, What: "list", Entry: e})
	}
	if cfg.Escalation.Enabled && cfg.Escalation.K <= 0 {
		return nil, fmt.Errorf("censor: escalation needs k > 0")
	}
	if b := cfg.Escalation.ScopeBits; b < 0 || b > 32 {
		return nil, fmt.Errorf("censor: escalation scope /%d out of range", b)
	}
	for _, l := range cfg.Escalation.Levels {
		if l < 8 || l > 32 {
			return nil, fmt.Errorf("censor: escalation level /%d out of range", l)
		}
	}
	c.providers = slices.Clone(cfg.Providers)
	sort.SliceStable(c.providers, func(i, j int) bool { return c.providers[i].Prefix.Bits() < c.providers[j].Prefix.Bits() })
	return c, nil
}

// roll returns a deterministic number in [0, 1) for the seed and parts.
// It is FNV-1a of the decimal seed and each part after a zero byte,
// computed in place: it runs for every flow.
func (c *Censor) roll(parts ...string) float64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	var seed [20]byte
	for _, b := range strconv.AppendInt(seed[:0], c.cfg.Seed, 10) {
		h = (h ^ uint64(b)) * prime
	}
	for _, p := range parts {
		h *= prime // the zero byte
		for i := 0; i < len(p); i++ {
			h = (h ^ uint64(p[i])) * prime
		}
	}
	return float64(h>>11) / (1 << 53)
}

// isp returns the named ISP; an unknown ISP is fully compliant, without
// delay, and drops.
func (c *Censor) isp(name string) ISP {
	if isp, ok := c.isps[name]; ok {
		return isp
	}
	return ISP{Name: name, Compliance: 1}
}

// applies reports whether isp enforces e at now (published, delayed, complied).
func (c *Censor) applies(isp ISP, e Entry, at Time) bool {
	if !e.activeAt(at) {
		return false
	}
	if isp.Compliance >= 1 {
		return true
	}
	return c.roll("comply", isp.Name, e.key()) < isp.Compliance
}

// ispVersionTime is the publication time of the registry version isp
// enforces at now. Until Delay has passed since the first version (lab
// time 0) the ISP enforces none: what the regulator lists at the start is
// applied after each ISP's own delay, as Telegram's subnets listed on 16
// April 2018 were applied "within hours", not at once everywhere.
func (c *Censor) ispVersionTime(isp ISP, now Time) Time {
	if now < isp.Delay {
		return -1 // before version 0: no entry is active
	}
	_, at := c.reg.Published(now - isp.Delay)
	return at
}

func (c *Censor) matchAddr(now Time, isp ISP, a netip.Addr) (Entry, bool) {
	at := c.ispVersionTime(isp, now)
	a = a.Unmap()
	for _, e := range c.reg.entries {
		if (e.Kind == KindIP || e.Kind == KindCIDR) && e.Prefix.Contains(a) && c.applies(isp, e, at) {
			return e, true
		}
	}
	return Entry{}, false
}

func (c *Censor) matchName(now Time, isp ISP, host string, kinds ...Kind) (Entry, bool) {
	at := c.ispVersionTime(isp, now)
	for _, e := range c.reg.entries {
		if slices.Contains(kinds, e.Kind) && e.matchName(host) && c.applies(isp, e, at) {
			return e, true
		}
	}
	return Entry{}, false
}

func suffixMatch(host, suffix string) bool {
	suffix = strings.TrimPrefix(strings.ToLower(suffix), "*.")
	return suffix != "" && (host == suffix || strings.HasSuffix(host, "."+suffix))
}

func (c *Censor) verdict(a Action, reason string) Verdict {
	kind, _, _ := strings.Cut(reason, " ")
	c.stats[a.String()+" "+kind]++
	return Verdict{Action: a, Reason: reason}
}

// Decide is the connect-time decision: whitelist, QUIC, residual
// fully-encrypted blocks, registry addresses, throttling by prefix.
func (c *Censor) Decide(now Time, f Flow) Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.decide(now, f, true)
}

func (c *Censor) decide(now Time, f Flow, count bool) Verdict {
	v := func(a Action, reason string) Verdict {
		if count {
			return c.verdict(a, reason)
		}
		return Verdict{Action: a, Reason: reason}
	}
	isp := c.isp(f.ISP)
	dst := f.Dst.Addr().Unmap()
	if w := c.cfg.Whitelist; w.Enabled && now >= w.From {
		ok := false
		for _, p := range w.Prefixes {
			if p.Contains(dst) {
				ok = true
				break
			}
		}
		if !ok {
			return v(Drop, "whitelist: destination not listed")
		}
	}
	if q := c.cfg.QUIC; f.UDP && q.Block && now >= q.From && (q.AllUDP || f.Dst.Port() == 443) {
		return v(Drop, "quic: udp blocked")
	}
	if until, ok := c.residual[residualKey{f.Client, f.Dst}]; ok && now < until {
		return v(Drop, "fully-encrypted: residual block")
	}
	if e, ok := c.matchAddr(now, isp, dst); ok {
		return v(isp.Method.action(), "registry "+e.key())
	}
	for _, r := range c.cfg.Throttle {
		if r.Prefix.IsValid() && now >= r.From && r.Prefix.Contains(dst) {
			out := v(Throttle, "throttle "+r.Name)
			out.RateBytesPerSec = r.RateBytesPerSec
			return out
		}
	}
	return v(Allow, "")
}

// Inspect is the decision once the first bytes are known: everything
// Decide checks, then (for ISPs with DPI) SNI and HTTP Host against name
// entries, protocol fingerprints, the fully-encrypted-traffic heuristic and
// SNI throttling. Whitelisted names are checked at every ISP.
func (c *Censor) Inspect(now Time, f Flow) Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.decide(now, f, false)
	if v.Blocked() {
		return c.verdict(v.Action, v.Reason)
	}
	isp := c.isp(f.ISP)
	host := strings.TrimSuffix(strings.ToLower(f.SNI), ".")
	if host == "" {
		host = HTTPHost(f.First)
	}
	if w := c.cfg.Whitelist; w.Enabled && now >= w.From && len(w.Names) > 0 && host != "" {
		if !slices.ContainsFunc(w.Names, func(n string) bool { return suffixMatch(host, n) }) {
			return c.verdict(Drop, "whitelist: name not listed")
		}
	}
	if isp.DPI {
		if host != "" {
			if e, ok := c.matchName(now, isp, host, KindDomain, KindDomainMask, KindSNI, KindSNISubstring); ok {
				a := isp.Method.action()
				if IsHTTPRequest(f.First) {
					a = BlockPage
				}
				return c.verdict(a, "dpi "+e.key())
			}
		}
		for _, fp := range c.cfg.Fingerprints {
			if fp.Match == nil || !fp.Match(f.First) {
				continue
			}
			if fp.Probe {
				c.scheduleProbe(now, f)
			}
			if fp.Action != Allow {
				return c.verdict(fp.Action, "fingerprint "+fp.Name)
			}
		}
		if fe := c.cfg.FullyEncrypted; fe.Enabled && !f.UDP && len(f.First) > 0 && !feExempt(f.First) {
			if fe.Probe {
				c.scheduleProbe(now, f)
			}
			k := residualKey{f.Client, f.Dst}
			c.flowSeq[k]++
			if c.roll("fe", f.Client, f.Dst.String(), strconv.FormatUint(c.flowSeq[k], 10)) < fe.BlockFraction {
				if fe.Residual > 0 {
					c.residual[k] = now + fe.Residual
				}
				return c.verdict(Drop, "fully-encrypted: first packet")
			}
		}
		for _, r := range c.cfg.Throttle {
			if now < r.From || host == "" {
				continue
			}
			if (r.SNISuffix != "" && suffixMatch(host, r.SNISuffix)) || (r.SNISubstring != "" && strings.Contains(host, r.SNISubstring)) {
				out := c.verdict(Throttle, "throttle "+r.Name)
				out.RateBytesPerSec = r.RateBytesPerSec
				return out
			}
		}
	}
	out := c.verdict(v.Action, v.Reason)
	out.RateBytesPerSec = v.RateBytesPerSec
	return out
}

// Resolve answers a name for an ISP's subscriber. Names the lab registered
// with SetName resolve to their addresses; at an ISP that poisons DNS a
// listed domain or mask resolves to StubAddr (poisoned true). An unknown
// name returns nil, false: the caller resolves it from its own zone.
func (c *Censor) Resolve(now Time, isp, name string) ([]netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	i := c.isp(isp)
	if i.PoisonDNS {
		if _, ok := c.matchName(now, i, name, KindDomain, KindDomainMask); ok {
			c.stats["poison dns"]++
			if c.cfg.StubAddr.IsValid() {
				return []netip.Addr{c.cfg.StubAddr}, true
			}
			return nil, true
		}
	}
	return slices.Clone(c.zone[name]), false
}

// Listing returns the registry entry that stands between an ISP's
// subscribers and host (an address, or a name the lab registered or the
// ISP filters by name) at now, as the ISP enforces the registry then; it
// counts nothing, and says nothing of DPI fingerprints or heuristics. The
// lab uses it to say why a client stayed cut off.
func (c *Censor) Listing(now Time, isp, host string) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.isp(isp)
	if a, err := netip.ParseAddr(host); err == nil {
		return c.matchAddr(now, i, a)
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if i.PoisonDNS || i.DPI {
		if e, ok := c.matchName(now, i, name, KindDomain, KindDomainMask); ok {
			return e, true
		}
	}
	for _, a := range c.zone[name] {
		if e, ok := c.matchAddr(now, i, a); ok {
			return e, true
		}
	}
	return Entry{}, false
}

// AllowPrefixes adds destinations to the whitelist regime (it does
// nothing when the config has none). The lab adds its shared
// infrastructure, whose addresses exist only once the censor does, before
// the run starts.
func (c *Censor) AllowPrefixes(ps ...netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cfg.Whitelist.Enabled {
		return
	}
	w := &c.cfg.Whitelist
	w.Prefixes = append(slices.Clone(w.Prefixes), ps...)
}

// SetName registers the true answer for a name.
func (c *Censor) SetName(name string, addrs ...netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.zone[strings.TrimSuffix(strings.ToLower(name), ".")] = slices.Clone(addrs)
}

// FlowClosed lets the censor learn from finished flows: a flow whose first
// packet a probing fingerprint or the fully-encrypted heuristic flags has
// its endpoint probed (once), even if no ISP on its path runs DPI — the
// GFW-style boxes sit at the border.
func (c *Censor) FlowClosed(now Time, f Flow, bytesUp, bytesDown int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cfg.Probing.Enabled || len(f.First) == 0 {
		return
	}
	suspicious := c.cfg.FullyEncrypted.Probe && !f.UDP && !feExempt(f.First)
	for _, fp := range c.cfg.Fingerprints {
		if fp.Probe && fp.Match != nil && fp.Match(f.First) {
			suspicious = true
		}
	}
	if suspicious {
		c.scheduleProbe(now, f)
	}
}

func (c *Censor) scheduleProbe(now Time, f Flow) {
	if !c.cfg.Probing.Enabled || c.probed[f.Dst] {
		return
	}
	c.probed[f.Dst] = true
	c.probes = append(c.probes, probeTask{due: now + c.cfg.Probing.Delay, dst: f.Dst, first: slices.Clone(f.First)})
}

// PendingProbes returns how many probes are scheduled and not yet run.
func (c *Censor) PendingProbes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.probes)
}

// RunProbes runs every probe due at now through p, in the order they were
// scheduled, and lists (at now) each endpoint that answered like a proxy.
// It returns those endpoints. p is called without the censor's lock held.
func (c *Censor) RunProbes(now Time, p Prober) []netip.AddrPort {
	c.mu.Lock()
	var due []probeTask
	rest := c.probes[:0]
	for _, t := range c.probes {
		if t.due <= now {
			due = append(due, t)
		} else {
			rest = append(rest, t)
		}
	}
	c.probes = rest
	c.mu.Unlock()
	var hits []netip.AddrPort
	for _, t := range due {
		if p.Probe(t.dst, t.first) {
			hits = append(hits, t.dst)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range hits {
		c.block(now, d.Addr(), "probe")
	}
	return hits
}

// List adds e to the registry (the regulator's own move).
func (c *Censor) List(e Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reg.Add(e); err != nil {
		return err
	}
	c.events = append(c.events, Event{At: e.Listed, What: "list", Entry: e})
	return nil
}

// Unlist removes, at t, every entry for which match returns true, and
// returns how many.
func (c *Censor) Unlist(t Time, match func(Entry) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.reg.Remove(t, match)
	if n > 0 {
		c.events = append(c.events, Event{At: t, What: "unlist", Detail: fmt.Sprintf("%d entries", n)})
	}
	return n
}

// Relieve is the regulator's answer to measured collateral damage at now:
// broken holds the address of every probed service found broken (control
// reached, the ISP's subscribers did not; an address once per service,
// so shared ones repeat) out of total probed. If more than
// Relief.Threshold of them are broken, it unlists, one at a time, the
// network entry in force that covers the most services still broken
// (ties: the earliest listed) until the share is at most the threshold
// or no network entry covers a broken one. It returns the entries
// unlisted. With relief disabled it does nothing.
func (c *Censor) Relieve(now Time, broken []netip.Addr, total int) []Entry {
	r := c.cfg.Relief
	if !r.Enabled || total <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := int(r.Threshold * float64(total))
	var out []Entry
	for len(broken) > limit {
		best, bestN := -1, 0
		for i, e := range c.reg.entries {
			if e.Kind != KindCIDR || !e.activeAt(now) {
				continue
			}
			n := 0
			for _, a := range broken {
				if e.Prefix.Contains(a.Unmap()) {
					n++
				}
			}
			if n > bestN {
				best, bestN = i, n
			}
		}
		if best < 0 {
			break
		}
		e := c.reg.entries[best]
		c.reg.Remove(now, func(x Entry) bool { return x.key() == e.key() && x.Listed == e.Listed })
		c.spared = append(c.spared, e.Prefix)
		c.events = append(c.events, Event{At: now, What: "unlist", Entry: e,
			Detail: fmt.Sprintf("collateral: %d of %d services broken", len(broken), total)})
		out = append(out, e)
		broken = slices.DeleteFunc(slices.Clone(broken), func(a netip.Addr) bool { return !c.listed(a.Unmap(), now) })
	}
	return out
}

// Block lists addr at t, escalating per the configuration, and returns the
// entry listed (ok false if addr was already listed).
func (c *Censor) Block(t Time, addr netip.Addr, reason string) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.block(t, addr, reason)
}

// Enumerate reports an endpoint the censor's own clients learned at now;
// it is listed Enumeration.Delay later. It does nothing when enumeration
// is disabled.
func (c *Censor) Enumerate(now Time, addr netip.Addr) {
	if !c.cfg.Enumeration.Enabled {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.block(now+c.cfg.Enumeration.Delay, addr, "enumeration")
}

// EnumerateName reports a name the censor's clients learned (a mirror, a
// DoH or fronting domain); it is listed as a domain mask and an SNI rule
// Enumeration.Delay later.
func (c *Censor) EnumerateName(now Time, name string) {
	if !c.cfg.Enumeration.Enabled {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now + c.cfg.Enumeration.Delay
	for _, k := range []Kind{KindDomainMask, KindSNI} {
		e := NameEntry(k, name, t, "enumeration")
		if c.reg.Add(e) == nil {
			c.events = append(c.events, Event{At: t, What: "enumerate", Entry: e})
		}
	}
}

// scope returns the network in which escalation counts a's moves (see
// Escalation.ScopeBits) and its provider, or false if no provider
// prefix holds a.
func (c *Censor) scope(a netip.Addr) (netip.Prefix, string, bool) {
	var best labdata.Prefix
	found := false
	for _, p := range c.providers { // largest first: the last match is the most specific
		if p.Prefix.Contains(a) {
			best, found = p, true
		}
	}
	if !found {
		return netip.Prefix{}, "", false
	}
	sc := best.Prefix
	if bits := c.cfg.Escalation.ScopeBits; bits > 0 && sc.Bits() < bits && bits <= a.BitLen() {
		sc, _ = a.Prefix(bits)
	}
	return sc, best.Provider, true
}

// listed reports whether a is covered by an entry listed by t and in force.
func (c *Censor) listed(a netip.Addr, t Time) bool {
	for _, e := range c.reg.entries {
		if e.Unlisted == 0 && e.Listed <= t && (e.Kind == KindIP || e.Kind == KindCIDR) && e.Prefix.Contains(a) {
			return true
		}
	}
	return false
}

func (c *Censor) block(t Time, addr netip.Addr, reason string) (Entry, bool) {
	addr = addr.Unmap()
	if !addr.IsValid() || c.listed(addr, t) {
		return Entry{}, false
	}
	e := IPEntry(addr, t, reason)
	what := reason
	esc := c.cfg.Escalation
	if sc, provider, ok := c.scope(addr); ok && esc.Enabled {
		k := sc.String()
		c.moves[k]++
		if lvl := min((c.moves[k]-1)/esc.K, len(esc.Levels)); lvl > 0 {
			wide := CIDREntry(netip.PrefixFrom(addr, esc.Levels[lvl-1]), t, reason+" escalation "+provider+" "+k)
			spared := slices.ContainsFunc(c.spared, wide.Prefix.Overlaps)
			if !spared && (esc.MaxBlocked == 0 || unionSize(c.listedPrefixes(wide.Prefix)) <= esc.MaxBlocked) {
				e, what = wide, "escalate"
			}
		}
	}
	if err := c.reg.Add(e); err != nil {
		return Entry{}, false
	}
	c.events = append(c.events, Event{At: t, What: what, Entry: e})
	return e, true
}

// listedPrefixes returns the prefixes of all entries in force (ignoring
// publication), plus extra.
func (c *Censor) listedPrefixes(extra ...netip.Prefix) []netip.Prefix {
	var ps []netip.Prefix
	for _, e := range c.reg.entries {
		if e.Unlisted == 0 && (e.Kind == KindIP || e.Kind == KindCIDR) {
			ps = append(ps, e.Prefix)
		}
	}
	return append(ps, extra...)
}

func unionSize(ps []netip.Prefix) uint64 { return labdata.UnionSize(ps) }

// BlockedAddresses returns the IPv4 addresses listed in the registry
// version in force at t (overlaps counted once).
func (c *Censor) BlockedAddresses(t Time) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ps []netip.Prefix
	for _, e := range c.reg.Version(t) {
		if e.Kind == KindIP || e.Kind == KindCIDR {
			ps = append(ps, e.Prefix)
		}
	}
	return unionSize(ps)
}

// BlockedPrefixes returns the number of subnet (cidr) entries in the
// registry version in force at t.
func (c *Censor) BlockedPrefixes(t Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.reg.Version(t) {
		if e.Kind == KindCIDR {
			n++
		}
	}
	return n
}

// Collateral returns, for each configured ISP, how many of the bystander
// endpoints a plain connection from that ISP cannot reach at now
// (registry, whitelist; DPI rules need traffic and are not counted).
func (c *Censor) Collateral(now Time, bystanders []netip.AddrPort) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.isps))
	for name := range c.isps {
		out[name] = 0
		for _, b := range bystanders {
			if c.decide(now, Flow{Client: "collateral-probe", ISP: name, Dst: b}, false).Blocked() {
				out[name]++
			}
		}
	}
	return out
}

// Broken lists the bystanders that the subscribers of at least one ISP
// cannot reach at now, by the censor's own verdicts: the services whose
// owners complain to the regulator (Relieve). Unlike a probe's measure, it
// does not depend on how busy the machine is, so the regulator's answers
// repeat for a seed.
func (c *Censor) Broken(now Time, bystanders []netip.AddrPort) []netip.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []netip.Addr
	for _, b := range bystanders {
		for name := range c.isps {
			if c.decide(now, Flow{Client: "collateral-probe", ISP: name, Dst: b}, false).Blocked() {
				out = append(out, b.Addr())
				break
			}
		}
	}
	return out
}

// ISPs returns the names of the configured ISPs, sorted: public
// knowledge, unlike what each of them blocks.
func (c *Censor) ISPs() []string {
	out := make([]string, 0, len(c.isps))
	for name := range c.isps {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Events returns the censor's moves so far, ordered by time.
func (c *Censor) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := slices.Clone(c.events)
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].At < ev[j].At })
	return ev
}

// Stats returns verdict counts keyed by action and rule family
// ("drop registry", "throttle throttle", ...).
func (c *Censor) Stats() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.stats))
	for k, v := range c.stats {
		out[k] = v
	}
	return out
}

// Version returns the number and publication time of the registry version
// in force at t (ISPs enforce it after their own delays).
func (c *Censor) Version(t Time) (int64, Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reg.Published(t)
}

// Entries returns a copy of every entry ever listed.
func (c *Censor) Entries() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reg.Entries()
}
