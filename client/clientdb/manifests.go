package clientdb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// HoldManifest records blob, a signed manifest the client accepted, as the
// newest it ever held, and forgets all but the keep newest. A blob held
// before keeps its place.
func (s *Store) HoldManifest(ctx context.Context, blob []byte, at time.Time, keep int) error {
	d := sha256.Sum256(blob)
	if err := s.exec(ctx, "hold manifest", `INSERT OR IGNORE INTO manifests_held (digest, blob, held) VALUES (?, ?, ?)`,
		d[:], blob, at.UnixMilli()); err != nil {
		return err
	}
	return s.exec(ctx, "hold manifest", `DELETE FROM manifests_held WHERE seq NOT IN
		(SELECT seq FROM manifests_held ORDER BY seq DESC LIMIT ?)`, keep)
}

// HeldManifests lists the signed manifests recorded by HoldManifest, newest
// first.
func (s *Store) HeldManifests(ctx context.Context) ([][]byte, error) {
	return s.blobs(ctx, "held manifests", `SELECT blob FROM manifests_held ORDER BY seq DESC`)
}

// blobs runs a query of one BLOB column and returns its rows; what names
// the query in errors.
func (s *Store) blobs(ctx context.Context, what, query string, args ...any) ([][]byte, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("clientdb: %s: %w", what, err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("clientdb: %s: %w", what, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// ManifestSent returns the serial of the newest manifest (or notice of
// one) queued for peer, 0 if none.
func (s *Store) ManifestSent(ctx context.Context, peer string) (uint64, error) {
	var n int64
	err := s.q.QueryRowContext(ctx, `SELECT serial FROM manifest_sent WHERE peer = ?`, peer).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("clientdb: manifest sent: %w", err)
	}
	return uint64(n), nil
}

// SetManifestSent records that the manifest with serial (or a notice of it)
// was queued for peer.
func (s *Store) SetManifestSent(ctx context.Context, peer string, serial uint64) error {
	return s.exec(ctx, "manifest sent", `INSERT INTO manifest_sent (peer, serial) VALUES (?, ?)
		ON CONFLICT (peer) DO UPDATE SET serial = excluded.serial`, peer, int64(serial))
}
