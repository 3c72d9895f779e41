package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"time"

	"samizdat/broadcast"
	"samizdat/relay/wire"
)

// Broadcast channels: the relay checks that a post is signed by the
// channel's admin key and that a reader holds the read token, stores each
// post once and hands it to every reader from its log. It never holds a
// channel's content key or name; a reader presents the token, the same for
// all, not an identity (and may read anonymously).

// channelHeadTTL is how long the server trusts the head (last seq) of a
// channel it has cached without reading it from the store again. A post
// through this server updates it at once; with several relay nodes on one
// store, a post through another node is seen here within this long.
const channelHeadTTL = time.Second

// channels is the server's memory of broadcast channels: each cached
// channel's keys (which never change) and the latest posts of its log, so
// that a post read by many subscribers is read from the store about once;
// and which connections subscribed to which channel.
type channels struct {
	mu    sync.Mutex
	cache map[ChannelID]*chanEntry         // at most Limits.ChannelCache; guarded by mu
	subs  map[ChannelID]map[*conn]struct{} // guarded by mu
}

// channelTail is how many of a cached channel's latest posts the server
// keeps in memory: a subscriber reads the new ones.
const channelTail = 16

// chanEntry is one cached channel. tail holds the channel's last posts
// (consecutive seqs ending at head), at most channelTail of them.
type chanEntry struct {
	ch      Channel
	tail    []ChannelPost // never modified: replaced whole
	head    uint64
	checked time.Time // when head was last known to be the store's (zero: never)
}

// channel returns the channel id, from the cache or the store.
func (s *Server) channel(ctx context.Context, id ChannelID) (Channel, error) {
	s.chans.mu.Lock()
	e := s.chans.cache[id]
	s.chans.mu.Unlock()
	if e != nil {
		return e.ch, nil
	}
	ch, err := s.store.ChannelByID(ctx, id)
	if err != nil {
		return Channel{}, err
	}
	s.chans.mu.Lock()
	defer s.chans.mu.Unlock()
	if e := s.chans.cache[id]; e != nil {
		return e.ch, nil
	}
	if s.chans.cache == nil {
		s.chans.cache = make(map[ChannelID]*chanEntry)
	}
	for victim := range s.chans.cache {
		if len(s.chans.cache) < s.lim.ChannelCache {
			break
		}
		delete(s.chans.cache, victim) // an arbitrary one
	}
	s.chans.cache[id] = &chanEntry{ch: ch}
	return ch, nil
}

// cachedPosts returns the posts after `after` from the cache, when its
// head is fresh and its tail holds them.
func (s *Server) cachedPosts(id ChannelID, after uint64) ([]ChannelPost, uint64, bool) {
	s.chans.mu.Lock()
	defer s.chans.mu.Unlock()
	e := s.chans.cache[id]
	if e == nil || e.checked.IsZero() || s.clk.Now().Sub(e.checked) > channelHeadTTL {
		return nil, 0, false
	}
	if after >= e.head {
		return nil, e.head, true
	}
	if len(e.tail) == 0 || e.tail[0].Seq > after+1 {
		return nil, 0, false
	}
	from := after + 1 - e.tail[0].Seq
	return e.tail[from:min(uint64(len(e.tail)), from+uint64(s.lim.ChannelPage))], e.head, true
}

// noteHead records what the store said of the channel's log: posts read
// after `after` and its head at that moment (read at `at`).
func (s *Server) noteHead(id ChannelID, posts []ChannelPost, head uint64, at time.Time) {
	s.chans.mu.Lock()
	defer s.chans.mu.Unlock()
	e := s.chans.cache[id]
	if e == nil || head < e.head {
		return
	}
	switch {
	case len(posts) > 0 && posts[len(posts)-1].Seq == head:
		e.tail = posts[max(0, len(posts)-channelTail):]
	case head != e.head:
		e.tail = nil // it does not reach the new head
	}
	e.head, e.checked = head, at
}

// notePosted records a post this server stored.
func (s *Server) notePosted(p ChannelPost) {
	s.chans.mu.Lock()
	defer s.chans.mu.Unlock()
	e := s.chans.cache[p.Channel]
	if e == nil || p.Seq <= e.head {
		return
	}
	if p.Seq == e.head+1 && (len(e.tail) == 0 || e.tail[len(e.tail)-1].Seq == e.head) {
		tail := make([]ChannelPost, 0, min(len(e.tail)+1, channelTail))
		tail = append(tail, e.tail[max(0, len(e.tail)+1-channelTail):]...)
		e.tail = append(tail, p)
	} else {
		e.tail = nil
	}
	e.head, e.checked = p.Seq, s.clk.Now()
}

// subscribe has c told of new posts of id; false when c subscribed to
// too many channels.
func (c *conn) subscribe(id ChannelID) bool {
	c.mu.Lock()
	if _, ok := c.subs[id]; ok {
		c.mu.Unlock()
		return true
	}
	if len(c.subs) >= c.s.lim.ChannelSubscribers || c.closed {
		c.mu.Unlock()
		return c.closed // a closing connection needs no notices
	}
	if c.subs == nil {
		c.subs = make(map[ChannelID]struct{})
	}
	c.subs[id] = struct{}{}
	c.mu.Unlock()
	s := &c.s.chans
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = make(map[ChannelID]map[*conn]struct{})
	}
	m := s.subs[id]
	if m == nil {
		m = make(map[*conn]struct{})
		s.subs[id] = m
	}
	m[c] = struct{}{}
	return true
}

// unsubscribeChannels drops c's subscriptions, when it ends.
func (c *conn) unsubscribeChannels() {
	c.mu.Lock()
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	s := &c.s.chans
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range subs {
		delete(s.subs[id], c)
		if len(s.subs[id]) == 0 {
			delete(s.subs, id)
		}
	}
}

// notice is a ChannelNotice to push: the post's seq and the frame,
// marshalled once for every subscriber.
type notice struct {
	seq   uint64
	frame []byte
}

// notify tells the connections subscribed to p's channel of p, pushing
// the post itself: a subscriber that has read up to the post before it
// needs no request. The frame is the same for all; each connection only
// encrypts it.
func (s *Server) notify(p ChannelPost) {
	s.chans.mu.Lock()
	to := make([]*conn, 0, len(s.chans.subs[p.Channel]))
	for c := range s.chans.subs[p.Channel] {
		to = append(to, c)
	}
	s.chans.mu.Unlock()
	if len(to) == 0 {
		return
	}
	n := &wire.ChannelNotice{ChannelId: p.Channel[:], Seq: p.Seq, Post: postToWire(&p)}
	frame, err := wire.Marshal(&wire.Frame{Body: &wire.Frame_Push{Push: &wire.Push{Body: &wire.Push_Channel{Channel: n}}}})
	if err != nil {
		s.log.Error("marshalling a channel notice", "err", err)
		return
	}
	for _, c := range to {
		c.notice(p.Channel, notice{seq: p.Seq, frame: frame})
	}
}

// notice queues n and starts the goroutine that pushes notices unless it
// runs already. Notices go out on any connection, beside (not through) the
// delivery worker; a connection slow to take them gets only the newest per
// channel (its reader sees the gap and reads the log).
func (c *conn) notice(id ChannelID, n notice) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.notices == nil {
		c.notices = make(map[ChannelID]notice)
	}
	if n.seq <= c.notices[id].seq {
		return
	}
	c.notices[id] = n
	if c.noticing {
		return
	}
	c.noticing = true
	c.wg.Add(1)
	go c.pushNotices()
}

// pushNotices pushes the queued notices until none is left or the
// connection fails.
func (c *conn) pushNotices() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		notices := c.notices
		c.notices = nil
		if len(notices) == 0 || c.closed {
			c.noticing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for _, n := range notices {
			if c.writeFrame(n.frame) != nil {
				c.mu.Lock()
				c.noticing = false
				c.mu.Unlock()
				return
			}
		}
	}
}

// postToWire converts a stored post for a reader.
func postToWire(p *ChannelPost) *wire.ChannelPost {
	return &wire.ChannelPost{Seq: p.Seq, PostId: p.ID[:], Content: p.Content, Signature: p.Signature, ServerTimestamp: millis(p.ServerTime)}
}

// channelID checks a channel id from the wire (16 bytes, as an account
// id).
func channelID(b []byte) (ChannelID, bool) {
	id, ok := accountID(b)
	return ChannelID(id), ok
}

// createChannel stores a new channel of the admin key in the request.
func (c *conn) createChannel(ctx context.Context, d Device, req *wire.CreateChannel) *wire.Response {
	if len(req.AdminKey) != broadcast.AdminKeySize || len(req.TokenHash) != 32 || len(req.Signature) != broadcast.SignatureSize {
		return badRequest("malformed channel creation")
	}
	key := ed25519.PublicKey(req.AdminKey)
	hash := [32]byte(req.TokenHash)
	if !broadcast.VerifyCreate(key, hash, req.Signature) {
		return fail(wire.Status_UNAUTHORIZED, "bad channel creation signature")
	}
	if r := c.limit(ctx, "channel creations", "channel-create", c.s.lim.ChannelCreates, 1, devBytes(d)); r != nil {
		return r
	}
	ch := Channel{ID: ChannelID(broadcast.ChannelID(key)), AdminKey: req.AdminKey, TokenHash: hash, Created: c.s.now()}
	err := c.s.store.CreateChannel(ctx, ch)
	if errors.Is(err, ErrConflict) {
		// A retry of the same creation succeeds.
		old, gerr := c.s.store.ChannelByID(ctx, ch.ID)
		if gerr != nil {
			return c.internal("create channel", gerr)
		}
		if old.TokenHash != ch.TokenHash {
			return fail(wire.Status_CONFLICT, "the channel exists")
		}
		err = nil
	}
	if err != nil {
		return c.internal("create channel", err)
	}
	return ok()
}

// postToChannel appends a post signed by the channel's admin key.
func (c *conn) postToChannel(ctx context.Context, req *wire.PostToChannel) *wire.Response {
	id, okID := channelID(req.ChannelId)
	if !okID || len(req.PostId) != 16 || len(req.Content) == 0 || len(req.Content) > broadcast.MaxCiphertext ||
		len(req.Signature) != broadcast.SignatureSize {
		return badRequest("malformed channel post")
	}
	ch, err := c.s.channel(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return fail(wire.Status_NOT_FOUND, "no such channel")
	}
	if err != nil {
		return c.internal("channel", err)
	}
	pid := [16]byte(req.PostId)
	if !broadcast.VerifyPost(ch.AdminKey, broadcast.ID(id), pid, req.Content, req.Signature) {
		return fail(wire.Status_UNAUTHORIZED, "the post is not signed by the channel's admin key")
	}
	if r := c.limit(ctx, "channel posts", "channel-post", c.s.lim.ChannelPosts, 1, id[:]); r != nil {
		return r
	}
	p := ChannelPost{Channel: id, ID: pid, Content: req.Content, Signature: req.Signature}
	if err := c.s.store.AppendPost(ctx, &p); err != nil {
		return c.internal("append post", err)
	}
	c.s.notePosted(p)
	c.s.notify(p)
	return &wire.Response{Result: &wire.Response_ChannelPosted{ChannelPosted: &wire.ChannelPosted{Seq: p.Seq}}}
}

// readChannel answers a page of the channel's log to a holder of its read
// token.
func (c *conn) readChannel(ctx context.Context, req *wire.ReadChannel) *wire.Response {
	id, okID := channelID(req.ChannelId)
	if !okID || len(req.ReadToken) != broadcast.TokenSize {
		return badRequest("malformed channel read")
	}
	ch, err := c.s.channel(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return fail(wire.Status_NOT_FOUND, "no such channel")
	}
	if err != nil {
		return c.internal("channel", err)
	}
	if !broadcast.CheckToken(broadcast.Token(req.ReadToken), ch.TokenHash) {
		return fail(wire.Status_UNAUTHORIZED, "wrong read token")
	}
	if req.Subscribe && !c.subscribe(id) {
		return badRequest("too many channel subscriptions on this connection")
	}
	posts, head, cached := c.s.cachedPosts(id, req.After)
	if !cached {
		at := c.s.clk.Now()
		if posts, head, err = c.s.store.ChannelPosts(ctx, id, req.After, c.s.lim.ChannelPage); err != nil {
			return c.internal("channel posts", err)
		}
		c.s.noteHead(id, posts, head, at)
	}
	out := &wire.ChannelPosts{Head: head, Posts: make([]*wire.ChannelPost, len(posts))}
	for i := range posts {
		out.Posts[i] = postToWire(&posts[i])
	}
	return &wire.Response{Result: &wire.Response_ChannelPosts{ChannelPosts: out}}
}
