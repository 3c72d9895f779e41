package postgres_test

import (
	"context"
	"math"
	"testing"
	"time"

	"samizdat/relay"
	"samizdat/store/postgres"
	"samizdat/store/postgres/pgtest"
	"samizdat/store/storetest"
)

func options(cfg storetest.Config) postgres.Options {
	return postgres.Options{MaxMessages: cfg.MaxMessages, MaxBytes: cfg.MaxBytes, Retention: cfg.Retention, Now: cfg.Now}
}

func TestConformance(t *testing.T) {
	pgtest.ServerURL(t) // skip (or fail) once, not in every subtest
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) relay.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), options(cfg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestBlobs(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.RunBlobs(t, func(t *testing.T) (relay.BlobStore, func() relay.BlobStore) {
		url := pgtest.NewDatabase(t)
		open := func() *postgres.Store {
			s, err := postgres.Open(context.Background(), url, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		s := open()
		return s, func() relay.BlobStore { s.Close(); return open() }
	})
}

// TestAddDecaying: a counter is shared by two Stores on one database (two
// nodes), halves every half-life, and is not decayed by a clock that went
// back.
func TestAddDecaying(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	var nodes []*postgres.Store
	for range 2 {
		s, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	a, b := nodes[0], nodes[1]
	t0 := time.Unix(1_800_000_000, 0)
	const half = time.Minute
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	if v, err := a.AddDecaying(ctx, "k", 0, half, t0); err != nil || v != 0 {
		t.Fatalf("a new counter reads %v, %v; want 0", v, err)
	}
	for range 3 {
		if _, err := a.AddDecaying(ctx, "k", 1, half, t0); err != nil {
			t.Fatal(err)
		}
	}
	v, err := b.AddDecaying(ctx, "k", 1, half, t0)
	if err != nil {
		t.Fatal(err)
	}
	near("four adds, two nodes", v, 4)
	v, _ = a.AddDecaying(ctx, "k", 0, half, t0.Add(half))
	near("after a half-life", v, 2)
	v, _ = b.AddDecaying(ctx, "k", 0, half, t0.Add(-time.Hour))
	near("read with a clock an hour back", v, 4)
	v, _ = b.AddDecaying(ctx, "other", 2, half, t0)
	near("another key", v, 2)
	v, _ = a.AddDecaying(ctx, "k", 1, half, t0.Add(2*half))
	near("two half-lives on, one more", v, 2)
}
