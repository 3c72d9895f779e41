// Package store holds the storage implementations of the relay's interfaces
// (samizdat/relay: Accounts, PreKeys, Mailboxes, RateLimits):
//
//   - store/sqlite, the embedded default: SQLite in WAL mode with one writer
//     goroutine that groups concurrent writes into one transaction and one
//     fsync;
//   - store/postgres, for several relay nodes on one PostgreSQL database
//     (pgx), with embedded migrations and the same group commit;
//   - store/memstore, an in-memory store for tests;
//   - store/storetest, the conformance suite every implementation passes.
//
// The package itself has no code.
package store
