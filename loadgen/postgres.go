package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"samizdat/relay"
)

// Postgres opens each scenario's store in a database of its own, created
// on the PostgreSQL server at server (the role must be allowed to create
// databases) and dropped again when the store is closed. open opens the
// store on a database URL (postgres.Open with the relay's options).
func Postgres(server string, open func(ctx context.Context, url string) (relay.Store, error)) OpenStore {
	var run [4]byte
	rand.Read(run[:])
	return func(ctx context.Context, name string) (relay.Store, error) {
		u, drop, err := createDatabase(ctx, server, hex.EncodeToString(run[:])+"_"+name)
		if err != nil {
			return nil, err
		}
		st, err := open(ctx, u)
		if err != nil {
			drop()
			return nil, err
		}
		ds := &droppingStore{Store: st, drop: drop}
		storeLocations.Store(relay.Store(ds), storeLocation{"postgres", u})
		return ds, nil
	}
}

// createDatabase creates a database named samizdat_bench_NAME (NAME made
// of lower-case letters, digits and underscores) on the server and
// returns its URL and a function that drops it.
func createDatabase(ctx context.Context, server, name string) (url string, drop func() error, err error) {
	db := "samizdat_bench_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(name))
	u, err := databaseURL(server, db)
	if err != nil {
		return "", nil, err
	}
	if err := pgAdmin(ctx, server, "CREATE DATABASE "+db); err != nil {
		return "", nil, fmt.Errorf("loadgen: create database: %w", err)
	}
	return u, func() error {
		return pgAdmin(context.Background(), server, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	}, nil
}

// droppingStore drops its database after closing the store.
type droppingStore struct {
	relay.Store
	drop    func() error
	dropped bool
}

func (s *droppingStore) Close() error {
	err := s.Store.Close()
	if s.dropped {
		return err
	}
	s.dropped = true
	if derr := s.drop(); derr != nil {
		err = errors.Join(err, fmt.Errorf("loadgen: drop database: %w", derr))
	}
	return err
}

// pgAdmin runs one statement on the server's default database.
func pgAdmin(ctx context.Context, server, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql)
	return err
}

// databaseURL is server's URL with its database replaced by db.
func databaseURL(server, db string) (string, error) {
	p, err := url.Parse(server)
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
		return "", errors.New("loadgen: want a postgres:// url")
	}
	p.Path = "/" + db
	p.RawPath = ""
	return p.String(), nil
}
