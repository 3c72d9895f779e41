// Package clientdb keeps a samizdat client's state on its own machine, in one
// SQLite file: the identity and device keys, prekeys, Signal sessions, the
// identities seen (trust on first use), sender keys, contacts, groups (the
// signed changes that made each, and to whom our sender key went), the
// broadcast channels joined and their posts, message
// history, the outbox of messages not yet acknowledged by the relay, and the
// envelope ids already received (to drop the relay's duplicate deliveries).
//
// Store implements the session package's store interfaces and
// senderkey.Store. A Store is bound either to the database (every call its own
// statement) or to one transaction (DB.Tx), so that a decryption, the history
// it adds and the mark that drops its duplicates commit together or not at all.
//
// Security properties: the file holds private keys and plaintext history in
// the clear; it is created with mode 0600 in a directory the caller should
// keep private (0700). Nothing here logs or puts key material or message text
// in errors.
package clientdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the pure Go SQLite driver
)

// ErrNotFound means the row asked for does not exist.
var ErrNotFound = errors.New("clientdb: not found")

// schemaVersion is stored in PRAGMA user_version.
const schemaVersion = 3

// migrations run before the schema on a database of an older version
// (index: the version it had). Version 1's bridge_offers held one offer per
// contact; version 2 holds one per contact and bridge: the old offers are
// dropped (the contacts renew them within half their lifetime). Version 3
// adds the attachment tables (uploads, downloads), which the schema creates.
var migrations = map[int]string{
	1: `DROP TABLE IF EXISTS bridge_offers;`,
	2: `SELECT 1;`,
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS prekeys (
	id     INTEGER PRIMARY KEY,
	record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS signed_prekeys (
	id     INTEGER PRIMARY KEY,
	record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS kyber_prekeys (
	id          INTEGER PRIMARY KEY,
	record      BLOB NOT NULL,
	last_resort INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kyber_used (
	kyber_id  INTEGER NOT NULL,
	signed_id INTEGER NOT NULL,
	base_key  BLOB NOT NULL,
	PRIMARY KEY (kyber_id, signed_id, base_key)
);
CREATE TABLE IF NOT EXISTS sessions (
	name   TEXT NOT NULL,
	device INTEGER NOT NULL,
	record BLOB NOT NULL,
	PRIMARY KEY (name, device)
);
CREATE TABLE IF NOT EXISTS identities (
	name       TEXT PRIMARY KEY,
	key        BLOB NOT NULL,
	first_seen INTEGER NOT NULL,
	changed_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sender_keys (
	name         TEXT NOT NULL,
	device       INTEGER NOT NULL,
	distribution BLOB NOT NULL,
	record       BLOB NOT NULL,
	PRIMARY KEY (name, device, distribution)
);
CREATE TABLE IF NOT EXISTS contacts (
	username   TEXT PRIMARY KEY,
	account_id BLOB NOT NULL UNIQUE,
	devices    TEXT NOT NULL DEFAULT '',
	access_key BLOB,
	updated    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
	peer     TEXT NOT NULL,
	path     TEXT NOT NULL,
	size     INTEGER NOT NULL,
	mtime    INTEGER NOT NULL,
	file_key BLOB NOT NULL,
	blob_id  BLOB,
	PRIMARY KEY (peer, path)
);
CREATE TABLE IF NOT EXISTS downloads (
	envelope_id BLOB PRIMARY KEY,
	peer        TEXT NOT NULL,
	sender      TEXT NOT NULL,
	body        TEXT NOT NULL,
	sent_at     INTEGER NOT NULL,
	pointer     BLOB NOT NULL,
	dir         TEXT NOT NULL DEFAULT '',
	done        INTEGER NOT NULL DEFAULT 0,
	state       BLOB
);
CREATE TABLE IF NOT EXISTS messages (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	envelope_id BLOB NOT NULL,
	peer        TEXT NOT NULL,
	outgoing    INTEGER NOT NULL,
	body        TEXT NOT NULL,
	sent_at     INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	status      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_envelope ON messages (envelope_id);
CREATE INDEX IF NOT EXISTS messages_peer ON messages (peer, id);
CREATE TABLE IF NOT EXISTS timers (
	peer    TEXT PRIMARY KEY,
	seconds INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS expiring (
	message_id INTEGER PRIMARY KEY,
	expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS expiring_at ON expiring (expires_at);
CREATE TABLE IF NOT EXISTS download_options (
	envelope_id    BLOB PRIMARY KEY,
	outgoing       INTEGER NOT NULL,
	expire_seconds INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS saved_files (
	message_id INTEGER PRIMARY KEY,
	path       TEXT NOT NULL,
	size       INTEGER NOT NULL,
	mtime      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	envelope_id BLOB NOT NULL UNIQUE,
	peer        TEXT NOT NULL,
	content     BLOB NOT NULL,
	timestamp   INTEGER NOT NULL,
	message_id  INTEGER NOT NULL DEFAULT 0,
	attempts    INTEGER NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS inbox_seen (
	envelope_id BLOB PRIMARY KEY,
	at          INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS peer_state (
	peer       TEXT PRIMARY KEY,
	account_id BLOB,
	state      INTEGER NOT NULL,
	updated    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS peer_state_account ON peer_state (account_id);
CREATE TABLE IF NOT EXISTS bridge_offers (
	peer     TEXT NOT NULL,
	bridge   BLOB NOT NULL,
	offer    BLOB NOT NULL,
	expires  INTEGER NOT NULL,
	received INTEGER NOT NULL,
	PRIMARY KEY (peer, bridge)
);
CREATE TABLE IF NOT EXISTS bridges (
	id           BLOB PRIMARY KEY,
	address      TEXT NOT NULL,
	key          BLOB NOT NULL,
	sni          TEXT NOT NULL,
	own          INTEGER NOT NULL,
	added        INTEGER NOT NULL,
	changed      INTEGER NOT NULL DEFAULT 0,
	pushed       INTEGER NOT NULL DEFAULT 0,
	pushed_serial INTEGER NOT NULL DEFAULT 0,
	pushed_at    INTEGER NOT NULL DEFAULT 0,
	failed_at    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bridge_grants (
	bridge  BLOB NOT NULL,
	peer    TEXT NOT NULL,
	label   BLOB NOT NULL,
	expires INTEGER NOT NULL,
	PRIMARY KEY (bridge, peer)
);
CREATE TABLE IF NOT EXISTS bridge_denied (
	bridge BLOB NOT NULL,
	label  BLOB NOT NULL,
	until  INTEGER NOT NULL,
	PRIMARY KEY (bridge, label)
);
CREATE TABLE IF NOT EXISTS manifests_held (
	seq    INTEGER PRIMARY KEY AUTOINCREMENT,
	digest BLOB NOT NULL UNIQUE,
	blob   BLOB NOT NULL,
	held   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS manifest_sent (
	peer   TEXT PRIMARY KEY,
	serial INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS groups (
	id     BLOB PRIMARY KEY,
	name   TEXT NOT NULL UNIQUE,
	member INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS group_changes (
	group_id BLOB NOT NULL,
	revision INTEGER NOT NULL,
	change   BLOB NOT NULL,
	PRIMARY KEY (group_id, revision)
);
CREATE TABLE IF NOT EXISTS group_keys_sent (
	group_id BLOB NOT NULL,
	chain    INTEGER NOT NULL,
	account  BLOB NOT NULL,
	device   INTEGER NOT NULL,
	PRIMARY KEY (group_id, chain, account, device)
);
CREATE TABLE IF NOT EXISTS group_senders (
	message_id INTEGER PRIMARY KEY,
	sender     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
	name     TEXT PRIMARY KEY,
	id       BLOB NOT NULL UNIQUE,
	code     BLOB NOT NULL,
	admin    INTEGER NOT NULL,
	last_seq INTEGER NOT NULL DEFAULT 0,
	joined   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_own_posts (
	post_id BLOB PRIMARY KEY,
	at      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_posts (
	channel BLOB NOT NULL,
	seq     INTEGER NOT NULL,
	body    TEXT NOT NULL,
	sent_at INTEGER NOT NULL,
	at      INTEGER NOT NULL,
	PRIMARY KEY (channel, seq)
);
`

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is an open client database. It is safe for concurrent use; another
// process may open the same file (SQLite locking and a busy timeout serialize
// writers).
type DB struct {
	db  *sql.DB
	now func() time.Time
}

// Options configure Open.
type Options struct {
	// Now stamps what the store records the time of (an identity's first
	// sighting and change); nil means time.Now.
	Now func() time.Time
}

// Open opens (creating if needed) the database at path.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("clientdb: %w", err)
	}
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close()
	} else {
		return nil, fmt.Errorf("clientdb: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("clientdb: open: %w", err)
	}
	// One connection: statements and transactions of this process queue
	// up instead of contending for SQLite's lock.
	db.SetMaxOpenConns(1)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("clientdb: %w", err)
	}
	for v := version; v > 0 && v < schemaVersion; v++ {
		if _, err := db.ExecContext(ctx, migrations[v]); err != nil {
			db.Close()
			return nil, fmt.Errorf("clientdb: migrate from version %d: %w", v, err)
		}
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("clientdb: create schema: %w", err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		db.Close()
		return nil, fmt.Errorf("clientdb: %w", err)
	}
	return &DB{db: db, now: opts.Now}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Store returns a Store whose calls each run on their own.
func (d *DB) Store() *Store { return &Store{q: d.db, now: d.now} }

// Tx runs fn in one transaction with a Store bound to it, committing if fn
// returns nil and rolling back otherwise. fn must not use d.Store (the
// database has one connection, held by the transaction).
func (d *DB) Tx(ctx context.Context, fn func(*Store) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("clientdb: begin: %w", err)
	}
	if err := fn(&Store{q: tx, now: d.now}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("clientdb: commit: %w", err)
	}
	return nil
}

// Store reads and writes the client state through the database or one
// transaction.
type Store struct {
	q   querier
	now func() time.Time
}
