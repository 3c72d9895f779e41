package fleet

import (
	"context"
	"net/netip"
	"time"

	"samizdat/censor"
	"samizdat/lab/vnet"
)

// vantageParallel is how many probes a vantage point runs at once: a
// silently dropped probe costs a sleeping goroutine until the timeout.
const vantageParallel = 256

// vantage is the operator's monitoring network: a subscriber of each
// watched ISP and an uncensored control outside the country, probing
// every live endpoint and mirror through vnet (vnet.Net.Measure) every
// Operator.ProbeEvery, with the censor's verdicts of the round's lab
// time. What a round finds reaches the operator when the next round
// starts: the probing delay. Its fields are guarded by the Fleet's mu;
// round is written by the round's goroutine before it closes done.
type vantage struct {
	ctx     context.Context
	cancel  context.CancelFunc
	next    censor.Time // lab time of the next round
	done    chan struct{}
	round   vnet.Round
	targets []netip.AddrPort           // the round in flight's
	found   map[netip.AddrPort]finding // blocked in the last complete round
	probes  int                        // probe connections made, all rounds
	at      censor.Time                // the round in flight's lab time
}

// finding is a vantage point's report of a blocked address.
type finding struct {
	at  censor.Time // the round's lab time
	why string
}

// vantageTimeout bounds one probe: a second, or half the interval
// between rounds if that is shorter, so a round ends before the next.
func vantageTimeout(every time.Duration) time.Duration {
	return min(time.Second, every/2)
}

// start starts a round at lab time at, with every as the rounds'
// interval.
func (v *vantage) start(n *vnet.Net, isps []string, at censor.Time, every time.Duration, targets []netip.AddrPort) {
	if v.ctx.Err() != nil || len(targets) == 0 || len(isps) == 0 {
		return
	}
	pts := make([]vnet.ProbeTarget, len(targets))
	for i, t := range targets {
		pts[i] = vnet.ProbeTarget{Addr: t, Endpoint: true}
	}
	done := make(chan struct{})
	v.done, v.targets, v.at = done, targets, at
	go func() {
		defer close(done)
		v.round = n.Measure(v.ctx, isps, at, pts, vantageTimeout(every), vantageParallel)
	}()
}

// collect waits for the round in flight, if any, and takes in its
// findings: a target is blocked at an ISP when that ISP's subscriber
// could not reach it because the censor blocked the probe. A probe that
// failed without the censor (a timeout on a busy machine, even after
// vnet.Net.Measure's retry) is the machine's doing, not the modelled
// network's, and finds nothing, so what the operator learns, and when,
// repeats for a seed. A round cut short by Close finds nothing.
func (v *vantage) collect() {
	if v.done == nil {
		return
	}
	<-v.done
	v.done = nil
	if v.ctx.Err() != nil {
		return
	}
	r := v.round
	v.probes += len(v.targets)*(len(r.ISPs)+1) + r.Retried
	v.found = map[netip.AddrPort]finding{}
	for j, t := range v.targets {
		for _, res := range r.ISPs {
			if res.Censored[j] {
				v.found[t] = finding{at: v.at, why: "blocked at " + res.ISP + " (vantage probe: " + res.Outcomes[j].String() + ")"}
				break
			}
		}
	}
}

// watchedISPs returns the ISPs the operator has vantage points in:
// Config.ISPs, or every ISP the censor has.
func (f *Fleet) watchedISPs() []string {
	if len(f.cfg.ISPs) > 0 {
		return f.cfg.ISPs
	}
	return f.cfg.Censor.ISPs()
}

// probeTargets returns the addresses the vantage points probe: every
// live endpoint's (the CDN edge's once) and every cohort mirror's.
func (f *Fleet) probeTargets() []netip.AddrPort {
	var out []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	add := func(a netip.AddrPort) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, e := range f.eps {
		add(e.virt)
	}
	for _, m := range f.mirrors {
		add(m.virt)
	}
	return out
}

// Probes returns how many probe connections the operator's vantage
// points made so far (the cost of its monitoring).
func (f *Fleet) Probes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vantage.probes
}
