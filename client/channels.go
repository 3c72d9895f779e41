package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"samizdat/broadcast"
	"samizdat/client/clientdb"
	"samizdat/client/internal/contentpb"
	"samizdat/relay/wire"
)

// Broadcast channels (package broadcast has the cryptography): the creator
// holds the admin key and hands subscribers a join code with the content
// key; posts are stored once on the relay, and each subscriber reads the
// channel's log from the last post it saw, on the same connection (dialer,
// bridges, cohorts) as its messages. A channel's name is local, in one
// namespace with the home's contacts (clientdb.NameTaken).

// channelPoll: Receive reads every channel about this often, besides when
// the relay tells of a post.
const channelPoll = 30 * time.Second

// Errors callers branch on.
var (
	// ErrChannelName: not 1-32 of a-z 0-9 _ . -
	ErrChannelName = errors.New("client: a channel name is 1-32 of a-z 0-9 _ . -")
	// ErrNoSuchChannel: no channel joined under that name, or the relay
	// has no such channel.
	ErrNoSuchChannel = errors.New("client: no such channel")
	// ErrNotChannelAdmin: only an admin may post or name admins.
	ErrNotChannelAdmin = errors.New("client: not an admin of the channel")
	// ErrOtherNetwork: the join code is for another network.
	ErrOtherNetwork = errors.New("client: the join code is for another network")
	// ErrAlreadyJoined: the channel is joined already (under Event.Peer's
	// name in the error text).
	ErrAlreadyJoined = errors.New("client: channel joined already")
)

// ChannelInfo describes a joined channel.
type ChannelInfo struct {
	Name    string
	Admin   bool
	LastSeq uint64 // the newest post read
}

// Channels lists the channels joined, by name.
func (c *Client) Channels(ctx context.Context) ([]ChannelInfo, error) {
	chs, err := c.db.Store().Channels(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ChannelInfo, len(chs))
	for i, ch := range chs {
		out[i] = ChannelInfo{Name: ch.Name, Admin: ch.Admin, LastSeq: ch.LastSeq}
	}
	return out, nil
}

// checkName checks a new local channel name.
func (c *Client) checkName(ctx context.Context, name string) error {
	if !broadcast.ValidName(name) {
		return fmt.Errorf("%w: %q", ErrChannelName, name)
	}
	if taken, err := c.LocalNameTaken(ctx, name); err != nil {
		return err
	} else if taken {
		return fmt.Errorf("%w: %s", ErrNameTaken, name)
	}
	return nil
}

// networkTag is our network's tag in join codes.
func (c *Client) networkTag() broadcast.NetworkTag { return broadcast.TagOf(c.networkKey) }

// CreateChannel creates a channel named name with us as its admin,
// registers it with the relay and returns the join code for subscribers.
func (c *Client) CreateChannel(ctx context.Context, name string) (string, error) {
	if err := c.checkName(ctx, name); err != nil {
		return "", err
	}
	code, err := broadcast.NewChannel(c.networkTag(), name, c.cfg.Rand)
	if err != nil {
		return "", err
	}
	id := code.ID()
	hash := broadcast.TokenHash(broadcast.ReadToken(code.ContentKey, id))
	req := &wire.CreateChannel{AdminKey: code.AdminKey, TokenHash: hash[:], Signature: broadcast.SignCreate(code.Admin, hash)}
	if _, err := c.call(ctx, "create channel", &wire.Request{Op: &wire.Request_CreateChannel{CreateChannel: req}}); err != nil {
		return "", err
	}
	err = c.db.Store().AddChannel(ctx, clientdb.Channel{Name: name, ID: id, Code: code.Marshal(), Admin: true, Joined: c.cfg.Now()})
	if err != nil {
		return "", err
	}
	return code.Subscriber().String(), nil
}

// JoinChannel joins the channel of a join code under name (the name in
// the code if empty). Posts from now on are read by Receive; earlier ones
// are not. It returns the name.
func (c *Client) JoinChannel(ctx context.Context, codeText, name string) (string, error) {
	code, err := broadcast.ParseCode(codeText)
	if err != nil {
		return "", err
	}
	if code.Network != c.networkTag() {
		return "", ErrOtherNetwork
	}
	if name == "" {
		name = code.Name
	}
	id := code.ID()
	if ch, err := c.db.Store().ChannelByID(ctx, id); err == nil {
		return "", fmt.Errorf("%w as %s", ErrAlreadyJoined, ch.Name)
	} else if !errors.Is(err, clientdb.ErrNotFound) {
		return "", err
	}
	if err := c.checkName(ctx, name); err != nil {
		return "", err
	}
	// The head of the log: history starts after it. The read also proves
	// that the channel exists and the code's token opens it, and it
	// subscribes the connection Receive may be running on to new posts.
	posts, err := c.readPage(ctx, nil, code, math.MaxUint64, true)
	if err != nil {
		return "", err
	}
	ch := clientdb.Channel{Name: name, ID: id, Code: code.Marshal(), Admin: code.Admin != nil, LastSeq: posts.GetHead(), Joined: c.cfg.Now()}
	if err := c.db.Store().AddChannel(ctx, ch); err != nil {
		return "", err
	}
	return name, nil
}

// channelKeys returns the channel joined under name and its code.
func (c *Client) channelKeys(ctx context.Context, name string) (clientdb.Channel, broadcast.Code, error) {
	ch, err := c.db.Store().ChannelByName(ctx, name)
	if errors.Is(err, clientdb.ErrNotFound) {
		return ch, broadcast.Code{}, fmt.Errorf("%w: %s", ErrNoSuchChannel, name)
	}
	if err != nil {
		return ch, broadcast.Code{}, err
	}
	code, err := broadcast.UnmarshalCode(ch.Code)
	if err != nil {
		return ch, broadcast.Code{}, fmt.Errorf("client: stored channel %s: %w", name, err)
	}
	return ch, code, nil
}

// PostToChannel posts text to the channel joined under name, which we
// must be an admin of, and returns once the relay has stored it.
func (c *Client) PostToChannel(ctx context.Context, name, text string) error {
	ch, code, err := c.channelKeys(ctx, name)
	if err != nil {
		return err
	}
	if code.Admin == nil {
		return fmt.Errorf("%w: %s", ErrNotChannelAdmin, name)
	}
	var pid broadcast.PostID
	if _, err := c.cfg.Rand.Read(pid[:]); err != nil {
		return err
	}
	now := c.cfg.Now()
	id := code.ID()
	ct, err := broadcast.Seal(code.ContentKey, id, pid, broadcast.Body{SentAt: uint64(now.UnixMilli()), Text: text}, c.cfg.Rand)
	if err != nil {
		return err
	}
	// Recorded first: the relay's notice of it may come before its answer.
	if err := c.db.Store().NoteOwnPost(ctx, pid, now); err != nil {
		return err
	}
	req := &wire.PostToChannel{ChannelId: id[:], PostId: pid[:], Content: ct, Signature: broadcast.SignPost(code.Admin, id, pid, ct)}
	resp, err := c.call(ctx, "post to channel", &wire.Request{Op: &wire.Request_PostToChannel{PostToChannel: req}})
	if err != nil {
		return err
	}
	// Our own post is not shown again when the log is read.
	_, err = c.db.Store().AddChannelPost(ctx, ch.ID, resp.GetChannelPosted().GetSeq(), text, now, now)
	return err
}

// ChannelHistory returns the last limit posts read (or posted) in the
// channel joined as name, oldest first, each with Peer the channel's name.
func (c *Client) ChannelHistory(ctx context.Context, name string, limit int) ([]clientdb.Message, error) {
	ch, _, err := c.channelKeys(ctx, name)
	if err != nil {
		return nil, err
	}
	msgs, err := c.db.Store().ChannelPosts(ctx, ch.ID, limit)
	for i := range msgs {
		msgs[i].Peer = ch.Name
	}
	return msgs, err
}

// GrantChannelAdmin sends the user to the channel's admin key (end to
// end, as a message), making them an admin; it returns once the relay has
// stored the message. Writing to them accepts them.
func (c *Client) GrantChannelAdmin(ctx context.Context, name, to string) error {
	_, code, err := c.channelKeys(ctx, name)
	if err != nil {
		return err
	}
	if code.Admin == nil {
		return fmt.Errorf("%w: %s", ErrNotChannelAdmin, name)
	}
	to = NormalizeUsername(to)
	if _, err := c.contact(ctx, to, false); err != nil {
		return err // no such user, or the relay out of reach
	}
	var eid [16]byte
	err = c.db.Tx(ctx, func(s *clientdb.Store) error {
		if err := c.accept(ctx, s, to); err != nil {
			return err
		}
		eid, err = c.enqueueID(ctx, s, to, &contentpb.Content{Body: &contentpb.Content_ChannelAdmin{ChannelAdmin: &contentpb.ChannelAdmin{Code: code.Marshal()}}})
		return err
	})
	if err != nil {
		return err
	}
	results, err := c.Flush(ctx)
	if r, ok := results[eid]; ok {
		return r
	}
	// The receive loop's flush may have sent it.
	out, oErr := c.db.Store().Outbox(ctx)
	if oErr != nil {
		return oErr
	}
	for _, o := range out {
		if o.EnvelopeID == eid {
			if err == nil {
				err = errors.New("client: not sent yet")
			}
			return fmt.Errorf("%w; the admin key stays in the outbox and goes with the next send or recv", err)
		}
	}
	return nil
}

// LeaveChannel forgets the channel joined under name, its keys and its
// posts. Nothing goes to the relay: it holds no list of readers.
func (c *Client) LeaveChannel(ctx context.Context, name string) error {
	err := c.db.Store().RemoveChannel(ctx, name)
	if errors.Is(err, clientdb.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSuchChannel, name)
	}
	return err
}

// readPage reads one page of the channel's log after `after` on rc (nil:
// the current connection).
func (c *Client) readPage(ctx context.Context, rc *relayConn, code broadcast.Code, after uint64, subscribe bool) (*wire.ChannelPosts, error) {
	id := code.ID()
	tok := broadcast.ReadToken(code.ContentKey, id)
	req := &wire.Request{Op: &wire.Request_ReadChannel{ReadChannel: &wire.ReadChannel{ChannelId: id[:], ReadToken: tok[:], After: after, Subscribe: subscribe}}}
	var resp *wire.Response
	var err error
	if rc == nil {
		resp, err = c.call(ctx, "read channel", req)
	} else {
		rctx, cancel := c.cfg.Clock.WithTimeout(ctx, c.cfg.RequestTimeout)
		resp, err = rc.call(rctx, "read channel", req)
		cancel()
	}
	var se *StatusError
	if errors.As(err, &se) && (se.Status == wire.Status_NOT_FOUND || se.Status == wire.Status_UNAUTHORIZED) {
		return nil, fmt.Errorf("%w: the relay refused the code: %v", ErrNoSuchChannel, se)
	}
	if err != nil {
		return nil, err
	}
	return resp.GetChannelPosts(), nil
}

// readChannels reads the new posts of every joined channel on rc,
// subscribing to notices of later ones when subscribe is set.
func (c *Client) readChannels(ctx context.Context, rc *relayConn, subscribe bool) error {
	chs, err := c.db.Store().Channels(ctx)
	if err != nil {
		return err
	}
	for _, ch := range chs {
		if err := c.readChannel(ctx, rc, ch, subscribe); err != nil {
			return err
		}
	}
	return nil
}

// channelNotice takes the post a notice carries, when it is the one after
// the last we read; otherwise it reads the channel's log.
func (c *Client) channelNotice(ctx context.Context, rc *relayConn, n *wire.ChannelNotice) error {
	if len(n.GetChannelId()) != 16 {
		return nil
	}
	ch, err := c.db.Store().ChannelByID(ctx, [16]byte(n.GetChannelId()))
	if errors.Is(err, clientdb.ErrNotFound) {
		return nil // left since
	}
	if err != nil {
		return err
	}
	if p := n.GetPost(); p != nil && n.GetSeq() == ch.LastSeq+1 && p.GetSeq() == n.GetSeq() {
		code, err := broadcast.UnmarshalCode(ch.Code)
		if err != nil {
			return fmt.Errorf("client: stored channel %s: %w", ch.Name, err)
		}
		_, err = c.takePosts(ctx, ch, code, ch.LastSeq, []*wire.ChannelPost{p})
		return err
	}
	return c.readChannel(ctx, rc, ch, false)
}

// readChannel reads the channel's log from its last seq to the head. A
// channel the relay no longer opens to our code is logged and skipped;
// other errors end the read.
func (c *Client) readChannel(ctx context.Context, rc *relayConn, ch clientdb.Channel, subscribe bool) error {
	code, err := broadcast.UnmarshalCode(ch.Code)
	if err != nil {
		return fmt.Errorf("client: stored channel %s: %w", ch.Name, err)
	}
	after := ch.LastSeq
	for {
		page, err := c.readPage(ctx, rc, code, after, subscribe)
		if errors.Is(err, ErrNoSuchChannel) {
			c.cfg.Logger.Debug("channel not readable", "err", err)
			return nil
		}
		if err != nil {
			return err
		}
		subscribe = false
		last, err := c.takePosts(ctx, ch, code, after, page.Posts)
		if err != nil {
			return err
		}
		if last == after || last >= page.GetHead() {
			return nil
		}
		after = last
	}
}

// takePosts checks each post after `after` against the admin key of our
// code, decrypts, stores and reports it (EventChannelPost), and moves the
// channel's last seq to the last one. A post that fails its checks is
// reported (EventRefused) and skipped. It returns the last seq.
func (c *Client) takePosts(ctx context.Context, ch clientdb.Channel, code broadcast.Code, after uint64, posts []*wire.ChannelPost) (uint64, error) {
	id := code.ID()
	var events []Event
	last := after
	err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		events, last = nil, after
		for _, p := range posts {
			if p.Seq <= last {
				continue // out of order: a faulty relay
			}
			last = p.Seq
			ev := c.openPost(code, id, ch.Name, p)
			if ev.Kind == EventChannelPost {
				fresh, err := s.AddChannelPost(ctx, ch.ID, p.Seq, ev.Text, ev.SentAt, c.cfg.Now())
				if err != nil {
					return err
				}
				own, err := s.OwnPost(ctx, broadcast.PostID(p.PostId))
				if err != nil {
					return err
				}
				if !fresh || own {
					continue // read already, or our own
				}
			}
			events = append(events, ev)
		}
		return s.AdvanceChannel(ctx, ch.ID, last)
	})
	if err != nil {
		return after, err
	}
	for _, e := range events {
		c.emit(e)
	}
	return last, nil
}

// openPost checks and decrypts one post: EventChannelPost, or
// EventRefused saying why not.
func (c *Client) openPost(code broadcast.Code, id broadcast.ID, name string, p *wire.ChannelPost) Event {
	refused := func(err error) Event {
		return Event{Kind: EventRefused, Peer: "#" + name, Err: fmt.Errorf("post %d: %w", p.Seq, err)}
	}
	if len(p.PostId) != 16 {
		return refused(broadcast.ErrBadPost)
	}
	pid := broadcast.PostID(p.PostId)
	if !broadcast.VerifyPost(code.AdminKey, id, pid, p.Content, p.Signature) {
		return refused(errors.New("not signed by the channel's admin key"))
	}
	b, err := broadcast.Open(code.ContentKey, id, pid, p.Content)
	if err != nil {
		return refused(err)
	}
	return Event{Kind: EventChannelPost, Peer: name, Text: b.Text, SentAt: time.UnixMilli(int64(b.SentAt))}
}

// storeChannelAdmin takes a channel's admin code from an accepted contact:
// a channel we read becomes one we may post to; another is joined (under
// the name its creator gave it, with -2, -3... on a clash), its whole log
// to be read.
func (c *Client) storeChannelAdmin(ctx context.Context, s *clientdb.Store, peer string, accepted bool, m *contentpb.ChannelAdmin) (Event, error) {
	refuse := func(err error) (Event, error) {
		c.cfg.Logger.Debug("channel admin code refused", "err", err)
		return Event{Kind: EventRefused, Peer: peer, Err: err}, nil
	}
	if !accepted {
		return refuse(ErrNotAccepted)
	}
	code, err := broadcast.UnmarshalCode(m.GetCode())
	switch {
	case err != nil:
		return refuse(err)
	case code.Admin == nil:
		return refuse(fmt.Errorf("%w: not an admin code", broadcast.ErrBadCode))
	case code.Network != c.networkTag():
		return refuse(ErrOtherNetwork)
	}
	id := code.ID()
	ch, err := s.ChannelByID(ctx, id)
	switch {
	case err == nil:
		if err := s.MakeChannelAdmin(ctx, id, code.Marshal()); err != nil {
			return Event{}, err
		}
		return Event{Kind: EventChannelAdmin, Peer: peer, Text: ch.Name}, nil
	case !errors.Is(err, clientdb.ErrNotFound):
		return Event{}, err
	}
	name, err := c.freeName(ctx, s, code.Name, nil)
	if err != nil {
		return Event{}, err
	}
	if err := s.AddChannel(ctx, clientdb.Channel{Name: name, ID: id, Code: code.Marshal(), Admin: true, Joined: c.cfg.Now()}); err != nil {
		return Event{}, err
	}
	return Event{Kind: EventChannelAdmin, Peer: peer, Text: name}, nil
}
