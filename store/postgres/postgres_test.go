package postgres_test

import (
	"context"
	"testing"

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
