package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"samizdat/relay"
	"samizdat/store/sqlite"
	"samizdat/store/storetest"
)

func options(cfg storetest.Config) sqlite.Options {
	return sqlite.Options{MaxMessages: cfg.MaxMessages, MaxBytes: cfg.MaxBytes, Retention: cfg.Retention, Now: cfg.Now}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) relay.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "relay.db"), options(cfg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
