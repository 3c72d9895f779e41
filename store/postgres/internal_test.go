package postgres

import (
	"context"
	"net/url"
	"testing"
	"time"

	"samizdat/store/postgres/pgtest"
)

func TestSweepBuckets(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(t), Options{SharedRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// "a" refills 1 token per second; "b" never refills.
	for _, c := range []struct {
		key  string
		rate float64
	}{{"a", 1}, {"b", 0}} {
		if ok, _, err := s.Allow(ctx, c.key, 2, 2, c.rate, now); !ok || err != nil {
			t.Fatalf("Allow(%s) = %v, %v", c.key, ok, err)
		}
	}
	count := func() int {
		var n int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM rate_buckets").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n, err := s.sweepBuckets(ctx, now.Add(time.Second)); err != nil || n != 0 || count() != 2 {
		t.Errorf("sweep after 1s = %d, %v; %d buckets left, want 2 (neither full)", n, err, count())
	}
	if n, err := s.sweepBuckets(ctx, now.Add(2*time.Second)); err != nil || n != 1 || count() != 1 {
		t.Errorf("sweep after 2s = %d, %v; %d buckets left, want 1 (a refilled)", n, err, count())
	}
	// A swept bucket starts full again, as if never seen.
	if ok, _, err := s.Allow(ctx, "a", 2, 2, 1, now.Add(2*time.Second)); !ok || err != nil {
		t.Errorf("Allow(a) after the sweep = %v, %v", ok, err)
	}
	if ok, _, err := s.Allow(ctx, "b", 1, 2, 0, now.Add(time.Hour)); ok || err != nil {
		t.Errorf("Allow(b) = %v, %v; want refused (never refills, not swept)", ok, err)
	}
}

func TestIdleInTransactionTimeout(t *testing.T) {
	ctx := context.Background()
	u := pgtest.NewDatabase(t)
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set("idle_in_transaction_session_timeout", "5000")
	p.RawQuery = q.Encode()
	for _, c := range []struct{ url, want string }{{u, "30s"}, {p.String(), "5s"}} {
		s, err := Open(ctx, c.url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := s.pool.QueryRow(ctx, "SHOW idle_in_transaction_session_timeout").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("idle_in_transaction_session_timeout = %s, want %s", got, c.want)
		}
		s.Close()
	}
}
