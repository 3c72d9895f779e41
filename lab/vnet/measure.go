package vnet

import (
	"context"
	"sync"
	"time"

	"samizdat/censor"
)

// Round is one probe round: the control's result and each ISP's, with
// the failures the censor did not cause replaced by their retry.
type Round struct {
	Control ProbeResult
	ISPs    []ProbeResult
	Retried int // ISP probes that failed without a block verdict while the control got through
	Cleared int // of those, how many the retry reached
}

// retryParallel is how many retries run at once: few, so a machine that
// was too busy for the first pass is not swamped again.
const retryParallel = 8

// Measure probes targets from the control and from each of isps at
// once (a dropped fetch costs a sleeping goroutine for the timeout, so a
// round takes about one timeout however many are dropped). A fetch that
// failed from an ISP while the control reached the service, without the
// censor having blocked its flow, is the machine's doing or the
// service's, not yet the censor's: it is fetched again once the round is
// over, a few at a time, and the retry's outcome stands. So a target
// counts as broken for an ISP only when the censor blocked its flow, or
// when it failed twice, the second time after the control had reached it.
func (n *Net) Measure(ctx context.Context, isps []string, at censor.Time, targets []ProbeTarget, timeout time.Duration, parallel int) Round {
	r := Round{ISPs: make([]ProbeResult, len(isps))}
	var wg sync.WaitGroup
	wg.Go(func() { r.Control = n.ProbeControl(ctx, targets, timeout, parallel) })
	for i, isp := range isps {
		wg.Go(func() { r.ISPs[i] = n.ProbeAt(ctx, isp, at, targets, timeout, parallel) })
	}
	wg.Wait()
	for i := range r.ISPs {
		res := &r.ISPs[i]
		var again []int
		for j, o := range res.Outcomes {
			if o != Reachable && !res.Censored[j] && r.Control.Outcomes[j] == Reachable {
				again = append(again, j)
			}
		}
		if len(again) == 0 || ctx.Err() != nil {
			continue
		}
		sub := make([]ProbeTarget, len(again))
		for k, j := range again {
			sub[k] = targets[j]
		}
		retry := n.ProbeAt(ctx, res.ISP, at, sub, timeout, retryParallel)
		r.Retried += len(again)
		for k, j := range again {
			o := retry.Outcomes[k]
			res.ByOutcome[res.Outcomes[j].String()]--
			res.ByOutcome[o.String()]++
			res.Outcomes[j], res.Censored[j] = o, retry.Censored[k]
			if o == Reachable {
				r.Cleared++
				res.Reachable++
				res.Broken--
			}
		}
	}
	return r
}
