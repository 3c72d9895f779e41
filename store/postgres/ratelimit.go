package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"samizdat/store/internal/bucket"
)

// Allow implements relay.RateLimits. By default buckets live in this node's
// memory; with Options.SharedRateLimits they live in the database, shared
// by every node (see the package doc).
func (s *Store) Allow(ctx context.Context, key string, cost, burst, rate float64, now time.Time) (bool, time.Duration, error) {
	if err := s.checkOpen(); err != nil {
		return false, 0, err
	}
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	if !s.opts.SharedRateLimits {
		ok, retry, err := s.rates.Allow(key, cost, burst, rate, now)
		if err != nil {
			return false, 0, fmt.Errorf("postgres: %w", err)
		}
		return ok, retry, nil
	}
	if err := bucket.Check(cost, burst, rate); err != nil {
		return false, 0, fmt.Errorf("postgres: %w", err)
	}
	ok, retry, err := s.allowShared(ctx, []byte(key), cost, burst, rate, now)
	if err != nil {
		return false, 0, dbErr("rate limit", err)
	}
	return ok, retry, nil
}

// allowShared spends from the bucket's row, in two round trips: create the
// row full if it is new and lock it; then store what bucket.Spend made of it
// and commit.
func (s *Store) allowShared(ctx context.Context, key []byte, cost, burst, rate float64, now time.Time) (ok bool, retry time.Duration, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, 0, err
	}
	defer conn.Release()
	defer func() {
		if err != nil {
			conn.Exec(context.Background(), "ROLLBACK")
		}
	}()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// A bucket seen for the first time is full, as bucket.Spend's fresh one.
	b.Queue("INSERT INTO rate_buckets (key, tokens, last, burst, rate) VALUES ($1, $2, $3, $2, $4) ON CONFLICT DO NOTHING",
		key, burst, now.UnixNano(), rate)
	b.Queue("SELECT tokens, last FROM rate_buckets WHERE key = $1 FOR UPDATE", key)
	br := conn.SendBatch(ctx, b)
	var st bucket.State
	var last int64
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&st.Tokens, &last)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, 0, err
	}
	st.Last = time.Unix(0, last)
	st, ok, retry = bucket.Spend(st, false, cost, burst, rate, now)
	b = &pgx.Batch{}
	b.Queue("UPDATE rate_buckets SET tokens = $2, last = $3, burst = $4, rate = $5 WHERE key = $1",
		key, st.Tokens, st.Last.UnixNano(), burst, rate)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return false, 0, err
	}
	return ok, retry, nil
}

// sweepBuckets forgets the shared buckets that would be full at now (a
// fresh bucket is full anyway), so that the table holds only the buckets in
// use.
func (s *Store) sweepBuckets(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM rate_buckets WHERE tokens + greatest($1 - last, 0) / 1e9 * rate >= burst", now.UnixNano())
	if err != nil {
		return 0, dbErr("sweep rate buckets", err)
	}
	return tag.RowsAffected(), nil
}
