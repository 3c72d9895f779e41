package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"samizdat/relay"
)

// A request is one write, run by the writer goroutine inside a batch's
// transaction, in a savepoint of its own.
type request struct {
	ctx  context.Context
	fn   func(w *writer) error
	done chan error // buffered; receives the write's outcome after the commit
	// plain: fn never fails but for a broken transaction (it has no
	// domain errors to roll back on its own), so it runs without a
	// savepoint of its own, and its error fails the batch.
	plain bool
}

// writer holds the writer connection's prepared statements. Only the writer
// goroutine uses it (and Open/Close, before and after that goroutine runs).
type writer struct {
	begin, commit, rollback        *sql.Stmt
	savepoint, release, rollbackTo *sql.Stmt
	accountExists, usernameExists  *sql.Stmt
	noiseExists, deviceExists      *sql.Stmt
	idTaken                        *sql.Stmt
	insAccount, insDevice          *sql.Stmt
	setSigned, setLastResort       *sql.Stmt
	upsertEC, upsertKyber          *sql.Stmt
	bundleHead, takeEC, takeKyber  *sql.Stmt
	insEnvelope, envelopeSeq       *sql.Stmt
	addUsage, subUsage             *sql.Stmt
	ackEnvelope, expireEnvelopes   *sql.Stmt
	ackChunk                       *sql.Stmt // ackChunkSize ids at once
	deviceNoise, setLastSeen       *sql.Stmt
	delDevice, delEC, delKyber     *sql.Stmt
	delMailbox, delUsage, insGone  *sql.Stmt
	insChannel, postByID, nextSeq  *sql.Stmt
	insPost                        *sql.Stmt
	all                            []*sql.Stmt
}

func newWriter(ctx context.Context, conn *sql.Conn) (*writer, error) {
	w := &writer{}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&w.begin, "BEGIN IMMEDIATE"},
		{&w.commit, "COMMIT"},
		{&w.rollback, "ROLLBACK"},
		{&w.savepoint, "SAVEPOINT w"},
		{&w.release, "RELEASE w"},
		{&w.rollbackTo, "ROLLBACK TO w"},
		{&w.accountExists, "SELECT 1 FROM accounts WHERE id = ?"},
		{&w.usernameExists, "SELECT 1 FROM accounts WHERE username = ?"},
		{&w.noiseExists, "SELECT 1 FROM devices WHERE noise_key = ?1 UNION ALL SELECT 1 FROM removed_devices WHERE noise_key = ?1"},
		{&w.deviceExists, "SELECT 1 FROM devices WHERE account = ? AND id = ?"},
		{&w.idTaken, "SELECT 1 FROM devices WHERE account = ?1 AND id = ?2 UNION ALL SELECT 1 FROM removed_devices WHERE account = ?1 AND device = ?2"},
		{&w.insAccount, "INSERT INTO accounts (id, username, identity_key, ua_key, ua_unrestricted, created) VALUES (?, ?, ?, ?, ?, ?)"},
		{&w.insDevice, "INSERT INTO devices (account, id, registration_id, noise_key, created, name, last_seen, slot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"},
		{&w.deviceNoise, "SELECT noise_key FROM devices WHERE account = ? AND id = ?"},
		{&w.setLastSeen, "UPDATE devices SET last_seen = ? WHERE account = ? AND id = ?"},
		{&w.delDevice, "DELETE FROM devices WHERE account = ? AND id = ?"},
		{&w.delEC, "DELETE FROM ec_prekeys WHERE account = ? AND device = ?"},
		{&w.delKyber, "DELETE FROM kyber_prekeys WHERE account = ? AND device = ?"},
		{&w.delMailbox, "DELETE FROM mailbox WHERE account = ? AND device = ?"},
		{&w.delUsage, "DELETE FROM mailbox_usage WHERE account = ? AND device = ?"},
		{&w.insGone, "INSERT INTO removed_devices (noise_key, account, device, removed) VALUES (?, ?, ?, ?)"},
		{&w.setSigned, "UPDATE devices SET spk_id = ?, spk = ?, spk_sig = ? WHERE account = ? AND id = ?"},
		{&w.setLastResort, "UPDATE devices SET kyber_lr_id = ?, kyber_lr = ?, kyber_lr_sig = ? WHERE account = ? AND id = ?"},
		{&w.upsertEC, "INSERT INTO ec_prekeys (account, device, id, public_key) VALUES (?, ?, ?, ?) " +
			"ON CONFLICT (account, device, id) DO UPDATE SET public_key = excluded.public_key"},
		{&w.upsertKyber, "INSERT INTO kyber_prekeys (account, device, id, public_key, signature) VALUES (?, ?, ?, ?, ?) " +
			"ON CONFLICT (account, device, id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature"},
		{&w.bundleHead, "SELECT d.registration_id, d.noise_key, d.created, d.spk_id, d.spk, d.spk_sig, " +
			"d.kyber_lr_id, d.kyber_lr, d.kyber_lr_sig, a.identity_key, d.slot " +
			"FROM devices d JOIN accounts a ON a.id = d.account WHERE d.account = ? AND d.id = ?"},
		{&w.takeEC, "DELETE FROM ec_prekeys WHERE account = ?1 AND device = ?2 AND " +
			"id = (SELECT min(id) FROM ec_prekeys WHERE account = ?1 AND device = ?2) RETURNING id, public_key"},
		{&w.takeKyber, "DELETE FROM kyber_prekeys WHERE account = ?1 AND device = ?2 AND " +
			"id = (SELECT min(id) FROM kyber_prekeys WHERE account = ?1 AND device = ?2) RETURNING id, public_key, signature"},
		// seq is the rowid: an insert's is its LastInsertId (cheaper
		// than RETURNING, which reads back a row set).
		{&w.insEnvelope, "INSERT INTO mailbox (account, device, id, type, source_account, source_device, sealed, timestamp, server_time, content) " +
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, device, id) DO NOTHING"},
		{&w.envelopeSeq, "SELECT seq FROM mailbox WHERE account = ? AND device = ? AND id = ?"},
		{&w.addUsage, "INSERT INTO mailbox_usage (account, device, count, bytes) VALUES (?, ?, ?, ?) " +
			"ON CONFLICT (account, device) DO UPDATE SET count = count + excluded.count, bytes = bytes + excluded.bytes " +
			"RETURNING count, bytes"},
		{&w.subUsage, "UPDATE mailbox_usage SET count = count - ?, bytes = bytes - ? WHERE account = ? AND device = ?"},
		{&w.ackEnvelope, "DELETE FROM mailbox WHERE account = ? AND device = ? AND id = ? RETURNING length(content)"},
		{&w.ackChunk, "DELETE FROM mailbox WHERE account = ? AND device = ? AND id IN (" + placeholders(ackChunkSize) + ") RETURNING length(content)"},
		{&w.expireEnvelopes, "DELETE FROM mailbox WHERE seq IN (SELECT seq FROM mailbox WHERE server_time < ? LIMIT ?) " +
			"RETURNING account, device, length(content)"},
		{&w.insChannel, "INSERT INTO channels (id, admin_key, token_hash, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"},
		{&w.postByID, "SELECT seq, server_time FROM channel_posts WHERE channel = ? AND id = ?"},
		{&w.nextSeq, "UPDATE channels SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq"},
		{&w.insPost, "INSERT INTO channel_posts (channel, seq, id, content, signature, server_time) VALUES (?, ?, ?, ?, ?, ?)"},
	} {
		st, err := conn.PrepareContext(ctx, p.q)
		if err != nil {
			w.close()
			return nil, err
		}
		*p.st = st
		w.all = append(w.all, st)
	}
	return w, nil
}

func (w *writer) close() {
	for _, st := range w.all {
		st.Close()
	}
	w.all = nil
}

// placeholders is n "?" separated by commas.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// exists runs a "SELECT 1 ..." statement.
func exists(st *sql.Stmt, args ...any) (bool, error) {
	var one int
	switch err := st.QueryRow(args...).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// submit hands fn to the writer and waits until the batch that ran it has
// committed (or failed). If ctx ends while the write is still queued, the
// writer skips it and submit returns ctx.Err(); once the writer has started
// it, submit waits for the commit, so that nothing the caller passed in is
// used after submit returns.
func (s *Store) submit(ctx context.Context, fn func(w *writer) error) error {
	return s.submitRequest(ctx, &request{ctx: ctx, fn: fn})
}

// submitPlain is submit for a write that fails only with its transaction
// (request.plain).
func (s *Store) submitPlain(ctx context.Context, fn func(w *writer) error) error {
	return s.submitRequest(ctx, &request{ctx: ctx, fn: fn, plain: true})
}

func (s *Store) submitRequest(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	return <-r.done
}

// run is the writer goroutine: it gathers requests into batches and commits
// each batch in one transaction, until Close closes s.reqs.
//
// Each batch takes the requests queued when the previous commit ended, so a
// lone write is committed at once and, under load, the time a commit takes
// (mostly its fsync) is the time the next batch gathers. A positive
// FlushInterval additionally holds a batch open until FlushInterval after
// the previous commit started.
func (s *Store) run() {
	defer close(s.stopped)
	batch := make([]*request, 0, s.opts.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var last time.Time // when the last commit started
	for {
		r, ok := <-s.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		open := true
		var wait <-chan time.Time // nil: take only what is queued
		if d := time.Until(last.Add(s.opts.FlushInterval)); s.opts.FlushInterval > 0 && d > 0 {
			timer.Reset(d)
			wait = timer.C
		}
	gather:
		for len(batch) < s.opts.MaxBatch {
			if wait == nil {
				select {
				case r, ok := <-s.reqs:
					if !ok {
						open = false
						break gather
					}
					batch = append(batch, r)
				default:
					break gather
				}
				continue
			}
			select {
			case r, ok := <-s.reqs:
				if !ok {
					open = false
					break gather
				}
				batch = append(batch, r)
			case <-wait:
				wait = nil // then drain what is queued
			}
		}
		timer.Stop() // Go 1.23 timers: no stale tick survives Stop or Reset
		last = time.Now()
		s.runBatch(batch)
		clear(batch)
		if !open {
			return
		}
	}
}

// runBatch runs the requests in one transaction and answers them after the
// commit.
func (s *Store) runBatch(batch []*request) {
	w := s.w
	errs := make([]error, len(batch))
	answer := func() {
		for i, r := range batch {
			r.done <- errs[i]
		}
	}
	if _, err := w.begin.Exec(); err != nil {
		err = fmt.Errorf("sqlite: begin: %w", err)
		for i := range errs {
			errs[i] = err
		}
		answer()
		return
	}
	ran := 0
	start := time.Now()
	var broken error // the transaction is unusable: fail the whole batch
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if r.plain {
			if err := r.fn(w); err != nil {
				broken = err
				break
			}
			ran++
			continue
		}
		if _, err := w.savepoint.Exec(); err != nil {
			broken = err
			break
		}
		errs[i] = r.fn(w)
		if errs[i] != nil {
			if _, err := w.rollbackTo.Exec(); err != nil {
				broken = err
				break
			}
		}
		if _, err := w.release.Exec(); err != nil {
			broken = err
			break
		}
		if errs[i] == nil {
			ran++
		}
	}
	if broken == nil {
		if _, err := w.commit.Exec(); err != nil {
			broken = err
		}
	}
	if broken != nil {
		w.rollback.Exec() // may fail if SQLite already rolled back; either way nothing is kept
		err := fmt.Errorf("sqlite: commit: %w", broken)
		s.observeCommit(time.Since(start), len(batch), err)
		for i := range errs {
			if errs[i] == nil || !isDomain(errs[i]) {
				errs[i] = err
			}
		}
		answer()
		return
	}
	s.commits.Add(1)
	s.writes.Add(uint64(ran))
	s.observeCommit(time.Since(start), len(batch), nil)
	answer()
}

// ObserveCommits has o told about every commit from now on: its duration
// (statements, COMMIT and fsync), the writes it carried and its error. A
// nil o stops that.
func (s *Store) ObserveCommits(o relay.CommitObserver) {
	if o == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&o)
}

func (s *Store) observeCommit(took time.Duration, writes int, err error) {
	if o := s.observer.Load(); o != nil {
		(*o).ObserveCommit(took, writes, err)
	}
}
