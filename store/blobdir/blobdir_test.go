package blobdir_test

import (
	"testing"

	"samizdat/relay"
	"samizdat/store/blobdir"
	"samizdat/store/storetest"
)

func TestBlobs(t *testing.T) {
	storetest.RunBlobs(t, func(t *testing.T) (relay.BlobStore, func() relay.BlobStore) {
		dir := t.TempDir()
		s, err := blobdir.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s, func() relay.BlobStore {
			s, err := blobdir.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
