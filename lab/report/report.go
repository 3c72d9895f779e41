// Package report holds the censor lab's results: the types that are the
// report.json schema, the percentile method every figure uses, and the
// renderer that turns a report into a self-contained index.html page.
//
// The JSON keys are snake_case and come from the struct tags below; maps are
// written with sorted keys, so the same report always gives the same bytes.
// JSON cannot hold NaN or infinities: such a figure is written as 0 and the
// written report gains a failed "figures are finite" invariant.
//
// Percentiles are nearest-rank (see Percentile): always one of the samples,
// never interpolated.
//
// The page (HTML) has inline CSS and inline SVG drawn here; it has no
// scripts and fetches nothing. Every string from the report is escaped
// (html/template for the page, the same escaping for SVG text), so a
// hostile scenario or strategy name is shown, not run. It shows: a headline
// table per strategy with design targets marked met or not; the fraction of
// clients connected over time with the censor's and operators' moves
// underneath; the recovery-time distribution (Strategy.ReconnectMS) against
// the reconnect targets; collateral damage over time and availability
// against it; addresses blocked; the notes on where samizdat loses; the
// clients still cut off at the end and what stood in their way; the
// invariants; and the event log.
package report

import "fmt"

// Report is one lab run: what each strategy achieved, what the censor did
// and broke, the timeline, and the run's own checks. It is the report.json
// schema.
type Report struct {
	Scenario   string              `json:"scenario"`
	Seed       int64               `json:"seed"`
	DurationMS int64               `json:"duration_ms"`
	Strategies map[string]Strategy `json:"strategies"` // by strategy name
	Censor     Censor              `json:"censor"`
	CDN        *CDN                `json:"cdn,omitempty"` // the shared CDN edge's fronted requests
	Timeline   []Sample            `json:"timeline"`      // one sample per second of lab time
	Events     []Event             `json:"events"`        // censor moves and operator moves, by time
	Targets    []Target            `json:"targets"`       // each design target: measured, met or not
	Invariants []Check             `json:"invariants"`    // the run's consistency checks
	Notes      []string            `json:"notes"`         // where the lab says samizdat loses, in words
	// Seeds and Intervals are set when the report combines several seeds
	// (Aggregate): the seeds, and for every figure, by its path in
	// report.json, each seed's value, the mean (the figure above) and
	// its 95% interval.
	Seeds     []int64             `json:"seeds,omitempty"`
	Intervals map[string]Interval `json:"intervals,omitempty"`
}

// Strategy is one strategy's figures over the whole run. Times are in
// milliseconds; percentiles follow Percentile.
type Strategy struct {
	Sent           int     `json:"sent"`
	Delivered      int     `json:"delivered"`
	DeliveryRatio  float64 `json:"delivery_ratio"` // Delivered / Sent, 0 when nothing was sent
	LatencyP50MS   float64 `json:"latency_p50_ms"` // send → deliver, delivered messages only
	LatencyP99MS   float64 `json:"latency_p99_ms"`
	ReconnectP50MS float64 `json:"reconnect_p50_ms"` // connection lost → next connection; unrecovered count with the rest of the run
	ReconnectP99MS float64 `json:"reconnect_p99_ms"`
	Reconnects     int     `json:"reconnects"`  // completed reconnections
	Unrecovered    int     `json:"unrecovered"` // clients still without a connection at the end
	// ReconnectsViaBridge counts the completed reconnects that came back
	// through a contact's bridge rather than a direct endpoint
	// (RecoveredBy["bridge"], kept as its own key for readers); Bridges
	// is how many bridges the strategy's users ran (at home or abroad).
	ReconnectsViaBridge int `json:"reconnects_via_bridge,omitempty"`
	Bridges             int `json:"bridges,omitempty"`
	// RecoveredBy counts the completed reconnects by the way back: the
	// path the client came back on ("bridge", "same_endpoint", or the
	// transport of another endpoint, "standby_wss" for a standby's) and,
	// for another endpoint, what the client got during the outage
	// ("_after_channel_refresh": one of its channels answered;
	// "_after_contact_manifest": a contact handed a newer one on). The
	// counts add up to Reconnects.
	RecoveredBy map[string]int `json:"recovered_by,omitempty"`
	// ReconnectMS is the raw distribution of completed reconnects (not
	// the unrecovered outages, which Unrecovered counts), for the recovery
	// chart. Optional: without it the page shows the percentiles only.
	ReconnectMS     []float64 `json:"reconnect_ms,omitempty"`
	ColdStartMS     *float64  `json:"cold_start_ms,omitempty"` // median over cold-start clients; absent without cold start
	ColdStartFailed int       `json:"cold_start_failed"`       // cold-start clients that never delivered a message
	Clients         int       `json:"clients"`
	Moves           int       `json:"moves"`        // operator moves (endpoints retired and replaced)
	Availability    float64   `json:"availability"` // mean fraction of clients connected while sending
	// Stranded lists the clients still cut off at the end (Unrecovered of
	// them, or fewer when some never connected at all) and what stood in
	// their way.
	Stranded []Stranded `json:"stranded,omitempty"`
	// Cohorts gives the figures per cohort, for a strategy with cohorts.
	Cohorts []Cohort `json:"cohorts,omitempty"`
	// ISPs gives the figures per ISP the clients subscribe to.
	ISPs []ISP `json:"isps,omitempty"`
}

// Group is what one group of a strategy's clients went through: the
// messages written to them and how many they received, how much of the
// sending time they were connected, and how many of them were cut off at
// the end.
type Group struct {
	Clients       int     `json:"clients"`
	Sent          int     `json:"sent"` // messages written to its members (stored by the sender's app)
	Delivered     int     `json:"delivered"`
	DeliveryRatio float64 `json:"delivery_ratio"`
	Unrecovered   int     `json:"unrecovered"`
	// Availability is the fraction of the members' samples while sending
	// (one a tick for each member that had started) in which the member
	// was connected.
	Availability float64 `json:"availability"`
}

// Add adds o's counts to g's (the ratios are left alone).
func (g *Group) Add(o Group) {
	g.Clients += o.Clients
	g.Sent += o.Sent
	g.Delivered += o.Delivered
	g.Unrecovered += o.Unrecovered
}

// Cohort is one cohort's figures. Joined: the censor's own accounts sit
// in it.
type Cohort struct {
	Cohort uint32 `json:"cohort"`
	Joined bool   `json:"joined,omitempty"`
	Group
}

// ISP is the figures of the clients of one ISP: ISPs apply the registry
// at their own pace, so their subscribers fare differently.
type ISP struct {
	ISP string `json:"isp"`
	Group
}

// Stranded is one client still cut off when the run ended, and why, as
// far as the lab can tell: how its outage began, what its last attempts
// ran into, and what stood, at the end, between it and each path it knew.
type Stranded struct {
	Client string `json:"client"`
	ISP    string `json:"isp"`
	Cohort uint32 `json:"cohort,omitempty"`
	// CohortJoined: the censor's own accounts sit in its cohort, so
	// every address its manifests list reaches the registry.
	CohortJoined    bool   `json:"cohort_joined,omitempty"`
	DownAtMS        int64  `json:"down_at_ms"` // lab time its outage began
	DownBy          string `json:"down_by"`    // what began it: the censor's cut, or a disconnect
	LastFailure     string `json:"last_failure,omitempty"`
	Refreshes       int    `json:"refreshes"`        // times it asked its channels for a newer manifest
	RefreshesFailed int    `json:"refreshes_failed"` // of them, how many got nothing
	// BridgeOffers is how many of its contacts' bridges it held an
	// unexpired offer of at the end (absent: none).
	BridgeOffers int `json:"bridge_offers,omitempty"`
	// Paths counts the endpoints and channels of the manifest it held at
	// the end, and the bridges it held offers of, by what stood in their
	// way, sorted.
	Paths []Paths `json:"paths"`
}

// Paths is how many of a stranded client's endpoints or channels of one
// kind were in one state at the end: "retired" (the operator moved it
// away), "listed" (a registry entry its ISP enforced; ListedBy says who
// asked: regulator, enumeration, escalation, probe), "owner cut off" (a
// bridge at home whose owner's own client had no direct connection to the
// relay to forward over: cut off, or itself connected through a bridge),
// "unfronted" (a front the CDN provider refused: it had ended domain
// fronting) or "open" (none of these: a DPI rule, or nothing the lab knows of).
type Paths struct {
	Kind     string `json:"kind"` // an endpoint's transport ("tcp", "wss", "front"), a channel's kind and "channel" ("doh channel"), or "bridge"
	State    string `json:"state"`
	ListedBy string `json:"listed_by,omitempty"`
	Count    int    `json:"count"`
}

// String is the group in words: "tcp listed (enumeration) 2".
func (p Paths) String() string {
	s := p.Kind + " " + p.State
	if p.ListedBy != "" {
		s += " (" + p.ListedBy + ")"
	}
	return fmt.Sprintf("%s %d", s, p.Count)
}

// Censor is what the censor did and what it broke on the side.
type Censor struct {
	BlockedAddresses    uint64         `json:"blocked_addresses"`
	BlockedPrefixes     int            `json:"blocked_prefixes"`
	Bystanders          int            `json:"bystanders"`
	BystandersBroken    int            `json:"bystanders_broken"` // at the end of the run
	CollateralRatio     float64        `json:"collateral_ratio"`  // BystandersBroken / Bystanders
	MaxBystandersBroken int            `json:"max_bystanders_broken"`
	ByISP               map[string]int `json:"by_isp"`  // bystanders broken, per ISP
	Entries             int            `json:"entries"` // registry entries
}

// Sample is the state of the world at one moment of lab time.
type Sample struct {
	TMS              int64              `json:"t_ms"`
	Connected        map[string]float64 `json:"connected"` // fraction of clients connected, per strategy
	Delivered        map[string]int     `json:"delivered"` // messages delivered so far, per strategy
	BlockedAddresses uint64             `json:"blocked_addresses"`
	BystandersBroken int                `json:"bystanders_broken"`
}

// CDN is what the shared CDN edge did with fronted requests (a Host its
// TLS name does not cover): served while its provider fronted, refused
// once it had stopped (scenario cdn). Counted over the whole run, setup
// included.
type CDN struct {
	FrontedServed  int `json:"fronted_served"`
	FrontedRefused int `json:"fronted_refused"`
}

// Event is one move of the censor, of a strategy's operator or of the
// shared CDN's provider.
type Event struct {
	TMS    int64  `json:"t_ms"`
	Who    string `json:"who"`  // "censor", a strategy name or "cdn"
	What   string `json:"what"` // censor: "list", "unlist", "escalate", "enumerate", "probe"; operator: "move"; cdn: "fronting ends"
	Detail string `json:"detail"`
}

// Target is a design target, what was measured and whether it was met.
type Target struct {
	Name     string  `json:"name"`
	Strategy string  `json:"strategy"`
	Want     string  `json:"want"` // in words, e.g. "≤ 2s"
	Got      float64 `json:"got"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
}

// Check is one of the run's invariants.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}
