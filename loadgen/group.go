package loadgen

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/relay/wire"
)

// group: a real client (client.Init against the bench's relay, its home in
// a temporary directory) creates a group of GroupMembers wire-level members
// and sends it GroupRounds texts with SendGroup, the path a user's send
// takes: Sender Key encryption and one sealed sender v2 multi-recipient
// request per text. Each round starts when the last was delivered to every
// member and acknowledged.
//
// The members are devices registered directly in the relay's store (like
// every wire-level device here) with real prekeys: a signed EC prekey and a
// last-resort Kyber key signed by their identity key, so the client's
// group creation and Sender Key distribution run real PQXDH sessions to
// them. They never decrypt: they count and acknowledge deliveries. A
// member's access key would reach the sender in the member's first message
// to it (Content.access_key), which a wire-level member cannot write, so
// the scenario puts the access keys the members registered with into the
// sender's contact store after the group is created, before the first
// text: what the client's own receive path would store.
//
// One more member is a real client that writes to the sender first (so
// the sender learns its access key as users do), takes the group and the
// Sender Key, and goes offline; at the end it receives every text since,
// alone in this process, for the client-side receive figure.
//
// The relay runs in a process of its own (relay_us_msg_* is its CPU per
// member delivery); the sender's client CPU per group send is measured
// after the rounds, with the members disconnected so that this process runs
// the sender alone.
func (r *runner) group(ctx context.Context, res *Result) error {
	g := r.sz.GroupMembers
	if err := needFiles(g, "members"); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "samizdat-bench-group-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keysFile := filepath.Join(dir, "relay.keys")
	keys, _, err := relay.LoadOrCreateKeysFile(keysFile, rand.Reader)
	if err != nil {
		return err
	}
	n, err := r.startRelayNodeKeys(ctx, ScenarioGroup, unlimited(), []string{"127.0.0.1:0"}, keysFile)
	if err != nil {
		return err
	}
	defer n.close()

	r.progress("group: registering %d members with prekeys", g)
	mat, err := newPreKeyMaterial()
	if err != nil {
		return err
	}
	ids, err := provisionAs(ctx, n.store, newSeed(), 0, g, mat.ik.Public)
	if err != nil {
		return err
	}
	err = parallel(ctx, g, 64, func(ctx context.Context, i int) error {
		d := ids[i]
		if err := n.store.SetSignedPreKey(ctx, d.account, d.dev, relay.SignedPreKey{ID: mat.spk.Id, PublicKey: mat.spk.PublicKey, Signature: mat.spk.Signature}); err != nil {
			return err
		}
		return n.store.SetLastResortKyberPreKey(ctx, d.account, d.dev, relay.SignedPreKey{ID: lastResortID, PublicKey: mat.kyber.PublicKey, Signature: mat.kyber.Signature})
	})
	if err != nil {
		return fmt.Errorf("member prekeys: %w", err)
	}
	gs := newGroupStats()
	peers, err := receiversFrom(ctx, n, ids, gs.onPush, nil)
	if err != nil {
		return fmt.Errorf("members: %w", err)
	}
	defer func() { closeAll(peers) }()

	home := filepath.Join(dir, "sender")
	inv, err := benchInvite(keys, n.addrs[0])
	if err != nil {
		return err
	}
	r.progress("group: the sender and a client member register")
	senderEv, memberEv := newClientEvents(), newClientEvents()
	cl, err := client.Init(ctx, client.Config{Home: home, PreKeyBatch: 4, OnEvent: senderEv.add}, inv, "benchsender")
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	defer cl.Close()
	member, err := client.Init(ctx, client.Config{Home: filepath.Join(dir, "member"), PreKeyBatch: 4, OnEvent: memberEv.add}, inv, "benchmember")
	if err != nil {
		return fmt.Errorf("client member: %w", err)
	}
	defer member.Close()
	// The client member writes to the sender first, as a user would:
	// its access key reaches the sender in that message.
	if _, err := member.Send(ctx, "benchsender", "hello"); err != nil {
		return fmt.Errorf("client member's hello: %w", err)
	}
	if _, err := receiveUntil(ctx, cl, senderEv, func() bool { return senderEv.directTexts() >= 1 }); err != nil {
		return fmt.Errorf("sender receiving the hello: %w", err)
	}
	names := make([]string, g, g+1)
	for i, d := range ids {
		names[i] = d.username
	}
	names = append(names, "benchmember")
	r.progress("group: the sender creates a group of %d", g+2)
	t0 := time.Now()
	if _, err := cl.CreateGroup(ctx, "bench", names); err != nil {
		return fmt.Errorf("create group: %w", err)
	}
	createMs := msSince(t0)
	if err := giveAccessKeys(ctx, home, ids); err != nil {
		return err
	}
	text := func(i int) string { return fmt.Sprintf("%-200s", fmt.Sprintf("bench group text %d", i)) }
	// The first text also distributes the sender's Sender Key to every
	// member (1:1); not counted.
	r.progress("group: first text (Sender Key distribution)")
	t0 = time.Now()
	first, err := cl.SendGroup(ctx, "bench", text(0))
	if err != nil {
		return fmt.Errorf("first text: %w", err)
	}
	firstMs := msSince(t0)
	if _, err := gs.waitAll(ctx, first.EnvelopeID, g); err != nil {
		return fmt.Errorf("first text: %w", err)
	}
	// The client member takes the group and the sender's Sender Key, then
	// goes offline: the texts to come wait in its mailbox.
	if _, err := receiveUntil(ctx, member, memberEv, func() bool { return memberEv.has(first.EnvelopeID) }); err != nil {
		return fmt.Errorf("client member receiving the first text: %w", err)
	}

	var accepted, toAll []float64
	var sent [][16]byte
	m0 := r.measure(n)
	for i := 1; i <= r.sz.GroupRounds; i++ {
		r.progress("group: text %d to %d members", i, g)
		t0 := time.Now()
		msg, err := cl.SendGroup(ctx, "bench", text(i))
		if err != nil {
			return fmt.Errorf("text %d: %w", i, err)
		}
		accepted = append(accepted, msSince(t0))
		last, err := gs.waitAll(ctx, msg.EnvelopeID, g)
		if err != nil {
			return fmt.Errorf("text %d: %w", i, err)
		}
		toAll = append(toAll, float64(last.Sub(t0))/float64(time.Millisecond))
		sent = append(sent, msg.EnvelopeID)
	}
	acksFailed := settleAcks(peers)
	m1 := r.measure(n)
	if err := errors.Join(m0.err, m1.err); err != nil {
		return err
	}
	cpu := m1.since(m0)
	var total float64
	for _, ms := range toAll {
		total += ms
	}
	deliveries := int64(g * len(toAll))

	// The sender alone: the members disconnected, its texts wait in their
	// mailboxes.
	closeAll(peers)
	peers = nil
	alone := max(r.sz.GroupRounds, 20)
	r.progress("group: the sender alone, %d texts", alone)
	c0 := cpuTime()
	var queued [][16]byte
	for i := range alone {
		msg, err := cl.SendGroup(ctx, "bench", text(r.sz.GroupRounds+1+i))
		if err != nil {
			return fmt.Errorf("text without members online: %w", err)
		}
		queued = append(queued, msg.EnvelopeID)
	}
	senderCPU := cpuTime() - c0

	// The client member receives every text since the first, alone in
	// this process.
	queued = append(queued, sent...)
	r.progress("group: the client member receives %d texts", len(queued))
	st0 := member.Stats()
	c0, t0 = cpuTime(), time.Now()
	if _, err := receiveUntil(ctx, member, memberEv, func() bool { return memberEv.hasAll(queued) }); err != nil {
		return fmt.Errorf("client member receiving: %w", err)
	}
	memberCPU, memberSecs := cpuTime()-c0, time.Since(t0).Seconds()
	st1 := member.Stats()

	res.add("deliveries_per_s", float64(deliveries)/(total/1000), "deliveries/s")
	res.add("accepted_p50", percentile(accepted, 50), "ms")
	res.add("accepted_max", slices.Max(accepted), "ms")
	res.add("all_reached_p50", percentile(toAll, 50), "ms")
	res.add("all_reached_max", slices.Max(toAll), "ms")
	cpu.record(res, "group", deliveries)
	res.add("sender_ms_send", float64(senderCPU.Microseconds())/1000/float64(alone), "ms")
	res.add("member_texts_per_core_s", float64(len(queued))/memberCPU.Seconds(), "texts/s")
	res.add("member_texts_per_s", float64(len(queued))/memberSecs, "texts/s")
	res.add("create_group", createMs, "ms")
	res.add("first_text", firstMs, "ms")
	atSize := g >= Full().GroupMembers
	res.target("group text accepted (median round)", "accepted_p50", below, 100, atSize)
	res.target("group member deliveries (issue 14)", "deliveries_per_s", atLeast, 50000, atSize)
	res.target("group all reached (issue 14)", "all_reached_p50", below, 50, atSize)
	dups, all := gs.counts()
	got, v2 := 0, 0
	for _, id := range sent {
		n, s := gs.members(id)
		got, v2 = got+n, v2+s
	}
	res.check("every accepted text delivered exactly once", got == int(deliveries) && dups == 0,
		"%d texts to %d members accepted, %d deliveries, %d duplicates", len(sent), g, got, dups)
	res.check("every text one sealed sender v2 message", v2 == got,
		"%d of %d deliveries sealed sender v2 (from one multi-recipient send)", v2, got)
	res.check("the client member decrypted every text, sealed", st1.Undecryptable == st0.Undecryptable &&
		st1.ReceivedSealed-st0.ReceivedSealed >= int64(len(queued)) && st1.Duplicates == st0.Duplicates,
		"%d texts queued; %d received sealed, %d undecryptable, %d duplicates", len(queued),
		st1.ReceivedSealed-st0.ReceivedSealed, st1.Undecryptable-st0.Undecryptable, st1.Duplicates-st0.Duplicates)
	res.check("group texts acks", acksFailed == 0, "%d acks failed", acksFailed)
	res.Notes = append(res.Notes, fmt.Sprintf("a real client (client.Init, SendGroup) sends %d texts to a group of %d wire-level members and a client member "+
		"(registered with real prekeys; they acknowledge, never decrypt); each text is Sender Key encrypted once and sent as one sealed sender v2 "+
		"request; accepted = SendGroup's return (stored for every member), all_reached = from SendGroup's start to the last member's delivery; "+
		"the relay runs in a process of its own: relay_us_msg_group is its CPU per member delivery (with its ack); sender_ms_send is this process's "+
		"CPU per SendGroup with the members offline (the sender alone); create_group and first_text (Sender Key distribution, 1:1 to every member) "+
		"are one-off; %d other deliveries (group creation, Sender Keys, the first text) not counted; member_texts_*: the client member, "+
		"offline meanwhile, receives the %d texts since the first (sealed sender v2 open, Sender Key decrypt, its database; group texts get no receipts) alone in "+
		"this process: texts per second of its CPU and of the time from Receive's start",
		r.sz.GroupRounds, g, all-got, len(queued)))
	return nil
}

// benchInvite is an invite to the bench's relay at addr: a manifest
// signed by the relay's network key.
func benchInvite(k relay.Keys, addr string) (manifest.Invite, error) {
	now := time.Now()
	m := &manifest.Manifest{
		Network: "bench", Serial: 1, Issued: now.Add(-time.Minute), Expires: now.Add(24 * time.Hour),
		Relays:    []manifest.Relay{{ID: k.RelayID, NoiseKey: k.Noise.Public, Endpoints: []manifest.Endpoint{{Transport: "tcp", Address: addr}}}},
		TrustRoot: k.TrustRoot.Public.Bytes(),
	}
	blob, err := manifest.Sign(m, k.Network)
	if err != nil {
		return manifest.Invite{}, err
	}
	return manifest.Invite{NetworkKey: k.Network.Public().(ed25519.PublicKey), Manifest: blob}, nil
}

// giveAccessKeys stores the members' access keys in the sender's contacts
// (see group).
func giveAccessKeys(ctx context.Context, home string, ids []ident) error {
	db, err := clientdb.Open(ctx, filepath.Join(home, "client.db"), clientdb.Options{})
	if err != nil {
		return fmt.Errorf("sender's database: %w", err)
	}
	defer db.Close()
	for _, d := range ids {
		if err := db.Store().SetContactAccessKey(ctx, d.account, d.uak); err != nil {
			return err
		}
	}
	return nil
}

// groupStats counts the members' deliveries by envelope id.
type groupStats struct {
	mu     sync.Mutex
	seen   map[groupDelivery]bool
	per    map[[16]byte]int       // envelope id → members that have it
	last   map[[16]byte]time.Time // envelope id → its latest delivery
	v2     map[[16]byte]int       // envelope id → its deliveries that are sealed sender v2 messages
	dups   int
	others int // deliveries whose id is not 16 bytes
	news   chan struct{}
}

type groupDelivery struct {
	id     [16]byte
	member *peer
}

func newGroupStats() *groupStats {
	return &groupStats{seen: map[groupDelivery]bool{}, per: map[[16]byte]int{}, v2: map[[16]byte]int{}, last: map[[16]byte]time.Time{}, news: make(chan struct{}, 1)}
}

// onPush counts a delivery to member p and acknowledges it.
func (gs *groupStats) onPush(p *peer, push *wire.Push) {
	e := push.GetDelivery()
	if e == nil {
		return
	}
	now := time.Now()
	gs.mu.Lock()
	if len(e.Id) != 16 {
		gs.others++
	} else {
		k := groupDelivery{id: [16]byte(e.Id), member: p}
		if gs.seen[k] {
			gs.dups++
		} else {
			gs.seen[k] = true
			gs.per[k.id]++
			if sealedV2(e) {
				gs.v2[k.id]++
			}
			gs.last[k.id] = now
		}
	}
	gs.mu.Unlock()
	select {
	case gs.news <- struct{}{}:
	default:
	}
	if p.acks != nil {
		p.acks.add(e.Id)
	}
}

// members is how many members have envelope id, and how many of those
// as a sealed sender v2 message.
func (gs *groupStats) members(id [16]byte) (n, v2 int) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return gs.per[id], gs.v2[id]
}

// sealedV2 reports whether e is a sealed sender envelope (no source) whose
// content is a sealed sender v2 received message (version byte 0x22), as
// the relay makes one from a multi-recipient send.
func sealedV2(e *wire.Envelope) bool {
	return e.Type == 6 && len(e.SourceAccount) == 0 && len(e.Content) > 0 && e.Content[0] == 0x22
}

// counts returns the duplicates seen and all distinct deliveries.
func (gs *groupStats) counts() (dups, all int) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return gs.dups, gs.others + len(gs.seen)
}

// waitAll waits until g members have envelope id and returns the time of
// the last one's delivery.
func (gs *groupStats) waitAll(ctx context.Context, id [16]byte, g int) (time.Time, error) {
	deadline := time.After(deliveryTimeout)
	for {
		gs.mu.Lock()
		got, last := gs.per[id], gs.last[id]
		gs.mu.Unlock()
		if got >= g {
			return last, nil
		}
		select {
		case <-gs.news:
		case <-deadline:
			return time.Time{}, fmt.Errorf("%d of %d members had it after %v", got, g, deliveryTimeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func msSince(t time.Time) float64 { return float64(time.Since(t)) / float64(time.Millisecond) }

// clientEvents collects a real client's events: its group texts by
// envelope id and its direct texts.
type clientEvents struct {
	mu     sync.Mutex
	texts  map[[16]byte]bool
	direct int
	news   chan struct{}
}

func newClientEvents() *clientEvents {
	return &clientEvents{texts: map[[16]byte]bool{}, news: make(chan struct{}, 1)}
}

// add is the client's Config.OnEvent.
func (ev *clientEvents) add(e client.Event) {
	ev.mu.Lock()
	switch e.Kind {
	case client.EventGroupMessage:
		ev.texts[e.EnvelopeID] = true
	case client.EventMessage:
		ev.direct++
	}
	ev.mu.Unlock()
	select {
	case ev.news <- struct{}{}:
	default:
	}
}

func (ev *clientEvents) directTexts() int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.direct
}

func (ev *clientEvents) has(id [16]byte) bool { return ev.hasAll([][16]byte{id}) }

func (ev *clientEvents) hasAll(ids [][16]byte) bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, id := range ids {
		if !ev.texts[id] {
			return false
		}
	}
	return true
}

// receiveUntil runs c.Receive until done holds (checked on each of ev's
// events) and returns once Receive has returned, with how long it took.
func receiveUntil(ctx context.Context, c *client.Client, ev *clientEvents, done func() bool) (time.Duration, error) {
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- c.Receive(rctx) }()
	deadline := time.After(deliveryTimeout)
	for !done() {
		select {
		case <-ev.news:
		case err := <-ended:
			return 0, fmt.Errorf("receive ended: %v", err)
		case <-deadline:
			cancel()
			<-ended
			return 0, fmt.Errorf("not done after %v", deliveryTimeout)
		}
	}
	took := time.Since(start)
	cancel()
	return took, <-ended
}
