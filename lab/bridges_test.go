package lab

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samizdat/censor"
	"samizdat/internal/testctx"
	"samizdat/lab/labdata"
	"samizdat/lab/report"
	"samizdat/lab/scenario"
)

// The residential pools are disjoint from every cloud range the lab
// draws from and from each other, and are ordinary public addresses.
func TestResidentialPools(t *testing.T) {
	var clouds []labdata.Prefix
	for _, f := range []func() []labdata.Prefix{labdata.AWS2018, labdata.AWS2018Late, labdata.GCP, labdata.Goog} {
		clouds = append(clouds, f()...)
	}
	pools := []netip.Prefix{abroadPool}
	for i := range 32 { // scenario's at most 32 ISPs
		pools = append(pools, domesticPool(i))
	}
	for i, p := range pools {
		if !p.IsValid() || p.Addr().IsPrivate() || p.Addr().IsLoopback() {
			t.Fatalf("pool %v is not a public prefix", p)
		}
		for _, c := range clouds {
			if c.Prefix.Overlaps(p) {
				t.Errorf("pool %v overlaps the cloud range %v (%s)", p, c.Prefix, c.Provider)
			}
		}
		for _, q := range pools[:i] {
			if q.Overlaps(p) {
				t.Errorf("pools %v and %v overlap", q, p)
			}
		}
	}
}

// Every user gets exactly k contacts, never itself or its partner, each
// link mutual, and the same graph for the same seed.
func TestContactGraph(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{70, 4}, {70, 3}, {6, 4}, {8, 1}, {2, 0}} {
		t.Run(fmt.Sprintf("n%d-k%d", tc.n, tc.k), func(t *testing.T) {
			g := contactGraph(tc.n, tc.k, rand.New(rand.NewPCG(7, 1)))
			for i, cs := range g {
				if len(cs) != tc.k {
					t.Errorf("user %d has %d contacts %v, want %d", i, len(cs), cs, tc.k)
				}
				for _, j := range cs {
					if j == i || j == i^1 {
						t.Errorf("user %d has %d (itself or its partner) as a contact", i, j)
					}
					if !slices.Contains(g[j], i) {
						t.Errorf("user %d has %d, who has not it", i, j)
					}
				}
			}
			again := contactGraph(tc.n, tc.k, rand.New(rand.NewPCG(7, 1)))
			if fmt.Sprint(g) != fmt.Sprint(again) {
				t.Error("the same seed drew another graph")
			}
		})
	}
}

// Two ISPs for bridgeScenario: "national" enforces the registry,
// "small" applies none of it; or "national" alone.
const (
	ispsOneOpen = `[{"name": "national", "compliance": 1, "share": 0.5}, {"name": "small", "compliance": 0, "share": 0.5}]`
	ispsAllShut = `[{"name": "national", "compliance": 1, "share": 1}]`
)

// bridgeScenario is a tiny samizdat-only world of two partners, on isps.
// The censor's one account sits in the only cohort, so every endpoint and
// channel a user of an ISP that enforces the registry knows is listed soon
// after it is published.
func bridgeScenario(t *testing.T, duration, isps, bridges string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse([]byte(`{
		"name": "bridge-tiny", "seed": 3, "duration": "` + duration + `", "drain": "2s", "tick": "100ms",
		"clients": 2, "message_every": "1s", "bystanders": 2, "bystander_probe_every": "5s",
		"strategies": ["samizdat"],
		"censor": {"preset": "rkn-2018", "hour": "250ms",
			"isps": ` + isps + `,
			"enumeration": {"clients": 1}},
		"operator": {"check_every": "100ms", "reaction_delay": "10ms", "moves_per_minute": 1, "cohorts": 1, "watch_registry": true},
		"bridges": ` + bridges + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// runBridgeWorld runs sc and fails the test on an error or a broken
// invariant.
func runBridgeWorld(t *testing.T, sc *scenario.Scenario) (*world, *report.Report) {
	t.Helper()
	ctx, cancel := testctx.Bounded(t)
	defer cancel()
	w, r, err := run(ctx, sc, Options{Work: filepath.Join(t.TempDir(), "work")})
	if err != nil {
		t.Fatal(err)
	}
	logReport(t, r)
	for _, ch := range r.Invariants {
		if !ch.OK {
			t.Errorf("invariant %q failed: %s", ch.Name, ch.Detail)
		}
	}
	return w, r
}

// A client cut off from every path its manifest lists (its cohort is
// the censor's) comes back through its partner's bridge at home, with
// no action of its own: the partner's ISP enforces nothing, so the
// partner's own client keeps the bridge's way to the relay open.
func TestBridgeCarriesAStrandedClientInTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a lab world")
	}
	w, r := runBridgeWorld(t, bridgeScenario(t, "25s", ispsOneOpen, `{"bridge_share": 1}`))
	s := w.strategies[0]
	var cutOff, open *labClient
	for _, lc := range s.clients {
		switch lc.isp {
		case "national":
			cutOff = lc
		case "small":
			open = lc
		}
	}
	if cutOff == nil || open == nil || open.bridge == nil {
		t.Fatalf("want one client on each ISP, the open one with a bridge: %+v %+v", cutOff, open)
	}
	st := r.Strategies[scenario.Samizdat]
	if st.Bridges != 2 {
		t.Errorf("%d bridges ran, want 2 (bridge_share 1)", st.Bridges)
	}
	if st.ReconnectsViaBridge == 0 {
		t.Errorf("no reconnect came back through a bridge (%d reconnects)", st.Reconnects)
	}
	s.mu.Lock()
	endpoint, outage := cutOff.endpoint, cutOff.outage()
	s.mu.Unlock()
	if outage >= 0 {
		t.Errorf("%s is still cut off at the end (since %v)", cutOff.id, outage)
	}
	if endpoint != open.bridge.addr.String() {
		t.Errorf("%s is connected through %q at the end, want its partner's bridge %v", cutOff.id, endpoint, open.bridge.addr)
	}
}

// With every path of both partners listed, the one whose partner has a
// friend abroad running a bridge from the partner's credential comes
// back through it: the bridge forwards from outside the censored
// network.
func TestBridgeAbroadCarriesAStrandedClientInTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a lab world")
	}
	w, r := runBridgeWorld(t, bridgeScenario(t, "25s", ispsAllShut, `{"abroad_share": 0.5}`))
	s := w.strategies[0]
	var owner, holder *labClient
	for _, lc := range s.clients {
		if lc.bridge != nil {
			owner = lc
		} else {
			holder = lc
		}
	}
	if owner == nil || holder == nil || !owner.bridge.abroad || !abroadPool.Contains(owner.bridge.addr.Addr()) {
		t.Fatalf("want one of the two partners with a bridge abroad: %+v %+v", owner, holder)
	}
	st := r.Strategies[scenario.Samizdat]
	if st.ReconnectsViaBridge == 0 {
		t.Errorf("no reconnect came back through a bridge (%d reconnects)", st.Reconnects)
	}
	s.mu.Lock()
	endpoint, outage := holder.endpoint, holder.outage()
	s.mu.Unlock()
	if outage >= 0 || endpoint != owner.bridge.addr.String() {
		t.Errorf("%s at the end: connected through %q (outage since %v), want through the bridge abroad %v", holder.id, endpoint, outage, owner.bridge.addr)
	}
	// The owner holds no offer of its own bridge: if it is cut off, the
	// report says it held none.
	for _, x := range st.Stranded {
		if x.Client == holder.id {
			t.Errorf("%s reported stranded: %+v", holder.id, x)
		}
		if x.Client == owner.id && x.BridgeOffers != 0 {
			t.Errorf("%s reported holding %d bridge offers", owner.id, x.BridgeOffers)
		}
	}
}

// The bridges the censor's friends offer its account are reported to
// it at setup and listed one enumeration delay (2 hours) later.
func TestCensorListsABridgeOfferedToItsAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a lab world")
	}
	w, r := runBridgeWorld(t, bridgeScenario(t, "8s", ispsOneOpen, `{"bridge_share": 1, "censor_friends": 2}`))
	s := w.strategies[0]
	for _, lc := range s.clients {
		if lc.bridge == nil {
			t.Fatalf("%s runs no bridge", lc.id)
		}
		addr := lc.bridge.addr.Addr()
		if e, ok := w.cen.Listing(w.clock.Now(), "national", addr.String()); !ok || e.Reason != "enumeration" || e.Listed != 500*time.Millisecond {
			t.Errorf("the bridge of %s (%v) is not listed by enumeration at 500 ms: %+v %v", lc.id, addr, e, ok)
		}
		found := false
		for _, ev := range r.Events {
			if ev.Who == "censor" && strings.HasPrefix(ev.Detail, addr.String()+"/32") && ev.TMS == 500 {
				found = true
			}
		}
		if !found {
			t.Errorf("no censor event lists %v at 500 ms (setup + 2 hours)", addr)
		}
		// The offer also told the account the server name the bridge's
		// callers send: an SNI rule for this bridge alone.
		sni := lc.bridge.sni
		if sni == "" || !slices.ContainsFunc(w.cen.Entries(), func(e censor.Entry) bool {
			return e.Kind == censor.KindSNI && e.Name == sni && e.Reason == "enumeration" && e.Listed == 500*time.Millisecond
		}) {
			t.Errorf("the bridge of %s: its server name %q is not an SNI rule listed by enumeration at 500 ms", lc.id, sni)
		}
	}
	if a, b := s.clients[0].bridge.sni, s.clients[1].bridge.sni; a == b {
		t.Errorf("two bridges send the same server name %q: one SNI rule would block both", a)
	}
	st := r.Strategies[scenario.Samizdat]
	if st.Bridges != 2 {
		t.Errorf("%d bridges, want 2", st.Bridges)
	}
	// The national user's every path, its partner's bridge included, is
	// listed: it is stranded, and the report says what stood in the way.
	want := report.Paths{Kind: "bridge", State: "listed", ListedBy: "enumeration", Count: 1}
	found := false
	for _, x := range st.Stranded {
		if x.ISP == "national" {
			found = true
			if x.BridgeOffers != 1 || !slices.Contains(x.Paths, want) {
				t.Errorf("stranded %s: %d bridge offers, paths %v; want 1 and %v", x.Client, x.BridgeOffers, x.Paths, want)
			}
		}
	}
	if !found {
		t.Errorf("the national user is not stranded with its partner's bridge listed: %+v", st.Stranded)
	}
}
