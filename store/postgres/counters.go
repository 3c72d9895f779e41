package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// decayedSQL is a counter's value brought up to $2 (Unix nanoseconds),
// halved every $3 seconds; a $2 before its last update decays nothing.
const decayedSQL = `counters.value * power(2, -greatest($2::bigint - counters.at, 0)::float8 / 1e9 / $3::float8)`

// AddDecaying implements relay.SharedCounters: the counter lives in the
// database, shared by every node, and each call is one statement.
func (s *Store) AddDecaying(ctx context.Context, key string, delta float64, halfLife time.Duration, now time.Time) (float64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if halfLife <= 0 {
		return 0, fmt.Errorf("postgres: counter half-life %v", halfLife)
	}
	var v float64
	var err error
	if delta == 0 {
		err = s.pool.QueryRow(ctx, `SELECT `+decayedSQL+` FROM counters WHERE key = $1`,
			[]byte(key), now.UnixNano(), halfLife.Seconds()).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
	} else {
		err = s.pool.QueryRow(ctx, `INSERT INTO counters AS counters (key, value, at) VALUES ($1, $4, $2)
			ON CONFLICT (key) DO UPDATE SET value = `+decayedSQL+` + $4, at = greatest(counters.at, $2)
			RETURNING value`,
			[]byte(key), now.UnixNano(), halfLife.Seconds(), delta).Scan(&v)
	}
	if err != nil {
		return 0, dbErr("counter", err)
	}
	return v, nil
}
