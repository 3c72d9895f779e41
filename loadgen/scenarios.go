package loadgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/session/curve"
	"samizdat/session/kem"
)

// fanout: one sender sends one 1 KiB message to each of FanoutDevices
// group members (one device each), FanoutRounds times, each round after the
// last was delivered everywhere and acknowledged: first as one SendMultiRecipient (a sealed
// sender v2 message for all members, with their combined access key), then,
// as the baseline in the same run, as one send per member pipelined on one
// connection (as the wire protocol had it before multi-recipient sends).
func (r *runner) fanout(ctx context.Context, res *Result) error {
	ms, err := r.fanoutRun(ctx, ScenarioFanout, true)
	if err != nil {
		return err
	}
	res.add("deliveries_per_s", ms.rate, "deliveries/s")
	res.add("accepted_p50", percentile(ms.accepted, 50), "ms")
	res.add("accepted_max", slices.Max(ms.accepted), "ms")
	res.add("delivered_p50", percentile(ms.delivered, 50), "ms")
	res.add("delivered_max", slices.Max(ms.delivered), "ms")
	res.add("seal_p50", percentile(ms.seal, 50), "ms")
	ms.cpu.record(res, "multi", ms.tr.delivered.Load())
	// Both grow with the group: judged for a group of the full size only.
	atSize := r.sz.FanoutDevices >= Full().FanoutDevices
	res.target("fan-out accepted (median round)", "accepted_p50", below, 100, atSize)
	res.target("fan-out device deliveries", "deliveries_per_s", atLeast, 20000, atSize)
	res.target("fan-out device deliveries (issue 14)", "deliveries_per_s", atLeast, 50000, atSize)
	res.target("fan-out all reached (issue 14)", "delivered_p50", below, 50, atSize)
	res.check("group sends refused", ms.c.limited.Load()+ms.c.other.Load()+ms.c.lost.Load() == 0,
		"%d rate-limited, %d other errors, %d unanswered", ms.c.limited.Load(), ms.c.other.Load(), ms.c.lost.Load())
	want := ms.c.ok.Load() * int64(r.sz.FanoutDevices)
	res.check("group sends delivered exactly once", ms.tr.delivered.Load() == want && ms.tr.duplicates() == 0,
		"%d device copies accepted, %d delivered, %d duplicates", want, ms.tr.delivered.Load(), ms.tr.duplicates())
	res.check("group sends acks", ms.acksFailed == 0, "%d acks failed", ms.acksFailed)

	ps, err := r.fanoutRun(ctx, ScenarioFanout+"_per_member", false)
	if err != nil {
		return err
	}
	res.ratioTo(Metric{Name: "per_member_sends", Value: ps.rate, Unit: "deliveries/s"})
	res.add("deliveries_per_s_per_member", ps.rate, "deliveries/s")
	res.add("accepted_p50_per_member", percentile(ps.accepted, 50), "ms")
	res.add("delivered_p50_per_member", percentile(ps.delivered, 50), "ms")
	ps.cpu.record(res, "member", ps.tr.delivered.Load())
	chatCheck(res, "per-member sends", &ps.c, ps.tr, ps.acksFailed)
	res.Notes = append(res.Notes, fmt.Sprintf("%d rounds of one message to %d devices: one SendMultiRecipient per round "+
		"(accepted = its response; seal = the sender's sealed sender v2 encryption of one message, done before the rounds, not counted); "+
		"baseline *_per_member: one send per member pipelined on one connection (MaxInFlight %d), accepted = last response; "+
		"the relay runs in a process of its own: relay_us_msg_* is its CPU per device delivery (with the delivery's ack) over all rounds",
		r.sz.FanoutRounds, r.sz.FanoutDevices, relay.DefaultLimits().MaxInFlight))
	return nil
}

// fanoutStats is one fan-out run's outcome.
type fanoutStats struct {
	accepted, delivered []float64 // per round, ms
	seal                []float64 // per round, ms: sealing the multi-recipient message
	rate                float64   // device deliveries per second of delivery time
	c                   counter
	tr                  *tracker
	acksFailed          int
	cpu                 span // all rounds, acks included
}

func (r *runner) fanoutRun(ctx context.Context, name string, multi bool) (*fanoutStats, error) {
	n, err := r.startRelayNode(ctx, name, unlimited(), []string{"127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	defer n.close()
	m := r.sz.FanoutDevices
	ids, err := provision(ctx, n.store, newSeed(), 0, m+1)
	if err != nil {
		return nil, err
	}
	fs := &fanoutStats{tr: newTracker()}
	members, err := receivers(ctx, n, ids[1:], fs.tr)
	if err != nil {
		return nil, err
	}
	defer closeAll(members)
	senders, err := connectAll(ctx, n, ids[:1], nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(senders)
	sender := senders[0]
	// The multi-recipient messages are sealed before the first round: a
	// real sender seals on its own machine, not on the relay's two cores
	// while the relay handles the previous message.
	var g *sealedGroup
	var sealedMsgs [][]byte
	if multi {
		if g, err = newSealedGroup(ids[0], ids[1:]); err != nil {
			return nil, err
		}
		for round := range r.sz.FanoutRounds {
			s0 := sinceEpoch()
			_, content := fs.tr.message(byte(1+round%250), s0)
			msg, err := g.seal(content)
			if err != nil {
				return nil, err
			}
			fs.seal = append(fs.seal, float64(sinceEpoch()-s0)/float64(time.Millisecond))
			sealedMsgs = append(sealedMsgs, msg)
		}
	}

	var spans time.Duration
	m0 := r.measure(n)
	for round := range r.sz.FanoutRounds {
		phase := byte(1 + round%250)
		r.progress("%s: round %d of %d to %d devices", name, round+1, r.sz.FanoutRounds, m)
		var wg sync.WaitGroup
		var lastOK atomic.Int64
		done := func(resp *wire.Response) {
			fs.c.record(resp)
			now := int64(sinceEpoch())
			for {
				old := lastOK.Load()
				if now <= old || lastOK.CompareAndSwap(old, now) {
					break
				}
			}
			wg.Done()
		}
		var t0 time.Duration
		if multi {
			t0 = sinceEpoch()
			wg.Add(1)
			if err := sender.start(g.request(fs.tr.multi(phase, t0), sealedMsgs[round]), done); err != nil {
				return nil, err
			}
		} else {
			t0 = sinceEpoch()
			for _, to := range ids[1:] {
				id, content := fs.tr.message(phase, t0)
				wg.Add(1)
				if err := sender.start(sendReq(to, id, content), done); err != nil {
					return nil, err
				}
			}
		}
		wg.Wait()
		want := fs.c.ok.Load()
		if multi {
			want *= int64(m)
		}
		if err := fs.tr.waitDelivered(ctx, want, deliveryTimeout); err != nil {
			return nil, err
		}
		_, _, last := fs.tr.phase(phase)
		fs.accepted = append(fs.accepted, float64(time.Duration(lastOK.Load())-t0)/float64(time.Millisecond))
		fs.delivered = append(fs.delivered, float64(last-t0)/float64(time.Millisecond))
		spans += last - t0
		// The next round starts once this one's acks are stored, so it is
		// measured alone, not behind 1,000 acks still being written.
		settleAcks(members)
	}
	fs.acksFailed = settleAcks(members)
	m1 := r.measure(n)
	if err := errors.Join(m0.err, m1.err); err != nil {
		return nil, err
	}
	fs.cpu = m1.since(m0)
	fs.rate = float64(m*r.sz.FanoutRounds) / spans.Seconds()
	return fs, nil
}

// drain: DrainMessages queued to an offline device, which then connects
// and takes them all. The baseline drains the same number directly from
// the store (Fetch a page of 256 after the cursor, Ack it).
func (r *runner) drain(ctx context.Context, res *Result) error {
	n, err := r.startNode(ctx, ScenarioDrain, unlimited(), []string{"127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer n.close()
	ids, err := provision(ctx, n.store, newSeed(), 0, 3)
	if err != nil {
		return err
	}
	senders, err := connectAll(ctx, n, ids[:1], nil)
	if err != nil {
		return err
	}
	defer closeAll(senders)
	total := r.sz.DrainMessages
	tr := newTracker()
	var c counter
	r.progress("drain: queueing %d messages", total)
	w := newWindow(256, &c)
	start := time.Now()
	for range total {
		id, content := tr.message(1, sinceEpoch())
		w.send(senders[0], sendReq(ids[1], id, content), nil)
	}
	w.wait()
	queued := float64(total) / time.Since(start).Seconds()
	if c.ok.Load() != int64(total) {
		return fmt.Errorf("queueing: %d of %d accepted (%d refused)", c.ok.Load(), total, c.other.Load()+c.limited.Load()+c.lost.Load())
	}

	r.progress("drain: device connects")
	var emptyAt atomic.Int64
	onPush := func(p *peer, push *wire.Push) {
		if push.GetQueueEmpty() != nil {
			emptyAt.Store(int64(sinceEpoch()))
		}
		tr.onPush(p, push)
	}
	recv, err := connectAll(ctx, n, ids[1:2], onPush)
	if err != nil {
		return err
	}
	defer closeAll(recv)
	t0 := sinceEpoch()
	if _, err := recv[0].callOK(ctx, &wire.Request{Op: &wire.Request_StartDelivery{StartDelivery: &wire.StartDelivery{}}}); err != nil {
		return err
	}
	if err := tr.waitDelivered(ctx, int64(total), deliveryTimeout); err != nil {
		return err
	}
	_, _, last := tr.phase(1)
	acksFailed := settleAcks(recv)
	rate := float64(total) / (last - t0).Seconds()
	left, err := n.store.Fetch(ctx, ids[1].account, ids[1].dev, 0, 1)
	if err != nil {
		return err
	}

	// Baseline: the store alone.
	r.progress("drain: baseline on the store")
	base, err := storeDrain(ctx, n.store, ids[2], total)
	if err != nil {
		return err
	}
	res.add("drain_per_s", rate, "msg/s")
	res.add("drain_ms", float64(last-t0)/float64(time.Millisecond), "ms")
	res.add("queue_per_s", queued, "msg/s")
	res.ratioTo(Metric{Name: "store_fetch_ack", Value: base, Unit: "msg/s"})
	// A rate per message, judged at every size: a smaller backlog only
	// weighs the connection's start more, which makes it harder to meet.
	res.target("backlog drain", "drain_per_s", atLeast, 5000, true)
	chatCheck(res, "backlog", &c, tr, acksFailed)
	res.check("queue empty after backlog", emptyAt.Load() >= int64(last), "QueueEmpty pushed %s the last envelope", map[bool]string{true: "after", false: "before"}[emptyAt.Load() >= int64(last)])
	res.check("mailbox empty after acks", len(left) == 0, "%d envelopes left", len(left))
	return nil
}

// storeDrain fills the device's mailbox with total envelopes (appends of
// 256) and times draining it directly: Fetch 256 after the cursor, Ack
// them, until empty. It returns envelopes per second.
func storeDrain(ctx context.Context, st relay.Store, to ident, total int) (float64, error) {
	batch := make([]relay.Envelope, 0, 256)
	for i := range total {
		e := relay.Envelope{Account: to.account, Device: to.dev, Type: 2, Content: make([]byte, msgSize)}
		e.ID[0] = 0xdb
		e.ID[12], e.ID[13], e.ID[14], e.ID[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		batch = append(batch, e)
		if len(batch) == cap(batch) || i == total-1 {
			if err := st.Append(ctx, batch); err != nil {
				return 0, fmt.Errorf("fill mailbox: %w", err)
			}
			batch = batch[:0]
		}
	}
	start := time.Now()
	var cursor uint64
	got := 0
	for {
		envs, err := st.Fetch(ctx, to.account, to.dev, cursor, 256)
		if err != nil {
			return 0, err
		}
		if len(envs) == 0 {
			break
		}
		ids := make([][16]byte, len(envs))
		for i, e := range envs {
			ids[i] = e.ID
			cursor = e.Seq
		}
		if err := st.Ack(ctx, to.account, to.dev, ids); err != nil {
			return 0, err
		}
		got += len(envs)
	}
	if got != total {
		return 0, fmt.Errorf("store drain: %d of %d envelopes", got, total)
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// preKeyMaterial is one signed EC prekey, one Kyber key with its signature
// and one EC key, reused under many ids: the relay checks encodings and
// signatures, not that keys differ, and generating thousands of Kyber
// keys would measure the generator.
type preKeyMaterial struct {
	ik    curve.KeyPair
	spk   *wire.SignedPreKey
	kyber *wire.KyberPreKey
	ec    []byte
}

func newPreKeyMaterial() (*preKeyMaterial, error) {
	ik, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	spk, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	spkSig, err := ik.Private.Sign(rand.Reader, spk.Public.Bytes())
	if err != nil {
		return nil, err
	}
	ky, err := kem.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	kySig, err := ik.Private.Sign(rand.Reader, ky.Public.Bytes())
	if err != nil {
		return nil, err
	}
	ec, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &preKeyMaterial{ik: ik,
		spk:   &wire.SignedPreKey{Id: 1, PublicKey: spk.Public.Bytes(), Signature: spkSig},
		kyber: &wire.KyberPreKey{Id: lastResortID, PublicKey: ky.Public.Bytes(), Signature: kySig},
		ec:    ec.Public.Bytes()}, nil
}

// lastResortID is the last-resort Kyber key's id; one-time ids are 1..n.
const lastResortID = 1 << 30

func (m *preKeyMaterial) kyberID(id uint32) *wire.KyberPreKey {
	return &wire.KyberPreKey{Id: id, PublicKey: m.kyber.PublicKey, Signature: m.kyber.Signature}
}

// preKeys: a device registers over the wire and uploads PreKeyFetches
// one-time keys of each kind; Fetchers devices then fetch its bundle
// concurrently until every key is taken. No key may be handed out twice.
// The baseline takes bundles directly from the store with as many
// goroutines.
func (r *runner) preKeys(ctx context.Context, res *Result) error {
	n, err := r.startNode(ctx, ScenarioPreKeys, unlimited(), []string{"127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer n.close()
	seed := newSeed()
	total := r.sz.PreKeyFetches
	mat, err := newPreKeyMaterial()
	if err != nil {
		return err
	}
	r.progress("prekeys: registering a device and uploading %d keys of each kind", total)
	targetKey, err := noisechan.GenerateKeyPair(rand.Reader)
	if err != nil {
		return err
	}
	tp, err := dialPeer(ctx, n.addrs[0], nil, targetKey, n.key.Public, nil, false)
	if err != nil {
		return err
	}
	defer tp.close()
	reg, err := tp.callOK(ctx, &wire.Request{Op: &wire.Request_Register{Register: &wire.Register{
		Username: fmt.Sprintf("lgtarget%x", seed&0xffffff), IdentityKey: mat.ik.Public.Bytes(), RegistrationId: 77,
		NoiseStaticKey: targetKey.Public[:], SignedPreKey: mat.spk, LastResortKyberPreKey: mat.kyber,
		UnidentifiedAccessKey: make([]byte, 16),
	}}})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	target := reg.GetRegistered() // the connection is now the device's
	for i := 0; i < total; i += 200 {
		up := &wire.UploadPreKeys{}
		for id := i + 1; id <= min(i+200, total); id++ {
			up.PreKeys = append(up.PreKeys, &wire.OneTimePreKey{Id: uint32(id), PublicKey: mat.ec})
			up.KyberPreKeys = append(up.KyberPreKeys, mat.kyberID(uint32(id)))
		}
		if _, err := tp.callOK(ctx, &wire.Request{Op: &wire.Request_UploadPreKeys{UploadPreKeys: up}}); err != nil {
			return fmt.Errorf("upload prekeys: %w", err)
		}
	}

	ids, err := provision(ctx, n.store, seed, 0, r.sz.Fetchers+1)
	if err != nil {
		return err
	}
	fetchers, err := connectAll(ctx, n, ids[:r.sz.Fetchers], nil)
	if err != nil {
		return err
	}
	defer closeAll(fetchers)

	r.progress("prekeys: %d fetchers taking %d bundles", len(fetchers), total)
	var left atomic.Int64
	left.Store(int64(total))
	var mu sync.Mutex
	ecSeen, kySeen := map[uint32]int{}, map[uint32]int{}
	var noEC, lastResort, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, f := range fetchers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				resp, err := f.callOK(ctx, &wire.Request{Op: &wire.Request_FetchBundles{FetchBundles: &wire.FetchBundles{AccountId: target.AccountId, DeviceId: 1}}})
				if err != nil || len(resp.GetBundles().GetBundles()) != 1 {
					failed.Add(1)
					continue
				}
				b := resp.GetBundles().GetBundles()[0]
				mu.Lock()
				if b.PreKey == nil {
					noEC.Add(1)
				} else {
					ecSeen[b.PreKey.Id]++
				}
				if b.KyberPreKey.GetId() == lastResortID {
					lastResort.Add(1)
				} else {
					kySeen[b.KyberPreKey.GetId()]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	rate := float64(total) / elapsed.Seconds()
	dups := 0
	for _, m := range []map[uint32]int{ecSeen, kySeen} {
		for _, k := range m {
			dups += k - 1
		}
	}

	r.progress("prekeys: baseline on the store")
	base, baseDups, err := storeTakeBundles(ctx, n.store, ids[r.sz.Fetchers], mat, total, r.sz.Fetchers)
	if err != nil {
		return err
	}
	res.add("fetches_per_s", rate, "fetches/s")
	res.add("duplicates", float64(dups), "keys")
	res.add("fetchers", float64(len(fetchers)), "fetchers")
	res.ratioTo(Metric{Name: "store_take_bundle", Value: base, Unit: "fetches/s"})
	// A rate of single fetches, judged with as many concurrent fetchers as
	// the full size has (every size has them); a duplicate is wrong at any
	// size.
	res.target("prekey fetches", "fetches_per_s", atLeast, 2000, r.sz.Fetchers >= Full().Fetchers)
	res.target("duplicate one-time keys", "duplicates", exactly, 0, true)
	res.check("no one-time key handed out twice", dups == 0 && baseDups == 0, "%d duplicates over the relay, %d from the store directly", dups, baseDups)
	res.check("every fetch got one-time keys", failed.Load() == 0 && noEC.Load() == 0 && lastResort.Load() == 0 && len(ecSeen) == total && len(kySeen) == total,
		"%d failed, %d without an ec key, %d with the last-resort kyber key, %d+%d distinct keys of %d", failed.Load(), noEC.Load(), lastResort.Load(), len(ecSeen), len(kySeen), total)
	return nil
}

// storeTakeBundles gives the device (registered in the store) total
// one-time keys of each kind and times g goroutines taking every one with
// TakeBundle. It returns bundles per second and the duplicates seen.
func storeTakeBundles(ctx context.Context, st relay.Store, d ident, mat *preKeyMaterial, total, g int) (float64, int, error) {
	if err := st.SetSignedPreKey(ctx, d.account, d.dev, relay.SignedPreKey{ID: mat.spk.Id, PublicKey: mat.spk.PublicKey, Signature: mat.spk.Signature}); err != nil {
		return 0, 0, err
	}
	if err := st.SetLastResortKyberPreKey(ctx, d.account, d.dev, relay.SignedPreKey{ID: lastResortID, PublicKey: mat.kyber.PublicKey, Signature: mat.kyber.Signature}); err != nil {
		return 0, 0, err
	}
	for i := 0; i < total; i += 200 {
		var ec []relay.OneTimePreKey
		var ky []relay.SignedPreKey
		for id := i + 1; id <= min(i+200, total); id++ {
			ec = append(ec, relay.OneTimePreKey{ID: uint32(id), PublicKey: mat.ec})
			ky = append(ky, relay.SignedPreKey{ID: uint32(id), PublicKey: mat.kyber.PublicKey, Signature: mat.kyber.Signature})
		}
		if err := st.AddPreKeys(ctx, d.account, d.dev, ec, ky); err != nil {
			return 0, 0, err
		}
	}
	var left atomic.Int64
	left.Store(int64(total))
	var mu sync.Mutex
	seen := map[uint32]bool{}
	dups := 0
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range g {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				b, err := st.TakeBundle(ctx, d.account, d.dev)
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				if b.PreKey == nil {
					failed.CompareAndSwap(nil, fmt.Errorf("store ran out of one-time keys"))
					return
				}
				mu.Lock()
				if seen[b.PreKey.ID] {
					dups++
				}
				seen[b.PreKey.ID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, 0, fmt.Errorf("store take bundle: %w", err)
	}
	return float64(total) / time.Since(start).Seconds(), dups, nil
}

// flood: ChatPairs pairs chat at ChatRate each with the relay's default
// rate limits, first alone, then while one sender floods 16 other devices
// as fast as the relay lets it. The figure is the chatters' p99 with the
// flood; the baseline is their p99 without.
func (r *runner) flood(ctx context.Context, res *Result) error {
	n, err := r.startNode(ctx, ScenarioFlood, loopbackSources(relay.Limits{}), []string{"127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer n.close()
	const victims = 16
	p := r.sz.ChatPairs
	ids, err := provision(ctx, n.store, newSeed(), 0, 2*p+1+victims)
	if err != nil {
		return err
	}
	chatFrom, chatTo, flooderID, victimIDs := ids[:p], ids[p:2*p], ids[2*p], ids[2*p+1:]
	chatTr, floodTr := newTracker(), newTracker()
	recv, err := receivers(ctx, n, chatTo, chatTr)
	if err != nil {
		return err
	}
	defer closeAll(recv)
	vict, err := receivers(ctx, n, victimIDs, floodTr)
	if err != nil {
		return err
	}
	defer closeAll(vict)
	send, err := connectAll(ctx, n, append(slices.Clone(chatFrom), flooderID), nil)
	if err != nil {
		return err
	}
	defer closeAll(send)
	flooder := send[p]
	send = send[:p]

	var chat counter
	r.progress("flood: %d pairs chatting at %g msg/s each, no flood", p, r.sz.ChatRate)
	paced(send, chatTo, chatTr, 1, r.sz.ChatRate, r.sz.FloodFor, &chat)
	if err := chatTr.waitDelivered(ctx, chat.ok.Load(), deliveryTimeout); err != nil {
		return err
	}

	r.progress("flood: the same chats beside a flood")
	var fl counter
	var stop atomic.Bool
	floodDone := make(chan struct{})
	floodStart := time.Now()
	var attempts int64
	go func() {
		defer close(floodDone)
		w := newWindow(r.sz.FloodWindow, &fl)
		for i := 0; !stop.Load(); i++ {
			id, content := floodTr.message(2, sinceEpoch())
			w.send(flooder, sendReq(victimIDs[i%victims], id, content), nil)
			attempts++
		}
		w.wait()
	}()
	paced(send, chatTo, chatTr, 2, r.sz.ChatRate, r.sz.FloodFor, &chat)
	stop.Store(true)
	<-floodDone
	floodFor := time.Since(floodStart)
	if err := chatTr.waitDelivered(ctx, chat.ok.Load(), deliveryTimeout); err != nil {
		return err
	}
	if err := floodTr.waitDelivered(ctx, fl.ok.Load(), deliveryTimeout); err != nil {
		return err
	}
	acksFailed := settleAcks(recv) + settleAcks(vict)
	_, calm, _ := chatTr.phase(1)
	_, stormy, _ := chatTr.phase(2)

	res.add("chat_p99_flood", percentile(stormy, 99), "ms")
	res.add("chat_p50_flood", percentile(stormy, 50), "ms")
	res.add("chat_p50_calm", percentile(calm, 50), "ms")
	res.add("flood_sent_per_s", float64(attempts)/floodFor.Seconds(), "req/s")
	res.add("flood_accepted_per_s", float64(fl.ok.Load())/floodFor.Seconds(), "msg/s")
	res.add("flood_rate_limited", float64(fl.limited.Load()), "sends")
	res.ratioTo(Metric{Name: "chat_p99_calm", Value: percentile(calm, 99), Unit: "ms"})
	chatCheck(res, "chats", &chat, chatTr, acksFailed)
	res.check("flood accepted delivered exactly once", floodTr.delivered.Load() == fl.ok.Load() && floodTr.duplicates() == 0,
		"%d accepted, %d delivered, %d duplicates", fl.ok.Load(), floodTr.delivered.Load(), floodTr.duplicates())
	res.check("flood answered", fl.lost.Load() == 0 && fl.other.Load() == 0, "%d unanswered, %d other errors", fl.lost.Load(), fl.other.Load())
	res.Notes = append(res.Notes, fmt.Sprintf("default rate limits; the flooder keeps %d sends in flight to %d devices; ratio = chatters' p99 with the flood / without", r.sz.FloodWindow, victims))
	return nil
}
