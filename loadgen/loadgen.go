package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"samizdat/lab/report"
	"samizdat/relay"
)

// Scenario names, in the order Run runs them.
const (
	ScenarioBaseline   = "baseline"
	ScenarioIdle       = "idle"
	ScenarioThroughput = "throughput"
	ScenarioFanout     = "fanout"
	ScenarioChannel    = "channel"
	ScenarioGroup      = "group"
	ScenarioDrain      = "drain"
	ScenarioPreKeys    = "prekeys"
	ScenarioFlood      = "flood"
	ScenarioSiege      = "siege"
)

// Scenarios lists every scenario name in run order.
func Scenarios() []string {
	return []string{ScenarioBaseline, ScenarioIdle, ScenarioThroughput, ScenarioFanout, ScenarioChannel, ScenarioGroup, ScenarioDrain, ScenarioPreKeys, ScenarioFlood, ScenarioSiege}
}

// Sizes sets how big each scenario is.
type Sizes struct {
	Name string `json:"name"`

	BaselineFor time.Duration `json:"baseline_for_ns"` // each baseline measurement runs this long

	IdleConns   int           `json:"idle_conns"`     // idle connections wanted (fewer if a limit is reached first)
	IdleSources int           `json:"idle_sources"`   // 127.x.y.z source addresses the idle clients spread over
	IdleDests   int           `json:"idle_dests"`     // 127.x.y.z addresses the relay listens on
	IdlePing    time.Duration `json:"idle_ping_ns"`   // each idle connection pings this often (under the relay's read timeout)
	IdleWindow  time.Duration `json:"idle_window_ns"` // CPU is measured over this long once every connection is up

	Pairs         int           `json:"pairs"`             // throughput: sender→receiver pairs
	Window        int           `json:"window"`            // throughput: sends in flight per sender at full load
	ThroughputFor time.Duration `json:"throughput_for_ns"` // each throughput phase runs this long
	Probes        int           `json:"probes"`            // throughput: bisection steps for the highest rate with p99 < 50 ms

	FanoutDevices int `json:"fanout_devices"` // group members (one device each)
	FanoutRounds  int `json:"fanout_rounds"`  // messages sent to the whole group, one after another

	ChannelSubscribers int `json:"channel_subscribers"` // anonymous connections subscribed to one broadcast channel
	ChannelRounds      int `json:"channel_rounds"`      // posts read by all of them, one after another (and as many for the baseline)

	GroupMembers int `json:"group_members"` // group: wire-level members of a real client's group besides it and one client member (at most group.MaxMembers-2)
	GroupRounds  int `json:"group_rounds"`  // group: texts the client sends to the group, one after another

	DrainMessages int `json:"drain_messages"` // backlog queued to one offline device

	Fetchers      int `json:"fetchers"`       // concurrent prekey fetchers
	PreKeyFetches int `json:"prekey_fetches"` // bundles fetched in all (each takes one one-time key of each kind)

	ChatPairs   int           `json:"chat_pairs"`   // flood: pairs chatting beside the flood
	ChatRate    float64       `json:"chat_rate"`    // flood: messages per second each chatting sender sends
	FloodFor    time.Duration `json:"flood_for_ns"` // flood: each phase (without, with) runs this long
	FloodWindow int           `json:"flood_window"` // flood: the flooder's sends in flight

	// siege: the flood's chats beside floods a censor's accounts can
	// mount (see runner.siege), each phase (without, with) SiegeFor long
	// in all, in SiegeWindows windows of each, alternating.
	SiegeFor          time.Duration `json:"siege_for_ns"`
	SiegeWindows      int           `json:"siege_windows"`
	SiegeSilent       int           `json:"siege_silent"`        // silent connections opened at once
	SiegeSilentRate   float64       `json:"siege_silent_rate"`   // and new ones per second
	SiegeTokenRate    float64       `json:"siege_token_rate"`    // wss upgrades with forged or replayed tokens per second
	SiegeStrangerRate float64       `json:"siege_stranger_rate"` // strangers' messages per second
	ReconnectRate     float64       `json:"reconnect_rate"`      // honest wss reconnects per second
}

// Small is quick: seconds, for tests and a first look.
func Small() Sizes {
	return Sizes{Name: "small", BaselineFor: 500 * time.Millisecond,
		IdleConns: 200, IdleSources: 4, IdleDests: 2, IdlePing: 20 * time.Second, IdleWindow: time.Second,
		Pairs: 8, Window: 16, ThroughputFor: time.Second, Probes: 1,
		FanoutDevices: 100, FanoutRounds: 3,
		ChannelSubscribers: 500, ChannelRounds: 3,
		GroupMembers: 100, GroupRounds: 3,
		DrainMessages: 1000,
		Fetchers:      64, PreKeyFetches: 1000,
		ChatPairs: 8, ChatRate: 10, FloodFor: time.Second, FloodWindow: 64,
		SiegeFor: 5 * time.Second, SiegeWindows: 2, SiegeSilent: 1000, SiegeSilentRate: 30, SiegeTokenRate: 100, SiegeStrangerRate: 50, ReconnectRate: 5}
}

// Full is the size of the design targets (design.md §8).
func Full() Sizes {
	return Sizes{Name: "full", BaselineFor: 5 * time.Second,
		IdleConns: 100000, IdleSources: 32, IdleDests: 4, IdlePing: 30 * time.Second, IdleWindow: 10 * time.Second,
		Pairs: 64, Window: 32, ThroughputFor: 10 * time.Second, Probes: 3,
		FanoutDevices: 1000, FanoutRounds: 10,
		ChannelSubscribers: 5000, ChannelRounds: 10,
		GroupMembers: 998, GroupRounds: 10,
		DrainMessages: 10000,
		Fetchers:      64, PreKeyFetches: 20000,
		ChatPairs: 32, ChatRate: 10, FloodFor: 10 * time.Second, FloodWindow: 256,
		SiegeFor: 40 * time.Second, SiegeWindows: 8, SiegeSilent: 3000, SiegeSilentRate: 100, SiegeTokenRate: 300, SiegeStrangerRate: 100, ReconnectRate: 5}
}

// Tiny is the CI size: every scenario in a few seconds.
func Tiny() Sizes {
	return Sizes{Name: "tiny", BaselineFor: 200 * time.Millisecond,
		IdleConns: 40, IdleSources: 3, IdleDests: 2, IdlePing: 20 * time.Second, IdleWindow: 300 * time.Millisecond,
		Pairs: 3, Window: 8, ThroughputFor: 400 * time.Millisecond, Probes: 1,
		FanoutDevices: 20, FanoutRounds: 2,
		ChannelSubscribers: 20, ChannelRounds: 2,
		GroupMembers: 5, GroupRounds: 2,
		DrainMessages: 300,
		Fetchers:      64, PreKeyFetches: 256,
		ChatPairs: 3, ChatRate: 20, FloodFor: 400 * time.Millisecond, FloodWindow: 32,
		SiegeFor: 600 * time.Millisecond, SiegeWindows: 2, SiegeSilent: 100, SiegeSilentRate: 20, SiegeTokenRate: 40, SiegeStrangerRate: 20, ReconnectRate: 10}
}

// SizesByName returns Tiny, Small or Full.
func SizesByName(name string) (Sizes, error) {
	switch name {
	case "tiny":
		return Tiny(), nil
	case "small":
		return Small(), nil
	case "full":
		return Full(), nil
	}
	return Sizes{}, fmt.Errorf("loadgen: unknown scale %q (tiny, small or full)", name)
}

// OpenStore opens a fresh, empty store for one scenario (name says which,
// so a file-backed store can use a file of its own). The caller closes it.
type OpenStore func(ctx context.Context, name string) (relay.Store, error)

// Config configures Run.
type Config struct {
	// Store opens a fresh store per scenario. Required.
	Store OpenStore
	// StoreKind names the store in the report ("sqlite", "postgres").
	StoreKind string
	// Sizes sets how big the scenarios are.
	Sizes Sizes
	// Scenarios to run; empty means all. Unknown names are an error.
	Scenarios []string
	// IdleCommand returns a command that runs RunIdleClients (reading its
	// spec from stdin, reporting on stdout). nil means this executable with
	// the arguments "bench --idle-clients".
	IdleCommand func() *exec.Cmd
	// RelayCommand returns a command that runs RunRelayProcess (reading
	// its spec from stdin, reporting on stdout), for the scenarios that
	// run the relay in a process of its own (throughput, fanout). nil
	// means this executable with the arguments "bench --relay-process".
	RelayCommand func() *exec.Cmd
	// RelayCPUProfile, if set, has each relay process write a CPU profile
	// of its life to this path with ".SCENARIO" appended.
	RelayCPUProfile string
	// IdleHeapProfile, if not nil, receives a heap profile (pprof) of the
	// relay process with every idle connection up: what a connection costs.
	IdleHeapProfile io.Writer
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
	// Logger receives the relay's logs; nil discards them.
	Logger *slog.Logger
}

// Metric is one measured figure.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"` // every figure has one: "msg/s", "ms", "KiB", "conns", ...
}

// Target is a design target (design.md §8) for one of a scenario's
// figures, and whether the run met it. The targets are set for the full
// size (Full); a target whose figure depends on the size (connections
// held, load offered, group size) is judged only when the run was at least
// that big, and otherwise recorded with Judged false: "full scale only".
type Target struct {
	Name   string  `json:"name"`
	Metric string  `json:"metric"` // the figure judged (a Metric's Name)
	Op     string  `json:"op"`     // how Got compares with Want: ">=", "<=", "<" or "="
	Want   float64 `json:"want"`   // in Unit
	Got    float64 `json:"got"`
	Unit   string  `json:"unit"`
	Judged bool    `json:"judged"` // false: the run was smaller than the target's size
	Met    bool    `json:"met"`    // judged and met
}

// Verdict is "met", "NOT MET" or, for a target not judged at this size,
// "full scale only".
func (t Target) Verdict() string {
	switch {
	case !t.Judged:
		return "full scale only"
	case t.Met:
		return "met"
	}
	return "NOT MET"
}

// Check is an invariant of a scenario (counts that must add up), the same
// record the censor lab's report uses.
type Check = report.Check

// Result is one scenario's outcome.
type Result struct {
	Scenario string   `json:"scenario"`
	Store    string   `json:"store"`
	Metrics  []Metric `json:"metrics"`
	// Baseline is the same operation done directly on the store (for
	// fan-out: the old way, one send per member; for flood: the chatters'
	// p99 without the flood), and Ratio the relay's first figure divided
	// by it (Metrics[0] / Baseline.Value, in the same unit), 0 when the
	// baseline is 0.
	Baseline *Metric  `json:"baseline,omitempty"`
	Ratio    float64  `json:"ratio,omitempty"`
	Targets  []Target `json:"targets"`
	Checks   []Check  `json:"checks"`
	Limit    string   `json:"limit,omitempty"` // what stopped the scenario from going further, if anything
	Notes    []string `json:"notes,omitempty"`
	Error    string   `json:"error,omitempty"`
	Seconds  float64  `json:"seconds"`

	noSamples []string // figures recorded as 0 because they had no samples
}

// Metric returns the named metric's value and whether it exists.
func (r *Result) Metric(name string) (float64, bool) {
	m, ok := r.metric(name)
	return m.Value, ok
}

func (r *Result) metric(name string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// OK reports whether the scenario ran and every check passed.
func (r *Result) OK() bool {
	if r.Error != "" {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// add records a figure. NaN (no samples) is recorded as 0 with a note,
// since JSON has no NaN.
func (r *Result) add(name string, v float64, unit string) {
	if math.IsNaN(v) {
		r.Notes = append(r.Notes, name+": no samples")
		r.noSamples = append(r.noSamples, name)
		v = 0
	}
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: v, Unit: unit})
}

func (r *Result) check(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// Comparisons a target makes.
const (
	atLeast = ">="
	atMost  = "<="
	below   = "<"
	exactly = "="
)

// target records a design target on the figure named metric (added
// before): got op want, in the figure's unit. atSize says whether this run
// was as big as the size the target was set for; if not, the target is
// recorded but not judged.
func (r *Result) target(name, metric, op string, want float64, atSize bool) {
	m, ok := r.metric(metric)
	if !ok {
		panic("loadgen: target " + name + " on a figure not recorded: " + metric)
	}
	got := m.Value
	var met bool
	switch op {
	case atLeast:
		met = got >= want
	case atMost:
		met = got <= want
	case below:
		met = got < want
	case exactly:
		met = got == want
	default:
		panic("loadgen: unknown comparison " + op)
	}
	met = met && !slices.Contains(r.noSamples, metric) // no samples meet no target
	r.Targets = append(r.Targets, Target{Name: name, Metric: metric, Op: op, Want: want,
		Got: got, Unit: m.Unit, Judged: atSize, Met: atSize && met})
}

// zeroNaN is v, or 0 for NaN (JSON has no NaN).
func zeroNaN(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

func (r *Result) ratioTo(base Metric) {
	base.Value = zeroNaN(base.Value)
	r.Baseline = &base
	if base.Value > 0 && len(r.Metrics) > 0 {
		r.Ratio = r.Metrics[0].Value / base.Value
	}
}

// Report is the outcome of Run.
type Report struct {
	Store     string    `json:"store"`
	Scale     string    `json:"scale"`
	Sizes     Sizes     `json:"sizes"`
	Started   time.Time `json:"started"`
	GoVersion string    `json:"go_version"`
	CPUs      int       `json:"cpus"`
	Results   []Result  `json:"results"`
}

// OK reports whether every scenario ran and passed its checks.
func (r *Report) OK() bool {
	for i := range r.Results {
		if !r.Results[i].OK() {
			return false
		}
	}
	return true
}

// JSON is the report, indented.
func (r *Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Run runs the chosen scenarios one after another, each on a fresh store
// and a fresh relay, and returns their results. A scenario that fails
// records its error and the others still run; Run returns an error only
// for a bad configuration or when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Store == nil {
		return nil, errors.New("loadgen: config has no store")
	}
	want := cfg.Scenarios
	if len(want) == 0 {
		want = Scenarios()
	}
	for _, s := range want {
		if !slices.Contains(Scenarios(), s) {
			return nil, fmt.Errorf("loadgen: unknown scenario %q (have %s)", s, strings.Join(Scenarios(), ", "))
		}
	}
	// The throughput ratio needs the baseline from the same run.
	if slices.Contains(want, ScenarioThroughput) && !slices.Contains(want, ScenarioBaseline) {
		want = append([]string{ScenarioBaseline}, want...)
	}
	r := &runner{cfg: cfg, sz: cfg.Sizes, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	rep := &Report{Store: cfg.StoreKind, Scale: cfg.Sizes.Name, Sizes: cfg.Sizes, Started: time.Now().UTC(),
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	for _, name := range Scenarios() {
		if !slices.Contains(want, name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		r.progress("%s: starting", name)
		start := time.Now()
		res := Result{Scenario: name, Store: cfg.StoreKind}
		var err error
		switch name {
		case ScenarioBaseline:
			err = r.baseline(ctx, &res)
		case ScenarioIdle:
			err = r.idle(ctx, &res)
		case ScenarioThroughput:
			err = r.throughput(ctx, &res)
		case ScenarioFanout:
			err = r.fanout(ctx, &res)
		case ScenarioChannel:
			err = r.channel(ctx, &res)
		case ScenarioGroup:
			err = r.group(ctx, &res)
		case ScenarioDrain:
			err = r.drain(ctx, &res)
		case ScenarioPreKeys:
			err = r.preKeys(ctx, &res)
		case ScenarioFlood:
			err = r.flood(ctx, &res)
		case ScenarioSiege:
			err = r.siege(ctx, &res)
		}
		if err != nil {
			res.Error = err.Error()
		}
		res.Seconds = time.Since(start).Seconds()
		rep.Results = append(rep.Results, res)
		r.progress("%s: done in %.1fs", name, res.Seconds)
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// runner carries what scenarios share.
type runner struct {
	cfg  Config
	sz   Sizes
	log  *slog.Logger
	base *Metric // the store's best raw append rate, once the baseline ran
}

func (r *runner) progress(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", args...)
	}
}
