package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"samizdat/relay"
	"samizdat/store/postgres"
	"samizdat/store/sqlite"
)

// SQLite opens each scenario's store as a new SQLite database in dir
// (dir/NAME.db) with the relay's default options, so the baseline and the
// relay write to the same disk. A database that already exists is an
// error, never reused.
func SQLite(dir string) OpenStore {
	return func(ctx context.Context, name string) (relay.Store, error) {
		path := filepath.Join(dir, name+".db")
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("loadgen: %s exists already", path)
		}
		st, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err == nil {
			storeLocations.Store(relay.Store(st), storeLocation{"sqlite", path})
		}
		return st, err
	}
}

// commitStats returns the store's commit counters where it keeps them
// (SQLite and PostgreSQL do): transactions committed and the writes they
// carried.
func commitStats(st relay.Store) (commits, writes uint64, ok bool) {
	if d, isDrop := st.(*droppingStore); isDrop {
		st = d.Store
	}
	switch s := st.(type) {
	case *sqlite.Store:
		x := s.Stats()
		return x.Commits, x.Writes, true
	case *postgres.Store:
		x := s.Stats()
		return x.Commits, x.Writes, true
	}
	return 0, 0, false
}
