package main

import (
	"context"
	"fmt"
	"os"

	"samizdat/relay/datadir"
)

// runRelayBackup is "samizdat relay backup [--data DIR] OUT".
func runRelayBackup(ctx context.Context, e *env, args []string) error {
	fs := newFlags("relay backup", "OUT", `Write a backup of the relay's data directory to the file OUT: a consistent copy of its
SQLite store, taken while the relay keeps running, its attachments (blobs/: the chunks
stored when each blob is read; one that expires meanwhile is left out), and its keys, node
key, delegation, endpoint secrets, TLS key and the other files a restore needs. OUT is replaced only once the
new backup is complete, so a backup that fails or is killed leaves the previous one. The
backup holds the relay's private keys: keep it like them (it is written with mode 0600).
A relay on PostgreSQL (--store postgres://...) is backed up with pg_dump or PITR instead;
see "Operating a relay" in the README.`)
	dir := fs.String("data", defaultRelayDir(), "the relay's data `DIR`")
	keys := fs.String("keys", "", "the relay's keys `FILE` when it is kept outside DIR (relay --keys); stored as keys.json")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.usagef("backup takes one argument: the file to write")
	}
	st, err := datadir.BackupFile(ctx, *dir, pos[0], datadir.BackupOptions{KeysFile: *keys})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backed up %s to %s: %d files, %d bytes, store schema version %d\n", *dir, pos[0], st.Files, st.Bytes, st.Schema)
	return nil
}

// runRelayRestore is "samizdat relay restore BACKUP [--data DIR] [--force]".
func runRelayRestore(ctx context.Context, e *env, args []string) error {
	fs := newFlags("relay restore", "BACKUP", `Restore a backup made by "samizdat relay backup" into the data directory. Every file of the
backup and the store in it are checked before anything is moved into place: a file that is
not a backup, is truncated or corrupt, or comes from a newer samizdat is refused and nothing
changes. A data directory a running relay holds is refused; one that holds a relay already is
refused unless --force, which keeps it beside the restored one, renamed DIR.replaced-TIME.`)
	dir := fs.String("data", defaultRelayDir(), "the data `DIR` to restore into")
	force := fs.Bool("force", false, "replace a data directory that holds a relay (not one in use)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.usagef("restore takes one argument: the backup file")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := datadir.Restore(ctx, f, *dir, datadir.RestoreOptions{Force: *force})
	if err != nil {
		return err
	}
	if res.Replaced != "" {
		fmt.Fprintf(e.stdout, "moved the old data directory to %s\n", res.Replaced)
	}
	fmt.Fprintf(e.stdout, "restored %s into %s: %d files, %d bytes, store schema version %d, backed up at %s\n",
		pos[0], *dir, res.Files, res.Bytes, res.Schema, res.Created.Format("2006-01-02 15:04:05 UTC"))
	return nil
}
