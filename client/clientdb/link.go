package clientdb

import (
	"context"
	"fmt"
	"time"
)

// PeerRecord is one row of what the user decided about a peer.
type PeerRecord struct {
	Peer    string
	Account []byte // 16 bytes, or nil when not known
	State   int
}

// PeerRecords lists every recorded peer state (message requests, accepts
// and blocks), for a device being linked.
func (s *Store) PeerRecords(ctx context.Context) ([]PeerRecord, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT peer, account_id, state FROM peer_state ORDER BY peer`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: peer records: %w", err)
	}
	defer rows.Close()
	var out []PeerRecord
	for rows.Next() {
		var r PeerRecord
		if err := rows.Scan(&r.Peer, &r.Account, &r.State); err != nil {
			return nil, fmt.Errorf("clientdb: peer records: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MessagesSince returns the history stored at or after since, oldest
// first, at most limit lines (the newest).
func (s *Store) MessagesSince(ctx context.Context, since time.Time, limit int) ([]Message, error) {
	return s.messages(ctx, "messages since", `SELECT * FROM (SELECT `+messageColumns+` FROM `+messagesFrom+`
		WHERE m.at >= ? ORDER BY m.id DESC LIMIT ?) ORDER BY 1`, since.UnixMilli(), limit)
}

// MarkRead marks the incoming messages eids from peer read and returns
// those that were not yet.
func (s *Store) MarkRead(ctx context.Context, peer string, eids [][16]byte) ([][16]byte, error) {
	var out [][16]byte
	for _, eid := range eids {
		res, err := s.q.ExecContext(ctx, `UPDATE messages SET status = ? WHERE envelope_id = ? AND peer = ? AND outgoing = 0 AND status = ?`,
			StatusRead, eid[:], peer, StatusReceived)
		if err != nil {
			return nil, fmt.Errorf("clientdb: mark read: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			out = append(out, eid)
		}
	}
	return out, nil
}
