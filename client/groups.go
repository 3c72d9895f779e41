package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"samizdat/client/clientdb"
	"samizdat/client/group"
	"samizdat/client/internal/contentpb"
	"samizdat/session"
	"samizdat/session/senderkey"
)

// Private groups (package group holds their membership rules).
//
// A membership change is signed by the member who makes it and goes 1:1
// (the ordinary encrypted path, through the outbox) to every member before
// and after it: the newest groupTail changes to those who were members, the
// whole chain to those it adds. Each device checks the chain itself; the
// relay never sees a name or a member list.
//
// A text to a group is encrypted once with our Sender Key for the group
// (package session/senderkey) and sent with one sealed sender v2
// multi-recipient request to every device of every other member whose
// unidentified access key we know (send_multi); a member whose key we do
// not know yet gets the same Sender Key message 1:1 (GroupCiphertext).
// Before that, every member device that lacks our current chain gets it
// 1:1 (GroupKey). When someone leaves or is removed, every remaining member
// rotates to a new chain, which only the remaining members get: a removed
// member can decrypt nothing sent after it learned of its removal.
//
// Our own other devices are members like the others: they get each change
// (the whole chain) and our Sender Key 1:1, and our texts 1:1 (a device
// does not send sealed to its own account). A device linked after a group
// changed last does not learn of the group until its next change.

// Errors callers branch on.
var (
	// ErrNoSuchGroup: no group of this home has the name.
	ErrNoSuchGroup = errors.New("client: no such group")
	// ErrNotMember: we are not (or no longer) a member of the group.
	ErrNotMember = errors.New("client: not a member of the group")
)

// groupTail is how many of the newest changes go to members with each
// change, so that one that missed a change (or got two out of order)
// catches up from the next.
const groupTail = 8

// Group is a group as this device knows it.
type Group struct {
	Name     string // the local name
	ID       group.ID
	Revision uint64
	Member   bool           // we are a member
	Members  []group.Member // in the order they joined
	// Request: a stranger added us and the user has not accepted the
	// group yet (GroupRequests); Blocked: the user blocked it.
	Request, Blocked bool
}

// distributionID is the Sender Key distribution id of a group: every
// member's chain for the group is stored under it.
func distributionID(id group.ID) [16]byte {
	h := sha256.Sum256(append([]byte("samizdat group sender key\x00"), id[:]...))
	return [16]byte(h[:16])
}

// peerLabel names an outbox peer for events: a username, or a group's
// local name for a group's key.
func (c *Client) peerLabel(ctx context.Context, peer string) string {
	id, ok := clientdb.ParseGroupPeer(peer)
	if !ok {
		return peer
	}
	if g, err := c.db.Store().Group(ctx, id); err == nil {
		return g.Name
	}
	return peer
}

// groupState returns the group's state from its stored chain, cached while
// the chain's head does not change.
func (c *Client) groupState(ctx context.Context, s *clientdb.Store, id group.ID) (*group.State, error) {
	rev, err := s.GroupRevision(ctx, id)
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, nil
	}
	last, err := s.GroupChanges(ctx, id, rev)
	if err != nil || len(last) == 0 {
		return nil, err
	}
	c.groupMu.Lock()
	st := c.groupCache[id]
	c.groupMu.Unlock()
	if st != nil && st.Revision == rev && st.Head == sha256.Sum256(last[0]) {
		return st, nil
	}
	raw, err := s.GroupChanges(ctx, id, 1)
	if err != nil {
		return nil, err
	}
	chain := make([]*group.Signed, len(raw))
	for i, b := range raw {
		if chain[i], err = group.Parse(b); err != nil {
			return nil, fmt.Errorf("client: a stored group change: %w", err)
		}
	}
	if st, err = group.Replay(chain); err != nil {
		return nil, fmt.Errorf("client: a stored group: %w", err)
	}
	c.groupMu.Lock()
	if c.groupCache == nil {
		c.groupCache = make(map[group.ID]*group.State)
	}
	c.groupCache[id] = st
	c.groupMu.Unlock()
	return st, nil
}

// Groups lists this home's groups by name.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	rows, err := c.db.Store().Groups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(rows))
	for _, g := range rows {
		gi, err := c.groupInfo(ctx, c.db.Store(), g)
		if err != nil {
			return nil, err
		}
		out = append(out, gi)
	}
	return out, nil
}

// GroupByName returns the group with the local name, or ErrNoSuchGroup.
func (c *Client) GroupByName(ctx context.Context, name string) (Group, error) {
	g, err := c.db.Store().GroupByName(ctx, name)
	if errors.Is(err, clientdb.ErrNotFound) {
		return Group{}, fmt.Errorf("%w: %s", ErrNoSuchGroup, name)
	}
	if err != nil {
		return Group{}, err
	}
	return c.groupInfo(ctx, c.db.Store(), g)
}

func (c *Client) groupInfo(ctx context.Context, s *clientdb.Store, g clientdb.Group) (Group, error) {
	st, err := c.groupState(ctx, s, g.ID)
	if err != nil {
		return Group{}, err
	}
	gi := Group{Name: g.Name, ID: g.ID, Member: g.Member, Request: g.State == clientdb.PeerPending, Blocked: g.State == clientdb.PeerBlocked}
	if st != nil {
		gi.Revision, gi.Members = st.Revision, slices.Clone(st.Members)
	}
	return gi, nil
}

// CreateGroup creates a group named name (a name no contact or group of
// this home has) with us as its admin and the users members, and sends it
// to them. It returns once the relay has stored what goes to each (an
// error says what did not; it stays in the outbox).
func (c *Client) CreateGroup(ctx context.Context, name string, members []string) (Group, error) {
	if err := group.ValidName(name); err != nil {
		return Group{}, err
	}
	if taken, err := c.LocalNameTaken(ctx, name); err != nil || taken {
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrNameTaken, name)
		}
		return Group{}, err
	}
	added, err := c.groupMembers(ctx, members)
	if err != nil {
		return Group{}, err
	}
	var id group.ID
	if _, err := c.cfg.Rand.Read(id[:]); err != nil {
		return Group{}, err
	}
	return c.changeGroup(ctx, id, name, func(st *group.State, me group.Member) (group.Change, error) {
		return group.Change{Group: id, Action: group.Create, Name: name, Members: append([]group.Member{me}, added...)}, nil
	})
}

// AddToGroup adds the users to the group (we must be its admin).
func (c *Client) AddToGroup(ctx context.Context, name string, members []string) error {
	added, err := c.groupMembers(ctx, members)
	if err != nil {
		return err
	}
	return c.changeNamed(ctx, name, func(*group.State, group.Member) (group.Change, error) {
		return group.Change{Action: group.Add, Members: added}, nil
	})
}

// RemoveFromGroup removes the members named from the group (we must be
// its admin).
func (c *Client) RemoveFromGroup(ctx context.Context, name string, members []string) error {
	return c.changeNamed(ctx, name, func(st *group.State, _ group.Member) (group.Change, error) {
		ms, err := namedMembers(st, members)
		return group.Change{Action: group.Remove, Members: ms}, err
	})
}

// LeaveGroup leaves the group.
func (c *Client) LeaveGroup(ctx context.Context, name string) error {
	return c.changeNamed(ctx, name, func(*group.State, group.Member) (group.Change, error) {
		return group.Change{Action: group.Leave}, nil
	})
}

// RenameGroup renames the group for every member (we must be its admin);
// here it takes newName, which must be free.
func (c *Client) RenameGroup(ctx context.Context, name, newName string) error {
	if err := group.ValidName(newName); err != nil {
		return err
	}
	return c.changeNamed(ctx, name, func(*group.State, group.Member) (group.Change, error) {
		return group.Change{Action: group.Rename, Name: newName}, nil
	})
}

// MakeGroupAdmin makes a member an admin of the group (we must be one).
func (c *Client) MakeGroupAdmin(ctx context.Context, name, member string) error {
	return c.changeNamed(ctx, name, func(st *group.State, _ group.Member) (group.Change, error) {
		ms, err := namedMembers(st, []string{member})
		return group.Change{Action: group.Admin, Members: ms}, err
	})
}

// namedMembers returns the members of st with the usernames.
func namedMembers(st *group.State, names []string) ([]group.Member, error) {
	var out []group.Member
	for _, n := range names {
		n = NormalizeUsername(n)
		i := slices.IndexFunc(st.Members, func(m group.Member) bool { return m.Username == n })
		if i < 0 {
			return nil, fmt.Errorf("%s is not a member of %s", n, st.Name)
		}
		out = append(out, group.Member{Username: n, Account: st.Members[i].Account})
	}
	return out, nil
}

// groupMembers looks the users up (at the relay when they are not
// contacts yet) and returns them as group members with the identity key we
// hold for each.
func (c *Client) groupMembers(ctx context.Context, names []string) ([]group.Member, error) {
	var out []group.Member
	for _, n := range names {
		ct, err := c.contact(ctx, n, false)
		if err != nil {
			return nil, err
		}
		if ct.AccountID == c.account {
			return nil, errors.New("client: you are in your groups already")
		}
		ik, ok, err := c.db.Store().Identity(ctx, addr(ct.AccountID, 1))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("client: no identity key known for %s", ct.Username)
		}
		if slices.ContainsFunc(out, func(m group.Member) bool { return m.Account == ct.AccountID }) {
			continue
		}
		out = append(out, group.Member{Username: ct.Username, Account: ct.AccountID, Identity: ik})
	}
	return out, nil
}

// changeNamed makes a change to the group with the local name.
func (c *Client) changeNamed(ctx context.Context, name string, build func(*group.State, group.Member) (group.Change, error)) error {
	g, err := c.db.Store().GroupByName(ctx, name)
	if errors.Is(err, clientdb.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSuchGroup, name)
	}
	if err != nil {
		return err
	}
	if !g.Member {
		return fmt.Errorf("%w: %s", ErrNotMember, name)
	}
	_, err = c.changeGroup(ctx, g.ID, g.Name, build)
	return err
}

// changeGroup signs the change build makes of the group's state (nil for
// a creation), applies it, queues it for everyone it concerns, and sends
// the outbox. localName is the group's name here (its new name for a
// creation).
func (c *Client) changeGroup(ctx context.Context, id group.ID, localName string, build func(*group.State, group.Member) (group.Change, error)) (Group, error) {
	var gi Group
	c.sessMu.Lock()
	err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		st, err := c.groupState(ctx, s, id)
		if err != nil {
			return err
		}
		us, err := s.IdentityKeyPair(ctx)
		if err != nil {
			return err
		}
		me := group.Member{Username: c.username, Account: c.account, Identity: us.Public}
		ch, err := build(st, me)
		if err != nil {
			return err
		}
		ch.Actor = me.Account
		if st != nil {
			ch.Group, ch.Revision, ch.Previous = st.ID, st.Revision+1, st.Head
		} else {
			ch.Revision = 1
		}
		sc, err := group.Sign(ch, us.Private, c.cfg.Rand)
		if err != nil {
			return err
		}
		next, err := st.Apply(sc)
		if err != nil {
			return err
		}
		if ch.Action == group.Rename {
			if taken, err := c.nameTaken(ctx, s, ch.Name, &id); err != nil || taken {
				if err == nil {
					err = fmt.Errorf("%w: %s", ErrNameTaken, ch.Name)
				}
				return err
			}
			localName = ch.Name
		}
		if _, err := c.applied(ctx, s, id, localName, st, next, []*group.Signed{sc}); err != nil {
			return err
		}
		// Everyone before and after hears of it: the newest changes to
		// those who were members, the whole chain to those just added
		// and to our own other devices (which may not know the group).
		chain, err := s.GroupChanges(ctx, id, 1)
		if err != nil {
			return err
		}
		tail := chain[max(0, len(chain)-groupTail):]
		for _, m := range unionMembers(st, next) {
			changes := tail
			if _, was := st.Member(m.Account); !was || m.Account == c.account {
				changes = chain
			}
			if err := c.enqueue(ctx, s, m.Username, &contentpb.Content{Body: &contentpb.Content_GroupUpdate{
				GroupUpdate: &contentpb.GroupUpdate{Changes: changes}}}); err != nil {
				return err
			}
		}
		gi = Group{Name: localName, ID: id, Revision: next.Revision, Members: next.Members}
		_, gi.Member = next.Member(c.account)
		return nil
	})
	c.sessMu.Unlock()
	if err != nil {
		return Group{}, err
	}
	if _, err := c.Flush(ctx); err != nil {
		return gi, fmt.Errorf("%w (the change is made here; telling the members stays in the outbox)", err)
	}
	return gi, nil
}

// unionMembers lists the members of a, then those of b not in a.
func unionMembers(a, b *group.State) []group.Member {
	var out []group.Member
	if a != nil {
		out = slices.Clone(a.Members)
	}
	for _, m := range b.Members {
		if _, ok := a.Member(m.Account); !ok {
			out = append(out, m)
		}
	}
	return out
}

// applied records changes (already checked: they take before to after),
// names the group here, rotates our sender key when someone left or was
// removed, and adds a line to the group's history for each change from the
// one that made us a member on. It returns the events those lines are.
func (c *Client) applied(ctx context.Context, s *clientdb.Store, id group.ID, localName string, before, after *group.State, changes []*group.Signed) ([]Event, error) {
	for _, sc := range changes {
		if err := s.AddGroupChange(ctx, id, sc.Revision, sc.Bytes()); err != nil {
			return nil, err
		}
	}
	_, member := after.Member(c.account)
	if err := s.PutGroup(ctx, clientdb.Group{ID: id, Name: localName, Member: member}); err != nil {
		return nil, err
	}
	var events []Event
	now := c.cfg.Now()
	st := before
	_, shown := before.Member(c.account)
	for _, sc := range changes {
		next, err := st.Apply(sc)
		if err != nil {
			return nil, err // cannot be: the caller checked them
		}
		if !shown {
			// A member just added replays the chain: what happened
			// before it was added is not news to show.
			if _, shown = next.Member(c.account); !shown {
				st = next
				continue
			}
		}
		actor, lines := describe(st, next, sc)
		if (sc.Action == group.Remove || sc.Action == group.Leave) && member {
			// Whoever went must not read what we send from now on.
			if _, err := senderkey.Rotate(ctx, s, c.localAddr(), distributionID(id), c.cfg.Rand); err != nil {
				return nil, err
			}
			if err := s.ForgetGroupKeysSent(ctx, id); err != nil {
				return nil, err
			}
		}
		for _, l := range lines {
			if _, err := s.AddMessage(ctx, clientdb.Message{Peer: clientdb.GroupPeer(id), Sender: actor, Body: l,
				SentAt: now, At: now, Status: clientdb.StatusNotice}); err != nil {
				return nil, err
			}
			events = append(events, Event{Kind: EventGroupChange, Group: localName, Peer: actor, Text: l})
		}
		st = next
	}
	return events, nil
}

// describe says what a change did, as "added bob", "removed carol", "left",
// "renamed the group to NEW" or "made bob an admin" (one line per member
// it concerns), and who did it.
func describe(before, after *group.State, sc *group.Signed) (actor string, lines []string) {
	name := func(st *group.State, acct [16]byte) string {
		if m, ok := st.Member(acct); ok {
			return m.Username
		}
		return "someone"
	}
	switch sc.Action {
	case group.Create:
		actor = sc.Members[0].Username
		for _, m := range sc.Members[1:] {
			lines = append(lines, "added "+m.Username)
		}
		return actor, lines
	case group.Add:
		for _, m := range sc.Members {
			lines = append(lines, "added "+m.Username)
		}
	case group.Remove:
		for _, m := range sc.Members {
			lines = append(lines, "removed "+name(before, m.Account))
		}
	case group.Leave:
		lines = []string{"left"}
	case group.Rename:
		lines = []string{"renamed the group to " + after.Name}
	case group.Admin:
		lines = []string{"made " + name(after, sc.Members[0].Account) + " an admin"}
	}
	return name(before, sc.Actor), lines
}

// errGroupRefused marks group content refused for a reason about the
// content itself (it will never be accepted); the envelope is dropped.
var errGroupRefused = errors.New("client: group content refused")

// receiveGroupUpdate checks and applies the changes a member (peer, at
// account from; accepted if the user accepted them) sent us. A group that
// a stranger adds us to is a group request (see GroupRequests).
func (c *Client) receiveGroupUpdate(ctx context.Context, s *clientdb.Store, peer string, from [16]byte, accepted bool, u *contentpb.GroupUpdate) ([]Event, error) {
	refuse := func(err error) ([]Event, error) {
		c.cfg.Logger.Debug("group change refused", "err", err)
		return []Event{{Kind: EventRefused, Peer: peer, Err: err}}, nil
	}
	if len(u.GetChanges()) == 0 {
		return refuse(fmt.Errorf("%w: an empty group update", group.ErrRefused))
	}
	chain := make([]*group.Signed, len(u.Changes))
	for i, b := range u.Changes {
		sc, err := group.Parse(b)
		if err != nil {
			return refuse(err)
		}
		if i > 0 && sc.Group != chain[0].Group {
			return refuse(fmt.Errorf("%w: changes of two groups", group.ErrRefused))
		}
		chain[i] = sc
	}
	id := chain[0].Group
	st, err := c.groupState(ctx, s, id)
	if err != nil {
		return nil, err
	}
	known := func(rev uint64) ([32]byte, bool) {
		b, err := s.GroupChanges(ctx, id, rev)
		if err != nil || len(b) == 0 {
			return [32]byte{}, false
		}
		return sha256.Sum256(b[0]), true
	}
	next, applied, err := group.Advance(st, known, chain)
	if err != nil {
		return refuse(err)
	}
	if len(applied) == 0 {
		return nil, nil // nothing new
	}
	us, err := s.IdentityKeyPair(ctx)
	if err != nil {
		return nil, err
	}
	if m, ok := next.Member(c.account); ok && !m.Identity.Equal(us.Public) {
		return refuse(fmt.Errorf("%w: it lists us with another identity key", group.ErrRefused))
	}
	if _, ok := next.Member(c.account); !ok && st == nil {
		return refuse(fmt.Errorf("%w: a group we are not in", group.ErrRefused))
	}
	// The group takes the name its members gave it, made unique here;
	// the events name it as it was known until now.
	row, err := s.Group(ctx, id)
	if err != nil && !errors.Is(err, clientdb.ErrNotFound) {
		return nil, err
	}
	shown := row.Name
	if st == nil || next.Name != st.Name || row.Name == "" {
		if row.Name, err = c.freeName(ctx, s, next.Name, &id); err != nil {
			return nil, err
		}
	}
	if shown == "" {
		shown = row.Name
	}
	events, err := c.applied(ctx, s, id, row.Name, st, next, applied)
	if err != nil {
		return nil, err
	}
	if joined := !isMember(st, c.account) && isMember(next, c.account); joined && !accepted {
		// A stranger added us: a group request, as a stranger's message
		// is a message request.
		if err := s.NotePending(ctx, clientdb.GroupPeer(id), from, c.cfg.Now()); err != nil {
			return nil, err
		}
		if g, err := s.Group(ctx, id); err != nil {
			return nil, err
		} else if g.State == clientdb.PeerPending {
			events = append(events, Event{Kind: EventGroupRequest, Peer: peer})
		}
	}
	for i := range events {
		events[i].Group = shown
	}
	return events, nil
}

// GroupRequestLine says what EventGroupRequest means, after the name of
// the member who added us.
const GroupRequestLine = "is not a contact you accepted: a group request (accept the group, or leave it)"

// isMember reports whether acct is a member of st (nil: a group not known).
func isMember(st *group.State, acct [16]byte) bool {
	if st == nil {
		return false
	}
	_, ok := st.Member(acct)
	return ok
}

// groupMember returns the group with the id and the member at sender, if
// we are in the group and so is the sender.
func (c *Client) groupMember(ctx context.Context, s *clientdb.Store, id []byte, sender [16]byte) (clientdb.Group, group.Member, error) {
	if len(id) != group.IDSize {
		return clientdb.Group{}, group.Member{}, fmt.Errorf("%w: a group id of %d bytes", errGroupRefused, len(id))
	}
	g, err := s.Group(ctx, group.ID(id))
	if errors.Is(err, clientdb.ErrNotFound) {
		return g, group.Member{}, fmt.Errorf("%w: a group we do not know", errGroupRefused)
	}
	if err != nil {
		return g, group.Member{}, err
	}
	if !g.Member {
		return g, group.Member{}, fmt.Errorf("%w: %s: we are no longer a member", errGroupRefused, g.Name)
	}
	st, err := c.groupState(ctx, s, g.ID)
	if err != nil {
		return g, group.Member{}, err
	}
	m, ok := st.Member(sender)
	if !ok {
		return g, m, fmt.Errorf("%w: %s: the sender is not a member", errGroupRefused, g.Name)
	}
	return g, m, nil
}

// receiveGroupKey stores a member's Sender Key for a group. The key is
// kept even when the sender is not a member here yet, or the group is not
// known yet: the change that adds it may come later (it went another way).
// What it sends under the key is accepted only once it is a member
// (receiveGroupText). A key for a group we are no longer in is refused.
func (c *Client) receiveGroupKey(ctx context.Context, s *clientdb.Store, sender session.Address, peer string, k *contentpb.GroupKey) ([]Event, error) {
	refuse := func(err error) ([]Event, error) {
		c.cfg.Logger.Debug("group key refused", "err", err)
		return []Event{{Kind: EventRefused, Peer: peer, Err: err}}, nil
	}
	id := k.GetGroupId()
	if len(id) != group.IDSize {
		return refuse(fmt.Errorf("%w: a group id of %d bytes", errGroupRefused, len(id)))
	}
	g, err := s.Group(ctx, group.ID(id))
	switch {
	case err == nil && !g.Member:
		return refuse(fmt.Errorf("%w: %s: we are no longer a member", errGroupRefused, g.Name))
	case err != nil && !errors.Is(err, clientdb.ErrNotFound):
		return nil, err
	}
	m, err := senderkey.ParseDistributionMessage(k.GetDistribution())
	if err != nil {
		return refuse(err)
	}
	if m.DistributionID() != distributionID(group.ID(id)) {
		return refuse(fmt.Errorf("%w: a key for another distribution", errGroupRefused))
	}
	return nil, senderkey.Process(ctx, s, sender, m)
}

// receiveGroupText stores a text a member sent the group; dist is the
// distribution of the Sender Key message it came in.
func (c *Client) receiveGroupText(ctx context.Context, s *clientdb.Store, eid [16]byte, sender session.Address, dist [16]byte, content *contentpb.Content) ([]Event, error) {
	t := content.GetGroupText()
	acct, _ := parseUUID(sender.Name)
	if blocked, err := s.Blocked(ctx, acct); err != nil || blocked {
		return nil, err // a blocked member's texts are dropped unread
	}
	g, m, err := c.groupMember(ctx, s, t.GetGroupId(), acct)
	if err != nil {
		return nil, err
	}
	if g.State == clientdb.PeerBlocked {
		return nil, nil // so are a blocked group's
	}
	if dist != distributionID(g.ID) {
		return nil, fmt.Errorf("%w: %s: a text under another group's key", errGroupRefused, g.Name)
	}
	if len(content.AccessKey) == 16 {
		// What members send carries their access key, as 1:1 content
		// does: our next group text reaches them sealed.
		if err := s.SetContactAccessKey(ctx, acct, content.AccessKey); err != nil {
			return nil, err
		}
	}
	sentAt := time.UnixMilli(int64(content.Timestamp))
	if p := content.GetAttachment(); p != nil {
		// A file: recorded now, reported once DownloadFiles saved it.
		return c.holdFile(ctx, s, clientdb.Download{EnvelopeID: eid, Peer: clientdb.GroupPeer(g.ID), Sender: m.Username, Body: t.GetBody(), SentAt: sentAt}, p)
	}
	if _, err := s.AddMessage(ctx, clientdb.Message{EnvelopeID: eid, Peer: clientdb.GroupPeer(g.ID), Sender: m.Username, Body: t.GetBody(),
		SentAt: sentAt, At: c.cfg.Now(), Status: clientdb.StatusReceived}); err != nil {
		return nil, err
	}
	c.stats.received.Add(1)
	return []Event{{Kind: EventGroupMessage, Group: g.Name, Peer: m.Username, Text: t.GetBody(), EnvelopeID: eid, SentAt: sentAt}}, nil
}

// senderKeyDecrypt decrypts a Sender Key message from sender and returns
// its plaintext and distribution.
func senderKeyDecrypt(ctx context.Context, s *clientdb.Store, sender session.Address, b []byte) ([]byte, [16]byte, error) {
	msg, err := senderkey.ParseMessage(b)
	if err != nil {
		return nil, [16]byte{}, err
	}
	pt, err := senderkey.Decrypt(ctx, s, sender, b)
	return pt, msg.DistributionID(), err
}
