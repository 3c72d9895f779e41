package lab

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"samizdat/censor"
	"samizdat/lab/report"
	"samizdat/lab/scenario"
)

// Design targets (design.md §8) the lab measures.
const (
	targetDelivery     = 0.99
	targetReconnectP50 = 2 * time.Second
	targetReconnectP99 = 10 * time.Second
	targetColdStart    = 30 * time.Second
)

// msf converts a duration to float milliseconds.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// accounting sorts one strategy's messages by what became of them.
type accounting struct {
	sent, delivered, acked, queued, failed, unaccounted int
	notQueued                                           int // Send failed before the outbox held it
	duplicates                                          int // deliveries beyond the first
	orphans                                             int // deliveries of ids whose Send never returned a queued message
	clientSent, clientDelivered                         int // sums over clients
	coldMeasured, coldFailed                            int
}

// report assembles the run's report. It runs after the tick loop, while
// clients are still open (their outboxes are read).
func (w *world) report() *report.Report {
	end := w.clock.Now()
	r := &report.Report{
		Scenario: w.sc.Name, Seed: w.seed, DurationMS: end.Milliseconds(),
		Strategies: map[string]report.Strategy{},
		Timeline:   w.timeline,
	}
	accts := map[string]accounting{}
	for _, s := range w.strategies {
		st, acct := w.strategyFigures(s, end)
		st.Stranded = w.stranded(s, end)
		st.Cohorts = w.cohorts(s, st.Stranded)
		st.ISPs = w.isps(s, st.Stranded)
		r.Strategies[s.name] = st
		accts[s.name] = acct
	}
	r.Censor = w.censorFigures(end)
	if w.sc.CDN != nil {
		served, refused := w.shared.Fronted()
		r.CDN = &report.CDN{FrontedServed: served, FrontedRefused: refused}
	}
	r.Events = w.allEvents()
	r.Targets = w.designTargets(r)
	r.Invariants = w.invariants(r, accts)
	r.Notes = w.notes(r)
	return r
}

// strategyFigures computes one strategy's figures and message accounting.
func (w *world) strategyFigures(s *strategyRun, end censor.Time) (report.Strategy, accounting) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	queued := map[[16]byte]bool{}
	open := s.opened()
	for _, lc := range open {
		out, err := lc.c.Outbox(ctx)
		if err != nil {
			w.log.Debug("reading outbox", "client", lc.id, "err", err)
			continue
		}
		for _, o := range out {
			queued[o.EnvelopeID] = true
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var a accounting
	var lat []float64
	for _, m := range s.msgs {
		if m.from == nil { // delivered, but its Send reported it not stored
			a.orphans++
			continue
		}
		a.sent++
		if m.deliveries > 1 {
			a.duplicates += m.deliveries - 1
		}
		switch {
		case m.delivered:
			a.delivered++
			lat = append(lat, msf(m.deliveredAt.Sub(m.at)))
		case m.failed || s.failedEnv[m.envelope]:
			a.failed++
		case queued[m.envelope]:
			a.queued++
		case m.acked || s.acked[m.envelope]:
			a.acked++
		default:
			a.unaccounted++
		}
	}
	a.notQueued = s.notQueued
	a.sent += a.notQueued
	st := report.Strategy{Sent: a.sent, Delivered: a.delivered, Moves: s.moves, Clients: s.started}
	if a.sent > 0 {
		st.DeliveryRatio = float64(a.delivered) / float64(a.sent)
	}
	st.LatencyP50MS, st.LatencyP99MS = report.Percentile(lat, 50), report.Percentile(lat, 99)

	// Reconnects: completed ones, and the outages still open at the end
	// (unrecovered), which count with the rest of the run as their time.
	rec := make([]float64, 0, len(s.reconnects))
	for _, d := range s.reconnects {
		rec = append(rec, msf(d))
	}
	st.Reconnects = len(s.reconnects)
	st.RecoveredBy = maps.Clone(s.recoveredBy)
	st.ReconnectsViaBridge = st.RecoveredBy["bridge"]
	if s.bridges != nil {
		st.Bridges = len(s.bridges.bridges)
	}
	st.ReconnectMS = slices.Sorted(slices.Values(rec)) // completed reconnects only
	var cold []float64
	for _, lc := range s.clients {
		a.clientSent += lc.sent
		a.clientDelivered += lc.delivered
		if at := lc.outage(); lc.c != nil && at >= 0 {
			rec = append(rec, msf(end-at))
		}
		if _, ok := lc.strandedSince(w.sc.Duration.D()); ok {
			st.Unrecovered++
		}
		// A cold start that never got a message through counts with the
		// rest of the run, as an unrecovered outage does: the median is
		// over every cold-start client, not only the lucky ones.
		if lc.cold {
			if lc.firstAcked >= 0 {
				cold = append(cold, msf(lc.firstAcked-lc.initAt))
				if lc.firstAcked-lc.initAt <= targetColdStart {
					s.coldInTime++
				}
			} else {
				st.ColdStartFailed++
				cold = append(cold, msf(end-max(lc.initAt, w.sc.ColdStartAt.D())))
			}
		}
	}
	st.ReconnectP50MS, st.ReconnectP99MS = report.Percentile(rec, 50), report.Percentile(rec, 99)
	a.coldMeasured, a.coldFailed = len(cold)-st.ColdStartFailed, st.ColdStartFailed
	if len(cold) > 0 {
		v := report.Percentile(cold, 50)
		st.ColdStartMS = &v
	}
	if s.availN > 0 {
		st.Availability = s.availSum / float64(s.availN)
	}
	return st, a
}

// censorFigures sums up what the censor did and what it broke.
func (w *world) censorFigures(end censor.Time) report.Censor {
	c := report.Censor{
		BlockedAddresses: w.cen.BlockedAddresses(end),
		BlockedPrefixes:  w.cen.BlockedPrefixes(end),
		Bystanders:       len(w.targets),
		Entries:          len(w.cen.Entries()),
	}
	w.probeMu.Lock()
	c.BystandersBroken, c.MaxBystandersBroken = w.broken, w.maxBroken
	c.ByISP = w.brokenByISP
	w.probeMu.Unlock()
	if c.Bystanders > 0 {
		c.CollateralRatio = float64(c.BystandersBroken) / float64(c.Bystanders)
	}
	return c
}

// allEvents merges the censor's moves and the operators', by time.
func (w *world) allEvents() []report.Event {
	var out []report.Event
	for _, e := range w.cen.Events() {
		detail := e.Detail
		if p := e.Entry.Prefix; p.IsValid() {
			detail = strings.TrimSpace(p.String() + " " + detail)
		} else if e.Entry.Name != "" {
			detail = strings.TrimSpace(e.Entry.Name + " " + detail)
		}
		if e.Entry.Reason != "" {
			detail += " (" + e.Entry.Reason + ")"
		}
		out = append(out, report.Event{TMS: e.At.Milliseconds(), Who: "censor", What: e.What, Detail: detail})
	}
	out = append(out, w.events...)
	slices.SortStableFunc(out, func(a, b report.Event) int { return cmp.Compare(a.TMS, b.TMS) })
	return out
}

// designTargets states the design targets this scenario measures, for samizdat:
// against the 2018 censor, delivery and reconnect times; wherever there
// are cold-start clients, the cold start.
func (w *world) designTargets(r *report.Report) []report.Target {
	st, ok := r.Strategies[scenario.Samizdat]
	if !ok {
		return nil
	}
	var out []report.Target
	if w.sc.Censor.Preset == scenario.PresetRKN2018 {
		out = append(out,
			report.Target{Name: "delivered", Strategy: scenario.Samizdat, Want: fmt.Sprintf("≥ %.0f%%", targetDelivery*100),
				Got: st.DeliveryRatio * 100, Unit: "%", Met: st.Sent > 0 && st.DeliveryRatio >= targetDelivery},
			reconnectTarget("reconnect median", st, st.ReconnectP50MS, targetReconnectP50),
			reconnectTarget("reconnect p99", st, st.ReconnectP99MS, targetReconnectP99),
		)
	}
	if w.sc.ColdStart > 0 {
		t := report.Target{Name: "cold start", Strategy: scenario.Samizdat, Want: fmt.Sprintf("≤ %v", targetColdStart), Unit: "ms"}
		if st.ColdStartMS != nil {
			// The median client must have got through in time (a failure
			// counts as the rest of the run, which may be short).
			t.Got = *st.ColdStartMS
			t.Met = 2*w.strategy(scenario.Samizdat).coldInTime >= w.sc.ColdStart
		} else {
			t.Got = -1
		}
		out = append(out, t)
	}
	return out
}

// reconnectTarget is a reconnect-time target for samizdat: with no
// outage at all (none completed, none still open) there is nothing to
// measure, and the percentile of nothing is not a pass: Got is -1 and the
// target is not met ("not measured" in the report).
func reconnectTarget(name string, st report.Strategy, got float64, want time.Duration) report.Target {
	t := report.Target{Name: name, Strategy: scenario.Samizdat, Want: fmt.Sprintf("≤ %v", want), Unit: "ms", Got: -1}
	if st.Reconnects+st.Unrecovered > 0 {
		t.Got, t.Met = got, got <= msf(want)
	}
	return t
}

// invariants are the run's own consistency checks.
func (w *world) invariants(r *report.Report, accts map[string]accounting) []report.Check {
	var out []report.Check
	check := func(name string, ok bool, format string, args ...any) {
		out = append(out, report.Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	for _, s := range w.strategies {
		st, a := r.Strategies[s.name], accts[s.name]
		check(s.name+": delivered ≤ sent", st.Delivered <= st.Sent, "delivered %d, sent %d", st.Delivered, st.Sent)
		check(s.name+": per-client sums", a.clientSent == a.sent && a.clientDelivered == a.delivered,
			"clients sent %d (strategy %d), received %d distinct (strategy %d)", a.clientSent, a.sent, a.clientDelivered, a.delivered)
		check(s.name+": every message accounted for", a.unaccounted == 0 && a.orphans == 0,
			"sent %d = delivered %d + acknowledged, not yet delivered %d + still queued %d + refused %d + not stored by the app %d; unaccounted %d, delivered without a send %d",
			a.sent, a.delivered, a.acked, a.queued, a.failed, a.notQueued, a.unaccounted, a.orphans)
		check(s.name+": cold-start clients accounted for", a.coldMeasured+a.coldFailed == w.sc.ColdStart,
			"%d measured + %d failed of %d", a.coldMeasured, a.coldFailed, w.sc.ColdStart)
		s.mu.Lock()
		unknown, whileDown, refuted := s.unknown, s.whileDown, s.cutsRefuted
		s.mu.Unlock()
		check(s.name+": outages agree with deliveries", whileDown == 0,
			"%d messages written after a client lost its connection reached it before it reconnected (%d cuts of a client's other flows set aside)",
			whileDown, refuted)
		check(s.name+": no message from nowhere", unknown == 0, "%d received texts were not lab messages", unknown)
		check(s.name+": reconnects through bridges among the reconnects", st.ReconnectsViaBridge <= st.Reconnects,
			"%d through a bridge of %d", st.ReconnectsViaBridge, st.Reconnects)
		byWay := 0
		for _, n := range st.RecoveredBy {
			byWay += n
		}
		check(s.name+": every reconnect has its way back", byWay == st.Reconnects,
			"%d reconnects, %d by way back", st.Reconnects, byWay)
		described := 0
		for _, x := range st.Stranded {
			if len(x.Paths) > 0 {
				described++
			}
		}
		var cohorts, isps report.Group
		for _, c := range st.Cohorts {
			cohorts.Add(c.Group)
		}
		for _, c := range st.ISPs {
			isps.Add(c.Group)
		}
		check(s.name+": every stranded client described", len(st.Stranded) == st.Unrecovered && described == st.Unrecovered &&
			(st.Cohorts == nil || cohorts.Unrecovered == st.Unrecovered && cohorts.Delivered <= st.Delivered && cohorts.Sent <= st.Sent),
			"%d clients unrecovered, %d described, %d of them with the paths they knew; per cohort: %d unrecovered, %d of %d messages delivered",
			st.Unrecovered, len(st.Stranded), described, cohorts.Unrecovered, cohorts.Delivered, cohorts.Sent)
		check(s.name+": the ISPs add up", isps.Unrecovered == st.Unrecovered && isps.Delivered <= st.Delivered && isps.Sent <= st.Sent &&
			(st.Cohorts == nil || isps == cohorts),
			"per ISP: %d clients, %d unrecovered, %d of %d messages delivered; in all: %d unrecovered, %d of %d delivered",
			isps.Clients, isps.Unrecovered, isps.Delivered, isps.Sent, st.Unrecovered, st.Delivered, st.Sent)
		check(s.name+": timeline ends at the totals", lastDelivered(r.Timeline, s.name) <= st.Delivered,
			"last sample %d delivered, total %d", lastDelivered(r.Timeline, s.name), st.Delivered)
	}
	ns := w.net.Stats()
	check("no dial outside loopback", ns.Violations == 0, "vnet violations %d, loopback sockets %d, refused %d", ns.Violations, ns.RealDials, ns.Refused)
	check("traffic went through the censor", ns.Flows > 0 && ns.RealDials > 0, "flows %d, loopback sockets %d", ns.Flows, ns.RealDials)
	check("bystanders probed", w.probeRounds > 0 || len(w.targets) == 0, "%d probe rounds of %d bystanders", w.probeRounds, len(w.targets))
	return out
}

func lastDelivered(tl []report.Sample, name string) int {
	if len(tl) == 0 {
		return 0
	}
	return tl[len(tl)-1].Delivered[name]
}

// notes says, in words, where samizdat did worse than a baseline or missed
// a target. The lab does not flatter.
func (w *world) notes(r *report.Report) []string {
	var out []string
	for _, t := range r.Targets {
		switch {
		case t.Met:
		case t.Got < 0 && t.Unit == "ms" && t.Name != "cold start":
			out = append(out, fmt.Sprintf("samizdat's target %q (%s) was not measured: none of its clients lost a connection.", t.Name, t.Want))
		case t.Got < 0:
			out = append(out, fmt.Sprintf("samizdat missed the target %q (%s): none of its clients got there, so there is nothing to measure.", t.Name, t.Want))
		case t.Unit == "ms":
			out = append(out, fmt.Sprintf("samizdat missed the target %q: wanted %s, measured %s.", t.Name, t.Want, report.Seconds(t.Got)))
		default:
			out = append(out, fmt.Sprintf("samizdat missed the target %q: wanted %s, measured %.1f%s.", t.Name, t.Want, t.Got, t.Unit))
		}
	}
	sz, ok := r.Strategies[scenario.Samizdat]
	if !ok {
		return out
	}
	for _, s := range w.strategies {
		if s.name == scenario.Samizdat {
			continue
		}
		b := r.Strategies[s.name]
		if b.Sent > 0 && sz.Sent > 0 && b.DeliveryRatio > sz.DeliveryRatio {
			out = append(out, fmt.Sprintf("%s delivered a larger share of its messages than samizdat (%.1f%% against %.1f%%).",
				s.name, b.DeliveryRatio*100, sz.DeliveryRatio*100))
		}
		if b.Availability > sz.Availability+0.01 {
			out = append(out, fmt.Sprintf("%s clients were connected more of the time than samizdat's (%.1f%% against %.1f%%).",
				s.name, b.Availability*100, sz.Availability*100))
		}
	}
	if sz.ColdStartFailed > 0 {
		out = append(out, fmt.Sprintf("%d of samizdat's %d cold-start clients never got a message through.", sz.ColdStartFailed, w.sc.ColdStart))
	}
	for _, s := range w.strategies {
		if n := unrecoveredNote(s.name, r.Strategies[s.name].Stranded); n != "" {
			out = append(out, n)
		}
		if n := strandedNote(s.name, r.Strategies[s.name].Stranded); n != "" {
			out = append(out, n)
		}
		if n := bridgeNote(s, r.Strategies[s.name]); n != "" {
			out = append(out, n)
		}
	}
	if w.offlineAtStart > 0 {
		out = append(out, fmt.Sprintf("%d clients had not connected when the run began (setup gave them %v).", w.offlineAtStart, onlineTimeout))
	}
	if w.unmeasured > 0 {
		out = append(out, fmt.Sprintf("%d bystander fetches over %d probe rounds were not measured: the uncensored control could not reach the service either (a busy machine or service, not the censor), so they do not count as collateral.",
			w.unmeasured, w.probeRounds))
	}
	if w.retried > 0 {
		out = append(out, fmt.Sprintf("%d bystander fetches from an ISP failed while the control got through and the censor had not blocked them (a busy machine or service); fetched again after their round, %d got through and do not count as collateral.",
			w.retried, w.cleared))
	}
	if c := r.Censor; c.Bystanders > 0 && c.MaxBystandersBroken > 0 {
		out = append(out, fmt.Sprintf("The censor broke up to %d of %d bystander services (%d at the end) while blocking these strategies.",
			c.MaxBystandersBroken, c.Bystanders, c.BystandersBroken))
	}
	return out
}

// strategy returns the strategy named name, or an empty one.
func (w *world) strategy(name string) *strategyRun {
	for _, s := range w.strategies {
		if s.name == name {
			return s
		}
	}
	return newStrategyRun(name)
}
