package sqlite_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"samizdat/store/sqlite"
	"samizdat/store/storetest"
)

var writeFixture = flag.Bool("fixture", false, "write testdata/schema-vN.db, a fixture store of the current schema (at a release; see docs/upgrades.md)")

// fixtureOptions opens a fixture at the time it was written, so that its
// envelopes are not past retention.
var fixtureOptions = sqlite.Options{Now: func() time.Time { return storetest.FixtureTime }, ExpireInterval: -1}

// TestFixtures opens a copy of each released schema's fixture store in
// testdata with this version: it must migrate it to the current schema
// and read back everything in it. -fixture writes the current schema's.
func TestFixtures(t *testing.T) {
	ctx := context.Background()
	if *writeFixture {
		makeFixture(t, filepath.Join("testdata", fmt.Sprintf("schema-v%d.db", sqlite.SchemaVersion)))
	}
	fixtures, err := filepath.Glob(filepath.Join("testdata", "schema-v*.db"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixture stores in testdata (%v); make one with: go test ./store/sqlite -run TestFixtures -fixture", err)
	}
	for _, f := range fixtures {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "relay.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			from := userVersion(t, path)
			s := open(t, path, fixtureOptions)
			if err := storetest.CheckFixture(ctx, s); err != nil {
				t.Fatalf("schema %d migrated to %d: %v", from, sqlite.SchemaVersion, err)
			}
			s.Close()
			if v := userVersion(t, path); v != sqlite.SchemaVersion {
				t.Errorf("after opening, the schema version is %d, want %d", v, sqlite.SchemaVersion)
			}
		})
	}
}

// makeFixture writes the fixture of the current schema to path; it
// refuses to replace one (a released schema's fixture never changes).
func makeFixture(t *testing.T, path string) {
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s exists; a released schema's fixture is never rewritten", path)
	}
	tmp := filepath.Join(t.TempDir(), "relay.db")
	s := open(t, tmp, fixtureOptions)
	if err := storetest.WriteFixture(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// One self-contained file, without a WAL beside it.
	if _, err := db.Exec("VACUUM INTO ?", path); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
