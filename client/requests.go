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

// Blocked reports whether the user blocked name.
func (c *Client) Blocked(ctx context.Context, name string) (bool, error) {
	st, err := c.db.Store().PeerState(ctx, NormalizeUsername(name))
	return st == clientdb.PeerBlocked, err
}

// Accept accepts name: from now on they get our access key and delivery
// receipts (one receipt goes at once for what they sent while pending).
func (c *Client) Accept(ctx context.Context, name string) error {
	name = NormalizeUsername(name)
	return c.db.Tx(ctx, func(s *clientdb.Store) error { return c.accept(ctx, s, name) })
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
func (c *Client) Block(ctx context.Context, name string) error {
	name = NormalizeUsername(name)
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
		held, err = denyPeer(ctx, s, name, c.cfg.Now())
		return err
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
	return c.db.Store().SetPeerState(ctx, NormalizeUsername(name), nil, clientdb.PeerPending, c.cfg.Now())
}
