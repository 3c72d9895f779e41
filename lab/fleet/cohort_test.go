package fleet_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"samizdat/censor"
	"samizdat/client"
	"samizdat/lab/fleet"
	"samizdat/lab/scenario"
	"samizdat/manifest"
	"samizdat/manifest/channel"
)

// cohortOf returns the one cohort whose endpoints inv lists (0 if none).
func cohortOf(t *testing.T, inv manifest.Invite) uint32 {
	t.Helper()
	m, err := manifest.Open(inv.Manifest, inv.NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	var c uint32
	for _, e := range m.Relays[0].Endpoints {
		if e.Cohort != 0 {
			if c != 0 && c != e.Cohort {
				t.Fatalf("invite lists cohorts %d and %d", c, e.Cohort)
			}
			c = e.Cohort
		}
	}
	return c
}

// inviteIn returns the invite of the first new user whose inviter is in
// cohort c (of fleet.DefaultCohorts).
func inviteIn(f *fleet.Fleet, c uint32) manifest.Invite {
	for n := 0; ; n++ {
		if fleet.InviteCohort(n, fleet.DefaultCohorts) == c {
			return f.InviteFor(n)
		}
	}
}

// enumerated returns the cohort of f's one enumeration account (where
// the relay placed it) and two of the others, in order.
func enumerated(t *testing.T, f *fleet.Fleet) (known, o1, o2 uint32) {
	t.Helper()
	joined := f.EnumCohorts()
	if len(joined) != 1 {
		t.Fatalf("enumeration accounts in cohorts %v, want one", joined)
	}
	var others []uint32
	for c := uint32(1); c <= fleet.DefaultCohorts; c++ {
		if c != joined[0] {
			others = append(others, c)
		}
	}
	return joined[0], others[0], others[1]
}

// blockShared lists the shared channels' hosts (the CDN edge, the DoH
// resolver, the shared mirror) by address at now.
func blockShared(w *world, now censor.Time) {
	for _, a := range []netip.AddrPort{w.shared.CDNAddr(), w.shared.DoHAddr(), w.shared.MirrorAddr()} {
		w.censor.Block(now, a.Addr(), "test: shared channels")
	}
}

// blockedAt reports whether a plain connection to a from either ISP is
// blocked at now.
func blockedAt(w *world, now censor.Time, a netip.AddrPort) bool {
	by := w.censor.Collateral(now, []netip.AddrPort{a})
	return by["isp-a"] > 0 && by["isp-b"] > 0
}

// TestCohortInvites: InviteFor spreads new users over the cohorts, each
// invite listing the front, its cohort's endpoints and the cohort's own
// mirror (only its own); BuiltIn names every endpoint of every invite and
// no mirror.
func TestCohortInvites(t *testing.T) {
	w := newWorld(t, 21)
	f := w.fleet(t, fleet.Samizdat, eager, 0)
	builtIn := f.BuiltIn()
	for n := range 2 * fleet.DefaultCohorts {
		inv := f.InviteFor(n)
		c := cohortOf(t, inv)
		if want := fleet.InviteCohort(n, fleet.DefaultCohorts); c != want {
			t.Fatalf("invite %d is for cohort %d, want %d", n, c, want)
		}
		m, _ := manifest.Open(inv.Manifest, inv.NetworkKey)
		for _, e := range m.Relays[0].Endpoints {
			if !slices.Contains(builtIn, netip.MustParseAddrPort(e.Address)) {
				t.Errorf("invite %d's endpoint %s not in BuiltIn", n, e.Address)
			}
		}
		var mirrors []string
		for _, ch := range m.ForCohort(c).Channels {
			if ch.Kind == "https" && ch.URL != "" {
				mirrors = append(mirrors, ch.URL)
			}
		}
		own := "https://" + f.CohortMirror(c).String() + "/samizdat/manifest-" + string(rune('0'+c)) + ".bin"
		if !slices.Contains(mirrors, own) || len(mirrors) != 2 {
			t.Errorf("invite %d's mirrors %v, want the shared one and %s", n, mirrors, own)
		}
	}
	for c := uint32(1); c <= fleet.DefaultCohorts; c++ {
		if slices.Contains(builtIn, f.CohortMirror(c)) {
			t.Errorf("cohort %d's mirror is in BuiltIn", c)
		}
	}
	if got, want := len(builtIn), 1+2*fleet.DefaultCohorts; got != want {
		t.Errorf("%d built-in addresses, want %d (the edge and every cohort's tcp and wss)", got, want)
	}
	if inv := f.InviteFor(0); string(inv.Manifest) == string(f.Invite().Manifest) {
		t.Errorf("InviteFor hands out the public manifest")
	}
}

// TestColdStartThroughCohortMirror: the censor knows one cohort (where
// the relay placed its enumeration client) and lists the shared
// channels' hosts and every endpoint of every invite (the cold-start
// regulator). The operator moves the endpoints. A new user invited from
// another cohort, which the censor does not know, joins through that
// cohort's own mirror and chats; one invited from the known cohort
// cannot: the censor knows that cohort's mirror too.
func TestColdStartThroughCohortMirror(t *testing.T) {
	w := newWorld(t, 22)
	f := w.fleet(t, fleet.Samizdat, eager, 1)
	known, o1, o2 := enumerated(t, f)
	alice := newUser(t, f, "alice", "isp-a", inviteIn(f, o2))
	f.Tick(w.net.Now()) // the enumeration client reads its cohort

	now := w.net.Now()
	for _, a := range f.BuiltIn() {
		w.censor.Block(now, a.Addr(), "test: built-in")
	}
	blockShared(w, now)
	t1 := w.net.Now()
	moves := probed(f, t1)
	if len(moves) == 0 {
		t.Fatal("the operator made no move")
	}
	w.net.Recheck()
	now = max(w.net.Now(), t1+3*scenario.DefaultProbeEvery) // after the ticks probed made
	if !blockedAt(w, now, f.CohortMirror(known)) {
		t.Fatalf("cohort %d's mirror %s, which its enumeration client reads, is not blocked", known, f.CohortMirror(known))
	}
	if blockedAt(w, now, f.CohortMirror(o1)) {
		t.Fatalf("cohort %d's mirror %s is blocked", o1, f.CohortMirror(o1))
	}

	inv := inviteIn(f, o1)
	if c := cohortOf(t, inv); c != o1 {
		t.Fatalf("invite for cohort %d", c)
	}
	carol := newUser(t, f, "carol", "isp-b", inv)
	last, err := netip.ParseAddrPort(carol.lastConnected())
	if err != nil || slices.Contains(f.BuiltIn(), last) || !slices.Contains(f.Endpoints(), last) {
		t.Fatalf("carol registered through %q, not a new endpoint", carol.lastConnected())
	}
	if c := carol.Cohort(); c != o1 {
		t.Fatalf("carol, invited into cohort %d, was placed in %d", o1, c)
	}
	chat(t, carol, alice, "alice", "hello from another cohort's mirror")
	chat(t, alice, carol, "carol", "hello back")

	// The known cohort: every channel its invite names is known to the censor.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := f.ClientConfig(t.TempDir(), "isp-a/dave", "isp-a")
	cfg.Logger = testLogger().With("user", "dave")
	if c, err := client.Init(ctx, cfg, inviteIn(f, known), "dave"); err == nil {
		c.Close()
		t.Fatalf("a cold start from enumerated cohort %d got through", known)
	}
}

// TestCutClientRecoversThroughCohortMirror: users of cohorts the censor
// does not know are cut off (every endpoint and the shared channels are
// listed) before the operator's moves are pushed; they learn the new
// endpoints from their cohorts' own mirrors and chat again.
func TestCutClientRecoversThroughCohortMirror(t *testing.T) {
	w := newWorld(t, 23)
	f := w.fleet(t, fleet.Samizdat, eager, 1)
	_, o1, o2 := enumerated(t, f)
	alice := newUser(t, f, "alice", "isp-a", inviteIn(f, o2))
	bob := newUser(t, f, "bob", "isp-b", inviteIn(f, o1))
	f.Tick(w.net.Now())
	chat(t, alice, bob, "bob", "before the block")

	now := w.net.Now()
	old := blockAll(w, f, now)
	blockShared(w, now)
	if cut := w.net.Recheck(); cut == 0 {
		t.Fatal("the block cut no connection")
	}
	moves := probed(f, w.net.Now()) // pushed to nobody: they are cut off
	for _, c := range []uint32{o1, o2} {
		if blockedAt(w, w.net.Now(), f.CohortMirror(c)) {
			t.Fatalf("cohort %d's mirror is blocked", c)
		}
	}
	if len(moves) == 0 {
		t.Fatal("the operator made no move")
	}
	chat(t, alice, bob, "bob", "after the block")
	chat(t, bob, alice, "alice", "after the block, back")
	for _, u := range []*user{alice, bob} {
		if a, err := netip.ParseAddrPort(u.lastConnected()); err != nil || slices.Contains(old, a) {
			t.Errorf("a client is on %q, an old endpoint", u.lastConnected())
		}
	}
}

// TestOperatorMovesBlockedMirror: a cohort mirror the censor lists is
// moved to an unlisted address, announced in the cohort's next manifest,
// and served there.
func TestOperatorMovesBlockedMirror(t *testing.T) {
	w := newWorld(t, 24)
	f := w.fleet(t, fleet.Samizdat, eager, 0)
	f.Tick(w.net.Now())
	old := f.CohortMirror(2)
	w.censor.Block(w.net.Now(), old.Addr(), "test")
	moves := probed(f, w.net.Now())
	if len(moves) != 1 || moves[0].Transport != fleet.TransportMirror || moves[0].Old != old || moves[0].New != f.CohortMirror(2) {
		t.Fatalf("moves %+v for cohort 2's mirror %s", moves, old)
	}
	if blockedAt(w, w.net.Now(), f.CohortMirror(2)) {
		t.Fatal("moved to a blocked address")
	}
	// The mirror answers at its new address with a manifest that names it.
	start, err := manifest.Open(inviteIn(f, 2).Manifest, inviteIn(f, 2).NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	oldURL := "https://" + old.String() + "/samizdat/manifest-2.bin"
	newURL := "https://" + f.CohortMirror(2).String() + "/samizdat/manifest-2.bin"
	i := slices.IndexFunc(start.Channels, func(c manifest.Channel) bool { return c.URL == oldURL })
	if i < 0 {
		t.Fatalf("cohort 2's invite does not name its mirror %s", oldURL)
	}
	ch := start.Channels[i]
	ch.URL = newURL
	src := channel.FromManifest(&manifest.Manifest{Channels: []manifest.Channel{ch}}, w.net.Dialer("x", "isp-a"))
	blob, err := src[0].Fetch(context.Background())
	if err != nil {
		t.Fatalf("fetch from the moved mirror: %v", err)
	}
	got, err := manifest.Open(blob, inviteIn(f, 2).NetworkKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial <= start.Serial || !slices.ContainsFunc(got.Channels, func(c manifest.Channel) bool { return c.URL == newURL }) {
		t.Fatalf("the moved mirror serves serial %d (invite %d) naming %v", got.Serial, start.Serial, got.Channels)
	}
	// Listed again at once: the next move waits (mirrorBackoff, 3 s).
	t0 := w.net.Now()
	second := f.CohortMirror(2)
	w.censor.Block(t0, second.Addr(), "test")
	if moves := f.Tick(t0 + time.Second); len(moves) != 0 {
		t.Fatalf("moved again at once: %+v", moves)
	}
	if moves := probed(f, t0+4*time.Second); len(moves) != 1 || moves[0].Old != second {
		t.Fatalf("not moved after the backoff: %+v", moves)
	}
	// The old address no longer serves it.
	ch.URL = oldURL
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := channel.FromManifest(&manifest.Manifest{Channels: []manifest.Channel{ch}}, w.net.Dialer("x", "isp-a"))[0].Fetch(ctx); err == nil {
		t.Fatal("the old mirror address still answers")
	}
}
