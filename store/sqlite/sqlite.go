// Package sqlite is the relay's embedded storage: a relay.Store in one
// SQLite database (modernc.org/sqlite, pure Go) in WAL mode.
//
// # Group commit
//
// Every write — registrations, prekey uploads and fetches, appends, acks,
// expiry — goes to a single writer goroutine. The writer runs the writes
// queued for it in one transaction with one commit, hence one fsync, each
// write in its own savepoint so that a write that fails (a quota, a conflict)
// is rolled back alone. A lone write is committed at once; under load, the
// writes that arrive while one batch commits (a few milliseconds, mostly its
// fsync) form the next batch, so the commit interval adapts to the disk.
// Options.FlushInterval can set a floor on the time between commits. A
// write's caller is answered only after its commit: when Append returns nil,
// the envelopes are on disk. Because one goroutine does all the
// writing, TakeBundle hands each one-time prekey to exactly one caller
// without further locking.
//
// Reads (Fetch, lookups, counts) use a separate pool of read-only
// connections, which in WAL mode neither block nor wait for the writer.
//
// # Durability
//
// By default the database runs with synchronous=FULL: each commit fsyncs the
// WAL, so an acknowledged write survives SIGKILL of the process, a kernel
// panic and a power cut. Options.RelaxedSync selects synchronous=NORMAL: the
// commit still writes the WAL with write(2) before returning, so a process
// crash (SIGKILL) loses nothing, but the WAL is only fsynced at checkpoints,
// so an operating-system crash or power loss may lose the last commits.
//
// # Other properties
//
// Schema versions are tracked in PRAGMA user_version and upgraded on Open.
// Mailbox entries older than Retention (30 days by default) are invisible to
// Fetch and deleted every ExpireInterval. Each device's mailbox has a quota of
// messages and bytes. Rate-limit buckets are kept in memory, not in the
// database: they need no durability, and a restart only refills them.
//
// Errors wrap relay.ErrNotFound, relay.ErrConflict and
// relay.ErrQuotaExceeded where callers branch; other errors carry the SQLite
// driver's message, which never includes SQL text or stored data, and should
// be logged, not shown to peers.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"samizdat/relay"
	"samizdat/store/internal/bucket"
)

// Defaults for the zero Options.
const (
	DefaultMaxMessages    = relay.DefaultMaxMessages
	DefaultMaxBytes       = relay.DefaultMaxBytes
	DefaultRetention      = relay.DefaultRetention
	DefaultMaxBatch       = 1024
	DefaultExpireInterval = time.Hour
	DefaultReaders        = 4
)

// Options configures a Store. The zero value uses the defaults above.
type Options struct {
	// MaxMessages and MaxBytes are each device's mailbox quota: envelopes
	// and bytes of Content. Envelopes count until acknowledged or expired.
	MaxMessages int
	MaxBytes    int64
	// Retention is how long an envelope stays in a mailbox.
	Retention time.Duration
	// FlushInterval, if positive, is the least time between the starts of
	// two commits: a write arriving sooner after the last commit started
	// waits, gathering others, until FlushInterval has passed. Zero (the
	// default) sets no floor: each commit takes whatever was queued while
	// the previous one ran. BenchmarkAppend compares the two; on a loaded
	// machine a 2 ms floor was several times slower, because the writer's
	// timer fires late.
	FlushInterval time.Duration
	// MaxBatch is the most writes one commit carries. 1 commits each write
	// alone (the baseline the group commit is measured against).
	MaxBatch int
	// ExpireInterval is how often expired envelopes are deleted. Negative
	// disables it (the caller then calls Expire).
	ExpireInterval time.Duration
	// RelaxedSync selects synchronous=NORMAL instead of FULL: still safe
	// against SIGKILL, not against power loss (see the package doc).
	RelaxedSync bool
	// Readers is the size of the read-only connection pool.
	Readers int
	// Now is the clock for ServerTime and expiry; time.Now if nil.
	Now func() time.Time
}

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("sqlite: store is closed")

// Stats counts the writer's work since Open.
type Stats struct {
	Commits uint64 // transactions committed (one fsync each)
	Writes  uint64 // writes carried by those commits
}

// Store is a relay.Store in one SQLite database. It is safe for concurrent
// use.
type Store struct {
	opts  Options
	rates *bucket.Table

	wdb  *sql.DB
	conn *sql.Conn // the writer's connection, used only by the writer goroutine
	w    *writer
	rdb  *sql.DB
	rs   readStmts

	mu     sync.RWMutex
	closed bool // guarded by mu; reqs is closed once it is set

	reqs    chan *request
	stopped chan struct{} // closed when the writer goroutine has exited
	quit    chan struct{} // closed by Close, stops the expiry goroutine
	expired chan struct{} // closed when the expiry goroutine has exited

	closeOnce sync.Once
	closeErr  error

	commits, writes atomic.Uint64
	observer        atomic.Pointer[relay.CommitObserver] // told about each commit; nil: none
}

var _ relay.Store = (*Store)(nil)

func dsn(path string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path, upgrades its schema
// and starts the writer. The caller must Close the store.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
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
	if opts.ExpireInterval == 0 {
		opts.ExpireInterval = DefaultExpireInterval
	}
	if opts.Readers <= 0 {
		opts.Readers = DefaultReaders
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	sync := "synchronous(FULL)"
	if opts.RelaxedSync {
		sync = "synchronous(NORMAL)"
	}
	s := &Store{
		opts:    opts,
		rates:   bucket.NewTable(),
		reqs:    make(chan *request, 4096),
		stopped: make(chan struct{}),
		quit:    make(chan struct{}),
		expired: make(chan struct{}),
	}
	var err error
	s.wdb, err = sql.Open("sqlite", dsn(path, "busy_timeout(10000)", "journal_mode(WAL)", sync, "cache_size(-16000)", "foreign_keys(0)", "temp_store(MEMORY)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.wdb.SetMaxOpenConns(1)
	fail := func(op string, err error) (*Store, error) {
		if s.w != nil {
			s.w.close()
		}
		if s.conn != nil {
			s.conn.Close()
		}
		s.rs.close()
		if s.rdb != nil {
			s.rdb.Close()
		}
		s.wdb.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if s.conn, err = s.wdb.Conn(ctx); err != nil {
		return fail("open", err)
	}
	var mode string
	if err := s.conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail("open", err)
	}
	if mode != "wal" {
		return fail("open", fmt.Errorf("journal mode is %q, not wal", mode))
	}
	if err := migrate(ctx, s.conn); err != nil {
		return fail("migrate", err)
	}
	if s.w, err = newWriter(ctx, s.conn); err != nil {
		return fail("prepare", err)
	}
	s.rdb, err = sql.Open("sqlite", dsn(path, "busy_timeout(10000)", "query_only(1)", "cache_size(-8000)"))
	if err != nil {
		return fail("open readers", err)
	}
	s.rdb.SetMaxOpenConns(opts.Readers)
	s.rdb.SetMaxIdleConns(opts.Readers)
	if err := s.rs.prepare(ctx, s.rdb); err != nil {
		return fail("prepare", err)
	}
	go s.run()
	if opts.ExpireInterval > 0 {
		go s.expireLoop()
	} else {
		close(s.expired)
	}
	return s, nil
}

// Close stops the writer after it has committed every write already
// submitted, and closes the database. It is safe to call more than once;
// later calls return nil.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.mu.Lock()
		s.closed = true
		close(s.reqs)
		close(s.quit)
		s.mu.Unlock()
		<-s.stopped
		<-s.expired
		s.w.close()
		s.rs.close()
		err := errors.Join(s.conn.Close(), s.wdb.Close(), s.rdb.Close())
		if err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	if !first {
		return nil
	}
	return s.closeErr
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writes.Load()}
}

func (s *Store) expireLoop() {
	defer close(s.expired)
	t := time.NewTicker(s.opts.ExpireInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			// Errors here resurface on the next tick; Expire's callers see them too.
			s.Expire(context.Background(), s.opts.Now().Add(-s.opts.Retention))
		}
	}
}

// checkOpen returns ErrClosed once Close has begun, so that reads on a
// closed store fail with that rather than with whatever database/sql says.
func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// readErr wraps an error from the read pool.
func readErr(op string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s: %w", op, relay.ErrNotFound)
	case errors.Is(err, sql.ErrConnDone), err != nil && err.Error() == "sql: database is closed":
		return fmt.Errorf("sqlite: %s: %w", op, ErrClosed)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// isConstraint reports whether err is a SQLite constraint violation.
func isConstraint(err error) bool {
	var e *msqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

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

// Allow implements relay.RateLimits. Buckets live in memory (see the package
// doc).
func (s *Store) Allow(ctx context.Context, key string, cost, burst, rate float64, now time.Time) (bool, time.Duration, error) {
	if err := s.checkOpen(); err != nil {
		return false, 0, err
	}
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	ok, retry, err := s.rates.Allow(key, cost, burst, rate, now)
	if err != nil {
		return false, 0, fmt.Errorf("sqlite: %w", err)
	}
	return ok, retry, nil
}
