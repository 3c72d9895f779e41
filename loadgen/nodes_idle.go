package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/relay/wire"
)

// nodesPoll is the relays' --delivery-poll in the nodes scenario: short,
// so that the poll phase has polls enough to measure.
const nodesPoll = time.Second

// idlePerPair is how many idle delivering connections the poll phase
// opens per pair.
const idlePerPair = 8

// idleCosts measures what connections cost the nodes when no message
// flows: the CPU per ping answered (every peer pinging, one ping in
// flight, for ThroughputFor) and per mailbox poll (idle delivering
// connections spread over the nodes, re-reading their empty mailboxes
// every nodesPoll, for ThroughputFor).
func (r *nodesRun) idleCosts(ctx context.Context, res *Result, procs []*childProc, nodes []*node, peers []*peer, idleIDs []ident) error {
	r.progress("%s-%d: %d connections pinging", ScenarioNodes, len(nodes), len(peers))
	pctx, cancel := context.WithTimeout(ctx, r.sz.ThroughputFor)
	defer cancel()
	var pings atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	a := r.sampleCPU(ctx, procs)
	for _, p := range peers {
		wg.Go(func() {
			for pctx.Err() == nil {
				if _, err := p.callOK(pctx, &wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}}); err != nil {
					if pctx.Err() == nil {
						failed.CompareAndSwap(nil, err)
					}
					return
				}
				pings.Add(1)
			}
		})
	}
	wg.Wait()
	b := r.sampleCPU(ctx, procs)
	if err, _ := failed.Load().(error); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	res.add("pings_per_s", float64(pings.Load())/b.at.Sub(a.at).Seconds(), "pings/s")
	r.record(res, "ping", "", a, b, pings.Load())

	// Idle delivering connections, node k taking every len(nodes)-th.
	r.progress("%s-%d: %d idle connections polling every %v", ScenarioNodes, len(nodes), len(idleIDs), nodesPoll)
	tr := newTracker()
	var idle []*peer
	defer func() { closeAll(idle) }()
	for k := range nodes {
		var mine []ident
		for i := k; i < len(idleIDs); i += len(nodes) {
			mine = append(mine, idleIDs[i])
		}
		ps, err := receivers(ctx, nodes[k], mine, tr)
		if err != nil {
			return err
		}
		idle = append(idle, ps...)
	}
	// Let every connection's first poll come round before counting.
	time.Sleep(nodesPoll + nodesPoll/8)
	a = r.sampleCPU(ctx, procs)
	time.Sleep(r.sz.ThroughputFor)
	b = r.sampleCPU(ctx, procs)
	conns := len(idle) + len(peers)
	polls := float64(conns) * b.at.Sub(a.at).Seconds() / (nodesPoll.Seconds() * 1.0625)
	res.add("polling_conns", float64(conns), "conns")
	r.record(res, "poll", "", a, b, int64(polls))
	res.check("idle connections got nothing", tr.delivered.Load() == 0, "%d deliveries", tr.delivered.Load())
	return nil
}
