package scenario

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("90s", "250ms", "1m30s"). A bare JSON number is rejected: a unit is
// always required, so "90" cannot be misread as nanoseconds or seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String returns d in Go duration syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &durationError{raw: string(b), msg: "want a string with a unit, like \"90s\", not " + truncate(string(b))}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &durationError{raw: string(b), msg: "bad duration " + strconv.Quote(truncate(s)) + ": want a number with a unit, like \"90s\" or \"250ms\""}
	}
	*d = Duration(v)
	return nil
}

// durationError is a Duration that did not parse; raw is its JSON text,
// from which Parse finds the field's name.
type durationError struct{ raw, msg string }

func (e *durationError) Error() string { return e.msg }

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Strategy names.
const (
	Static       = "static"
	Telegram2018 = "telegram-2018"
	Samizdat     = "samizdat"
)

// Censor preset names.
const (
	PresetRKN2018   = "rkn-2018"
	PresetSNIDPI    = "sni-dpi"
	PresetProbing   = "probing"
	PresetWhitelist = "whitelist"
	PresetNone      = "none"
)

// Scenario is one lab run: who takes part, for how long, against which
// censor. The JSON form is documented in the package comment and in
// lab/scenario/README.md. A Scenario returned by Parse, Load or Builtin has
// its defaults filled and has been validated; it must not be modified
// after it is handed to the lab.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Seed drives every seeded choice of the run (address plan, ISP
	// compliance draws, message jitter) unless the lab is given another.
	Seed int64 `json:"seed"`
	// Duration is how long clients send. Lab time is wall time; the
	// censor's Hour compresses real hours.
	Duration Duration `json:"duration"`
	// Drain follows Duration: no new sends, outboxes drain, then the run
	// ends.
	Drain Duration `json:"drain"`
	// Tick is the runner's step: censor updates, the operator, Recheck and
	// probes happen at multiples of Tick.
	Tick Duration `json:"tick"`
	// Clients is the number of clients per strategy, paired: client 2i
	// writes to 2i+1 and back. Must be even.
	Clients int `json:"clients"`
	// MessageEvery is how often each client sends its partner one message
	// (jittered ±50%, seeded).
	MessageEvery Duration `json:"message_every"`
	// ColdStart is the number of extra clients per strategy started at
	// ColdStartAt from the built-in invite only (the cold-start scenario
	// has every built-in endpoint blocked by then). Must be even.
	ColdStart   int      `json:"cold_start"`
	ColdStartAt Duration `json:"cold_start_at"`
	// Bystanders is the number of ordinary services placed in the same
	// prefixes as the fleets; BystandersBehindCDN of them live behind the
	// shared CDN edge address. They are probed every BystanderProbeEvery.
	Bystanders          int      `json:"bystanders"`
	BystandersBehindCDN int      `json:"bystanders_behind_cdn"`
	BystanderProbeEvery Duration `json:"bystander_probe_every"`
	// Strategies is a subset of "static", "telegram-2018" and "samizdat"
	// (all three by default), run side by side.
	Strategies []string `json:"strategies"`
	Censor     Censor   `json:"censor"`
	Operator   Operator `json:"operator"`
	// Operators gives a strategy an operator of its own where the
	// scenario documents one (how fast Telegram's people reacted in 2018
	// is a fact about Telegram, not about every operator): the fields set
	// replace Operator's for that strategy's fleet. See OperatorOf.
	Operators map[string]OperatorOverride `json:"operators,omitempty"`
	// Bridges are samizdat's contacts as bridges (all zero: none).
	Bridges Bridges `json:"bridges,omitzero"`
	// CDN is the shared CDN provider's policy on domain fronting (nil:
	// it fronts throughout).
	CDN *CDN `json:"cdn,omitempty"`
}

// CDN is the shared CDN provider's policy: whether its edge serves
// fronted requests (a Host its TLS name does not cover), and until when.
// Google's front ends stopped on 13 April 2018 and Amazon CloudFront
// followed that month, so a scenario of 2018 or later says which it
// models, and why.
type CDN struct {
	// Fronting: the edge serves fronted requests from the start. Required.
	Fronting *bool `json:"fronting"`
	// FrontingEnds, with Fronting true, is the lab time at which the
	// provider stops fronting: fronted requests in flight are cut and new
	// ones refused from then on.
	FrontingEnds *Duration `json:"fronting_ends,omitempty"`
	// Why is the documented fact the policy comes from (required).
	Why string `json:"why"`
}

// FrontingAt reports whether the shared CDN fronts at lab time t.
func (s *Scenario) FrontingAt(t time.Duration) bool {
	c := s.CDN
	if c == nil {
		return true
	}
	if !*c.Fronting {
		return false
	}
	return c.FrontingEnds == nil || t < c.FrontingEnds.D()
}

// Bridges says how samizdat's users carry each other past the censor:
// who can run a bridge, who has a friend abroad running one, how many
// contacts each user has, and how many users befriend each of the
// censor's own accounts. Only samizdat users take part.
type Bridges struct {
	// BridgeShare is the share of users who can run a bridge at home (a
	// desktop reachable from outside: a public address or a forwarded
	// port), [0, 1].
	BridgeShare float64 `json:"bridge_share,omitempty"`
	// AbroadShare is the share of users with a friend abroad running a
	// bridge from their bridge credential, [0, 1]; with BridgeShare at
	// most 1 (a user is one or the other).
	AbroadShare float64 `json:"abroad_share,omitempty"`
	// CensorFriends is how many users befriend each of the censor's
	// enumeration accounts: they offer it their bridges, which the censor
	// then lists.
	CensorFriends int `json:"censor_friends,omitempty"`
	// CensorFriendShare is CensorFriends as a share of the users, [0, 1]
	// (rounded to the nearest user, halves up); set one or the other.
	CensorFriendShare float64 `json:"censor_friend_share,omitempty"`
	// Contacts is how many accepted contacts each user has besides its
	// message partner (bridges are offered to them; messages still flow
	// between partners only).
	Contacts int `json:"contacts,omitempty"`
}

// On reports whether any user runs a bridge or has contacts.
func (b Bridges) On() bool { return b != Bridges{} }

// Censor chooses a censor preset and overrides parts of it. Absent
// (null) override blocks keep the preset's values.
type Censor struct {
	// Preset is "rkn-2018", "sni-dpi", "probing", "whitelist" or "none".
	Preset string `json:"preset"`
	// Hour is the lab duration of one real hour (censor.DefaultHour,
	// 250ms, by default). The preset's delays are in hours.
	Hour Duration `json:"hour"`
	// RegistryInterval overrides the time between published registry
	// versions (lab time).
	RegistryInterval *Duration `json:"registry_interval,omitempty"`
	// ISPs, if set, replace the preset's ISP list. An entry named like a
	// preset ISP starts from it and overrides only what it sets.
	ISPs        []ISP        `json:"isps,omitempty"`
	Escalation  *Escalation  `json:"escalation,omitempty"`
	Enumeration *Enumeration `json:"enumeration,omitempty"`
	Probing     *Probing     `json:"probing,omitempty"`
	Whitelist   *Whitelist   `json:"whitelist,omitempty"`
	// UnlistCollateral is the share of probed bystander services broken
	// (0–1) above which the regulator unlists the networks breaking them
	// (censor.Relief); 0 keeps the preset's, 1 never unlists.
	UnlistCollateral float64 `json:"unlist_collateral,omitempty"`
	// BlockBuiltInAt makes the censor list every built-in endpoint of every
	// strategy at this lab time (the cold-start scenario). The runner
	// lists them; the censor config does not know the addresses.
	BlockBuiltInAt *Duration `json:"block_built_in_at,omitempty"`
	// ListInviteAt makes the regulator list, at this lab time, every
	// endpoint address of each strategy's public invite: the addresses
	// every installed copy of the app starts from, which the regulator
	// knows from the app itself before it blocks anything (rkn-2018: on 16
	// April 2018 Telegram's own subnets were listed at once). The shared
	// hosts an invite names (the CDN edge of a front) are left out when
	// enumeration.spare_shared spares them. Personal invites, which only
	// their holders see, are not listed (BlockBuiltInAt lists those too).
	ListInviteAt *Duration `json:"list_invite_at,omitempty"`
}

// ISP is one operator between clients and the internet. Pointer fields
// left unset keep the preset ISP of the same name (or the documented
// default for a new name).
type ISP struct {
	Name       string    `json:"name"`
	Delay      *Duration `json:"delay,omitempty"`      // lab time after publication the ISP enforces a version
	Compliance *float64  `json:"compliance,omitempty"` // fraction of entries applied, [0, 1]
	Method     string    `json:"method,omitempty"`     // "drop", "reset" or "blockpage"
	PoisonDNS  *bool     `json:"poison_dns,omitempty"`
	DPI        *bool     `json:"dpi,omitempty"`
	// Share is the fraction of clients on this ISP. Either every share is
	// 0 (the defaults apply) or the shares sum to 1.
	Share float64 `json:"share,omitempty"`
}

// Escalation overrides the preset's widening of blocks inside a provider.
type Escalation struct {
	Enabled    *bool  `json:"enabled,omitempty"`     // default true when the block is present
	K          int    `json:"k,omitempty"`           // addresses per provider before each step; 0: preset's
	Levels     []int  `json:"levels,omitempty"`      // prefix lengths of the steps, e.g. [14, 11]; empty: preset's
	MaxBlocked uint64 `json:"max_blocked,omitempty"` // cap on listed IPv4 addresses; 0: preset's
}

// Enumeration overrides the censor's own clients, which learn endpoints
// like any user and have them listed Delay later.
type Enumeration struct {
	Enabled *bool     `json:"enabled,omitempty"` // default true when the block is present
	Delay   *Duration `json:"delay,omitempty"`   // lab time from report to listing
	Clients int       `json:"clients,omitempty"` // enumeration clients per strategy; 0: default
	// SpareShared: the enumeration clients report only a strategy's own
	// addresses and names, never the shared hosts their manifests also
	// name (the CDN edge, the front domain, the DoH resolver, the mirror
	// host), as a censor does that will not list a big shared service
	// for the collateral damage (rkn-2018: Google's own addresses, which
	// Telegram's DNS-over-HTTPS fallback used, were listed only on 22
	// April, the sixth day). Default false: a literal censor lists
	// everything its clients see.
	SpareShared bool `json:"spare_shared,omitempty"`
}

// Probing overrides active probing of suspicious endpoints.
type Probing struct {
	Enabled *bool     `json:"enabled,omitempty"` // default true when the block is present
	Delay   *Duration `json:"delay,omitempty"`   // from the suspicious flow to the probe
}

// Whitelist turns on the regime where only allowed destinations are
// reachable, from From on.
type Whitelist struct {
	From Duration `json:"from"`
	// Allow names what stays reachable: the roles "cdn", "mirror", "doh"
	// (the lab's shared infrastructure) or host names. The runner turns
	// them into the prefixes and names passed to CensorConfig.
	Allow []string `json:"allow,omitempty"`
}

// Operator is how each strategy's operator reacts to blocks.
type Operator struct {
	// CheckEvery is how often the operator looks at what is blocked:
	// the published registry (with WatchRegistry) and its vantage
	// points' latest findings.
	CheckEvery Duration `json:"check_every"`
	// ProbeEvery is how often the operator's vantage points (one
	// subscriber of each ISP, and one outside the country as the control)
	// probe every live endpoint and mirror through the censored network;
	// a round's findings reach the operator when the next round starts.
	ProbeEvery Duration `json:"probe_every"`
	// ReactionDelay is how long a block must have been visible before the
	// operator acts on it (people, not software, decide).
	ReactionDelay Duration `json:"reaction_delay"`
	// MovesPerMinute is the budget of new addresses per strategy per
	// minute of lab time.
	MovesPerMinute int `json:"moves_per_minute"`
	// Cohorts is the number of client cohorts (samizdat only).
	Cohorts int `json:"cohorts"`
	// WatchRegistry makes the operator treat an endpoint as blocked as
	// soon as the censor's published registry lists it, before the ISPs
	// enforce it, so a move reaches connected clients before they are
	// cut. Russia's registry leaked to a public mirror within hours in
	// 2018 (labdata's zi-history is that mirror); operators read it.
	WatchRegistry bool `json:"watch_registry"`
	// Standby (samizdat only) keeps one standby endpoint and one standby
	// mirror per cohort, each in another provider than the cohort's own,
	// listed in the cohort's manifests before anything needs them and
	// paid from MovesPerMinute like moves. A blocked endpoint's cohort
	// standby is promoted in its place (clients already know it) and a
	// new standby is drawn.
	Standby bool `json:"standby,omitempty"`
}

// FriendsPerAccount is how many of n users befriend each of the
// censor's accounts: CensorFriends, or CensorFriendShare of n.
func (b Bridges) FriendsPerAccount(n int) int {
	if b.CensorFriendShare > 0 {
		return int(math.Floor(b.CensorFriendShare*float64(n) + 0.5))
	}
	return b.CensorFriends
}

// OperatorOverride is one strategy's own operator: each field set
// replaces the scenario's Operator field of the same name.
type OperatorOverride struct {
	CheckEvery    *Duration `json:"check_every,omitempty"`
	ReactionDelay *Duration `json:"reaction_delay,omitempty"`
	WatchRegistry *bool     `json:"watch_registry,omitempty"`
	// Why is the documented fact or estimate the values come from
	// (required: a strategy's own operator is a claim about it).
	Why string `json:"why"`
}

// ISPShare is an ISP and the fraction of clients on it.
type ISPShare struct {
	Name  string
	Share float64
}
