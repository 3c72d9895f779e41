package postgres_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samizdat/store/postgres"
	"samizdat/store/postgres/pgtest"
	"samizdat/store/storetest"
)

var writeFixture = flag.Bool("fixture", false, "write testdata/schema-vN.sql, a pg_dump of a fixture database of the current schema (at a release; see docs/upgrades.md)")

// fixtureOptions opens a fixture at the time it was written, so that its
// envelopes are not past retention.
var fixtureOptions = postgres.Options{Now: func() time.Time { return storetest.FixtureTime }, ExpireInterval: -1}

// TestFixtures loads each released schema's fixture dump in testdata into
// a fresh database and opens it with this version: it must migrate it to
// the current schema and read back everything in it. -fixture writes the
// current schema's (it needs pg_dump).
func TestFixtures(t *testing.T) {
	ctx := context.Background()
	if *writeFixture {
		makeFixture(t, filepath.Join("testdata", fmt.Sprintf("schema-v%d.sql", postgres.SchemaVersion)))
	}
	fixtures, err := filepath.Glob(filepath.Join("testdata", "schema-v*.sql"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixture dumps in testdata (%v); make one with: scripts/pg.sh run go test ./store/postgres -run TestFixtures -args -fixture", err)
	}
	pgtest.ServerURL(t)
	for _, f := range fixtures {
		t.Run(filepath.Base(f), func(t *testing.T) {
			dump, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			url := pgtest.NewDatabase(t)
			if _, err := connect(t, url).Exec(ctx, withoutMetaCommands(dump)); err != nil {
				t.Fatalf("loading %s: %v", f, err)
			}
			s, err := postgres.Open(ctx, url, fixtureOptions)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := storetest.CheckFixture(ctx, s); err != nil {
				t.Fatalf("migrated to %d: %v", postgres.SchemaVersion, err)
			}
			var v int
			if err := connect(t, url).QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil || v != postgres.SchemaVersion {
				t.Errorf("schema version after opening: %d, %v; want %d", v, err, postgres.SchemaVersion)
			}
		})
	}
}

// withoutMetaCommands drops psql's backslash commands (pg_dump writes
// \restrict lines), leaving SQL that a plain connection runs.
func withoutMetaCommands(dump []byte) string {
	var b strings.Builder
	for line := range bytes.Lines(dump) {
		if !bytes.HasPrefix(line, []byte(`\`)) {
			b.Write(line)
		}
	}
	return b.String()
}

// makeFixture writes a pg_dump of a database holding the fixture, of the
// current schema, to path; it refuses to replace one (a released schema's
// fixture never changes).
func makeFixture(t *testing.T, path string) {
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s exists; a released schema's fixture is never rewritten", path)
	}
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(context.Background(), url, fixtureOptions)
	if err != nil {
		t.Fatal(err)
	}
	if err := storetest.WriteFixture(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, err := exec.Command("pg_dump", "--inserts", "--no-owner", "--no-privileges", "--dbname", url).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
