package lab

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"samizdat/censor"
	"samizdat/lab/fleet"
	"samizdat/lab/report"
	"samizdat/lab/vnet"
)

// probeTimeout bounds one bystander fetch; probeParallel is how many run
// at once per vantage point (the ISPs' rounds and the control run side by
// side: a silently dropped fetch costs a sleeping goroutine, not CPU, so a
// round takes about one timeout however many are dropped).
const (
	probeTimeout  = time.Second
	probeParallel = 512
)

// loop is the run's only driver of the censor and the operators. At each
// lab time k*Tick, in this order: every fleet's operator step and
// enumeration (Fleet.Tick, in strategy order), Recheck of live flows, the
// censor's due active probes; every BystanderProbeEvery a round of
// bystander probes (in the background: it does not hold up the censor);
// every second a timeline sample and a progress report. A late tick still
// acts at its own lab time k*Tick, so what the operators and the censor
// decide does not depend on how busy the machine was.
func (w *world) loop(ctx context.Context) error {
	sc := w.sc
	tick := sc.Tick.D()
	end := sc.Duration.D() + sc.Drain.D()
	prober := w.net.Prober(vnet.ProberOptions{Seed: uint64(w.seed)})
	// A bystander round still running when the loop ends is cut short
	// (the last complete round stands).
	pctx, stopProbes := context.WithCancel(ctx)
	var probeDone chan struct{}
	defer func() {
		stopProbes()
		if probeDone != nil {
			<-probeDone
		}
	}()
	nextProbe, nextSample := censor.Time(0), censor.Time(0)
	phase := "run"
	for k := int64(0); ; k++ {
		now := censor.Time(k) * tick
		if now > end {
			break
		}
		if !w.sleepUntil(ctx, now) {
			return fmt.Errorf("lab: run interrupted: %w", ctx.Err())
		}
		w.cdnPolicy(now)
		for _, s := range w.strategies {
			for _, m := range s.fleet.Tick(now) {
				w.move(s, m)
			}
		}
		w.net.Recheck()
		w.cen.RunProbes(now, prober)

		if every := sc.BystanderProbeEvery.D(); every > 0 && now >= nextProbe && len(w.targets) > 0 {
			nextProbe = now + every
			// The previous round's complaints reach the regulator now, at a
			// lab time that does not depend on how fast the round ran.
			if probeDone != nil {
				<-probeDone
				probeDone = nil
			}
			w.relieve(now)
			if w.startProbeRound(pctx) {
				probeDone = make(chan struct{})
				go func(done chan struct{}) {
					defer close(done)
					w.probeRound(pctx, now)
				}(probeDone)
			}
		}
		if now >= nextSample {
			nextSample += time.Second
			if now >= sc.Duration.D() {
				phase = "drain"
			}
			w.sample(now, phase == "run")
			w.progress(phase, w.takeNote())
		}
	}
	return nil
}

// startProbeRound reports whether a new bystander round may start (the
// previous one is over).
func (w *world) startProbeRound(ctx context.Context) bool {
	w.probeMu.Lock()
	defer w.probeMu.Unlock()
	if w.probing || ctx.Err() != nil {
		return false
	}
	w.probing = true
	return true
}

// probeRound fetches every bystander from every ISP's subscribers and
// from an uncensored control, with the censor's verdicts taken at lab
// time at (vnet.Net.Measure), and records what it found (see collateral).
func (w *world) probeRound(ctx context.Context, at censor.Time) {
	var isps []string
	for _, sh := range w.sc.ISPShares() {
		isps = append(isps, sh.Name)
	}
	m := w.net.Measure(ctx, isps, at, w.targets, probeTimeout, probeParallel)
	broken, byISP, unmeasured := collateral(m.Control, m.ISPs)
	n := 0
	for _, b := range broken {
		if b {
			n++
		}
	}
	w.probeMu.Lock()
	defer w.probeMu.Unlock()
	w.probing = false
	if ctx.Err() != nil {
		return // cut short: not a measurement
	}
	w.broken, w.brokenByISP = n, byISP
	// The regulator hears of the services its blocks broke from their
	// owners, not from this measurement: its answer must not depend on
	// how busy the machine was during the round.
	w.complaints, w.complained = w.cen.Broken(at, w.targetAddrs()), true
	w.maxBroken = max(w.maxBroken, n)
	w.unmeasured += unmeasured
	w.retried += m.Retried
	w.cleared += m.Cleared
	w.probeRounds++
}

// collateral sorts one probe round. A target is broken when the control
// reached it and the subscribers of at least one ISP did not; byISP
// counts, per ISP, the targets the control reached and that ISP did not.
// A target the control did not reach is unmeasured (the service, or the
// machine, was too slow: not the censor's doing) and counts for no ISP.
func collateral(control vnet.ProbeResult, isps []vnet.ProbeResult) (broken []bool, byISP map[string]int, unmeasured int) {
	broken = make([]bool, len(control.Outcomes))
	byISP = make(map[string]int, len(isps))
	for _, r := range isps {
		byISP[r.ISP] += 0
	}
	for j, c := range control.Outcomes {
		if c != vnet.Reachable {
			unmeasured++
			continue
		}
		for _, r := range isps {
			if j < len(r.Outcomes) && r.Outcomes[j] != vnet.Reachable {
				broken[j] = true
				byISP[r.ISP]++
			}
		}
	}
	return broken, byISP, unmeasured
}

// relieve hands the complaints of the last complete probe round's
// services to the regulator (censor.Censor.Relieve) at lab time now, once
// per round.
func (w *world) relieve(now censor.Time) {
	w.probeMu.Lock()
	addrs, ok := w.complaints, w.complained
	w.complaints, w.complained = nil, false
	w.probeMu.Unlock()
	if !ok {
		return
	}
	for _, e := range w.cen.Relieve(now, addrs, len(w.targets)) {
		w.lastNote = "regulator unlisted " + e.Prefix.String() + " for its collateral"
	}
}

// targetAddrs are the bystanders' addresses.
func (w *world) targetAddrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(w.targets))
	for i, t := range w.targets {
		out[i] = t.Addr
	}
	return out
}

// move records an operator's move; moves counts the new addresses (a
// standby promoted in place of a blocked endpoint took none).
func (w *world) move(s *strategyRun, m fleet.Move) {
	s.mu.Lock()
	if !m.Promoted {
		s.moves++
	}
	s.mu.Unlock()
	detail := fmt.Sprintf("%s %v → %v (%s)", m.Transport, m.Old, m.New, m.Reason)
	if !m.Old.IsValid() {
		detail = fmt.Sprintf("%s new %v (%s)", m.Transport, m.New, m.Reason)
	}
	w.events = append(w.events, report.Event{TMS: m.At.Milliseconds(), Who: s.name, What: "move", Detail: detail})
	w.lastNote = s.name + " moved " + detail
}

// cdnPolicy applies the scenario's CDN policy at lab time now: when the
// provider stops fronting during the run, its edge cuts the fronted
// requests in flight and refuses new ones, and the change is an event.
func (w *world) cdnPolicy(now censor.Time) {
	on := w.sc.FrontingAt(now)
	if on == w.shared.Fronting() {
		return
	}
	w.shared.SetFronting(on)
	what := "fronting ends"
	if on {
		what = "fronting starts"
	}
	w.events = append(w.events, report.Event{TMS: now.Milliseconds(), Who: "cdn", What: what,
		Detail: "the CDN provider's edge refuses requests whose Host its TLS name does not cover (" + w.sc.CDN.Why + ")"})
	w.lastNote = "cdn: " + what
}

// takeNote returns the latest operator or censor move in words, once.
func (w *world) takeNote() string {
	n := w.lastNote
	w.lastNote = ""
	if evs := w.cen.Events(); len(evs) > w.seenEvents {
		e := evs[len(evs)-1]
		w.seenEvents = len(evs)
		what := e.Entry.Name
		if e.Entry.Prefix.IsValid() {
			what = e.Entry.Prefix.String()
		}
		if c := "censor: " + e.What + " " + what; n == "" {
			n = c
		} else {
			n += "; " + c
		}
	}
	return n
}

// sample appends one timeline point at now; during the run (not the
// drain) it also counts towards each strategy's availability.
func (w *world) sample(now censor.Time, running bool) {
	smp := report.Sample{
		TMS: now.Milliseconds(), Connected: map[string]float64{}, Delivered: map[string]int{},
		BlockedAddresses: w.cen.BlockedAddresses(now),
	}
	w.probeMu.Lock()
	smp.BystandersBroken = w.broken
	w.probeMu.Unlock()
	for _, s := range w.strategies {
		s.mu.Lock()
		up, _, delivered := s.tally()
		frac := 0.0
		if s.started > 0 {
			frac = float64(up) / float64(s.started)
		}
		if running {
			s.availSum += frac
			s.availN++
			for _, lc := range s.clients {
				if lc.c != nil {
					lc.samples++
					if lc.connected() {
						lc.upSamples++
					}
				}
			}
		}
		s.mu.Unlock()
		smp.Connected[s.name] = frac
		smp.Delivered[s.name] = delivered
	}
	w.timeline = append(w.timeline, smp)
}

// tally counts s's clients with a live connection now and sums what its
// clients sent and received. The caller holds s.mu.
func (s *strategyRun) tally() (connected, sent, delivered int) {
	for _, lc := range s.clients {
		if lc.connected() {
			connected++
		}
		sent += lc.sent
		delivered += lc.delivered
	}
	return connected, sent, delivered
}

// connected reports whether lc has a working connection: one it knows of
// that the censor has not cut. The caller holds lc.s.mu.
func (lc *labClient) connected() bool {
	return lc.c != nil && lc.up && lc.outage() < 0
}

// progress tells opt.Progress where the run is.
func (w *world) progress(phase, event string) {
	if w.opt.Progress == nil {
		return
	}
	p := Progress{
		T: w.clock.Now(), Total: w.sc.Duration.D() + w.sc.Drain.D(), Phase: phase, Event: event,
		Bystanders: len(w.targets),
	}
	if w.cen != nil {
		p.BlockedAddresses = w.cen.BlockedAddresses(p.T)
	}
	w.probeMu.Lock()
	p.BystandersBroken = w.broken
	w.probeMu.Unlock()
	for _, s := range w.strategies {
		s.mu.Lock()
		sp := StrategyProgress{Name: s.name, Clients: s.started}
		sp.Connected, sp.Sent, sp.Delivered = s.tally()
		s.mu.Unlock()
		p.Strategies = append(p.Strategies, sp)
	}
	w.opt.Progress(p)
}
