package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/relay"
	"samizdat/relay/wire"
)

// sendReq is a SendMessages of one 1 KiB message to device to.
func sendReq(to ident, id, content []byte) *wire.Request {
	return &wire.Request{Op: &wire.Request_Send{Send: &wire.SendMessages{
		Recipient:  to.account[:],
		Timestamp:  uint64(time.Now().UnixMilli()),
		EnvelopeId: id,
		Messages:   []*wire.OutgoingMessage{{DeviceId: to.dev, RegistrationId: to.regID, Type: 2, Content: content}},
	}}}
}

// receivers connects ids as delivering, acknowledging devices whose
// deliveries tr counts.
func receivers(ctx context.Context, n *node, ids []ident, tr *tracker) ([]*peer, error) {
	return receiversFrom(ctx, n, ids, tr.onPush, nil)
}

// receiversFrom connects ids as delivering, acknowledging devices whose
// pushes onPush takes, device i from the local address from(i) (nil
// from: any).
func receiversFrom(ctx context.Context, n *node, ids []ident, onPush pushFunc, from func(int) *net.TCPAddr) ([]*peer, error) {
	peers, err := connectFrom(ctx, n, ids, onPush, from)
	if err != nil {
		return nil, err
	}
	err = parallel(ctx, len(peers), 64, func(ctx context.Context, i int) error {
		_, err := peers[i].callOK(ctx, &wire.Request{Op: &wire.Request_StartDelivery{StartDelivery: &wire.StartDelivery{}}})
		return err
	})
	if err != nil {
		closeAll(peers)
		return nil, err
	}
	return peers, nil
}

// settleAcks waits for every receiver's acknowledgements and returns how
// many failed.
func settleAcks(peers []*peer) int {
	failed := 0
	for _, p := range peers {
		if p.acks != nil {
			failed += p.acks.settle()
		}
	}
	return failed
}

// window sends from one peer with at most w requests in flight.
type window struct {
	sem chan struct{}
	c   *counter
}

func newWindow(w int, c *counter) *window { return &window{sem: make(chan struct{}, w), c: c} }

// send blocks for a free slot, then starts req; done (if not nil) runs with
// the response before the slot is freed.
func (w *window) send(p *peer, req *wire.Request, done func(*wire.Response)) {
	w.sem <- struct{}{}
	err := p.start(req, func(r *wire.Response) {
		w.c.record(r)
		if done != nil {
			done(r)
		}
		<-w.sem
	})
	if err != nil {
		w.c.record(nil)
		<-w.sem
	}
}

// wait blocks until nothing is in flight.
func (w *window) wait() {
	for range cap(w.sem) {
		w.sem <- struct{}{}
	}
	for range cap(w.sem) {
		<-w.sem
	}
}

// paced has each sender send to its partner at rate per second for d,
// open loop (see chats): message k is meant for start+k/rate and stamped
// with that time, so a relay that falls behind shows up as latency. It
// returns when every send has its response.
func paced(senders []*peer, to []ident, tr *tracker, phase byte, rate float64, d time.Duration, c *counter) {
	var tl timeline
	tl.begin(phase)
	tl.close(d)
	chatting(senders, to, tr, rate, &tl, c)
}

// chatting has each sender send to its partner at rate per second until
// tl ends (see chats), each message stamped with its window's phase. It
// returns when every send has its response.
func chatting(senders []*peer, to []ident, tr *tracker, rate float64, tl *timeline, c *counter) {
	ws := make([]*window, len(senders))
	for i := range ws {
		ws[i] = newWindow(4096, c)
	}
	chats(len(senders), rate, tl, func(i int, phase byte, at time.Duration) {
		id, content := tr.message(phase, at)
		ws[i].send(senders[i], sendReq(to[i], id, content), nil)
	})
	for _, w := range ws {
		w.wait()
	}
}

// chatCheck records that every accepted message arrived exactly once and
// nothing was refused.
func chatCheck(res *Result, what string, c *counter, tr *tracker, acksFailed int) {
	ok := c.ok.Load()
	res.check(what+" refused", c.limited.Load()+c.other.Load()+c.lost.Load() == 0,
		"%d rate-limited, %d other errors, %d unanswered", c.limited.Load(), c.other.Load(), c.lost.Load())
	res.check(what+" delivered exactly once", tr.delivered.Load() == ok && tr.duplicates() == 0,
		"%d accepted, %d delivered, %d duplicates", ok, tr.delivered.Load(), tr.duplicates())
	res.check(what+" acks", acksFailed == 0, "%d acks failed", acksFailed)
}

// deliveryTimeout bounds how long a scenario waits for accepted messages
// to arrive after it stops sending.
const deliveryTimeout = 60 * time.Second

// throughput: pairs of devices, each sender keeping Window durable 1 KiB
// sends in flight to its receiver (full load), then the same pairs sending
// open loop at half and at a quarter of the rate reached. The relay runs in
// a process of its own: CPU figures are that process's alone (cores, and
// µs per message delivered), the load clients' beside them.
func (r *runner) throughput(ctx context.Context, res *Result) error {
	n, err := r.startRelayNode(ctx, ScenarioThroughput, unlimited(), []string{"127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer n.close()
	ids, err := provision(ctx, n.store, newSeed(), 0, 2*r.sz.Pairs)
	if err != nil {
		return err
	}
	senderIDs, recvIDs := ids[:r.sz.Pairs], ids[r.sz.Pairs:]
	tr := newTracker()
	recv, err := receivers(ctx, n, recvIDs, tr)
	if err != nil {
		return err
	}
	defer closeAll(recv)
	send, err := connectAll(ctx, n, senderIDs, nil)
	if err != nil {
		return err
	}
	defer closeAll(send)

	// Full load: closed loop, Window in flight per sender.
	r.progress("throughput: %d pairs, %d in flight each, %v", r.sz.Pairs, r.sz.Window, r.sz.ThroughputFor)
	var c counter
	stop := closedLoop(send, recvIDs, tr, r.sz.Window, &c)
	warm := r.sz.ThroughputFor / 5
	time.Sleep(warm)
	d0, m0 := tr.delivered.Load(), r.measure(n)
	time.Sleep(r.sz.ThroughputFor - warm)
	if err := awaitDeliveries(ctx, tr, d0, int64(len(send))); err != nil {
		stop()
		return fmt.Errorf("throughput: %d messages delivered in %v: %w", tr.delivered.Load()-d0, time.Since(m0.at).Round(time.Millisecond), err)
	}
	d1, m1 := tr.delivered.Load(), r.measure(n)
	stop()
	if err := tr.waitDelivered(ctx, c.ok.Load(), deliveryTimeout); err != nil {
		return err
	}
	if m0.err != nil || m1.err != nil {
		return errors.Join(m0.err, m1.err)
	}
	full := float64(d1-d0) / m1.at.Sub(m0.at).Seconds()
	_, latFull, _ := tr.phase(1)
	res.add("msgs_per_s", full, "msg/s")
	res.add("p50_full", percentile(latFull, 50), "ms")
	res.add("p99_full", percentile(latFull, 99), "ms")
	m1.since(m0).record(res, "full", d1-d0)

	// Open loop at a rate: p99 and, when record is set, every figure.
	phase := byte(1)
	openLoop := func(name string, rate float64, record bool) (float64, error) {
		phase++
		r.progress("throughput: full %.0f msg/s; now %.0f msg/s open loop", full, rate)
		m0 := r.measure(n)
		paced(send, recvIDs, tr, phase, rate/float64(len(send)), r.sz.ThroughputFor, &c)
		m1 := r.measure(n)
		if err := errors.Join(m0.err, m1.err); err != nil {
			return 0, err
		}
		if err := tr.waitDelivered(ctx, c.ok.Load(), deliveryTimeout); err != nil {
			return 0, err
		}
		got, lat, _ := tr.phase(phase)
		p99 := percentile(lat, 99)
		if record {
			res.add(name+"_rate", float64(got)/r.sz.ThroughputFor.Seconds(), "msg/s")
			res.add("p50_"+name, percentile(lat, 50), "ms")
			res.add("p99_"+name, p99, "ms")
			m1.since(m0).record(res, name, int64(got))
		}
		return p99, nil
	}
	// Half that load and a quarter; then, between the two, the highest
	// rate found whose p99 stays under the 50 ms target.
	p99Half, err := openLoop("half", full/2, true)
	if err != nil {
		return err
	}
	p99Quarter, err := openLoop("quarter", full/4, true)
	if err != nil {
		return err
	}
	const p99Want = 50
	switch {
	case p99Half < p99Want:
		res.add("rate_p99_under_50ms", full/2, "msg/s")
	case p99Quarter < p99Want:
		lo, hi, best := full/4, full/2, full/4
		for range r.sz.Probes {
			mid := (lo + hi) / 2
			p99, err := openLoop("", mid, false)
			if err != nil {
				return err
			}
			if p99 < p99Want {
				lo, best = mid, mid
			} else {
				hi = mid
			}
		}
		res.add("rate_p99_under_50ms", best, "msg/s")
	default:
		res.Notes = append(res.Notes, "p99 exceeds 50 ms already at a quarter of the full rate")
	}
	acksFailed := settleAcks(recv)
	res.add("messages", float64(c.ok.Load()), "msgs")
	// Fewer pairs and sends in flight offer less load than the targets
	// assume: the rate reached is then bounded by round trips, and half of
	// it is a lighter load than half of the full one.
	atSize := r.sz.Pairs >= Full().Pairs && r.sz.Window >= Full().Window
	res.target("1:1 durable throughput", "msgs_per_s", atLeast, 10000, atSize)
	res.target("p99 send→deliver at half load", "p99_half", below, p99Want, atSize)
	if r.base != nil {
		res.ratioTo(*r.base)
	}
	chatCheck(res, "sends", &c, tr, acksFailed)
	res.target("1:1 durable throughput (issue 14)", "msgs_per_s", atLeast, 30000, atSize)
	res.target("relay CPU per message (issue 14)", "relay_us_msg_full", atMost, 30, atSize)
	res.Notes = append(res.Notes, fmt.Sprintf("%d pairs, %d sends in flight per sender at full load; rate limits off; the relay runs in a process of its own: cpu_* and relay_us_msg_* are that process's (not a database server's), clients_cpu_* the load clients' process (the two share the CPUs)", r.sz.Pairs, r.sz.Window))
	return nil
}

// baseline measures the store alone on the same disk: 64 goroutines each
// appending one 1 KiB envelope per call (what the relay does per send,
// grouped into shared commits by the store), and one caller appending 256
// per call.
func (r *runner) baseline(ctx context.Context, res *Result) error {
	st, err := r.cfg.Store(ctx, ScenarioBaseline)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	// Each phase has devices of its own, so neither meets a mailbox quota.
	const devices = 256
	ids, err := provision(ctx, st, newSeed(), 0, 2*devices)
	if err != nil {
		return err
	}
	var seq atomic.Uint64
	env := func(i uint64, phase int) relay.Envelope {
		to := ids[phase*devices+int(i%devices)]
		e := relay.Envelope{Account: to.account, Device: to.dev, Type: 2, Timestamp: uint64(time.Now().UnixMilli()), Content: make([]byte, msgSize)}
		e.ID[0] = 0xba
		e.ID[8], e.ID[9], e.ID[10], e.ID[11] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		e.ID[12], e.ID[13], e.ID[14], e.ID[15] = byte(i>>56), byte(i>>48), byte(i>>40), byte(i>>32)
		return e
	}
	// Stay under every device's mailbox quota.
	limit := uint64(devices * (relay.DefaultMaxMessages - 100))

	r.progress("baseline: 64 concurrent single appends for %v", r.sz.BaselineFor)
	var wg sync.WaitGroup
	var failed atomic.Value
	deadline := time.Now().Add(r.sz.BaselineFor)
	start := time.Now()
	for range 64 {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := seq.Add(1)
				if i >= limit {
					return
				}
				if err := st.Append(ctx, []relay.Envelope{env(i, 0)}); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return fmt.Errorf("baseline append: %w", err)
	}
	single := float64(min(seq.Load(), limit)) / time.Since(start).Seconds()

	r.progress("baseline: appends of 256 for %v", r.sz.BaselineFor)
	startSeq := seq.Load()
	start = time.Now()
	deadline = start.Add(r.sz.BaselineFor)
	batch := make([]relay.Envelope, 256)
	for time.Now().Before(deadline) && seq.Load()-startSeq+256 < limit {
		for j := range batch {
			batch[j] = env(seq.Add(1), 1)
		}
		if err := st.Append(ctx, batch); err != nil {
			return fmt.Errorf("baseline batch append: %w", err)
		}
	}
	batched := float64(seq.Load()-startSeq) / time.Since(start).Seconds()
	res.add("append_concurrent", single, "msg/s")
	res.add("append_batched", batched, "msg/s")
	// The store's best raw rate is what the relay is compared with.
	best := Metric{Name: "append_concurrent", Value: single, Unit: "msg/s"}
	if batched > single {
		best = Metric{Name: "append_batched", Value: batched, Unit: "msg/s"}
	}
	r.base = &best
	res.Notes = append(res.Notes, "the store alone on the same disk: 64 goroutines appending one 1 KiB envelope per call (group commit), and one caller appending 256 per call; the better of the two is the throughput scenario's baseline")
	return nil
}
