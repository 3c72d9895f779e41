package scenario

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"samizdat/censor"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "empty input"},
		{"not an object", `[1]`, "want scenario.Scenario"},
		{"syntax", `{"name": "x",}`, "bad JSON at byte"},
		{"trailing", `{"name":"x"} {}`, "trailing data"},
		{"unknown field", `{"name":"x","clientz":4}`, `scenario: clientz: unknown field`},
		{"unknown nested field", `{"name":"x","censor":{"preset":"rkn-2018","hourz":"1s"}}`, `scenario: censor.hourz: unknown field`},
		{"duplicate key", `{"name":"x","clients":4,"clients":6}`, `scenario: clients: given twice`},
		{"duplicate nested key", `{"name":"x","operator":{"cohorts":2,"cohorts":3}}`, `scenario: operator.cohorts: given twice`},
		{"unknown field in a list", `{"name":"x","censor":{"isps":[{"name":"small"},{"name":"national","dealy":"1s"}]}}`, "scenario: censor.isps[1].dealy: unknown field"},
		{"field valid elsewhere only", `{"name":"x","delay":"1s"}`, "scenario: delay: unknown field"},
		{"unknown field in a pointer block", `{"name":"x","censor":{"whitelist":{"from":"1s","allowed":["cdn"]}}}`, "scenario: censor.whitelist.allowed: unknown field"},
		{"duplicate in a list", `{"name":"x","censor":{"isps":[{"name":"small","name":"national"}]}}`, "scenario: censor.isps[0].name: given twice"},
		{"field in the wrong case", `{"name":"x","Clients":4}`, "scenario: Clients: unknown field"},
		{"no name", `{}`, "name: required"},
		{"bad name", `{"name":"Rkn 2018"}`, "name: want at most"},
		{"wrong type", `{"name":"x","clients":"70"}`, "clients: want int"},
		{"wrong nested type", `{"name":"x","censor":{"isps":[{"name":"small","share":"half"}]}}`, "censor.isps.share: want float64"},
		{"duration without unit", `{"name":"x","duration":90}`, "duration: want a string with a unit"},
		{"bad duration", `{"name":"x","drain":"ten seconds"}`, `drain: bad duration "ten seconds"`},
		{"bad nested duration", `{"name":"x","censor":{"isps":[{"name":"small"},{"name":"national","delay":"5 h"}]}}`, "censor.isps[1].delay: bad duration"},
		{"bad pointer duration", `{"name":"x","censor":{"enumeration":{"delay":"-"}}}`, "censor.enumeration.delay: bad duration"},
		{"negative duration", `{"name":"x","duration":"-5s"}`, "duration: -5s out of range"},
		{"absurd duration", `{"name":"x","duration":"48h"}`, "duration: 48h0m0s out of range"},
		{"tick too short", `{"name":"x","tick":"1ms"}`, "tick: 1ms out of range"},
		{"negative clients", `{"name":"x","clients":-2}`, "clients: -2 out of range"},
		{"absurd clients", `{"name":"x","clients":1000000}`, "clients: 1000000 out of range"},
		{"odd clients", `{"name":"x","clients":7}`, "clients: 7 is odd"},
		{"odd cold start", `{"name":"x","cold_start":3,"cold_start_at":"5s"}`, "cold_start: 3 is odd"},
		{"cold start after the end", `{"name":"x","duration":"30s","cold_start":2,"cold_start_at":"30s"}`, "cold_start_at: 30s is not before"},
		{"cold start time alone", `{"name":"x","cold_start_at":"5s"}`, "cold_start_at: set without cold_start"},
		{"negative bystanders", `{"name":"x","bystanders":-1}`, "bystanders: -1 out of range"},
		{"cdn bystanders above total", `{"name":"x","bystanders":10,"bystanders_behind_cdn":11}`, "bystanders_behind_cdn: 11 out of range [0, 10]"},
		{"message every above duration", `{"name":"x","duration":"10s","message_every":"11s"}`, "message_every: 11s is longer"},
		{"no strategies", `{"name":"x","strategies":[]}`, "strategies: empty"},
		{"unknown strategy", `{"name":"x","strategies":["static","tor"]}`, `strategies[1]: unknown strategy "tor"`},
		{"strategy twice", `{"name":"x","strategies":["samizdat","samizdat"]}`, `strategies[1]: "samizdat" listed twice`},
		{"unknown preset", `{"name":"x","censor":{"preset":"gfw"}}`, `censor.preset: unknown preset "gfw"`},
		{"hour zero after default is fine but negative is not", `{"name":"x","censor":{"hour":"-1s"}}`, "censor.hour: -1s out of range"},
		{"negative registry interval", `{"name":"x","censor":{"registry_interval":"-1s"}}`, "censor.registry_interval: -1s out of range"},
		{"isp without name", `{"name":"x","censor":{"isps":[{"delay":"1s","method":"drop"}]}}`, "censor.isps[0].name: required"},
		{"isp twice", `{"name":"x","censor":{"isps":[{"name":"small"},{"name":"small"}]}}`, `censor.isps[1].name: "small" listed twice`},
		{"new isp without delay", `{"name":"x","censor":{"isps":[{"name":"mts","method":"drop"}]}}`, "censor.isps[0].delay: required"},
		{"new isp without method", `{"name":"x","censor":{"isps":[{"name":"mts","delay":"1s"}]}}`, "censor.isps[0].method: required"},
		{"bad method", `{"name":"x","censor":{"isps":[{"name":"small","method":"tarpit"}]}}`, `censor.isps[0].method: unknown method "tarpit"`},
		{"compliance above 1", `{"name":"x","censor":{"isps":[{"name":"small","compliance":1.5}]}}`, "censor.isps[0].compliance: 1.5 out of range"},
		{"negative compliance", `{"name":"x","censor":{"isps":[{"name":"small","compliance":-0.1}]}}`, "censor.isps[0].compliance: -0.1 out of range"},
		{"negative isp delay", `{"name":"x","censor":{"isps":[{"name":"small","delay":"-1h"}]}}`, "censor.isps[0].delay: -1h0m0s out of range"},
		{"negative share", `{"name":"x","censor":{"isps":[{"name":"small","share":-0.5}]}}`, "censor.isps[0].share: -0.5 out of range"},
		{"shares not summing to 1", `{"name":"x","censor":{"isps":[{"name":"small","share":0.5},{"name":"national","share":0.4}]}}`, "censor.isps: shares sum to 0.9"},
		{"unlist above 1", `{"name":"x","censor":{"unlist_collateral":1.5}}`, "censor.unlist_collateral: 1.5 out of range"},
		{"negative unlist", `{"name":"x","censor":{"unlist_collateral":-0.1}}`, "censor.unlist_collateral: -0.1 out of range"},
		{"negative k", `{"name":"x","censor":{"escalation":{"k":-1}}}`, "censor.escalation.k: -1 out of range"},
		{"level out of range", `{"name":"x","censor":{"escalation":{"levels":[14,4]}}}`, "censor.escalation.levels[1]: /4 out of range"},
		{"level not widening", `{"name":"x","censor":{"escalation":{"levels":[11,14]}}}`, "censor.escalation.levels[1]: /14 does not widen /11"},
		{"max blocked above ipv4", `{"name":"x","censor":{"escalation":{"max_blocked":5000000000}}}`, "censor.escalation.max_blocked"},
		{"negative enumeration delay", `{"name":"x","censor":{"enumeration":{"delay":"-2s"}}}`, "censor.enumeration.delay: -2s out of range"},
		{"absurd enumeration clients", `{"name":"x","censor":{"enumeration":{"clients":1000}}}`, "censor.enumeration.clients: 1000 out of range"},
		{"negative probing delay", `{"name":"x","censor":{"probing":{"delay":"-1ms"}}}`, "censor.probing.delay: -1ms out of range"},
		{"whitelist after the end", `{"name":"x","duration":"10s","censor":{"whitelist":{"from":"20s"}}}`, "censor.whitelist.from: 20s out of range"},
		{"whitelist bad allow", `{"name":"x","censor":{"whitelist":{"allow":["cdn","Not A Host"]}}}`, `censor.whitelist.allow[1]: "Not A Host" is neither`},
		{"block built-in after the end", `{"name":"x","duration":"10s","censor":{"block_built_in_at":"11s"}}`, "censor.block_built_in_at: 11s out of range"},
		{"block built-in not enforced before cold start", `{"name":"x","cold_start":2,"cold_start_at":"10s","censor":{"block_built_in_at":"5s"}}`, "censor.block_built_in_at: 5s: enforced at every ISP only by 13s"},
		{"negative moves", `{"name":"x","operator":{"moves_per_minute":-1}}`, "operator.moves_per_minute: -1 out of range"},
		{"absurd cohorts", `{"name":"x","operator":{"cohorts":1000}}`, "operator.cohorts: 1000 out of range"},
		{"negative reaction delay", `{"name":"x","operator":{"reaction_delay":"-1s"}}`, "operator.reaction_delay: -1s out of range"},
		{"operator of an unknown strategy", `{"name":"x","operators":{"tor":{"reaction_delay":"1s","why":"a guess"}}}`, `operators.tor: unknown strategy`},
		{"operator without why", `{"name":"x","operators":{"static":{"reaction_delay":"1s"}}}`, "operators.static.why: required"},
		{"operator with a negative delay", `{"name":"x","operators":{"static":{"reaction_delay":"-1s","why":"a guess"}}}`, "operators.static.reaction_delay: -1s out of range"},
		{"operator checking too often", `{"name":"x","operators":{"static":{"check_every":"1ms","why":"a guess"}}}`, "operators.static.check_every: 1ms out of range"},
		{"unknown operator field", `{"name":"x","operators":{"static":{"moves":3,"why":"a guess"}}}`, "scenario: operators.static.moves: unknown field"},
		{"unknown bridges field", `{"name":"x","bridges":{"share":0.1}}`, "scenario: bridges.share: unknown field"},
		{"bridge share above 1", `{"name":"x","bridges":{"bridge_share":1.5}}`, "bridges.bridge_share: 1.5 out of range"},
		{"negative abroad share", `{"name":"x","bridges":{"abroad_share":-0.1}}`, "bridges.abroad_share: -0.1 out of range"},
		{"shares above every user", `{"name":"x","bridges":{"bridge_share":0.6,"abroad_share":0.5}}`, "bridges.abroad_share: 0.5 with bridge_share 0.6 is more than every user"},
		{"more contacts than users", `{"name":"x","clients":6,"bridges":{"contacts":5}}`, "bridges.contacts: 5 out of range [0, 4]"},
		{"negative contacts", `{"name":"x","bridges":{"contacts":-1}}`, "bridges.contacts: -1 out of range"},
		{"negative censor friends", `{"name":"x","bridges":{"censor_friends":-3}}`, "bridges.censor_friends: -3 out of range"},
		{"censor friends above clients", `{"name":"x","clients":4,"bridges":{"censor_friends":5}}`, "bridges.censor_friends: 5 out of range [0, 4]"},
		{"censor friend share above 1", `{"name":"x","bridges":{"censor_friend_share":1.5}}`, "bridges.censor_friend_share: 1.5 out of range [0, 1]"},
		{"censor friends twice", `{"name":"x","bridges":{"censor_friends":3,"censor_friend_share":0.05}}`, "bridges.censor_friend_share: set with censor_friends"},
		{"censor friends without accounts", `{"name":"x","censor":{"preset":"none"},"bridges":{"censor_friends":3}}`, "bridges.censor_friends: 3 set, but the censor runs no enumeration accounts"},
		{"invite listed after the run", `{"name":"x","duration":"10s","censor":{"list_invite_at":"11s"}}`, "censor.list_invite_at: 11s out of range [0s, 10s]"},
		{"cdn without fronting", `{"name":"x","cdn":{"why":"Google, 13 April 2018"}}`, "cdn.fronting: required"},
		{"cdn without why", `{"name":"x","cdn":{"fronting":false}}`, "cdn.why: required"},
		{"cdn fronting as a string", `{"name":"x","cdn":{"fronting":"no","why":"w"}}`, "cdn.fronting"},
		{"fronting ends while off", `{"name":"x","cdn":{"fronting":false,"fronting_ends":"10s","why":"w"}}`, "cdn.fronting_ends: set while cdn.fronting is false"},
		{"fronting ends after the run", `{"name":"x","duration":"10s","drain":"5s","cdn":{"fronting":true,"fronting_ends":"16s","why":"w"}}`, "cdn.fronting_ends: 16s out of range [0s, 15s]"},
		{"fronting ends without a unit", `{"name":"x","cdn":{"fronting":true,"fronting_ends":30,"why":"w"}}`, "cdn.fronting_ends"},
		{"unknown cdn field", `{"name":"x","cdn":{"fronting":true,"until":"3s","why":"w"}}`, "scenario: cdn.until: unknown field"},
		{"bridges without samizdat", `{"name":"x","strategies":["static"],"bridges":{"bridge_share":0.1}}`, "bridges: only samizdat users run bridges"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%s) = %+v, want an error containing %q", tt.in, s, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%s) error %q, want it to contain %q", tt.in, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "scenario: ") {
				t.Errorf("error %q does not name the package", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Parse([]byte(`{"name":"minimal"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Scenario{
		Name:                "minimal",
		Duration:            Duration(DefaultDuration),
		Drain:               Duration(DefaultDrain),
		Tick:                Duration(DefaultTick),
		Clients:             DefaultClients,
		MessageEvery:        Duration(DefaultMessageEvery),
		Bystanders:          DefaultBystanders,
		BystanderProbeEvery: Duration(DefaultBystanderProbeEvery),
		Strategies:          []string{"static", "telegram-2018", "samizdat"},
		Censor:              Censor{Preset: "rkn-2018", Hour: Duration(censor.DefaultHour), Enumeration: &Enumeration{Clients: DefaultEnumClients}},
		Operator: Operator{
			CheckEvery:     Duration(DefaultCheckEvery),
			ProbeEvery:     Duration(DefaultProbeEvery),
			ReactionDelay:  Duration(DefaultReactionDelay),
			MovesPerMinute: DefaultMovesPerMinute,
			Cohorts:        DefaultCohorts,
		},
	}
	if !reflect.DeepEqual(*s, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", *s, want)
	}
	if got := s.EnumClients(); got != DefaultEnumClients {
		t.Errorf("EnumClients() = %d, want %d", got, DefaultEnumClients)
	}
	if got := s.Total(); got != DefaultDuration+DefaultDrain {
		t.Errorf("Total() = %v", got)
	}
	// An absent censor block is the rkn-2018 preset, unchanged.
	cfg, err := s.CensorConfig(7, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := comparable(cfg), comparable(censor.RKN2018(7, censor.DefaultHour)); !reflect.DeepEqual(got, want) {
		t.Errorf("default censor differs from censor.RKN2018")
	}

	// Explicit values are kept, not replaced by defaults.
	s, err = Parse([]byte(`{"name":"explicit","duration":"30s","drain":"0s","clients":4,"strategies":["samizdat"],
		"censor":{"enumeration":{"enabled":false}},"operator":{"cohorts":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration.D() != 30*time.Second || s.Drain != 0 && s.Drain.D() != DefaultDrain || s.Clients != 4 || !slices.Equal(s.Strategies, []string{"samizdat"}) || s.Operator.Cohorts != 2 {
		t.Errorf("explicit values lost: %+v", s)
	}
	if !s.Has(Samizdat) || s.Has(Static) {
		t.Errorf("Has: wrong strategies")
	}
	if got := s.EnumClients(); got != 0 {
		t.Errorf("EnumClients() with enumeration off = %d, want 0", got)
	}
}

// comparable returns cfg without its function-valued fields (fingerprint
// matchers), which reflect.DeepEqual cannot compare; the fingerprint names
// and actions stay.
func comparable(cfg censor.Config) censor.Config {
	cfg.Fingerprints = slices.Clone(cfg.Fingerprints)
	for i := range cfg.Fingerprints {
		cfg.Fingerprints[i].Match = nil
	}
	return cfg
}

func TestDurationJSON(t *testing.T) {
	for _, in := range []string{`"90s"`, `"250ms"`, `"1m30s"`, `"0s"`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(out, &back); err != nil || back != d {
			t.Errorf("%s: round trip %s gave %v, %v", in, out, back, err)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"90s"`), &d); err != nil || d.D() != 90*time.Second || d.String() != "1m30s" {
		t.Errorf(`"90s" = %v, %v`, d, err)
	}
	for _, in := range []string{`90`, `"90"`, `null1`, `"s"`, `true`} {
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}

// fullScenarios are the built-ins that must meet the size target: at
// least 200 clients and 200 bystanders, done within 3 minutes.
var fullScenarios = []string{"rkn-2018", "sni-dpi", "probing", "whitelist", "cold-start"}

func TestBuiltins(t *testing.T) {
	want := []string{"ci", "cold-start", "enumerate-all", "probing", "quick", "rkn-2018", "rkn-2018-befriended", "sni-dpi", "whitelist"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			s, err := Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != name {
				t.Errorf("name %q in file %s.json", s.Name, name)
			}
			if len(s.Description) < 80 {
				t.Errorf("description too short to say what it models: %q", s.Description)
			}
			if len(s.Strategies) != 3 {
				t.Errorf("strategies %v, want all three side by side", s.Strategies)
			}
			cfg, err := s.CensorConfig(s.Seed, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, []string{"cdn.example"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := censor.New(cfg); err != nil {
				t.Fatalf("censor.New: %v", err)
			}
			shares := s.ISPShares()
			if len(shares) != len(cfg.ISPs) {
				t.Fatalf("%d shares for %d ISPs", len(shares), len(cfg.ISPs))
			}
			for i, sh := range shares {
				if sh.Name != cfg.ISPs[i].Name {
					t.Errorf("share %d for %q, censor ISP %q", i, sh.Name, cfg.ISPs[i].Name)
				}
			}
			// The file is already in its canonical form: nothing in it is
			// left to a default that could change under it silently.
			b, err := builtins.ReadFile("builtin/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var raw map[string]any
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"seed", "duration", "drain", "clients", "message_every", "bystanders", "strategies", "censor", "operator"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("%s.json leaves %q to the default", name, k)
				}
			}
		})
	}
	for _, name := range fullScenarios {
		s, _ := Builtin(name)
		if n := (s.Clients + s.ColdStart) * len(s.Strategies); n < 200 {
			t.Errorf("%s: %d clients in all, want at least 200", name, n)
		}
		if s.Bystanders < 200 {
			t.Errorf("%s: %d bystanders, want at least 200", name, s.Bystanders)
		}
		// On the simulated clock a run's wall time follows its events, not
		// its lab time; these bounds keep the built-ins near the cost
		// docs/lab.md measured (a full scenario in a few minutes of CPU,
		// the showcase in under one).
		if s.Total() > 10*time.Minute {
			t.Errorf("%s: runs %v of lab time, want at most 10 minutes", name, s.Total())
		}
	}
	// samizdat runs with what a real deployment always has (contacts as
	// bridges, standby endpoints) wherever the censor is the scenario's
	// subject, so a stranded client is the censor's doing, not the
	// scenario's.
	for _, name := range []string{"rkn-2018", "sni-dpi", "probing", "whitelist"} {
		s, _ := Builtin(name)
		if s.Bridges != (Bridges{BridgeShare: 0.10, AbroadShare: 0.02, CensorFriends: 3, Contacts: 4}) {
			t.Errorf("%s: bridges %+v, want issue 10's fixed figures (10%% at home, 2%% abroad, 3 friends per censor account, 4 contacts)", name, s.Bridges)
		}
		if !s.Operator.Standby {
			t.Errorf("%s: no standby endpoints", name)
		}
	}
	if s, _ := Builtin("rkn-2018-befriended"); s.Bridges.FriendsPerAccount(s.Clients) != 4 || s.Bridges.CensorFriendShare != 0.05 {
		t.Errorf("rkn-2018-befriended: %d friends per censor account (share %v), want 5%% of 70 users, 4", s.Bridges.FriendsPerAccount(s.Clients), s.Bridges.CensorFriendShare)
	}
	if s, _ := Builtin("quick"); s.Total() > 6*time.Minute || s.Censor.Preset != PresetRKN2018 {
		t.Errorf("quick: %v of %s, want rkn-2018 in at most 6 minutes of lab time", s.Total(), s.Censor.Preset)
	}
	if s, _ := Builtin("ci"); s.Total() < 60*time.Second || s.Total() > 2*time.Minute {
		t.Errorf("ci: runs %v, want 1-2 min", s.Total())
	}
	// Every built-in runs on the modelled hour of 10 s, where a client's
	// timers are minutes, not days, of the censor's time, and says what
	// its CDN provider does about fronting, and why.
	for _, name := range Names() {
		s, _ := Builtin(name)
		if s.Censor.Hour.D() != 10*time.Second {
			t.Errorf("%s: one modelled hour is %v of lab time, want 10s", name, s.Censor.Hour)
		}
		if s.CDN == nil {
			t.Errorf("%s: no cdn block: the provider's fronting policy is left to the default", name)
		}
	}
	if s, _ := Builtin("rkn-2018"); s.FrontingAt(0) || s.Censor.ListInviteAt == nil || s.Censor.ListInviteAt.D() != 0 {
		t.Errorf("rkn-2018: the CDN fronts or the app's own addresses are not listed at once (Google's front ends stopped fronting on 13 April 2018; Telegram's own subnets were listed at once on 16 April)")
	}
	if _, err := Builtin("rkn-2019"); err == nil || !strings.Contains(err.Error(), "rkn-2018") {
		t.Errorf("Builtin(unknown) = %v, want an error listing the built-ins", err)
	}
	// Builtin returns a fresh copy each time.
	a, _ := Builtin("ci")
	a.Clients = 1000
	a.Strategies[0] = "mutated"
	if b, _ := Builtin("ci"); b.Clients == 1000 || b.Strategies[0] == "mutated" {
		t.Error("Builtin shares state between calls")
	}
}

func TestPresetMapping(t *testing.T) {
	hour := censor.DefaultHour
	allowed := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	names := []string{"cdn.example"}
	tests := []struct {
		preset string
		want   censor.Config
	}{
		{"rkn-2018", censor.RKN2018(3, hour)},
		{"sni-dpi", censor.SNIDPI(3, hour)},
		{"probing", censor.Probing2023(3, hour)},
		{"whitelist", censor.Whitelist2025(3, hour, 0, allowed, names)},
	}
	for _, tt := range tests {
		t.Run(tt.preset, func(t *testing.T) {
			s, err := Parse([]byte(`{"name":"p","censor":{"preset":"` + tt.preset + `"}}`))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := s.CensorConfig(3, allowed, names)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(comparable(cfg), comparable(tt.want)) {
				t.Errorf("%s does not map to its censor preset", tt.preset)
			}
			if len(cfg.Fingerprints) != len(tt.want.Fingerprints) {
				t.Errorf("fingerprints lost")
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		s, err := Parse([]byte(`{"name":"p","censor":{"preset":"none"}}`))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := s.CensorConfig(3, nil, nil)
		c, err := censor.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Initial) != 0 || cfg.Enumeration.Enabled || cfg.Escalation.Enabled || cfg.Probing.Enabled || cfg.Whitelist.Enabled {
			t.Errorf("none lists something: %+v", cfg)
		}
		if s.EnumClients() != 0 {
			t.Errorf("none runs %d enumeration clients", s.EnumClients())
		}
		// Telegram's 2018 subnet is reachable at every ISP, at any time.
		tg := netip.MustParseAddrPort("149.154.167.51:443")
		for _, isp := range cfg.ISPs {
			if v := c.Decide(100*hour*24, censor.Flow{ISP: isp.Name, Dst: tg}); v.Blocked() {
				t.Errorf("none blocks %v at %s: %v", tg, isp.Name, v)
			}
		}
		// The same address is blocked under rkn-2018, so the check above can fail.
		r, _ := Parse([]byte(`{"name":"p"}`))
		rcfg, _ := r.CensorConfig(3, nil, nil)
		rc, _ := censor.New(rcfg)
		if v := rc.Decide(100*hour*24, censor.Flow{ISP: "national", Dst: tg}); !v.Blocked() {
			t.Errorf("rkn-2018 lets %v through: %v", tg, v)
		}
	})
}

func TestOverrides(t *testing.T) {
	s, err := Parse([]byte(`{"name":"o","censor":{
		"preset":"rkn-2018","hour":"1s","registry_interval":"2s",
		"isps":[{"name":"national","delay":"500ms","share":0.6},
		        {"name":"tele2","delay":"3s","compliance":0.5,"method":"reset","poison_dns":true,"dpi":true,"share":0.4}],
		"escalation":{"k":5,"levels":[15,12],"max_blocked":1000000},
		"enumeration":{"delay":"4s","clients":7},
		"probing":{"delay":"2s"},
		"whitelist":{"from":"30s","allow":["cdn","bank.example"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	allowed := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	cfg, err := s.CensorConfig(11, allowed, []string{"bank.example"})
	if err != nil {
		t.Fatal(err)
	}
	base := censor.RKN2018(11, time.Second)
	national := base.ISPs[0]
	national.Delay = 500 * time.Millisecond
	wantISPs := []censor.ISP{national, {Name: "tele2", Delay: 3 * time.Second, Compliance: 0.5, Method: censor.MethodReset, PoisonDNS: true, DPI: true}}
	if !reflect.DeepEqual(cfg.ISPs, wantISPs) {
		t.Errorf("isps:\n got %+v\nwant %+v", cfg.ISPs, wantISPs)
	}
	if cfg.Hour != time.Second || cfg.RegistryInterval != 2*time.Second {
		t.Errorf("hour %v, registry interval %v", cfg.Hour, cfg.RegistryInterval)
	}
	if e := cfg.Escalation; !e.Enabled || e.K != 5 || !slices.Equal(e.Levels, []int{15, 12}) || e.MaxBlocked != 1000000 {
		t.Errorf("escalation %+v", e)
	}
	if e := cfg.Enumeration; !e.Enabled || e.Delay != 4*time.Second || s.EnumClients() != 7 {
		t.Errorf("enumeration %+v, %d clients", e, s.EnumClients())
	}
	if p := cfg.Probing; !p.Enabled || p.Delay != 2*time.Second {
		t.Errorf("probing %+v", p)
	}
	if w := cfg.Whitelist; !w.Enabled || w.From != 30*time.Second || !slices.Equal(w.Prefixes, allowed) || !slices.Equal(w.Names, []string{"bank.example"}) {
		t.Errorf("whitelist %+v", w)
	}
	if got := s.ISPShares(); !reflect.DeepEqual(got, []ISPShare{{"national", 0.6}, {"tele2", 0.4}}) {
		t.Errorf("shares %v", got)
	}
	// The rest of the preset is untouched.
	if len(cfg.Initial) != len(base.Initial) || len(cfg.Providers) != len(base.Providers) || cfg.StubAddr != base.StubAddr {
		t.Error("overrides lost the preset's registry, providers or stub")
	}

	// Mechanisms can be switched off.
	s, err = Parse([]byte(`{"name":"off","censor":{"preset":"probing","escalation":{"enabled":false},"enumeration":{"enabled":false},"probing":{"enabled":false}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = s.CensorConfig(1, nil, nil)
	if cfg.Escalation.Enabled || cfg.Enumeration.Enabled || cfg.Probing.Enabled {
		t.Errorf("not switched off: %+v %+v %+v", cfg.Escalation, cfg.Enumeration, cfg.Probing)
	}
	// And escalation switched on over "none" gets working parameters.
	s, err = Parse([]byte(`{"name":"on","censor":{"preset":"none","escalation":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = s.CensorConfig(1, nil, nil)
	if _, err := censor.New(cfg); err != nil || !cfg.Escalation.Enabled {
		t.Errorf("escalation over none: %+v, %v", cfg.Escalation, err)
	}
}

// TestOperatorOf gives one strategy its own operator and leaves the others
// the scenario's.
func TestOperatorOf(t *testing.T) {
	s, err := Parse([]byte(`{"name":"o","operator":{"check_every":"2s","reaction_delay":"1s","watch_registry":true},
		"operators":{"telegram-2018":{"reaction_delay":"20s","watch_registry":false,"why":"hours in 2018"}},
		"censor":{"enumeration":{"spare_shared":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Censor.Enumeration.SpareShared {
		t.Error("spare_shared lost")
	}
	tg, sz := s.OperatorOf(Telegram2018), s.OperatorOf(Samizdat)
	if tg.ReactionDelay.D() != 20*time.Second || tg.WatchRegistry || tg.CheckEvery.D() != 2*time.Second {
		t.Errorf("telegram-2018's operator %+v, want its own delay and registry watch, the shared check", tg)
	}
	if sz != s.Operator {
		t.Errorf("samizdat's operator %+v, want the scenario's %+v", sz, s.Operator)
	}
}

func TestFrontingAt(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want map[time.Duration]bool
	}{
		{`{"name":"f"}`, map[time.Duration]bool{0: true, time.Hour: true}},
		{`{"name":"f","cdn":{"fronting":false,"why":"w"}}`, map[time.Duration]bool{0: false, 5 * time.Second: false}},
		{`{"name":"f","cdn":{"fronting":true,"why":"w"}}`, map[time.Duration]bool{0: true, 100 * time.Second: true}},
		{`{"name":"f","cdn":{"fronting":true,"fronting_ends":"30s","why":"w"}}`,
			map[time.Duration]bool{0: true, 30*time.Second - 1: true, 30 * time.Second: false, 60 * time.Second: false}},
	} {
		s, err := Parse([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		for at, want := range tt.want {
			if got := s.FrontingAt(at); got != want {
				t.Errorf("%s: FrontingAt(%v) = %v, want %v", tt.in, at, got, want)
			}
		}
	}
}

// TestWhitelistScenario checks what the built-in whitelist models through
// the censor itself: before From the network is open apart from the
// registry; afterwards only what the runner allows is reachable, at every
// ISP.
func TestWhitelistScenario(t *testing.T) {
	s, err := Builtin("whitelist")
	if err != nil {
		t.Fatal(err)
	}
	from, on := s.WhitelistOn()
	if !on || from <= 0 || from >= s.Duration.D() {
		t.Fatalf("whitelist from %v (on %v) is not inside the run", from, on)
	}
	if len(s.Censor.Whitelist.Allow) != 0 {
		t.Errorf("allow %v: 2025 whitelists did not list foreign infrastructure", s.Censor.Whitelist.Allow)
	}
	cdn := netip.MustParseAddrPort("192.0.2.10:443")
	other := netip.MustParseAddrPort("192.0.2.20:443")
	cfg, err := s.CensorConfig(s.Seed, []netip.Prefix{netip.PrefixFrom(cdn.Addr(), 32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := censor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range s.ISPShares() {
		if !strings.HasPrefix(sh.Name, "mobile") {
			t.Errorf("ISP %q in a mobile shutdown", sh.Name)
		}
		before := censor.Flow{ISP: sh.Name, Dst: other}
		if v := c.Decide(from-time.Millisecond, before); v.Blocked() {
			t.Errorf("%s: %v blocked before the whitelist: %v", sh.Name, other, v)
		}
		if v := c.Decide(from, before); !v.Blocked() {
			t.Errorf("%s: %v reachable under the whitelist", sh.Name, other)
		}
		if v := c.Decide(from, censor.Flow{ISP: sh.Name, Dst: cdn}); v.Blocked() {
			t.Errorf("%s: allowed %v blocked under the whitelist: %v", sh.Name, cdn, v)
		}
	}
}

// TestColdStartEnforced checks the cold-start scenarios' promise through
// the censor: an endpoint listed at BlockBuiltInAt is enforced by every
// ISP that applies the entry by the time the cold-start clients first run.
func TestColdStartEnforced(t *testing.T) {
	for _, name := range []string{"cold-start", "ci"} {
		s, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.ColdStart == 0 || s.Censor.BlockBuiltInAt == nil {
			t.Fatalf("%s: no cold start with blocked built-ins", name)
		}
		cfg, _ := s.CensorConfig(s.Seed, nil, nil)
		c, err := censor.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		at := s.Censor.BlockBuiltInAt.D()
		var dsts []netip.AddrPort
		for i := range 40 {
			dsts = append(dsts, netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 443))
		}
		for _, d := range dsts {
			if _, ok := c.Block(at, d.Addr(), "test: built-in"); !ok {
				t.Fatalf("%s: %v not listed", name, d)
			}
		}
		blocked := 0
		for _, isp := range cfg.ISPs {
			for _, d := range dsts {
				f := censor.Flow{ISP: isp.Name, Dst: d}
				if c.Decide(at, f).Blocked() {
					t.Errorf("%s: %s enforces at the listing instant", name, isp.Name)
				}
				now, later := c.Decide(s.ColdStartAt.D(), f).Blocked(), c.Decide(s.Total(), f).Blocked()
				if now != later {
					t.Errorf("%s: %s does not yet enforce %v at cold_start_at %v", name, isp.Name, d, s.ColdStartAt)
				}
				if isp.Compliance == 1 && !now {
					t.Errorf("%s: fully compliant %s lets %v through at cold_start_at", name, isp.Name, d)
				}
				if now {
					blocked++
				}
			}
		}
		if blocked < len(cfg.ISPs)*len(dsts)*9/10 {
			t.Errorf("%s: only %d of %d (isp, endpoint) pairs blocked", name, blocked, len(cfg.ISPs)*len(dsts))
		}
	}
}

func TestDeterminism(t *testing.T) {
	for _, name := range Names() {
		a, _ := Builtin(name)
		b, _ := Builtin(name)
		ca, err := a.CensorConfig(42, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cb, _ := b.CensorConfig(42, nil, nil)
		if !reflect.DeepEqual(comparable(ca), comparable(cb)) {
			t.Errorf("%s: same seed, different censor configs", name)
		}
		if !slices.Equal(a.ClientISPs(101), b.ClientISPs(101)) || !reflect.DeepEqual(a.ISPShares(), b.ISPShares()) {
			t.Errorf("%s: client spreading not deterministic", name)
		}
		// The seed reaches the censor: the seeded compliance draws of two
		// censors built from the same seed agree entry for entry.
		ra, _ := censor.New(ca)
		rb, _ := censor.New(cb)
		if !sameDecisions(ra, rb, ca) {
			t.Errorf("%s: two censors from the same seed decide differently", name)
		}
		if c7, _ := a.CensorConfig(7, nil, nil); c7.Seed != 7 {
			t.Errorf("%s: seed %d, want 7", name, c7.Seed)
		}
	}
}

// sameDecisions compares two censors' verdicts for every ISP over the
// 2018 registry's addresses, late enough that every entry is enforced.
func sameDecisions(a, b *censor.Censor, cfg censor.Config) bool {
	late := 2000 * cfg.Hour
	for _, e := range cfg.Initial {
		dst := netip.AddrPortFrom(e.Prefix.Addr().Next(), 443)
		for _, isp := range cfg.ISPs {
			f := censor.Flow{ISP: isp.Name, Dst: dst}
			if a.Decide(late, f) != b.Decide(late, f) {
				return false
			}
		}
	}
	return true
}

func TestISPShares(t *testing.T) {
	s, _ := Parse([]byte(`{"name":"s"}`))
	shares := s.ISPShares()
	var sum float64
	for _, sh := range shares {
		sum += sh.Share
		if sh.Share != defaultShares[sh.Name] {
			t.Errorf("%s: share %v, want the default %v", sh.Name, sh.Share, defaultShares[sh.Name])
		}
	}
	if len(shares) != 5 || sum < 0.9999 || sum > 1.0001 {
		t.Errorf("shares %v sum to %v", shares, sum)
	}
	// New ISPs without shares split equally.
	s, _ = Parse([]byte(`{"name":"s","censor":{"isps":[{"name":"a","delay":"1s","method":"drop"},{"name":"b","delay":"1s","method":"reset"}]}}`))
	if got := s.ISPShares(); !reflect.DeepEqual(got, []ISPShare{{"a", 0.5}, {"b", 0.5}}) {
		t.Errorf("equal split: %v", got)
	}

	s, _ = Builtin("rkn-2018")
	for _, n := range []int{0, 1, 2, 7, 70, 210, 1000} {
		got := s.ClientISPs(n)
		if len(got) != n {
			t.Fatalf("ClientISPs(%d) has %d entries", n, len(got))
		}
		count := map[string]int{}
		for _, isp := range got {
			count[isp]++
		}
		for _, sh := range s.ISPShares() {
			if d := float64(count[sh.Name]) - sh.Share*float64(n); d <= -1 || d >= 1 {
				t.Errorf("ClientISPs(%d): %d on %s for share %v", n, count[sh.Name], sh.Name, sh.Share)
			}
		}
	}
	// Every prefix is spread like the whole: the first 20 of 210 clients
	// already reach every ISP.
	first := map[string]bool{}
	for _, isp := range s.ClientISPs(210)[:20] {
		first[isp] = true
	}
	if len(first) != 5 {
		t.Errorf("first 20 clients reach only %v", first)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, name := range Names() {
		s, _ := Builtin(name)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: re-parse: %v\n%s", name, err, b)
		}
		if !reflect.DeepEqual(s, back) {
			t.Errorf("%s: round trip differs:\n%+v\n%+v", name, s, back)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "mine.json")
	if err := os.WriteFile(good, []byte(`{"name":"mine","duration":"30s","clients":4}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(good)
	if err != nil || s.Name != "mine" || s.Duration.D() != 30*time.Second {
		t.Fatalf("Load = %+v, %v", s, err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name":"bad","clients":-4}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), "clients") {
		t.Errorf("Load(bad) = %v, want the path and the field", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("Load(missing) succeeded")
	}
}

// TestREADMEExample parses the example in README.md, so the documentation
// cannot drift from the parser.
func TestREADMEExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Example\n\n```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no json example")
	}
	s, err := Parse([]byte(example))
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	cfg, err := s.CensorConfig(s.Seed, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := censor.New(cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.ISPs) != 2 || cfg.ISPs[1].Compliance != 0.5 || cfg.Enumeration.Delay != time.Second {
		t.Errorf("README example not applied: %+v", cfg.ISPs)
	}
}

// unlist_collateral: absent keeps the preset's relief, a fraction sets the
// threshold, 1 turns it off.
func TestUnlistCollateral(t *testing.T) {
	tests := []struct {
		json string
		want censor.Relief
	}{
		{`{"name":"u"}`, censor.Relief{Enabled: true, Threshold: censor.Relief2018}},
		{`{"name":"u","censor":{"unlist_collateral":0.4}}`, censor.Relief{Enabled: true, Threshold: 0.4}},
		{`{"name":"u","censor":{"unlist_collateral":1}}`, censor.Relief{}},
		{`{"name":"u","censor":{"preset":"sni-dpi"}}`, censor.Relief{}},
		{`{"name":"u","censor":{"preset":"none","unlist_collateral":0.4}}`, censor.Relief{Enabled: true, Threshold: 0.4}},
	}
	for _, tt := range tests {
		s, err := Parse([]byte(tt.json))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := s.CensorConfig(1, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Relief != tt.want {
			t.Errorf("%s: relief %+v, want %+v", tt.json, cfg.Relief, tt.want)
		}
	}
}
