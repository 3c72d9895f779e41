package loadgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"samizdat/broadcast"
	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/wire"
)

// channel: one device posts ChannelRounds times to a broadcast channel
// that ChannelSubscribers anonymous wire-level connections subscribe to;
// each round waits until every subscriber has the post. The relay runs in
// a process of its own, so its CPU per subscriber read is its alone. The
// baseline, on the same subscribers, has each of them also read the post
// with a ReadChannel round trip after the notice (how it went before the
// notice carried the post).
func (r *runner) channel(ctx context.Context, res *Result) error {
	subs := r.sz.ChannelSubscribers
	// Each subscriber holds a descriptor here and one in the relay
	// process, which inherits this limit.
	if err := needFiles(subs, "subscribers"); err != nil {
		return err
	}
	lim := unlimited()
	lim.ChannelCreates, lim.ChannelPosts = relay.Unlimited, relay.Unlimited
	n, err := r.startRelayNode(ctx, ScenarioChannel, lim, []string{"127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer n.close()
	ids, err := provision(ctx, n.store, newSeed(), 0, 1)
	if err != nil {
		return err
	}
	posters, err := connectAll(ctx, n, ids, nil)
	if err != nil {
		return err
	}
	defer closeAll(posters)
	ch, err := newBenchChannel()
	if err != nil {
		return err
	}
	if _, err := posters[0].callOK(ctx, ch.createReq()); err != nil {
		return fmt.Errorf("create channel: %w", err)
	}

	r.progress("channel: %d subscribers connecting", subs)
	st := &channelStats{readAfter: new(atomic.Bool), got: make([]atomic.Int64, r.sz.ChannelRounds*2+1), subs: subs}
	st.round = make(chan uint64, 1)
	peers := make([]*peer, subs)
	last := make([]uint64, subs) // each subscriber's last post; its reader only
	err = parallel(ctx, subs, 64, func(ctx context.Context, i int) error {
		key, err := noisechan.GenerateKeyPair(rand.Reader)
		if err != nil {
			return err
		}
		p, err := dialPeer(ctx, n.addrs[0], nil, key, n.key.Public, func(p *peer, push *wire.Push) {
			st.notice(p, ch, push.GetChannel(), &last[i])
		}, false)
		if err != nil {
			return err
		}
		peers[i] = p
		_, err = p.callOK(ctx, ch.readReq(0, true))
		return err
	})
	defer closeAll(peers)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}

	// The rounds: first with the post in the notice, then the baseline.
	seq := uint64(0)
	rounds := func(name string) (*channelRun, error) {
		run := &channelRun{}
		m0 := r.measure(n)
		for range r.sz.ChannelRounds {
			seq++
			r.progress("channel: %s post %d to %d subscribers", name, seq, subs)
			t0 := time.Now()
			resp, err := posters[0].callOK(ctx, ch.postReq(seq))
			if err != nil {
				return nil, fmt.Errorf("post %d: %w", seq, err)
			}
			if got := resp.GetChannelPosted().GetSeq(); got != seq {
				return nil, fmt.Errorf("post %d stored as %d", seq, got)
			}
			select {
			case s := <-st.round:
				if s != seq {
					return nil, fmt.Errorf("post %d: round %d completed instead", seq, s)
				}
			case <-time.After(deliveryTimeout):
				gone := 0
				for _, p := range peers {
					select {
					case <-p.done:
						gone++
					default:
					}
				}
				return nil, fmt.Errorf("post %d: %d of %d subscribers had it after %v (%d subscriber connections had ended)",
					seq, st.got[seq].Load(), subs, deliveryTimeout, gone)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			run.toAll = append(run.toAll, float64(time.Since(t0))/float64(time.Millisecond))
		}
		m1 := r.measure(n)
		if err := errors.Join(m0.err, m1.err); err != nil {
			return nil, err
		}
		run.cpu = m1.since(m0)
		var total float64
		for _, ms := range run.toAll {
			total += ms
		}
		run.rate = float64(subs*len(run.toAll)) / (total / 1000)
		return run, nil
	}
	notice, err := rounds("notice")
	if err != nil {
		return err
	}
	st.readAfter.Store(true)
	read, err := rounds("read")
	if err != nil {
		return err
	}

	res.add("reads_per_s", notice.rate, "reads/s")
	res.add("post_to_all_p50", percentile(notice.toAll, 50), "ms")
	res.add("post_to_all_max", slices.Max(notice.toAll), "ms")
	notice.cpu.record(res, "notice", int64(subs*len(notice.toAll)))
	// SQLite counts a post among its writes (PostgreSQL's counters count
	// only the mailbox's batched writes).
	countsPosts := notice.cpu.haveStats && r.cfg.StoreKind == "sqlite"
	if countsPosts {
		res.add("writes_per_post", float64(notice.cpu.writes)/float64(len(notice.toAll)), "writes")
	}
	res.add("reads_per_s_read", read.rate, "reads/s")
	res.add("post_to_all_p50_read", percentile(read.toAll, 50), "ms")
	read.cpu.record(res, "read", int64(subs*len(read.toAll)))
	res.ratioTo(Metric{Name: "read_after_notice", Value: read.rate, Unit: "reads/s"})
	atSize := subs >= Full().ChannelSubscribers
	res.target("subscriber reads of a new post", "reads_per_s", atLeast, 50000, atSize)
	if countsPosts {
		res.check("a post is one write", notice.cpu.writes == uint64(len(notice.toAll)),
			"%d store writes for %d posts", notice.cpu.writes, len(notice.toAll))
	}
	res.check("every subscriber had every post once", st.dups.Load() == 0 && st.bad.Load() == 0,
		"%d duplicates, %d notices without the post or failed reads", st.dups.Load(), st.bad.Load())
	res.Notes = append(res.Notes, fmt.Sprintf("%d posts to %d anonymous subscribers (wire-level, no decryption), then %d more "+
		"with a ReadChannel after each notice (baseline *_read); the relay runs in a process of its own: relay_us_msg_* is its CPU "+
		"per subscriber read, clients_cpu_* the subscribers' process", r.sz.ChannelRounds, subs, r.sz.ChannelRounds))
	return nil
}

// channelStats counts the subscribers' posts.
type channelStats struct {
	subs      int
	readAfter *atomic.Bool   // read the post with ReadChannel after its notice
	got       []atomic.Int64 // subscribers that have post seq
	round     chan uint64    // a post every subscriber has
	dups      atomic.Int64
	bad       atomic.Int64
}

// notice handles a channel notice on subscriber p, whose last post is
// *last (touched only on p's reader goroutine).
func (st *channelStats) notice(p *peer, ch *benchChannel, nt *wire.ChannelNotice, last *uint64) {
	if nt == nil {
		return
	}
	s := nt.Seq
	if s <= *last || s >= uint64(len(st.got)) {
		st.dups.Add(1)
		return
	}
	*last = s
	if !st.readAfter.Load() {
		if nt.Post.GetSeq() != s || len(nt.Post.GetContent()) == 0 {
			st.bad.Add(1)
			return
		}
		st.have(s)
		return
	}
	err := p.start(ch.readReq(s-1, false), func(r *wire.Response) {
		posts := r.GetChannelPosts().GetPosts()
		if r == nil || r.Status != wire.Status_OK || len(posts) == 0 || posts[0].Seq != s {
			st.bad.Add(1)
			return
		}
		st.have(s)
	})
	if err != nil {
		st.bad.Add(1)
	}
}

// have counts one subscriber that has post s.
func (st *channelStats) have(s uint64) {
	if st.got[s].Add(1) == int64(st.subs) {
		st.round <- s
	}
}

// channelRun is one set of rounds.
type channelRun struct {
	toAll []float64 // per post: ms from posting to the last subscriber having it
	rate  float64   // subscriber reads per second of post-to-all time
	cpu   span
}

// benchChannel is a broadcast channel the scenario posts to.
type benchChannel struct {
	code  broadcast.Code
	id    broadcast.ID
	token broadcast.Token
}

func newBenchChannel() (*benchChannel, error) {
	code, err := broadcast.NewChannel(broadcast.NetworkTag{}, "bench", rand.Reader)
	if err != nil {
		return nil, err
	}
	return &benchChannel{code: code, id: code.ID(), token: broadcast.ReadToken(code.ContentKey, code.ID())}, nil
}

func (ch *benchChannel) createReq() *wire.Request {
	h := broadcast.TokenHash(ch.token)
	return &wire.Request{Op: &wire.Request_CreateChannel{CreateChannel: &wire.CreateChannel{
		AdminKey: ch.code.AdminKey, TokenHash: h[:], Signature: broadcast.SignCreate(ch.code.Admin, h)}}}
}

// postReq is post n: a 200-byte text, sealed and signed by the admin key.
func (ch *benchChannel) postReq(n uint64) *wire.Request {
	pid := broadcast.PostID{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	text := fmt.Sprintf("%-200s", fmt.Sprintf("bench post %d", n))
	ct, err := broadcast.Seal(ch.code.ContentKey, ch.id, pid, broadcast.Body{SentAt: 1, Text: text}, rand.Reader)
	if err != nil {
		panic(err) // only a failing random source
	}
	return &wire.Request{Op: &wire.Request_PostToChannel{PostToChannel: &wire.PostToChannel{
		ChannelId: ch.id[:], PostId: pid[:], Content: ct, Signature: broadcast.SignPost(ch.code.Admin, ch.id, pid, ct)}}}
}

func (ch *benchChannel) readReq(after uint64, subscribe bool) *wire.Request {
	return &wire.Request{Op: &wire.Request_ReadChannel{ReadChannel: &wire.ReadChannel{
		ChannelId: ch.id[:], ReadToken: ch.token[:], After: after, Subscribe: subscribe}}}
}

// needFiles raises the open-file limit for n connections (of what) and
// says so when it cannot be raised far enough.
func needFiles(n int, what string) error {
	soft, _, err := raiseNoFile(uint64(n + 1024))
	if err != nil {
		return fmt.Errorf("open-file limit: %w", err)
	}
	if int(soft) < n+256 {
		return fmt.Errorf("open-file limit %d: too low for %d %s", soft, n, what)
	}
	return nil
}
