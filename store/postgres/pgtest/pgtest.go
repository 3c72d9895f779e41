// Package pgtest gives tests a fresh PostgreSQL database of their own on the
// server named by SAMIZDAT_PG_URL (scripts/pg.sh start prints it).
//
// Without SAMIZDAT_PG_URL, or when the server cannot be reached, a test that
// asks for a database is skipped with a message saying how to start one —
// unless SAMIZDAT_PG_REQUIRED=1 (as in CI), in which case it fails.
//
// Each call creates a database with a random name on that server and drops it
// (terminating its leftover connections) when the test ends, so tests that
// run in parallel or leave connections behind do not disturb each other.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables the package reads.
const (
	EnvURL      = "SAMIZDAT_PG_URL"
	EnvRequired = "SAMIZDAT_PG_REQUIRED"
)

// ServerURL returns SAMIZDAT_PG_URL after checking that the server answers.
// It skips t (or fails it when SAMIZDAT_PG_REQUIRED=1) if it does not.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		unavailable(t, EnvURL+" is not set")
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		unavailable(t, fmt.Sprintf("cannot connect to %s: %v", EnvURL, err))
		return ""
	}
	conn.Close(ctx)
	return u
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(EnvRequired) == "1" {
		t.Fatalf("pgtest: %s, and %s=1", why, EnvRequired)
	}
	t.Skipf("pgtest: %s; skipping (start a server with: eval \"$(scripts/pg.sh start)\")", why)
}

// NewDatabase creates an empty database on the server, drops it when t ends,
// and returns a URL that connects to it.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	var b [8]byte
	rand.Read(b[:])
	name := "samizdat_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { drop(t, server, name) })
	u, err := WithDatabase(server, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

func drop(t testing.TB, server, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Errorf("pgtest: drop %s: %v", name, err)
		return
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop %s: %v", name, err)
	}
}

// WithDatabase returns the URL u with its database name replaced by name.
// It accepts postgres:// and postgresql:// URLs (not key=value strings).
func WithDatabase(u, name string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
		return "", fmt.Errorf("%s is not a postgres:// URL", EnvURL)
	}
	if strings.ContainsAny(name, "/?#") {
		return "", fmt.Errorf("bad database name %q", name)
	}
	p.Path = "/" + name
	p.RawPath = ""
	return p.String(), nil
}
