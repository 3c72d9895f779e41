package clientdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// What the user decided about a peer (message requests).
const (
	PeerPending  = 0 // wrote to us; not yet accepted: no access key, receipts or bridge to them
	PeerAccepted = 1 // the user wrote to them, replied, or accepted them
	PeerBlocked  = 2 // their messages are dropped unread
)

// PeerState returns what the user decided about peer: the recorded state,
// else PeerAccepted if the user ever wrote to them (history from before
// message requests), else PeerPending.
func (s *Store) PeerState(ctx context.Context, peer string) (int, error) {
	var st int
	err := s.q.QueryRowContext(ctx, `SELECT state FROM peer_state WHERE peer = ?`, peer).Scan(&st)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("clientdb: peer state: %w", err)
	}
	var wrote int
	if err := s.q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE peer = ? AND outgoing = 1)`, peer).Scan(&wrote); err != nil {
		return 0, fmt.Errorf("clientdb: peer state: %w", err)
	}
	if wrote != 0 {
		return PeerAccepted, nil
	}
	return PeerPending, nil
}

// SetPeerState records the user's decision about peer, and the peer's
// account id when account is not nil.
func (s *Store) SetPeerState(ctx context.Context, peer string, account []byte, state int, at time.Time) error {
	return s.exec(ctx, "set peer state", `INSERT INTO peer_state (peer, account_id, state, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (peer) DO UPDATE SET account_id = COALESCE(excluded.account_id, peer_state.account_id),
		state = excluded.state, updated = excluded.updated`, peer, account, state, at.UnixMilli())
}

// NotePending records that peer (with the account id) wrote to us, unless
// the user already decided about them.
func (s *Store) NotePending(ctx context.Context, peer string, account [16]byte, at time.Time) error {
	return s.exec(ctx, "note pending", `INSERT INTO peer_state (peer, account_id, state, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (peer) DO UPDATE SET account_id = COALESCE(peer_state.account_id, excluded.account_id)`,
		peer, account[:], PeerPending, at.UnixMilli())
}

// PeerAccount returns the account id recorded for peer, or ErrNotFound.
func (s *Store) PeerAccount(ctx context.Context, peer string) ([16]byte, error) {
	var id []byte
	err := s.q.QueryRowContext(ctx, `SELECT account_id FROM peer_state WHERE peer = ? AND account_id IS NOT NULL`, peer).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) || err == nil && len(id) != 16 {
		return [16]byte{}, ErrNotFound
	}
	if err != nil {
		return [16]byte{}, fmt.Errorf("clientdb: peer account: %w", err)
	}
	return [16]byte(id), nil
}

// Blocked reports whether the user blocked the account.
func (s *Store) Blocked(ctx context.Context, account [16]byte) (bool, error) {
	var n int
	// A blocked group's row holds the account that added us: that blocks
	// the group, not the account.
	err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM peer_state WHERE account_id = ? AND state = ?
		AND peer NOT LIKE '`+groupPeerPrefix+`%'`, account[:], PeerBlocked).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("clientdb: blocked: %w", err)
	}
	return n > 0, nil
}

// Accepted lists the peers the user accepted (wrote to, replied to or
// accepted, and did not block since), not counting me.
func (s *Store) Accepted(ctx context.Context, me string) ([]string, error) {
	return s.peers(ctx, `SELECT peer FROM peer_state WHERE state = ? AND peer != ?
		UNION SELECT DISTINCT peer FROM messages WHERE outgoing = 1 AND peer != ? AND peer NOT LIKE '`+groupPeerPrefix+`%'
			AND peer NOT IN (SELECT peer FROM peer_state)
		ORDER BY peer`, PeerAccepted, me, me)
}

// Requests lists the peers who wrote to us and whom the user has neither
// accepted nor blocked, not counting me.
func (s *Store) Requests(ctx context.Context, me string) ([]string, error) {
	return s.peers(ctx, `SELECT DISTINCT m.peer FROM messages m LEFT JOIN peer_state p ON p.peer = m.peer
		WHERE m.outgoing = 0 AND m.peer != ? AND m.peer NOT LIKE '`+groupPeerPrefix+`%' AND COALESCE(p.state, ?) = ?
			AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.peer = m.peer AND o.outgoing = 1 AND p.peer IS NULL)
		ORDER BY m.peer`, me, PeerPending, PeerPending)
}

// ReceivedFrom lists the envelope ids of the last limit messages peer sent
// us, oldest first.
func (s *Store) ReceivedFrom(ctx context.Context, peer string, limit int) ([][16]byte, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT envelope_id FROM (SELECT id, envelope_id FROM messages
		WHERE peer = ? AND outgoing = 0 ORDER BY id DESC LIMIT ?) ORDER BY id`, peer, limit)
	if err != nil {
		return nil, fmt.Errorf("clientdb: received from: %w", err)
	}
	defer rows.Close()
	var out [][16]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("clientdb: received from: %w", err)
		}
		if len(b) == 16 {
			out = append(out, [16]byte(b))
		}
	}
	return out, rows.Err()
}

func (s *Store) peers(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("clientdb: peers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("clientdb: peers: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
