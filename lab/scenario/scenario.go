package scenario

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/netip"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"samizdat/censor"
)

// Defaults filled by Parse for fields that are absent (or zero).
const (
	DefaultDuration            = 100 * time.Second
	DefaultDrain               = 10 * time.Second
	DefaultTick                = 100 * time.Millisecond
	DefaultClients             = 70
	DefaultMessageEvery        = 4 * time.Second
	DefaultBystanders          = 200
	DefaultBystanderProbeEvery = 2 * time.Second
	DefaultEnumClients         = 4
	DefaultCheckEvery          = 500 * time.Millisecond
	DefaultProbeEvery          = time.Second
	DefaultReactionDelay       = time.Second
	DefaultMovesPerMinute      = 30
	DefaultCohorts             = 4
)

// Limits beyond which a value is rejected as absurd for a lab run on one
// machine.
const (
	MaxDuration   = time.Hour
	MaxDrain      = 10 * time.Minute
	MaxClients    = 5000 // per strategy
	MaxBystanders = 5000
	MaxEnumClient = 100
	MaxCohorts    = 64
	MaxMoves      = 10000
	MaxContacts   = 64 // contacts per user besides the partner
	maxNameLen    = 64
	maxDescLen    = 4096
	maxAllow      = 64
	maxISPs       = 32
)

// Strategies returns every strategy name, in report order.
func Strategies() []string { return []string{Static, Telegram2018, Samizdat} }

// Presets returns every censor preset name.
func Presets() []string {
	return []string{PresetRKN2018, PresetSNIDPI, PresetProbing, PresetWhitelist, PresetNone}
}

// Roles a whitelist may allow besides host names.
var roles = []string{"cdn", "mirror", "doh"}

// defaultShares are the client shares of the preset ISPs (censor.ISPs2018):
// an assumption modelled on Russia's 2018 market, where one national
// operator and the three mobile operators carried most users and small
// regional ISPs the rest.
var defaultShares = map[string]float64{
	"national": 0.30,
	"mobile-a": 0.25,
	"mobile-b": 0.20,
	"regional": 0.15,
	"small":    0.10,
}

// Parse reads a scenario from JSON. It rejects unknown fields, trailing
// data, values of the wrong type and values out of range, naming the
// field; it fills defaults and validates the result.
func Parse(b []byte) (*Scenario, error) {
	if err := checkKeys(b); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, decodeError(b, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("scenario: trailing data after the scenario object")
	}
	s.fill()
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Load reads and parses the scenario file at path.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

//go:embed builtin/*.json
var builtins embed.FS

// Names returns the names of the built-in scenarios, sorted.
func Names() []string {
	ents, err := builtins.ReadDir("builtin")
	if err != nil {
		panic("scenario: embedded built-ins missing: " + err.Error())
	}
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

// Builtin returns a fresh copy of the built-in scenario name.
func Builtin(name string) (*Scenario, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("scenario: no built-in scenario %q (have %s)", name, strings.Join(Names(), ", "))
	}
	b, err := builtins.ReadFile(path.Join("builtin", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("built-in %s: %w", name, err)
	}
	return s, nil
}

// Total returns how long the run lasts after setup: Duration plus Drain.
func (s *Scenario) Total() time.Duration { return s.Duration.D() + s.Drain.D() }

// Has reports whether the scenario runs strategy.
func (s *Scenario) Has(strategy string) bool { return slices.Contains(s.Strategies, strategy) }

// OperatorOf returns the operator of strategy's fleet: Operator, with the
// fields Operators sets for strategy in its place.
func (s *Scenario) OperatorOf(strategy string) Operator {
	op := s.Operator
	o, ok := s.Operators[strategy]
	if !ok {
		return op
	}
	if o.CheckEvery != nil {
		op.CheckEvery = *o.CheckEvery
	}
	if o.ReactionDelay != nil {
		op.ReactionDelay = *o.ReactionDelay
	}
	if o.WatchRegistry != nil {
		op.WatchRegistry = *o.WatchRegistry
	}
	return op
}

// fill sets the defaults of absent fields.
func (s *Scenario) fill() {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	defInt := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	def(&s.Duration, DefaultDuration)
	def(&s.Drain, DefaultDrain)
	def(&s.Tick, DefaultTick)
	defInt(&s.Clients, DefaultClients)
	def(&s.MessageEvery, DefaultMessageEvery)
	defInt(&s.Bystanders, DefaultBystanders)
	def(&s.BystanderProbeEvery, DefaultBystanderProbeEvery)
	if s.Strategies == nil {
		s.Strategies = Strategies()
	}
	if s.Censor.Preset == "" {
		s.Censor.Preset = PresetRKN2018
	}
	def(&s.Censor.Hour, censor.DefaultHour)
	if w := s.Censor.Whitelist; w != nil && len(w.Allow) == 0 {
		w.Allow = nil // "allow": [] and no allow mean the same: nothing
	}
	if s.Censor.Enumeration == nil && s.Censor.Preset != PresetNone {
		// Every preset but none enumerates: make its clients explicit.
		s.Censor.Enumeration = &Enumeration{}
	}
	if e := s.Censor.Enumeration; e != nil && e.Clients == 0 {
		e.Clients = DefaultEnumClients
	}
	def(&s.Operator.CheckEvery, DefaultCheckEvery)
	def(&s.Operator.ProbeEvery, DefaultProbeEvery)
	def(&s.Operator.ReactionDelay, DefaultReactionDelay)
	defInt(&s.Operator.MovesPerMinute, DefaultMovesPerMinute)
	defInt(&s.Operator.Cohorts, DefaultCohorts)
}

// fieldError names the JSON field at fault.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("scenario: %s: %s", field, fmt.Sprintf(format, args...))
}

// durRange is a duration field and the range it must lie in.
type durRange struct {
	field  string
	d      Duration
	lo, hi time.Duration
}

func (s *Scenario) validate() error {
	if s.Name == "" {
		return fieldError("name", "required")
	}
	if len(s.Name) > maxNameLen || strings.Trim(s.Name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
		return fieldError("name", "want at most %d characters of a-z, 0-9, '-', '_', '.'", maxNameLen)
	}
	if len(s.Description) > maxDescLen {
		return fieldError("description", "longer than %d bytes", maxDescLen)
	}
	durs := []durRange{
		{"duration", s.Duration, time.Second, MaxDuration},
		{"drain", s.Drain, 0, MaxDrain},
		{"tick", s.Tick, 10 * time.Millisecond, 10 * time.Second},
		{"message_every", s.MessageEvery, 10 * time.Millisecond, MaxDuration},
		{"cold_start_at", s.ColdStartAt, 0, MaxDuration},
		{"bystander_probe_every", s.BystanderProbeEvery, 100 * time.Millisecond, MaxDuration},
		{"censor.hour", s.Censor.Hour, time.Millisecond, time.Hour},
		{"operator.check_every", s.Operator.CheckEvery, 10 * time.Millisecond, MaxDuration},
		{"operator.probe_every", s.Operator.ProbeEvery, 100 * time.Millisecond, MaxDuration},
		{"operator.reaction_delay", s.Operator.ReactionDelay, 0, MaxDuration},
	}
	for _, name := range slices.Sorted(maps.Keys(s.Operators)) {
		o := s.Operators[name]
		field := "operators." + name
		if !slices.Contains(Strategies(), name) {
			return fieldError(field, "unknown strategy (want %s)", strings.Join(Strategies(), ", "))
		}
		if strings.TrimSpace(o.Why) == "" {
			return fieldError(field+".why", "required: the fact or estimate this operator comes from")
		}
		if len(o.Why) > maxDescLen {
			return fieldError(field+".why", "longer than %d bytes", maxDescLen)
		}
		if o.CheckEvery != nil {
			durs = append(durs, durRange{field + ".check_every", *o.CheckEvery, 10 * time.Millisecond, MaxDuration})
		}
		if o.ReactionDelay != nil {
			durs = append(durs, durRange{field + ".reaction_delay", *o.ReactionDelay, 0, MaxDuration})
		}
	}
	for _, c := range durs {
		if err := inRange(c.field, c.d, c.lo, c.hi); err != nil {
			return err
		}
	}
	ints := []struct {
		field  string
		v      int
		lo, hi int
	}{
		{"clients", s.Clients, 2, MaxClients},
		{"cold_start", s.ColdStart, 0, MaxClients},
		{"bystanders", s.Bystanders, 1, MaxBystanders},
		{"bystanders_behind_cdn", s.BystandersBehindCDN, 0, s.Bystanders},
		{"operator.moves_per_minute", s.Operator.MovesPerMinute, 1, MaxMoves},
		{"operator.cohorts", s.Operator.Cohorts, 1, MaxCohorts},
	}
	for _, c := range ints {
		if c.v < c.lo || c.v > c.hi {
			return fieldError(c.field, "%d out of range [%d, %d]", c.v, c.lo, c.hi)
		}
	}
	if s.Clients%2 != 0 {
		return fieldError("clients", "%d is odd: clients are paired", s.Clients)
	}
	if s.ColdStart%2 != 0 {
		return fieldError("cold_start", "%d is odd: clients are paired", s.ColdStart)
	}
	if s.ColdStart > 0 && s.ColdStartAt >= s.Duration {
		return fieldError("cold_start_at", "%v is not before the end of duration %v", s.ColdStartAt, s.Duration)
	}
	if s.ColdStart == 0 && s.ColdStartAt != 0 {
		return fieldError("cold_start_at", "set without cold_start clients")
	}
	if s.MessageEvery > s.Duration {
		return fieldError("message_every", "%v is longer than duration %v", s.MessageEvery, s.Duration)
	}
	if len(s.Strategies) == 0 {
		return fieldError("strategies", "empty: want a subset of %s", strings.Join(Strategies(), ", "))
	}
	for i, st := range s.Strategies {
		if !slices.Contains(Strategies(), st) {
			return fieldError(fmt.Sprintf("strategies[%d]", i), "unknown strategy %q (want %s)", st, strings.Join(Strategies(), ", "))
		}
		if slices.Contains(s.Strategies[:i], st) {
			return fieldError(fmt.Sprintf("strategies[%d]", i), "%q listed twice", st)
		}
	}
	if err := s.Censor.validate(s); err != nil {
		return err
	}
	if err := s.Bridges.validate(s); err != nil {
		return err
	}
	if err := s.CDN.validate(s); err != nil {
		return err
	}
	// The censor configuration must build and be accepted by the censor.
	cfg, err := s.CensorConfig(s.Seed, nil, nil)
	if err != nil {
		return err
	}
	if _, err := censor.New(cfg); err != nil {
		return fmt.Errorf("scenario: censor: %w", err)
	}
	if b := s.Censor.BlockBuiltInAt; b != nil && s.ColdStart > 0 {
		// Every ISP must enforce the block before the cold-start clients
		// first run: the entry reaches the next published version (at most
		// RegistryInterval later) and each ISP applies it after its delay.
		var maxDelay time.Duration
		for _, isp := range cfg.ISPs {
			maxDelay = max(maxDelay, isp.Delay)
		}
		if enforced := b.D() + cfg.RegistryInterval + maxDelay; enforced > s.ColdStartAt.D() {
			return fieldError("censor.block_built_in_at", "%v: enforced at every ISP only by %v (registry interval %v, slowest ISP %v), after cold_start_at %v",
				*b, enforced, cfg.RegistryInterval, maxDelay, s.ColdStartAt)
		}
	}
	return nil
}

// validate checks the CDN's policy: fronting said, a why, and an end of
// fronting only while it fronts, inside the run.
func (c *CDN) validate(s *Scenario) error {
	if c == nil {
		return nil
	}
	if c.Fronting == nil {
		return fieldError("cdn.fronting", "required: true if the provider's edge serves fronted requests at the start, false if not")
	}
	if strings.TrimSpace(c.Why) == "" {
		return fieldError("cdn.why", "required: the fact the provider's policy comes from")
	}
	if len(c.Why) > maxDescLen {
		return fieldError("cdn.why", "longer than %d bytes", maxDescLen)
	}
	if e := c.FrontingEnds; e != nil {
		if !*c.Fronting {
			return fieldError("cdn.fronting_ends", "set while cdn.fronting is false: fronting cannot end before it starts")
		}
		if err := inRange("cdn.fronting_ends", *e, 0, s.Total()); err != nil {
			return err
		}
	}
	return nil
}

func inRange(field string, d Duration, lo, hi time.Duration) error {
	if d.D() < lo || d.D() > hi {
		return fieldError(field, "%v out of range [%v, %v]", d, lo, hi)
	}
	return nil
}

func (c *Censor) validate(s *Scenario) error {
	if !slices.Contains(Presets(), c.Preset) {
		return fieldError("censor.preset", "unknown preset %q (want %s)", c.Preset, strings.Join(Presets(), ", "))
	}
	maxLab := MaxDuration * 10
	if c.RegistryInterval != nil {
		if err := inRange("censor.registry_interval", *c.RegistryInterval, 0, maxLab); err != nil {
			return err
		}
	}
	if c.ListInviteAt != nil {
		if err := inRange("censor.list_invite_at", *c.ListInviteAt, 0, s.Duration.D()); err != nil {
			return err
		}
	}
	if c.BlockBuiltInAt != nil {
		if err := inRange("censor.block_built_in_at", *c.BlockBuiltInAt, 0, s.Duration.D()); err != nil {
			return err
		}
	}
	if len(c.ISPs) > maxISPs {
		return fieldError("censor.isps", "%d ISPs, at most %d", len(c.ISPs), maxISPs)
	}
	var sum float64
	shares := 0
	for i, isp := range c.ISPs {
		f := func(name string) string { return fmt.Sprintf("censor.isps[%d].%s", i, name) }
		if isp.Name == "" || len(isp.Name) > maxNameLen {
			return fieldError(f("name"), "required, at most %d characters", maxNameLen)
		}
		for _, o := range c.ISPs[:i] {
			if o.Name == isp.Name {
				return fieldError(f("name"), "%q listed twice", isp.Name)
			}
		}
		_, known := defaultShares[isp.Name]
		if isp.Delay != nil {
			if err := inRange(f("delay"), *isp.Delay, 0, maxLab); err != nil {
				return err
			}
		} else if !known {
			return fieldError(f("delay"), "required for ISP %q, which is not a preset ISP", isp.Name)
		}
		if isp.Compliance != nil && (math.IsNaN(*isp.Compliance) || *isp.Compliance < 0 || *isp.Compliance > 1) {
			return fieldError(f("compliance"), "%v out of range [0, 1]", *isp.Compliance)
		}
		if isp.Method != "" {
			if _, err := method(isp.Method); err != nil {
				return fieldError(f("method"), "%v", err)
			}
		} else if !known {
			return fieldError(f("method"), "required for ISP %q, which is not a preset ISP", isp.Name)
		}
		if math.IsNaN(isp.Share) || isp.Share < 0 || isp.Share > 1 {
			return fieldError(f("share"), "%v out of range [0, 1]", isp.Share)
		}
		if isp.Share > 0 {
			shares++
		}
		sum += isp.Share
	}
	if shares > 0 && math.Abs(sum-1) > 0.001 {
		return fieldError("censor.isps", "shares sum to %.4g, want 1 (or leave every share out)", sum)
	}
	if u := c.UnlistCollateral; math.IsNaN(u) || u < 0 || u > 1 {
		return fieldError("censor.unlist_collateral", "%v out of range [0 (the preset's), 1 (never)]", u)
	}
	if e := c.Escalation; e != nil {
		if e.K < 0 || e.K > 1000 {
			return fieldError("censor.escalation.k", "%d out of range [0 (the preset's), 1000]", e.K)
		}
		for i, l := range e.Levels {
			if l < 8 || l > 32 {
				return fieldError(fmt.Sprintf("censor.escalation.levels[%d]", i), "/%d out of range [/8, /32]", l)
			}
			if i > 0 && l >= e.Levels[i-1] {
				return fieldError(fmt.Sprintf("censor.escalation.levels[%d]", i), "/%d does not widen /%d", l, e.Levels[i-1])
			}
		}
		if e.MaxBlocked > 1<<32 {
			return fieldError("censor.escalation.max_blocked", "%d is more than the IPv4 space", e.MaxBlocked)
		}
	}
	if e := c.Enumeration; e != nil {
		if e.Delay != nil {
			if err := inRange("censor.enumeration.delay", *e.Delay, 0, maxLab); err != nil {
				return err
			}
		}
		if e.Clients < 0 || e.Clients > MaxEnumClient {
			return fieldError("censor.enumeration.clients", "%d out of range [0 (the default), %d]", e.Clients, MaxEnumClient)
		}
	}
	if p := c.Probing; p != nil && p.Delay != nil {
		if err := inRange("censor.probing.delay", *p.Delay, 0, maxLab); err != nil {
			return err
		}
	}
	if w := c.Whitelist; w != nil {
		if err := inRange("censor.whitelist.from", w.From, 0, s.Duration.D()); err != nil {
			return err
		}
		if len(w.Allow) > maxAllow {
			return fieldError("censor.whitelist.allow", "%d entries, at most %d", len(w.Allow), maxAllow)
		}
		for i, a := range w.Allow {
			if !slices.Contains(roles, a) && !validHost(a) {
				return fieldError(fmt.Sprintf("censor.whitelist.allow[%d]", i), "%q is neither a role (%s) nor a host name", a, strings.Join(roles, ", "))
			}
		}
	}
	return nil
}

func (b Bridges) validate(s *Scenario) error {
	if !b.On() {
		return nil
	}
	for _, f := range []struct {
		field string
		v     float64
	}{{"bridges.bridge_share", b.BridgeShare}, {"bridges.abroad_share", b.AbroadShare}, {"bridges.censor_friend_share", b.CensorFriendShare}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fieldError(f.field, "%v out of range [0, 1]", f.v)
		}
	}
	if b.BridgeShare+b.AbroadShare > 1 {
		return fieldError("bridges.abroad_share", "%v with bridge_share %v is more than every user", b.AbroadShare, b.BridgeShare)
	}
	if b.Contacts < 0 || b.Contacts > min(MaxContacts, s.Clients-2) {
		return fieldError("bridges.contacts", "%d out of range [0, %d] (other users besides the partner)", b.Contacts, min(MaxContacts, s.Clients-2))
	}
	if b.CensorFriends < 0 || b.CensorFriends > s.Clients {
		return fieldError("bridges.censor_friends", "%d out of range [0, %d] (clients)", b.CensorFriends, s.Clients)
	}
	if b.CensorFriends > 0 && b.CensorFriendShare > 0 {
		return fieldError("bridges.censor_friend_share", "set with censor_friends; give one or the other")
	}
	if b.CensorFriends > 0 && s.EnumClients() == 0 {
		return fieldError("bridges.censor_friends", "%d set, but the censor runs no enumeration accounts", b.CensorFriends)
	}
	if b.CensorFriendShare > 0 && s.EnumClients() == 0 {
		return fieldError("bridges.censor_friend_share", "%v set, but the censor runs no enumeration accounts", b.CensorFriendShare)
	}
	if !s.Has(Samizdat) {
		return fieldError("bridges", "only samizdat users run bridges, and strategies has no samizdat")
	}
	return nil
}

// validHost reports whether h is a plausible lowercase DNS name.
func validHost(h string) bool {
	if h == "" || len(h) > 253 || !strings.Contains(h, ".") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return false
		}
	}
	return true
}

func method(m string) (censor.Method, error) {
	switch m {
	case "drop":
		return censor.MethodDrop, nil
	case "reset":
		return censor.MethodReset, nil
	case "blockpage":
		return censor.MethodBlockPage, nil
	}
	return 0, fmt.Errorf("unknown method %q (want drop, reset or blockpage)", m)
}

// EnumClients returns how many enumeration clients the censor runs per
// strategy: 0 when enumeration is off.
func (s *Scenario) EnumClients() int {
	if !s.enumerationOn() {
		return 0
	}
	if e := s.Censor.Enumeration; e != nil && e.Clients > 0 {
		return e.Clients
	}
	return DefaultEnumClients
}

func (s *Scenario) enumerationOn() bool {
	if e := s.Censor.Enumeration; e != nil {
		return e.Enabled == nil || *e.Enabled
	}
	return s.Censor.Preset != PresetNone
}

// WhitelistOn reports whether the scenario turns on the whitelist regime,
// and from when.
func (s *Scenario) WhitelistOn() (from time.Duration, on bool) {
	if w := s.Censor.Whitelist; w != nil {
		return w.From.D(), true
	}
	return 0, s.Censor.Preset == PresetWhitelist
}

// CensorConfig returns the censor for this scenario with seed: the preset
// with the scenario's overrides applied. allowed and allowedNames are the
// destinations the whitelist regime leaves reachable (the runner resolves
// Whitelist.Allow into them); they are ignored when the regime is off.
// The result is a fresh value each call.
func (s *Scenario) CensorConfig(seed int64, allowed []netip.Prefix, allowedNames []string) (censor.Config, error) {
	c := s.Censor
	hour := c.Hour.D()
	var cfg censor.Config
	switch c.Preset {
	case PresetRKN2018:
		cfg = censor.RKN2018(seed, hour)
	case PresetSNIDPI, PresetWhitelist:
		cfg = censor.SNIDPI(seed, hour)
	case PresetProbing:
		cfg = censor.Probing2023(seed, hour)
	case PresetNone:
		// The 2018 ISPs (so clients spread the same way), an empty
		// registry and no mechanism that lists anything.
		cfg = censor.RKN2018(seed, hour)
		cfg.Initial = nil
		cfg.Escalation = censor.Escalation{}
		cfg.Enumeration = censor.Enumeration{}
		cfg.Relief = censor.Relief{}
	default:
		return censor.Config{}, fieldError("censor.preset", "unknown preset %q", c.Preset)
	}
	if from, on := s.WhitelistOn(); on {
		cfg.Whitelist = censor.Whitelist{Enabled: true, From: from, Prefixes: slices.Clone(allowed), Names: slices.Clone(allowedNames)}
	}
	if c.RegistryInterval != nil {
		cfg.RegistryInterval = c.RegistryInterval.D()
	}
	if len(c.ISPs) > 0 {
		preset := map[string]censor.ISP{}
		for _, isp := range cfg.ISPs {
			preset[isp.Name] = isp
		}
		var isps []censor.ISP
		for _, o := range c.ISPs {
			isp, ok := preset[o.Name]
			if !ok {
				isp = censor.ISP{Name: o.Name, Compliance: 1}
			}
			if o.Delay != nil {
				isp.Delay = o.Delay.D()
			}
			if o.Compliance != nil {
				isp.Compliance = *o.Compliance
			}
			if o.Method != "" {
				m, err := method(o.Method)
				if err != nil {
					return censor.Config{}, fieldError("censor.isps.method", "%v", err)
				}
				isp.Method = m
			}
			if o.PoisonDNS != nil {
				isp.PoisonDNS = *o.PoisonDNS
			}
			if o.DPI != nil {
				isp.DPI = *o.DPI
			}
			isps = append(isps, isp)
		}
		cfg.ISPs = isps
	}
	if e := c.Escalation; e != nil {
		cfg.Escalation.Enabled = e.Enabled == nil || *e.Enabled
		if e.K > 0 {
			cfg.Escalation.K = e.K
		}
		if len(e.Levels) > 0 {
			cfg.Escalation.Levels = slices.Clone(e.Levels)
		}
		if e.MaxBlocked > 0 {
			cfg.Escalation.MaxBlocked = e.MaxBlocked
		}
		if cfg.Escalation.Enabled && cfg.Escalation.K == 0 {
			// Turned on over a preset without escalation ("none").
			cfg.Escalation.K = 3
			if len(cfg.Escalation.Levels) == 0 {
				cfg.Escalation.Levels = []int{14, 11}
			}
		}
	}
	switch u := c.UnlistCollateral; {
	case u >= 1:
		cfg.Relief = censor.Relief{}
	case u > 0:
		cfg.Relief = censor.Relief{Enabled: true, Threshold: u}
	}
	if e := c.Enumeration; e != nil {
		cfg.Enumeration.Enabled = e.Enabled == nil || *e.Enabled
		if e.Delay != nil {
			cfg.Enumeration.Delay = e.Delay.D()
		}
	}
	if p := c.Probing; p != nil {
		cfg.Probing.Enabled = p.Enabled == nil || *p.Enabled
		if p.Delay != nil {
			cfg.Probing.Delay = p.Delay.D()
		}
	}
	return cfg, nil
}

// ISPShares returns each ISP of the scenario's censor with the fraction of
// clients on it, in the censor's ISP order; the fractions sum to 1. Preset
// ISPs without a share in the file get the defaults documented in the
// README; other ISPs without shares split the rest equally.
func (s *Scenario) ISPShares() []ISPShare {
	var names []string
	var given []float64
	if len(s.Censor.ISPs) > 0 {
		for _, isp := range s.Censor.ISPs {
			names = append(names, isp.Name)
			given = append(given, isp.Share)
		}
	} else {
		for _, isp := range censor.ISPs2018(censor.DefaultHour) {
			names = append(names, isp.Name)
			given = append(given, 0)
		}
	}
	explicit := slices.ContainsFunc(given, func(f float64) bool { return f > 0 })
	out := make([]ISPShare, len(names))
	var sum float64
	for i, n := range names {
		sh := given[i]
		if !explicit {
			sh = defaultShares[n]
			if sh == 0 {
				sh = 1
			}
		}
		out[i] = ISPShare{Name: n, Share: sh}
		sum += sh
	}
	for i := range out {
		out[i].Share /= sum
	}
	return out
}

// ClientISPs assigns n clients to ISPs by ISPShares: the counts are the
// shares rounded by largest remainder, and the order interleaves the ISPs
// (smooth weighted round robin) so that every prefix of the result is
// spread like the whole. The result depends only on the scenario and n.
func (s *Scenario) ClientISPs(n int) []string {
	if n <= 0 {
		return nil
	}
	shares := s.ISPShares()
	counts := make([]int, len(shares))
	type rem struct {
		i int
		r float64
	}
	var rems []rem
	left := n
	for i, sh := range shares {
		exact := sh.Share * float64(n)
		counts[i] = int(math.Floor(exact))
		left -= counts[i]
		rems = append(rems, rem{i, exact - float64(counts[i])})
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; k < left; k++ {
		counts[rems[k%len(rems)].i]++
	}
	out := make([]string, 0, n)
	cur := make([]int, len(shares))
	for len(out) < n {
		best := -1
		for i := range shares {
			if counts[i] == 0 {
				continue
			}
			cur[i] += counts[i]
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= n
		out = append(out, shares[best].Name)
	}
	return out
}

// decodeError turns a json error into one that names the field.
func decodeError(b []byte, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var de *durationError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return fieldError(field, "want %v, got JSON %s", te.Type, te.Value)
	case errors.As(err, &se):
		return fmt.Errorf("scenario: bad JSON at byte %d: %w", se.Offset, err)
	case errors.As(err, &de):
		return fieldError(pathOf(b, de.raw), "%v", de)
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("scenario: unknown field %s", msg)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("scenario: empty input: want a JSON object")
	}
	return fmt.Errorf("scenario: %w", err)
}
