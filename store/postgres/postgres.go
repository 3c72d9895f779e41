// Package postgres is a relay.Store in PostgreSQL (github.com/jackc/pgx/v5),
// for running several relay nodes on one database.
//
// The tables and most statements are store/sqlite's. The schema's versions
// are SQL files embedded in the binary (migrations/), applied by Open in one
// transaction under an advisory lock and recorded in schema_migrations, so
// several nodes starting at once against one database are safe.
//
// # Writes and group commit
//
// Appends and acks go to a few writer goroutines (Options.Writers), each
// serving the mailboxes whose (account, device) hash to it, so that two
// writers of one node do not wait for each other's locks. Each takes
// whatever calls are queued, up to MaxBatch, and runs them in one transaction
// in two round trips: the first locks the mailbox_usage rows of every device
// involved (in one global order, so batches of different nodes cannot
// deadlock), finds which envelope ids are already stored and deletes the
// acknowledged envelopes; the program then decides, call by call, which
// appends fit their quota (a call that does not is refused whole, the others
// go on); the second inserts the accepted envelopes with one statement,
// updates the usage rows and commits. A caller is answered after the commit:
// when Append or Ack returns nil, the change is durable (with the server's
// default synchronous_commit=on, flushed to the WAL on disk).
//
// Every change to a device's envelopes — append, ack, expiry — holds that
// device's mailbox_usage row lock. This keeps the quota exact and makes the
// envelopes of one device commit in Seq order, across nodes: a device's
// reader that has seen Seq n never later finds a new envelope below n, so
// cursors (Fetch after) skip nothing.
//
// Prekey fetches (TakeBundle) run as one statement in their own transaction:
// each one-time key is deleted with DELETE ... RETURNING after locking it
// with FOR UPDATE SKIP LOCKED, so concurrent fetchers take different keys in
// parallel instead of queueing on the lowest; only when every remaining key
// is locked does a fetcher wait (plain FOR UPDATE) to learn whether one is
// left. A key is handed out at most once, and only after its deletion has
// committed. Under concurrency "lowest id first" holds per fetcher, not
// globally.
//
// Account and prekey writes are single statements or pipelined batches, each
// one transaction; reads go straight to the pool.
//
// # Other properties
//
// Mailbox entries older than Retention are invisible to Fetch and deleted
// every ExpireInterval by every node (the deletes are idempotent).
//
// Rate-limit buckets are kept in each node's memory by default, as in
// store/sqlite: they need no durability and cost no round trip, but with N
// nodes a client that spreads its requests over all of them gets up to N
// times each rate. Options.SharedRateLimits keeps them in an unlogged table
// instead, shared by all nodes, at the cost of a transaction per Allow;
// buckets that have refilled are swept every minute.
//
// Decaying counters (relay.SharedCounters, such as the recent registrations
// that set the proof of work asked) are always shared, in an unlogged
// table: one statement per call.
//
// Registration conflicts are found with ON CONFLICT DO NOTHING, not as
// unique violations, so that the server's log does not record the taken
// username or key.
//
// # Testing
//
// The tests need a PostgreSQL server: scripts/pg.sh start runs a throwaway
// one and prints SAMIZDAT_PG_URL; package pgtest gives each test a fresh
// database on it. Without one the tests skip, or fail when
// SAMIZDAT_PG_REQUIRED=1 (CI). TestConformanceTwoNodes runs the conformance
// suite against two Stores on one database, alternating calls between them.
//
// Errors wrap relay.ErrNotFound, relay.ErrConflict and relay.ErrQuotaExceeded
// where callers branch. Other errors carry the server's SQLSTATE and message
// (never the detail, which may quote stored values); log them, do not show
// them to peers.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"samizdat/relay"
	"samizdat/store/internal/bucket"
)

// Defaults for the zero Options.
const (
	DefaultMaxMessages    = relay.DefaultMaxMessages
	DefaultMaxBytes       = relay.DefaultMaxBytes
	DefaultRetention      = relay.DefaultRetention
	DefaultMaxBatch       = 1024
	DefaultWriters        = 2
	DefaultExpireInterval = time.Hour
	DefaultMaxConns       = 16

	// A node that stops in the middle of a transaction (frozen, or cut off
	// from the database without its connection closing) would hold its
	// mailboxes' locks, and stall every other node's writes to them; the
	// server ends such a session after idleTimeout (milliseconds) unless the
	// URL sets the parameter. A batch is idle in its transaction only
	// between its two round trips.
	idleTimeoutParam = "idle_in_transaction_session_timeout"
	idleTimeout      = "30000"

	// sweepInterval is how often shared rate-limit buckets that have
	// refilled are deleted.
	sweepInterval = time.Minute
)

// Options configures a Store. The zero value uses the defaults above.
type Options struct {
	// MaxMessages and MaxBytes are each device's mailbox quota: envelopes
	// and bytes of Content. Envelopes count until acknowledged or expired.
	MaxMessages int
	MaxBytes    int64
	// Retention is how long an envelope stays in a mailbox.
	Retention time.Duration
	// MaxBatch is the most Append and Ack calls one transaction carries. 1
	// commits each call alone (the baseline group commit is measured
	// against).
	MaxBatch int
	// Writers is how many batches may be in flight at once. With 2, one
	// batch gathers while the other waits for its commit.
	Writers int
	// ExpireInterval is how often expired envelopes are deleted. Negative
	// disables it (the caller then calls Expire).
	ExpireInterval time.Duration
	// MaxConns caps the connection pool (at least Writers+2 are used).
	MaxConns int
	// SharedRateLimits keeps the rate-limit buckets in the database, shared
	// by every node, instead of in this node's memory. Each Allow is then a
	// transaction (on an unlogged table: no fsync) of two round trips.
	SharedRateLimits bool
	// Now is the clock for ServerTime and expiry; time.Now if nil. (Rate
	// limits use the time their caller passes.)
	Now func() time.Time
}

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("postgres: store is closed")

// Stats counts the writers' work since Open.
type Stats struct {
	Commits uint64 // write transactions committed
	Writes  uint64 // Append and Ack calls those commits carried
}

// Store is a relay.Store in a PostgreSQL database. It is safe for concurrent
// use, also by several processes on one database.
type Store struct {
	opts  Options
	pool  *pgxpool.Pool
	rates *bucket.Table

	mu     sync.RWMutex
	closed bool // guarded by mu; the queues are closed once it is set

	queues []chan *request // one per writer
	seed   maphash.Seed
	wg     sync.WaitGroup  // writers and the expiry loop
	quit   context.Context // done once Close begins: stops the expiry loop
	stop   context.CancelFunc

	closeOnce sync.Once

	commits, writes atomic.Uint64
	observer        atomic.Pointer[relay.CommitObserver] // told about each batch; nil: none
}

var _ relay.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or key=value
// string, as pgx accepts), brings its schema up to date and starts the
// writers. The caller must Close the store.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.MaxMessages <= 0 {
		opts.MaxMessages = DefaultMaxMessages
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Writers <= 0 {
		opts.Writers = DefaultWriters
	}
	if opts.ExpireInterval == 0 {
		opts.ExpireInterval = DefaultExpireInterval
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	opts.MaxConns = max(opts.MaxConns, opts.Writers+2)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, errors.New("postgres: cannot parse the database url")
	}
	cfg.MaxConns = int32(opts.MaxConns)
	if _, set := cfg.ConnConfig.RuntimeParams[idleTimeoutParam]; !set {
		cfg.ConnConfig.RuntimeParams[idleTimeoutParam] = idleTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	s := &Store{
		opts:  opts,
		pool:  pool,
		rates: bucket.NewTable(),
		seed:  maphash.MakeSeed(),
	}
	s.quit, s.stop = context.WithCancel(context.Background())
	for range opts.Writers {
		q := make(chan *request, 4096)
		s.queues = append(s.queues, q)
		s.wg.Go(func() { s.write(q) })
	}
	if opts.ExpireInterval > 0 {
		s.wg.Go(func() {
			s.every(opts.ExpireInterval, func() { s.Expire(s.quit, s.opts.Now().Add(-s.opts.Retention)) })
		})
	}
	if opts.SharedRateLimits {
		s.wg.Go(func() {
			s.every(sweepInterval, func() { s.sweepBuckets(s.quit, time.Now()) })
		})
	}
	return s, nil
}

// Close stops the writers after they have committed every write already
// submitted, and closes the pool. It is safe to call more than once; later
// calls return nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for _, q := range s.queues {
			close(q)
		}
		s.stop()
		s.mu.Unlock()
		s.wg.Wait()
		s.pool.Close()
	})
	return nil
}

// Stats returns the writers' counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writes.Load()}
}

// ObserveCommits has o told about every writer batch from now on: its
// duration (both round trips, COMMIT and the server's WAL flush), the calls
// it carried and its error. A nil o stops that.
func (s *Store) ObserveCommits(o relay.CommitObserver) {
	if o == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&o)
}

// MailboxDepth returns how many envelopes, and how many bytes of content,
// all mailboxes hold together (what the quotas count), for metrics. With
// several nodes, each reports the whole database's.
func (s *Store) MailboxDepth(ctx context.Context) (envelopes, bytes int64, err error) {
	if err := s.checkOpen(); err != nil {
		return 0, 0, err
	}
	err = s.pool.QueryRow(ctx, "SELECT coalesce(sum(count), 0)::bigint, coalesce(sum(bytes), 0)::bigint FROM mailbox_usage").Scan(&envelopes, &bytes)
	if err != nil {
		return 0, 0, dbErr("mailbox depth", err)
	}
	return envelopes, bytes, nil
}

// every calls f every interval until Close begins. f's errors resurface on
// the next call, and Expire's to its other callers.
func (s *Store) every(interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.quit.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// checkOpen returns ErrClosed once Close has begun.
func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// SQLSTATEs the store branches on.
const (
	uniqueViolation      = "23505"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// dbErr wraps an error from the database for op. Unique violations become
// relay.ErrConflict, no rows relay.ErrNotFound. A server error keeps its
// SQLSTATE and message but not its detail, which may quote stored values;
// data exceptions (class 22) keep only the SQLSTATE, since their messages
// may quote a value too.
func dbErr(op string, err error) error {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: %s: %w", op, relay.ErrNotFound)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &pe) && pe.Code == uniqueViolation:
		return fmt.Errorf("postgres: %s: %w", op, relay.ErrConflict)
	case errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "22":
		return fmt.Errorf("postgres: %s: data exception (sqlstate %s)", op, pe.Code)
	case errors.As(err, &pe):
		return fmt.Errorf("postgres: %s: %s (sqlstate %s)", op, pe.Message, pe.Code)
	}
	if s := closedErr(err); s != nil {
		return fmt.Errorf("postgres: %s: %w", op, s)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// closedErr maps the pool's "closed pool" error to ErrClosed.
func closedErr(err error) error {
	if err != nil && err.Error() == "closed pool" {
		return ErrClosed
	}
	return nil
}

func notFound(what string) error { return fmt.Errorf("postgres: %s: %w", what, relay.ErrNotFound) }

// nanos and fromNanos store times as Unix nanoseconds, the zero time as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nonNil turns a nil slice into an empty one, for NOT NULL columns and
// empty (not NULL) array parameters.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
