// Package datadir is a relay's data directory as a whole: the lock a
// running relay holds on it, and backups and restores of it.
//
// A running relay holds an exclusive flock on LockFile in its data
// directory for as long as it runs; the kernel drops it when the process
// dies, so a crashed relay leaves no stale lock. Restore refuses a
// directory whose lock is held.
//
// A backup is one tar stream: a header entry (format name and version,
// the store's schema version), a consistent copy of the SQLite store made
// with VACUUM INTO while the relay keeps running, every other regular
// file of the data directory (keys, node key, delegation, endpoint
// secrets, TLS key, manifest serial, disguise, decoy site, ...) with the
// attachments in blobs/ (the complete chunk files: a blob that expires
// while the backup runs is left out, one being uploaded is copied up to
// the chunks stored when its directory is read), and a
// trailer entry with each file's size and SHA-256. Restore checks all of
// it in a staging directory beside the target, and checks the store
// itself, before it moves anything into place: a backup that is not one,
// truncated, corrupt, or of a format or schema this program does not
// know is refused with nothing overwritten.
//
// Backups hold the relay's private keys: they are written with mode 0600
// and must be kept like the keys themselves.
package datadir
