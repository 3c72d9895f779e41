package memstore_test

import (
	"testing"

	"samizdat/relay"
	"samizdat/store/memstore"
	"samizdat/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) relay.Store {
		s := memstore.New(memstore.Options{MaxMessages: cfg.MaxMessages, MaxBytes: cfg.MaxBytes, Retention: cfg.Retention, Now: cfg.Now})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestBlobs(t *testing.T) {
	storetest.RunBlobs(t, func(t *testing.T) (relay.BlobStore, func() relay.BlobStore) {
		return memstore.New(memstore.Options{}), nil
	})
}
