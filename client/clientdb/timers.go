package clientdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Disappearing messages: a timer per conversation, and the time each
// message under one is deleted at. New tables, so a home of an older
// version gets them without a migration.

// Timer returns the disappearing-message timer of the conversation with
// peer (0: none).
func (s *Store) Timer(ctx context.Context, peer string) (time.Duration, error) {
	var secs int64
	err := s.q.QueryRowContext(ctx, `SELECT seconds FROM timers WHERE peer = ?`, peer).Scan(&secs)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("clientdb: timer: %w", err)
	}
	return time.Duration(secs) * time.Second, nil
}

// SetTimer sets the timer of the conversation with peer (0 turns it off).
func (s *Store) SetTimer(ctx context.Context, peer string, d time.Duration) error {
	if d <= 0 {
		return s.exec(ctx, "set timer", `DELETE FROM timers WHERE peer = ?`, peer)
	}
	return s.exec(ctx, "set timer", `INSERT INTO timers (peer, seconds) VALUES (?, ?)
		ON CONFLICT (peer) DO UPDATE SET seconds = excluded.seconds`, peer, int64(d/time.Second))
}

// ExpireAt makes the message id disappear at t.
func (s *Store) ExpireAt(ctx context.Context, id int64, t time.Time) error {
	return s.exec(ctx, "expire at", `INSERT OR REPLACE INTO expiring (message_id, expires_at) VALUES (?, ?)`, id, t.UnixMilli())
}

// DeleteExpired deletes the messages whose time came by now and returns
// how many.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	cut := now.UnixMilli()
	for _, table := range []string{"group_senders", "saved_files"} {
		if err := s.exec(ctx, "delete expired", `DELETE FROM `+table+` WHERE message_id IN (SELECT message_id FROM expiring WHERE expires_at <= ?)`, cut); err != nil {
			return 0, err
		}
	}
	res, err := s.q.ExecContext(ctx, `DELETE FROM messages WHERE id IN (SELECT message_id FROM expiring WHERE expires_at <= ?)`, cut)
	if err != nil {
		return 0, fmt.Errorf("clientdb: delete expired: %w", err)
	}
	if err := s.exec(ctx, "delete expired", `DELETE FROM expiring WHERE expires_at <= ?`, cut); err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Timers returns every conversation's timer.
func (s *Store) Timers(ctx context.Context) (map[string]time.Duration, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT peer, seconds FROM timers`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: timers: %w", err)
	}
	defer rows.Close()
	out := make(map[string]time.Duration)
	for rows.Next() {
		var peer string
		var secs int64
		if err := rows.Scan(&peer, &secs); err != nil {
			return nil, fmt.Errorf("clientdb: timers: %w", err)
		}
		out[peer] = time.Duration(secs) * time.Second
	}
	return out, rows.Err()
}

// Expiries returns when each message under a timer disappears, by id.
func (s *Store) Expiries(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT message_id, expires_at FROM expiring`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: expiries: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]time.Time)
	for rows.Next() {
		var id, at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("clientdb: expiries: %w", err)
		}
		out[id] = time.UnixMilli(at)
	}
	return out, rows.Err()
}
