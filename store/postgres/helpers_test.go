package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// connect opens a plain connection for the test to inspect the database.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
