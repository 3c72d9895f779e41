package clientdb

import (
	"context"
	"fmt"
	"time"
)

// Bridges, as this client's user receives and runs them.
//
// bridge_offers holds what contacts offered us (one offer per contact and
// bridge, by the bridge's TLS pin). bridges holds the bridges our user
// offers (their own, run by this home, and those run elsewhere from a
// credential); bridge_grants which label of which bridge each contact
// holds and until when; bridge_denied the labels taken back (a contact
// blocked), until their last offer ends.

// MaxOffersPerPeer bounds the bridges one contact may have us keep: past
// it, the contact's oldest offer goes.
const MaxOffersPerPeer = 8

// BridgeOffer is a contact's bridge offer as stored: the encoded offer
// (the client's content message), the bridge it is for and when it ends.
type BridgeOffer struct {
	Peer     string
	Bridge   []byte // the bridge's TLS pin
	Offer    []byte
	Expires  time.Time
	Received time.Time
}

// PutBridgeOffer stores peer's offer of a bridge, replacing its earlier
// offer of the same bridge; past MaxOffersPerPeer the peer's oldest goes.
func (s *Store) PutBridgeOffer(ctx context.Context, o BridgeOffer) error {
	if err := s.exec(ctx, "bridge offer", `INSERT INTO bridge_offers (peer, bridge, offer, expires, received) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (peer, bridge) DO UPDATE SET offer = excluded.offer, expires = excluded.expires, received = excluded.received`,
		o.Peer, o.Bridge, o.Offer, o.Expires.UnixMilli(), o.Received.UnixMilli()); err != nil {
		return err
	}
	return s.exec(ctx, "bridge offer", `DELETE FROM bridge_offers WHERE peer = ? AND bridge NOT IN
		(SELECT bridge FROM bridge_offers WHERE peer = ? ORDER BY received DESC, bridge LIMIT ?)`, o.Peer, o.Peer, MaxOffersPerPeer)
}

// DeleteBridgeOffer forgets peer's offer of the bridge (every offer of
// peer's if bridge is nil).
func (s *Store) DeleteBridgeOffer(ctx context.Context, peer string, bridge []byte) error {
	if bridge == nil {
		return s.exec(ctx, "bridge offer", `DELETE FROM bridge_offers WHERE peer = ?`, peer)
	}
	return s.exec(ctx, "bridge offer", `DELETE FROM bridge_offers WHERE peer = ? AND bridge = ?`, peer, bridge)
}

// BridgeOffers lists the offers that have not ended at now, newest first,
// and forgets the ended ones.
func (s *Store) BridgeOffers(ctx context.Context, now time.Time) ([]BridgeOffer, error) {
	if err := s.exec(ctx, "bridge offers", `DELETE FROM bridge_offers WHERE expires <= ?`, now.UnixMilli()); err != nil {
		return nil, err
	}
	rows, err := s.q.QueryContext(ctx, `SELECT peer, bridge, offer, expires, received FROM bridge_offers ORDER BY received DESC`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: bridge offers: %w", err)
	}
	defer rows.Close()
	var out []BridgeOffer
	for rows.Next() {
		var o BridgeOffer
		var exp, rec int64
		if err := rows.Scan(&o.Peer, &o.Bridge, &o.Offer, &exp, &rec); err != nil {
			return nil, fmt.Errorf("clientdb: bridge offers: %w", err)
		}
		o.Expires, o.Received = time.UnixMilli(exp), time.UnixMilli(rec)
		out = append(out, o)
	}
	return out, rows.Err()
}

// Bridge is a bridge our user offers to their contacts.
type Bridge struct {
	ID      []byte // its TLS pin
	Address string // host:port contacts dial
	Key     []byte // the bridge key, which mints the offers (secret)
	SNI     string
	Own     bool // run by this home (offered while it runs), else run elsewhere from a credential
	Added   time.Time
	// Changed counts the changes the bridge must hear of (its deny
	// list); Pushed is the last count it acknowledged, PushedSerial the
	// manifest serial it acknowledged then, at PushedAt. FailedAt is the
	// last push that failed.
	Changed, Pushed    int64
	PushedSerial       uint64
	PushedAt, FailedAt time.Time
}

// PutBridge records b (its address, key, server name and kind; a new
// bridge's counters start over).
func (s *Store) PutBridge(ctx context.Context, b Bridge) error {
	return s.exec(ctx, "bridge", `INSERT INTO bridges (id, address, key, sni, own, added) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET address = excluded.address, key = excluded.key, sni = excluded.sni, own = excluded.own,
		changed = changed + 1`,
		b.ID, b.Address, b.Key, b.SNI, b.Own, b.Added.UnixMilli())
}

// Bridges lists the bridges our user offers, oldest first.
func (s *Store) Bridges(ctx context.Context) ([]Bridge, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT id, address, key, sni, own, added, changed, pushed, pushed_serial, pushed_at, failed_at
		FROM bridges ORDER BY added, id`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: bridges: %w", err)
	}
	defer rows.Close()
	var out []Bridge
	for rows.Next() {
		var b Bridge
		var added, pushedAt, failedAt int64
		if err := rows.Scan(&b.ID, &b.Address, &b.Key, &b.SNI, &b.Own, &added, &b.Changed, &b.Pushed, &b.PushedSerial, &pushedAt, &failedAt); err != nil {
			return nil, fmt.Errorf("clientdb: bridges: %w", err)
		}
		b.Added, b.PushedAt, b.FailedAt = time.UnixMilli(added), time.UnixMilli(pushedAt), time.UnixMilli(failedAt)
		out = append(out, b)
	}
	return out, rows.Err()
}

// DeleteBridge forgets the bridge, its grants and its denials.
func (s *Store) DeleteBridge(ctx context.Context, id []byte) error {
	for _, q := range []string{`DELETE FROM bridges WHERE id = ?`, `DELETE FROM bridge_grants WHERE bridge = ?`, `DELETE FROM bridge_denied WHERE bridge = ?`} {
		if err := s.exec(ctx, "delete bridge", q, id); err != nil {
			return err
		}
	}
	return nil
}

// BridgePushed records that the bridge acknowledged change count changed
// and manifest serial at at (or, with ok false, that a push failed at at).
func (s *Store) BridgePushed(ctx context.Context, id []byte, ok bool, changed int64, serial uint64, at time.Time) error {
	if !ok {
		return s.exec(ctx, "bridge pushed", `UPDATE bridges SET failed_at = ? WHERE id = ?`, at.UnixMilli(), id)
	}
	return s.exec(ctx, "bridge pushed", `UPDATE bridges SET pushed = max(pushed, ?), pushed_serial = ?, pushed_at = ?, failed_at = 0 WHERE id = ?`,
		changed, serial, at.UnixMilli(), id)
}

// Grant is the label of a bridge a contact holds, and when the last offer
// sent with it ends (zero: none sent yet, or withdrawn).
type Grant struct {
	Bridge  []byte
	Peer    string
	Label   []byte
	Expires time.Time
}

// PutGrant records g.
func (s *Store) PutGrant(ctx context.Context, g Grant) error {
	return s.exec(ctx, "bridge grant", `INSERT INTO bridge_grants (bridge, peer, label, expires) VALUES (?, ?, ?, ?)
		ON CONFLICT (bridge, peer) DO UPDATE SET label = excluded.label, expires = excluded.expires`,
		g.Bridge, g.Peer, g.Label, unixMilli(g.Expires))
}

// Grants lists the bridge's grants.
func (s *Store) Grants(ctx context.Context, bridge []byte) ([]Grant, error) {
	return s.grants(ctx, "bridge", bridge)
}

// grants lists the grants whose column col is v.
func (s *Store) grants(ctx context.Context, col string, v any) ([]Grant, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT bridge, peer, label, expires FROM bridge_grants WHERE `+col+` = ? ORDER BY bridge, peer`, v)
	if err != nil {
		return nil, fmt.Errorf("clientdb: bridge grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		var g Grant
		var exp int64
		if err := rows.Scan(&g.Bridge, &g.Peer, &g.Label, &exp); err != nil {
			return nil, fmt.Errorf("clientdb: bridge grants: %w", err)
		}
		if exp != 0 {
			g.Expires = time.UnixMilli(exp)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// DenyPeer takes back every label peer holds: each becomes a denial until
// its last offer ends, the grant goes, and the bridges concerned count a
// change. It reports whether peer held any.
func (s *Store) DenyPeer(ctx context.Context, peer string, now time.Time) (bool, error) {
	return s.deny(ctx, "peer", peer, now)
}

// DenyGrants takes back every label of the bridge (its offers were
// withdrawn): as DenyPeer, for all its holders.
func (s *Store) DenyGrants(ctx context.Context, bridge []byte, now time.Time) error {
	_, err := s.deny(ctx, "bridge", bridge, now)
	return err
}

// deny turns the grants whose column col is v into denials, and reports
// whether there were any.
func (s *Store) deny(ctx context.Context, col string, v any, now time.Time) (bool, error) {
	grants, err := s.grants(ctx, col, v)
	if err != nil || len(grants) == 0 {
		return false, err
	}
	for _, g := range grants {
		until := g.Expires
		if until.Before(now) {
			until = now // never offered: a denial still, briefly
		}
		if err := s.exec(ctx, "deny", `INSERT INTO bridge_denied (bridge, label, until) VALUES (?, ?, ?)
			ON CONFLICT (bridge, label) DO UPDATE SET until = max(until, excluded.until)`, g.Bridge, g.Label, until.UnixMilli()); err != nil {
			return true, err
		}
		if err := s.exec(ctx, "deny", `UPDATE bridges SET changed = changed + 1 WHERE id = ?`, g.Bridge); err != nil {
			return true, err
		}
		if err := s.exec(ctx, "deny", `DELETE FROM bridge_grants WHERE bridge = ? AND peer = ?`, g.Bridge, g.Peer); err != nil {
			return true, err
		}
	}
	return true, nil
}

// Denial is a label taken back, until its last offer ends.
type Denial struct {
	Label []byte
	Until time.Time
}

// Denied lists the bridge's denials that last beyond now, and forgets the
// others.
func (s *Store) Denied(ctx context.Context, bridge []byte, now time.Time) ([]Denial, error) {
	if err := s.exec(ctx, "denied", `DELETE FROM bridge_denied WHERE until <= ?`, now.UnixMilli()); err != nil {
		return nil, err
	}
	rows, err := s.q.QueryContext(ctx, `SELECT label, until FROM bridge_denied WHERE bridge = ? ORDER BY until, label`, bridge)
	if err != nil {
		return nil, fmt.Errorf("clientdb: denied: %w", err)
	}
	defer rows.Close()
	var out []Denial
	for rows.Next() {
		var d Denial
		var until int64
		if err := rows.Scan(&d.Label, &until); err != nil {
			return nil, fmt.Errorf("clientdb: denied: %w", err)
		}
		d.Until = time.UnixMilli(until)
		out = append(out, d)
	}
	return out, rows.Err()
}

// unixMilli is t in Unix milliseconds, 0 for the zero time.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// DropQueuedTo drops what the outbox holds for peer that is not a message
// of the history (receipts, bridge offers): nothing more goes to someone
// the user blocked.
func (s *Store) DropQueuedTo(ctx context.Context, peer string) error {
	return s.exec(ctx, "drop queued", `DELETE FROM outbox WHERE peer = ? AND message_id = 0`, peer)
}
