package fleet_test

import (
	"context"
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"

	"samizdat/lab/fleet"
	"samizdat/lab/scenario"
	"samizdat/manifest"
	"samizdat/manifest/channel"
)

// cohortManifest fetches cohort c's current manifest from the shared
// mirror, as one of its clients would.
func cohortManifest(t *testing.T, w *world, f *fleet.Fleet, c uint32) *manifest.Manifest {
	t.Helper()
	inv, err := manifest.Open(f.Invite().Manifest, f.Invite().NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := channel.FromManifest(inv.ForCohort(c), w.net.Dialer("x", "isp-a"))[1].Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Open(blob, f.Invite().NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// split returns the addresses of cohort c's own endpoints in m: the
// ordinary ones and the standby ones.
func split(m *manifest.Manifest, c uint32) (ordinary, standby []netip.AddrPort) {
	for _, e := range m.Relays[0].Endpoints {
		if e.Cohort != c {
			continue
		}
		a := netip.MustParseAddrPort(e.Address)
		if e.Standby {
			standby = append(standby, a)
		} else {
			ordinary = append(ordinary, a)
		}
	}
	return ordinary, standby
}

// TestStandbyPerCohort: with Operator.Standby every cohort's manifest
// lists a standby endpoint and two mirrors before anything is blocked,
// the standby and the second mirror with another provider than the
// cohort's others where the plan has one; each is paid for as a move.
// When an ordinary endpoint is blocked, the standby takes its place (no
// new address: the clients know it already) and a new standby is drawn.
func TestStandbyPerCohort(t *testing.T) {
	w := newWorld(t, 21)
	f := w.fleet(t, fleet.Samizdat, scenario.Operator{MovesPerMinute: 100, Standby: true}, 0)
	start := f.Tick(0)
	if n := 2 * fleet.DefaultCohorts; len(start) != n {
		t.Fatalf("%d moves at start, want %d (a standby endpoint and mirror per cohort): %+v", len(start), n, start)
	}
	for _, m := range start {
		if m.Old.IsValid() || m.Promoted || !m.New.IsValid() {
			t.Errorf("bad standby move %+v", m)
		}
	}
	provider := func(a netip.AddrPort) string {
		p, ok := w.plan.PrefixOf(a.Addr())
		if !ok {
			t.Fatalf("%v is not in the plan", a)
		}
		return p.Provider
	}
	otherProvider := func(others []netip.AddrPort) bool { // the plan has a provider none of others is in
		return slices.ContainsFunc(w.plan.Providers(), func(p string) bool {
			return !slices.ContainsFunc(others, func(a netip.AddrPort) bool { return provider(a) == p })
		})
	}
	standbys := map[uint32]netip.AddrPort{}
	for c := uint32(1); c <= fleet.DefaultCohorts; c++ {
		m := cohortManifest(t, w, f, c)
		ordinary, standby := split(m, c)
		if len(ordinary) != 2 || len(standby) != 1 {
			t.Fatalf("cohort %d lists %v and standby %v, want two and one", c, ordinary, standby)
		}
		standbys[c] = standby[0]
		if otherProvider(ordinary) && slices.ContainsFunc(ordinary, func(a netip.AddrPort) bool { return provider(a) == provider(standby[0]) }) {
			t.Errorf("cohort %d: standby %v shares a provider with %v", c, standby[0], ordinary)
		}
		var mirrors []netip.AddrPort
		for _, ch := range m.Channels {
			if u, err := url.Parse(ch.URL); err == nil && ch.Kind == "https" {
				if a, err := netip.ParseAddrPort(u.Host); err == nil {
					mirrors = append(mirrors, a)
				}
			}
		}
		if len(mirrors) != 2 {
			t.Fatalf("cohort %d: mirrors %v, want its own and a standby", c, mirrors)
		}
		if otherProvider(mirrors[:1]) && provider(mirrors[0]) == provider(mirrors[1]) {
			t.Errorf("cohort %d: both mirrors with %s", c, provider(mirrors[0]))
		}
	}

	// Block cohort 1's ordinary endpoints.
	now := time.Second
	ordinary, _ := split(cohortManifest(t, w, f, 1), 1)
	for _, a := range ordinary {
		w.censor.Block(now, a.Addr(), "test")
	}
	moves := probed(f, now)
	var promoted, fresh int
	for _, m := range moves {
		switch {
		case m.Promoted:
			promoted++
			if m.New != standbys[1] || !slices.Contains(ordinary, m.Old) {
				t.Errorf("promotion %+v, want %v in the place of one of %v", m, standbys[1], ordinary)
			}
		case !m.Old.IsValid():
			fresh++
		}
	}
	if promoted != 1 || fresh != 1 {
		t.Fatalf("%d promotions and %d new standby endpoints, want 1 and 1: %+v", promoted, fresh, moves)
	}
	after, standby := split(cohortManifest(t, w, f, 1), 1)
	if !slices.Contains(after, standbys[1]) || len(standby) != 1 || standby[0] == standbys[1] {
		t.Fatalf("after the promotion cohort 1 lists %v and standby %v; the old standby was %v", after, standby, standbys[1])
	}
}
