package client

import (
	"context"
	"errors"
	"fmt"

	"samizdat/client/clientdb"
	"samizdat/username"
)

// Message requests, as Signal has them: a stranger's messages are stored
// and shown, but the stranger stays pending (no access key, no delivery
// receipts, no bridge offer or manifest goes to them, and theirs are
// refused) until the user writes to them, replies, or accepts them. A
// blocked sender's messages are acked and dropped unread.

// ErrNotAccepted refuses what only an accepted contact may do (offer a
// bridge or hand on a manifest, be offered ours).
var ErrNotAccepted = errors.New("client: not an accepted contact (write to them or accept them first)")

// maxDeferredReceipts bounds the receipt sent on accepting someone for
// the messages they sent while pending.
const maxDeferredReceipts = 100

// Accepted lists the contacts the user accepted: wrote to, replied to or
// accepted (and did not block since). Bridges are offered to them and
// taken from them.
func (c *Client) Accepted(ctx context.Context) ([]string, error) {
	return c.db.Store().Accepted(ctx, c.username)
}

// Requests lists the senders still pending: they wrote to us and the user
// neither accepted nor blocked them.
func (c *Client) Requests(ctx context.Context) ([]string, error) {
	return c.db.Store().Requests(ctx, c.username)
}

// GroupRequest is a group a stranger added us to, which the user has not
// accepted: its texts are shown, and nothing goes to its members until the
// user accepts it (Accept), or writes to it.
type GroupRequest struct {
	Group   string // the group's local name
	Inviter string // who added us; "" if not known by name here
}

// GroupRequests lists the pending groups, by name.
func (c *Client) GroupRequests(ctx context.Context) ([]GroupRequest, error) {
	gs, by, err := c.db.Store().GroupRequests(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]GroupRequest, len(gs))
	for i, g := range gs {
		out[i].Group = g.Name
		if ct, err := c.db.Store().ContactByAccount(ctx, by[i]); err == nil {
			out[i].Inviter = ct.Username
		} else if !errors.Is(err, clientdb.ErrNotFound) {
			return nil, err
		}
	}
	return out, nil
}

// Blocked reports whether the user blocked name.
func (c *Client) Blocked(ctx context.Context, name string) (bool, error) {
	st, err := c.db.Store().PeerState(ctx, NormalizeUsername(name))
	return st == clientdb.PeerBlocked, err
}

// Accept accepts name: a contact, from now on given our access key and
// delivery receipts (one receipt goes at once for what they sent while
// pending), or a group a stranger added us to (GroupRequests).
func (c *Client) Accept(ctx context.Context, name string) error {
	name = NormalizeUsername(name)
	return c.db.Tx(ctx, func(s *clientdb.Store) error {
		if g, err := s.GroupByName(ctx, name); err == nil {
			return c.acceptGroup(ctx, s, g)
		} else if !errors.Is(err, clientdb.ErrNotFound) {
			return err
		}
		if err := c.accept(ctx, s, name); err != nil {
			return err
		}
		return c.syncPeer(ctx, s, name, clientdb.PeerAccepted)
	})
}

// acceptGroup marks g accepted in the transaction, unless it is.
func (c *Client) acceptGroup(ctx context.Context, s *clientdb.Store, g clientdb.Group) error {
	if g.State == clientdb.PeerAccepted {
		return nil
	}
	return s.SetPeerState(ctx, clientdb.GroupPeer(g.ID), nil, clientdb.PeerAccepted, c.cfg.Now())
}

// setGroupState records the user's decision about the group with the
// local name, and reports whether there is one.
func (c *Client) setGroupState(ctx context.Context, name string, state int) (bool, error) {
	g, err := c.db.Store().GroupByName(ctx, name)
	if errors.Is(err, clientdb.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, c.db.Store().SetPeerState(ctx, clientdb.GroupPeer(g.ID), nil, state, c.cfg.Now())
}

// accept marks peer accepted in the transaction and, if they were not,
// queues a receipt for the messages they sent while pending.
func (c *Client) accept(ctx context.Context, s *clientdb.Store, peer string) error {
	st, err := s.PeerState(ctx, peer)
	if err != nil || st == clientdb.PeerAccepted {
		return err
	}
	if err := s.SetPeerState(ctx, peer, nil, clientdb.PeerAccepted, c.cfg.Now()); err != nil {
		return err
	}
	if c.cfg.NoReceipts || st == clientdb.PeerBlocked || peer == c.username {
		return nil
	}
	ids, err := s.ReceivedFrom(ctx, peer, maxDeferredReceipts)
	if err != nil || len(ids) == 0 {
		return err
	}
	return c.queueReceipt(ctx, s, peer, ids...)
}

// Block drops name's future messages unread (acked, never stored) and
// stops everything we send them unasked: what the outbox holds for them
// that is not a message goes, and every bridge offer they hold is taken
// back (the bridge this home runs denies it at once; one run elsewhere
// when SyncBridges tells it). The account is the one name's messages came
// from, else the one the relay knows by that name.
//
// Blocking a group drops its texts unread (its changes still apply);
// Unblock makes it a group request again.
func (c *Client) Block(ctx context.Context, name string) error {
	name = NormalizeUsername(name)
	if isGroup, err := c.setGroupState(ctx, name, clientdb.PeerBlocked); err != nil || isGroup {
		return err
	}
	acct, err := c.db.Store().PeerAccount(ctx, name)
	if errors.Is(err, clientdb.ErrNotFound) {
		var ct clientdb.Contact
		if ct, err = c.db.Store().ContactByName(ctx, name); errors.Is(err, clientdb.ErrNotFound) {
			if _, verr := username.Normalize(name); verr != nil {
				return fmt.Errorf("%w: %s", ErrNoSuchUser, name)
			}
			ct, err = c.contact(ctx, name, false)
		}
		acct = ct.AccountID
	}
	if err != nil {
		return err
	}
	var held bool
	if err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		if err := s.SetPeerState(ctx, name, acct[:], clientdb.PeerBlocked, c.cfg.Now()); err != nil {
			return err
		}
		if held, err = denyPeer(ctx, s, name, c.cfg.Now()); err != nil {
			return err
		}
		return c.syncPeer(ctx, s, name, clientdb.PeerBlocked)
	}); err != nil {
		return err
	}
	if !held {
		return nil
	}
	return c.denyServed(ctx)
}

// Unblock undoes Block: name is pending again (their messages are shown;
// they get nothing from us until accepted).
func (c *Client) Unblock(ctx context.Context, name string) error {
	name = NormalizeUsername(name)
	if isGroup, err := c.setGroupState(ctx, name, clientdb.PeerPending); err != nil || isGroup {
		return err
	}
	return c.db.Tx(ctx, func(s *clientdb.Store) error {
		if err := s.SetPeerState(ctx, name, nil, clientdb.PeerPending, c.cfg.Now()); err != nil {
			return err
		}
		return c.syncPeer(ctx, s, name, clientdb.PeerPending)
	})
}
