package clientdb

import (
	"context"
	"fmt"
	"time"
)

// BridgeOffer is a contact's bridge offer as stored: the encoded offer
// (the client's content message) and when it ends.
type BridgeOffer struct {
	Peer     string
	Offer    []byte
	Expires  time.Time
	Received time.Time
}

// PutBridgeOffer stores peer's offer, replacing its earlier one.
func (s *Store) PutBridgeOffer(ctx context.Context, o BridgeOffer) error {
	return s.exec(ctx, "bridge offer", `INSERT INTO bridge_offers (peer, offer, expires, received) VALUES (?, ?, ?, ?)
		ON CONFLICT (peer) DO UPDATE SET offer = excluded.offer, expires = excluded.expires, received = excluded.received`,
		o.Peer, o.Offer, o.Expires.UnixMilli(), o.Received.UnixMilli())
}

// DeleteBridgeOffer forgets peer's offer.
func (s *Store) DeleteBridgeOffer(ctx context.Context, peer string) error {
	return s.exec(ctx, "bridge offer", `DELETE FROM bridge_offers WHERE peer = ?`, peer)
}

// BridgeOffers lists the offers that have not ended at now, newest first,
// and forgets the ended ones.
func (s *Store) BridgeOffers(ctx context.Context, now time.Time) ([]BridgeOffer, error) {
	if err := s.exec(ctx, "bridge offers", `DELETE FROM bridge_offers WHERE expires <= ?`, now.UnixMilli()); err != nil {
		return nil, err
	}
	rows, err := s.q.QueryContext(ctx, `SELECT peer, offer, expires, received FROM bridge_offers ORDER BY received DESC`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: bridge offers: %w", err)
	}
	defer rows.Close()
	var out []BridgeOffer
	for rows.Next() {
		var o BridgeOffer
		var exp, rec int64
		if err := rows.Scan(&o.Peer, &o.Offer, &exp, &rec); err != nil {
			return nil, fmt.Errorf("clientdb: bridge offers: %w", err)
		}
		o.Expires, o.Received = time.UnixMilli(exp), time.UnixMilli(rec)
		out = append(out, o)
	}
	return out, rows.Err()
}
