package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] upgrades the schema from user_version i to i+1. Append new
// ones; never edit a released one.
var migrations = []string{
	// 1: accounts, devices, prekeys, mailboxes.
	`
CREATE TABLE accounts (
	id              BLOB PRIMARY KEY,
	username        TEXT NOT NULL UNIQUE,
	identity_key    BLOB NOT NULL,
	ua_key          BLOB,
	ua_unrestricted INTEGER NOT NULL,
	created         INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE devices (
	account         BLOB NOT NULL,
	id              INTEGER NOT NULL,
	registration_id INTEGER NOT NULL,
	noise_key       BLOB NOT NULL UNIQUE,
	created         INTEGER NOT NULL,
	spk_id          INTEGER,
	spk             BLOB,
	spk_sig         BLOB,
	kyber_lr_id     INTEGER,
	kyber_lr        BLOB,
	kyber_lr_sig    BLOB,
	PRIMARY KEY (account, id)
) WITHOUT ROWID;

CREATE TABLE ec_prekeys (
	account    BLOB NOT NULL,
	device     INTEGER NOT NULL,
	id         INTEGER NOT NULL,
	public_key BLOB NOT NULL,
	PRIMARY KEY (account, device, id)
) WITHOUT ROWID;

CREATE TABLE kyber_prekeys (
	account    BLOB NOT NULL,
	device     INTEGER NOT NULL,
	id         INTEGER NOT NULL,
	public_key BLOB NOT NULL,
	signature  BLOB NOT NULL,
	PRIMARY KEY (account, device, id)
) WITHOUT ROWID;

-- seq is AUTOINCREMENT so that it is never reused, even after the newest
-- envelope is deleted: a device's cursor (Fetch after) stays valid.
CREATE TABLE mailbox (
	seq            INTEGER PRIMARY KEY AUTOINCREMENT,
	account        BLOB NOT NULL,
	device         INTEGER NOT NULL,
	id             BLOB NOT NULL,
	type           INTEGER NOT NULL,
	source_account BLOB NOT NULL,
	source_device  INTEGER NOT NULL,
	sealed         INTEGER NOT NULL,
	timestamp      INTEGER NOT NULL,
	server_time    INTEGER NOT NULL,
	content        BLOB NOT NULL
);
CREATE UNIQUE INDEX mailbox_by_id ON mailbox (account, device, id);
CREATE INDEX mailbox_by_seq ON mailbox (account, device, seq);
CREATE INDEX mailbox_by_time ON mailbox (server_time);

-- What each device's mailbox holds, for the quota.
CREATE TABLE mailbox_usage (
	account BLOB NOT NULL,
	device  INTEGER NOT NULL,
	count   INTEGER NOT NULL,
	bytes   INTEGER NOT NULL,
	PRIMARY KEY (account, device)
) WITHOUT ROWID;
`,
	// 2: device names and last-seen days; removed devices' noise keys.
	`
ALTER TABLE devices ADD COLUMN name BLOB;
ALTER TABLE devices ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;

-- A removed device's noise key is refused for good.
CREATE TABLE removed_devices (
	noise_key BLOB PRIMARY KEY,
	account   BLOB NOT NULL,
	device    INTEGER NOT NULL,
	removed   INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 3: broadcast channels and their logs of posts.
	`
CREATE TABLE channels (
	id         BLOB PRIMARY KEY,
	admin_key  BLOB NOT NULL,
	token_hash BLOB NOT NULL,
	created    INTEGER NOT NULL,
	last_seq   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE channel_posts (
	channel     BLOB NOT NULL,
	seq         INTEGER NOT NULL,
	id          BLOB NOT NULL,
	content     BLOB NOT NULL,
	signature   BLOB NOT NULL,
	server_time INTEGER NOT NULL,
	PRIMARY KEY (channel, seq)
);
CREATE UNIQUE INDEX channel_posts_by_id ON channel_posts (channel, id);
`,
	// 4: each device's cohort slot (relay.Device.Slot); 0 for devices
	// registered before, whose slot is their noise key's hash.
	`
ALTER TABLE devices ADD COLUMN slot INTEGER NOT NULL DEFAULT 0;
`,
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// migrate brings the database to SchemaVersion, one transaction per step.
func migrate(ctx context.Context, conn *sql.Conn) error {
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this program's %d", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		if err := step(ctx, conn, v); err != nil {
			return fmt.Errorf("to version %d: %w", v+1, err)
		}
	}
	return nil
}

func step(ctx context.Context, conn *sql.Conn, v int) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, migrations[v]); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
