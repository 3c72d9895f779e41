package lab

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"samizdat/censor"
	"samizdat/lab/report"
	"samizdat/manifest"
	"samizdat/relay/endpoints"
)

// stranded describes s's clients still cut off at end (report.Stranded):
// how each outage began, how the last attempts failed, and what stood
// between the client and every endpoint and channel of the manifest it
// held, judged by the censor's registry as the client's ISP enforced it
// at the end and by the fleet's live endpoints.
func (w *world) stranded(s *strategyRun, end censor.Time) []report.Stranded {
	live := map[netip.AddrPort]bool{}
	var joined []uint32
	if s.fleet != nil {
		for _, a := range s.fleet.Endpoints() {
			live[a] = true
		}
		joined = s.fleet.EnumCohorts()
	}
	type cut struct {
		lc     *labClient
		st     report.Stranded
		failed string
	}
	var out []report.Stranded
	var cuts []cut
	s.mu.Lock()
	for _, lc := range s.clients {
		at, ok := lc.strandedSince(w.sc.Duration.D())
		if !ok {
			continue
		}
		by := lc.downBy
		if lc.downAt < 0 {
			by = lc.cutBy + " (not noticed yet)"
		}
		cuts = append(cuts, cut{lc: lc, st: report.Stranded{
			Client: lc.id, ISP: lc.isp, DownAtMS: at.Milliseconds(), DownBy: by,
			LastFailure: string(lc.lastFail), Refreshes: lc.refreshes, RefreshesFailed: lc.refreshErr,
		}})
	}
	s.mu.Unlock()
	fronting := w.shared.Fronting()
	for _, c := range cuts {
		st := c.st
		m, err := c.lc.c.Manifest()
		if err != nil {
			st.Paths = []report.Paths{{Kind: "manifest", State: "unreadable", Count: 1}}
			out = append(out, st)
			continue
		}
		st.Cohort = c.lc.c.Cohort()
		st.CohortJoined = slices.Contains(joined, st.Cohort)
		mine := m.ForCohort(st.Cohort)
		groups := map[report.Paths]int{}
		judge := func(kind, host string, liveAddr netip.AddrPort, checkLive bool) {
			g := report.Paths{Kind: kind, State: "open"}
			if checkLive && !live[liveAddr] {
				g.State = "retired"
			} else if e, ok := w.cen.Listing(end, c.lc.isp, host); ok {
				g.State, g.ListedBy = "listed", e.Reason
			} else if (kind == endpoints.Front || kind == endpoints.Front+" channel") && !fronting {
				g.State = "unfronted"
			}
			groups[g]++
		}
		for _, r := range mine.Relays {
			for _, e := range r.Endpoints {
				ap, err := netip.ParseAddrPort(e.Address)
				if err != nil {
					groups[report.Paths{Kind: e.Transport, State: "unparsable"}]++
					continue
				}
				judge(e.Transport, ap.Addr().String(), ap, true)
			}
		}
		for _, ch := range mine.Channels {
			judge(ch.Kind+" channel", channelHost(ch), netip.AddrPort{}, false)
		}
		st.BridgeOffers = w.bridgePaths(c.lc, end, groups)
		st.Paths = pathGroups(groups)
		out = append(out, st)
	}
	return out
}

// channelHost is the host a client reaches for channel ch: the front's
// edge address, or the host of the mirror's or resolver's URL.
func channelHost(ch manifest.Channel) string {
	if ch.Address != "" {
		if h, _, err := net.SplitHostPort(ch.Address); err == nil {
			return h
		}
		return ch.Address
	}
	if u, err := url.Parse(ch.URL); err == nil {
		return u.Hostname()
	}
	return ""
}

// unrecoveredNote says, for a strategy's stranded clients, how their last
// dial attempts failed and whether the channels gave them anything new.
func unrecoveredNote(strategy string, st []report.Stranded) string {
	if len(st) == 0 {
		return ""
	}
	refreshed, allFailed := 0, 0
	classes := map[string]int{}
	for _, x := range st {
		name := x.LastFailure
		if name == "" {
			name = "no failed attempt"
		}
		classes[name]++
		if x.Refreshes > 0 {
			refreshed++
			if x.RefreshesFailed == x.Refreshes {
				allFailed++
			}
		}
	}
	keys := slices.Sorted(maps.Keys(classes))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, classes[k])
	}
	return fmt.Sprintf("%d %s clients lost their connection and had not got it back when the run ended; their last failed attempts: %s; %d asked the channels for a newer manifest, %d of them in vain every time.",
		len(st), strategy, strings.Join(parts, ", "), refreshed, allFailed)
}

// strandedNote sums up, in words, what stood between a strategy's
// stranded clients and every path they knew.
func strandedNote(strategy string, st []report.Stranded) string {
	if len(st) == 0 {
		return ""
	}
	joined, cohorts := 0, false
	groups := map[report.Paths]int{}
	for _, x := range st {
		if x.CohortJoined {
			joined++
		}
		cohorts = cohorts || x.Cohort > 0
		for _, g := range x.Paths {
			n := g.Count
			g.Count = 0
			groups[g] += n
		}
	}
	all := pathGroups(groups)
	parts := make([]string, len(all))
	for i, g := range all {
		parts[i] = g.String()
	}
	where := ""
	switch {
	case joined > 0 && cohorts:
		where = fmt.Sprintf(" %d of them sit in cohorts the censor's own accounts joined.", joined)
	case joined > 0:
		where = " The censor's own accounts read the same manifests."
	}
	return fmt.Sprintf("What stood between %s's %d stranded clients and the paths their manifests list, at the end: %s.%s",
		strategy, len(st), strings.Join(parts, ", "), where)
}

// pathGroups turns counts by group into the report's sorted list.
func pathGroups(groups map[report.Paths]int) []report.Paths {
	out := make([]report.Paths, 0, len(groups))
	for g, n := range groups {
		g.Count = n
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b report.Paths) int {
		return strings.Compare(a.String(), b.String())
	})
	return out
}

// cohorts gives s's figures per cohort (report.Cohort), or nil for a
// strategy without cohorts: messages count for their recipient's cohort.
func (w *world) cohorts(s *strategyRun, stranded []report.Stranded) []report.Cohort {
	open := s.opened()
	cohortOf := map[*labClient]uint32{}
	any := false
	for _, lc := range open {
		cohortOf[lc] = lc.c.Cohort()
		any = any || cohortOf[lc] > 0
	}
	if !any {
		return nil
	}
	var joined []uint32
	if s.fleet != nil {
		joined = s.fleet.EnumCohorts()
	}
	var out []report.Cohort
	for c, g := range groupFigures(s, open, stranded, func(lc *labClient) uint32 { return cohortOf[lc] }) {
		out = append(out, report.Cohort{Cohort: c, Joined: slices.Contains(joined, c), Group: g})
	}
	slices.SortFunc(out, func(a, b report.Cohort) int { return cmp.Compare(a.Cohort, b.Cohort) })
	return out
}

// isps gives s's figures per ISP its clients subscribe to: messages count
// for their recipient's ISP.
func (w *world) isps(s *strategyRun, stranded []report.Stranded) []report.ISP {
	var out []report.ISP
	for isp, g := range groupFigures(s, s.opened(), stranded, func(lc *labClient) string { return lc.isp }) {
		out = append(out, report.ISP{ISP: isp, Group: g})
	}
	slices.SortFunc(out, func(a, b report.ISP) int { return strings.Compare(a.ISP, b.ISP) })
	return out
}

// groupFigures tallies the figures of s's open clients by the group key
// puts each in: members, the messages written to them and how many they
// received, their connected samples, and the stranded among them.
func groupFigures[K comparable](s *strategyRun, open []*labClient, stranded []report.Stranded, key func(*labClient) K) map[K]report.Group {
	by := map[K]*report.Group{}
	get := func(lc *labClient) *report.Group {
		k := key(lc)
		if by[k] == nil {
			by[k] = &report.Group{}
		}
		return by[k]
	}
	byID := map[string]*labClient{}
	up, samples := map[*report.Group]int{}, map[*report.Group]int{}
	s.mu.Lock()
	for _, lc := range open {
		g := get(lc)
		g.Clients++
		up[g] += lc.upSamples
		samples[g] += lc.samples
		byID[lc.id] = lc
	}
	for _, m := range s.msgs {
		if m.from == nil || m.from.partner == nil || m.from.partner.c == nil {
			continue
		}
		g := get(m.from.partner)
		g.Sent++
		if m.delivered {
			g.Delivered++
		}
	}
	s.mu.Unlock()
	for _, x := range stranded {
		if lc := byID[x.Client]; lc != nil {
			get(lc).Unrecovered++
		}
	}
	out := make(map[K]report.Group, len(by))
	for k, g := range by {
		if g.Sent > 0 {
			g.DeliveryRatio = float64(g.Delivered) / float64(g.Sent)
		}
		if samples[g] > 0 {
			g.Availability = float64(up[g]) / float64(samples[g])
		}
		out[k] = *g
	}
	return out
}
