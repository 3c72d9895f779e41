package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"samizdat/relay"
)

type devKey struct {
	acct relay.AccountID
	dev  uint32
}

func compareDev(a, b devKey) int {
	if c := bytes.Compare(a.acct[:], b.acct[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.dev, b.dev)
}

// sorted returns the keys of m in the order mailbox_usage rows are locked.
func sorted(m map[devKey]bool) []devKey { return slices.SortedFunc(maps.Keys(m), compareDev) }

type envKey struct {
	devKey
	id [16]byte
}

// A request is one Append or Ack, carried by a writer's batch.
type request struct {
	ctx  context.Context
	envs []relay.Envelope // Append: the caller's envelopes (read only)
	ack  *ackRequest      // Ack
	done chan error       // buffered; receives the outcome after the commit

	// Set by the batch (reset on each attempt).
	seqs  []uint64 // Append: the stored Seq of each envelope
	quota bool     // Append: refused, over quota
}

type ackRequest struct {
	dev devKey
	ids [][16]byte
}

// submit queues r for a writer and waits until the batch that carries it
// has committed (or failed). If ctx ends while r is still queued the writer
// skips it; once a batch has started, submit waits for its outcome, so that
// nothing the caller passed in is used after submit returns.
func (s *Store) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.ctx = ctx
	r.done = make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.queues[s.writerOf(r)] <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	return <-r.done
}

// writerOf returns the index of the writer that serves r's (first)
// mailbox. An Append for several devices goes to the writer of its first.
func (s *Store) writerOf(r *request) int {
	if len(s.queues) == 1 {
		return 0
	}
	k := devKey{}
	if r.ack != nil {
		k = r.ack.dev
	} else {
		k = devKey{r.envs[0].Account, r.envs[0].Device}
	}
	return int(maphash.Comparable(s.seed, k) % uint64(len(s.queues)))
}

// write is a writer goroutine: it takes the requests queued for it when it
// is free, up to MaxBatch, and commits them in one transaction, until Close
// closes q. A lone request is committed at once; under load, the requests
// arriving while a batch commits form the next one (and, with several
// writers, another writer's batch commits meanwhile).
func (s *Store) write(q chan *request) {
	batch := make([]*request, 0, s.opts.MaxBatch)
	for {
		r, ok := <-q
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	gather:
		for len(batch) < s.opts.MaxBatch {
			select {
			case r, ok := <-q:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		s.runBatch(batch)
		clear(batch)
	}
}

// runBatch commits the live requests of batch, retrying a batch that the
// server aborted to break a deadlock, and answers every request.
func (s *Store) runBatch(batch []*request) {
	live := make([]*request, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	var err error
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err = s.commitBatch(live)
		if err == nil || attempt == 3 {
			break
		}
		if c := sqlState(err); c != deadlockDetected && c != serializationFailure {
			break
		}
	}
	if err != nil {
		err = dbErr("commit", err)
	} else {
		s.commits.Add(1)
		s.writes.Add(uint64(len(live)))
	}
	if o := s.observer.Load(); o != nil {
		(*o).ObserveCommit(time.Since(start), len(live), err)
	}
	for _, r := range live {
		switch {
		case err != nil:
			r.done <- err
		case r.quota:
			r.done <- fmt.Errorf("postgres: append: %w", relay.ErrQuotaExceeded)
		default:
			r.done <- nil
		}
	}
}

// The statements of a batch (see the package doc). Arrays are bound as
// parameters, so each statement's text is fixed and prepared once per
// connection.
const (
	createUsage = `INSERT INTO mailbox_usage (account, device, count, bytes)
SELECT a, d, 0, 0 FROM unnest($1::bytea[], $2::bigint[]) AS u(a, d) ORDER BY a, d
ON CONFLICT (account, device) DO NOTHING`
	lockUsage = `SELECT account, device, count, bytes FROM mailbox_usage
WHERE (account, device) IN (SELECT a, d FROM unnest($1::bytea[], $2::bigint[]) AS u(a, d))
ORDER BY account, device FOR UPDATE`
	storedIDs = `SELECT m.account, m.device, m.id, m.seq
FROM unnest($1::bytea[], $2::bigint[], $3::bytea[]) AS u(a, d, i)
JOIN mailbox m ON m.account = u.a AND m.device = u.d AND m.id = u.i`
	deleteAcked = `DELETE FROM mailbox m USING unnest($1::bytea[], $2::bigint[], $3::bytea[]) AS u(a, d, i)
WHERE m.account = u.a AND m.device = u.d AND m.id = u.i
RETURNING m.account, m.device, length(m.content)`
	insertEnvelopes = `INSERT INTO mailbox (account, device, id, type, source_account, source_device, sealed, timestamp, server_time, content)
SELECT a, d, i, t, sa, sd, se, ts, st, c
FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bigint[], $7::boolean[], $8::bigint[], $9::bigint[], $10::bytea[])
	WITH ORDINALITY AS u(a, d, i, t, sa, sd, se, ts, st, c, n)
ORDER BY n
RETURNING account, device, id, seq`
	updateUsage = `UPDATE mailbox_usage m SET count = m.count + u.n, bytes = m.bytes + u.b
FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(a, d, n, b)
WHERE m.account = u.a AND m.device = u.d`
)

// batchTimeout bounds a writer's batch, so that a server that stops
// answering fails the batch's callers instead of holding them, and Close,
// forever.
const batchTimeout = time.Minute

type usage struct{ n, bytes int64 }

// devArrays returns the columns of keys, for unnest.
func devArrays(keys []devKey) ([][]byte, []int64) {
	accts := make([][]byte, len(keys))
	devs := make([]int64, len(keys))
	for i := range keys {
		accts[i] = keys[i].acct[:]
		devs[i] = int64(keys[i].dev)
	}
	return accts, devs
}

// scanDevKey reads an (account, device) pair.
func scanDevKey(acct []byte, dev int64) (devKey, error) {
	var k devKey
	if len(acct) != len(k.acct) {
		return k, errors.New("malformed mailbox row")
	}
	copy(k.acct[:], acct)
	k.dev = uint32(dev)
	return k, nil
}

// commitBatch runs the requests in one transaction. It sets each request's
// seqs or quota; it returns an error if the transaction did not commit.
func (s *Store) commitBatch(reqs []*request) (err error) {
	// Not the callers' contexts: once a batch has started, it runs to its
	// commit or failure, whoever stops waiting; but not forever, if the
	// server stops answering.
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	defer func() {
		if err != nil {
			// A broken connection fails this too; the pool then discards it.
			conn.Exec(ctx, "ROLLBACK")
		}
	}()

	// Every device involved, in the lock order; the stored ids to look up;
	// the ids to delete.
	var (
		appendDevs = map[devKey]bool{}
		allDevs    = map[devKey]bool{}
		look       = map[envKey]bool{}
		lookA      [][]byte
		lookD      []int64
		lookI      [][]byte
		acked      = map[envKey]bool{}
		ackA       [][]byte
		ackD       []int64
		ackI       [][]byte
	)
	for _, r := range reqs {
		r.quota, r.seqs = false, nil
		if r.ack != nil {
			allDevs[r.ack.dev] = true
			for _, id := range r.ack.ids {
				k := envKey{r.ack.dev, id}
				if !acked[k] {
					acked[k] = true
					ackA, ackD, ackI = append(ackA, k.acct[:]), append(ackD, int64(k.dev)), append(ackI, k.id[:])
				}
			}
			continue
		}
		for i := range r.envs {
			e := &r.envs[i]
			k := envKey{devKey{e.Account, e.Device}, e.ID}
			appendDevs[k.devKey], allDevs[k.devKey] = true, true
			if !look[k] {
				look[k] = true
				lookA, lookD, lookI = append(lookA, k.acct[:]), append(lookD, int64(k.dev)), append(lookI, k.id[:])
			}
		}
	}
	// Round trip 1: lock, look up, delete.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if len(appendDevs) > 0 {
		a, d := devArrays(sorted(appendDevs))
		b.Queue(createUsage, a, d)
	}
	a, d := devArrays(sorted(allDevs))
	b.Queue(lockUsage, a, d)
	if len(lookA) > 0 {
		b.Queue(storedIDs, lookA, lookD, lookI)
	}
	if len(ackA) > 0 {
		b.Queue(deleteAcked, ackA, ackD, ackI)
	}
	used := map[devKey]*usage{}
	net := map[devKey]*usage{}
	stored := map[envKey]uint64{}
	br := conn.SendBatch(ctx, b)
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		if len(appendDevs) > 0 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		var acct []byte
		var dev, n, size, seq int64
		var id []byte
		if _, err := forEach(br.Query, []any{&acct, &dev, &n, &size}, func() error {
			k, err := scanDevKey(acct, dev)
			used[k] = &usage{n, size}
			return err
		}); err != nil {
			return err
		}
		if len(lookA) > 0 {
			if _, err := forEach(br.Query, []any{&acct, &dev, &id, &seq}, func() error {
				k, err := scanDevKey(acct, dev)
				if err != nil || len(id) != 16 {
					return errors.New("malformed mailbox row")
				}
				stored[envKey{k, [16]byte(id)}] = uint64(seq)
				return nil
			}); err != nil {
				return err
			}
		}
		if len(ackA) > 0 {
			if _, err := forEach(br.Query, []any{&acct, &dev, &size}, func() error {
				k, err := scanDevKey(acct, dev)
				if err != nil {
					return err
				}
				u := used[k]
				if u == nil {
					return errors.New("acked an envelope of an unlocked mailbox")
				}
				u.n--
				u.bytes -= size
				add(net, k, -1, -size)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	// Decide, call by call, which appends are stored.
	var ins insertColumns
	pending := map[envKey]bool{}
	for _, r := range reqs {
		if r.ack != nil {
			continue
		}
		delta := map[devKey]*usage{}
		var fresh []int
		local := map[envKey]bool{}
		for i := range r.envs {
			e := &r.envs[i]
			k := envKey{devKey{e.Account, e.Device}, e.ID}
			if _, ok := stored[k]; ok || pending[k] || local[k] {
				continue
			}
			local[k] = true
			fresh = append(fresh, i)
			add(delta, k.devKey, 1, int64(len(e.Content)))
		}
		over := false
		for k, d := range delta {
			u := used[k]
			if u == nil {
				return errors.New("appended to an unlocked mailbox")
			}
			if u.n+d.n > int64(s.opts.MaxMessages) || u.bytes+d.bytes > s.opts.MaxBytes {
				over = true
			}
		}
		if over {
			r.quota = true
			continue
		}
		for k, d := range delta {
			used[k].n += d.n
			used[k].bytes += d.bytes
			add(net, k, d.n, d.bytes)
		}
		for _, i := range fresh {
			e := &r.envs[i]
			pending[envKey{devKey{e.Account, e.Device}, e.ID}] = true
			ins.add(e)
		}
	}

	// Round trip 2: insert, count, commit.
	b = &pgx.Batch{}
	if len(ins.acct) > 0 {
		b.Queue(insertEnvelopes, ins.acct, ins.dev, ins.id, ins.typ, ins.srcAcct, ins.srcDev, ins.sealed, ins.ts, ins.st, ins.content)
	}
	var ua [][]byte
	var ud, un, ub []int64
	for k, u := range net {
		if u.n != 0 || u.bytes != 0 {
			ua, ud, un, ub = append(ua, k.acct[:]), append(ud, int64(k.dev)), append(un, u.n), append(ub, u.bytes)
		}
	}
	if len(ua) > 0 {
		b.Queue(updateUsage, ua, ud, un, ub)
	}
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	err = func() error {
		if len(ins.acct) > 0 {
			var acct, id []byte
			var dev, seq int64
			n, err := forEach(br.Query, []any{&acct, &dev, &id, &seq}, func() error {
				k, err := scanDevKey(acct, dev)
				if err != nil || len(id) != 16 {
					return errors.New("malformed mailbox row")
				}
				stored[envKey{k, [16]byte(id)}] = uint64(seq)
				return nil
			})
			if err != nil {
				return err
			}
			if n != len(ins.acct) {
				return fmt.Errorf("inserted %d envelopes, want %d", n, len(ins.acct))
			}
		}
		if len(ua) > 0 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		_, err := br.Exec() // COMMIT
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if r.ack != nil || r.quota {
			continue
		}
		r.seqs = make([]uint64, len(r.envs))
		for i := range r.envs {
			e := &r.envs[i]
			r.seqs[i] = stored[envKey{devKey{e.Account, e.Device}, e.ID}]
		}
	}
	return nil
}

func add(m map[devKey]*usage, k devKey, n, bytes int64) {
	u := m[k]
	if u == nil {
		u = &usage{}
		m[k] = u
	}
	u.n += n
	u.bytes += bytes
}

// forEach runs query, reads its rows into dst one by one, calling f after
// each, and returns the number of rows.
func forEach(query func() (pgx.Rows, error), dst []any, f func() error) (int, error) {
	rows, err := query()
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return n, err
		}
		if err := f(); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// insertColumns are the envelopes to insert, column by column.
type insertColumns struct {
	acct, id, srcAcct, content [][]byte
	dev, typ, srcDev, ts, st   []int64
	sealed                     []bool
}

func (c *insertColumns) add(e *relay.Envelope) {
	c.acct = append(c.acct, e.Account[:])
	c.dev = append(c.dev, int64(e.Device))
	c.id = append(c.id, e.ID[:])
	c.typ = append(c.typ, int64(e.Type))
	c.srcAcct = append(c.srcAcct, e.SourceAccount[:])
	c.srcDev = append(c.srcDev, int64(e.SourceDevice))
	c.sealed = append(c.sealed, e.Sealed)
	c.ts = append(c.ts, int64(e.Timestamp))
	c.st = append(c.st, nanos(e.ServerTime))
	c.content = append(c.content, nonNil(e.Content))
}

// Append implements relay.Mailboxes. The call is carried by a writer's
// batch; if any device's quota would be exceeded, none of its envelopes is
// stored.
func (s *Store) Append(ctx context.Context, envs []relay.Envelope) error {
	if len(envs) == 0 {
		return nil
	}
	now := s.opts.Now()
	for i := range envs {
		if envs[i].ServerTime.IsZero() {
			envs[i].ServerTime = now
		}
	}
	r := &request{envs: envs}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	for i := range envs {
		envs[i].Seq = r.seqs[i]
	}
	return nil
}

// Ack implements relay.Mailboxes. The call is carried by a writer's batch.
func (s *Store) Ack(ctx context.Context, acct relay.AccountID, dev uint32, ids [][16]byte) error {
	if len(ids) == 0 {
		return nil
	}
	return s.submit(ctx, &request{ack: &ackRequest{devKey{acct, dev}, ids}})
}

// Fetch implements relay.Mailboxes.
func (s *Store) Fetch(ctx context.Context, acct relay.AccountID, dev uint32, after uint64, limit int) ([]relay.Envelope, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	out := []relay.Envelope{}
	if limit <= 0 {
		return out, nil
	}
	cutoff := s.opts.Now().Add(-s.opts.Retention)
	rows, err := s.pool.Query(ctx, "SELECT seq, id, type, source_account, source_device, sealed, timestamp, server_time, content "+
		"FROM mailbox WHERE account = $1 AND device = $2 AND seq > $3 AND server_time >= $4 ORDER BY seq LIMIT $5",
		acct[:], int64(dev), int64(min(after, 1<<63-1)), cutoff.UnixNano(), limit)
	if err != nil {
		return nil, dbErr("fetch", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := relay.Envelope{Account: acct, Device: dev}
		var id, src []byte
		var seq, typ, sdev, ts, st int64
		if err := rows.Scan(&seq, &id, &typ, &src, &sdev, &e.Sealed, &ts, &st, &e.Content); err != nil {
			return nil, dbErr("fetch", err)
		}
		if len(id) != len(e.ID) || len(src) != len(e.SourceAccount) {
			return nil, dbErr("fetch", errors.New("malformed envelope row"))
		}
		copy(e.ID[:], id)
		copy(e.SourceAccount[:], src)
		e.Seq, e.Type, e.SourceDevice = uint64(seq), uint32(typ), uint32(sdev)
		e.Timestamp = uint64(ts)
		e.ServerTime = fromNanos(st)
		if e.Content == nil {
			e.Content = []byte{}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("fetch", err)
	}
	return out, nil
}

// expireChunk bounds how many envelopes one transaction of Expire deletes.
const expireChunk = 2000

const (
	expiredRows = `SELECT account, device, seq FROM mailbox WHERE server_time < $1 ORDER BY server_time LIMIT $2`
	deleteRows  = `DELETE FROM mailbox m USING unnest($1::bytea[], $2::bigint[], $3::bigint[]) AS u(a, d, s)
WHERE m.account = u.a AND m.device = u.d AND m.seq = u.s AND m.server_time < $4
RETURNING m.account, m.device, length(m.content)`
)

// Expire implements relay.Mailboxes. It deletes in chunks, each its own
// transaction that locks the usage rows of the devices it touches first (as
// the writers do).
func (s *Store) Expire(ctx context.Context, before time.Time) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	total := 0
	for {
		n, more, err := s.expireChunk(ctx, nanos(before))
		total += n
		if err != nil {
			return total, dbErr("expire", err)
		}
		if !more {
			return total, nil
		}
	}
}

func (s *Store) expireChunk(ctx context.Context, before int64) (int, bool, error) {
	n := 0
	var found int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var acct []byte
		var dev, seq, size int64
		var ra [][]byte
		var rd, rs []int64
		devs := map[devKey]bool{}
		_, err := forEach(func() (pgx.Rows, error) { return tx.Query(ctx, expiredRows, before, expireChunk) },
			[]any{&acct, &dev, &seq}, func() error {
				k, err := scanDevKey(acct, dev)
				devs[k] = true
				ra, rd, rs = append(ra, k.acct[:]), append(rd, dev), append(rs, seq)
				return err
			})
		if err != nil {
			return err
		}
		found = len(ra)
		if found == 0 {
			return nil
		}
		a, d := devArrays(sorted(devs))
		if _, err := tx.Exec(ctx, lockUsage, a, d); err != nil {
			return err
		}
		freed := map[devKey]*usage{}
		n, err = forEach(func() (pgx.Rows, error) { return tx.Query(ctx, deleteRows, ra, rd, rs, before) },
			[]any{&acct, &dev, &size}, func() error {
				k, err := scanDevKey(acct, dev)
				add(freed, k, -1, -size)
				return err
			})
		if err != nil {
			return err
		}
		var ua [][]byte
		var ud, un, ub []int64
		for k, u := range freed {
			ua, ud, un, ub = append(ua, k.acct[:]), append(ud, int64(k.dev)), append(un, u.n), append(ub, u.bytes)
		}
		_, err = tx.Exec(ctx, updateUsage, ua, ud, un, ub)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return n, found == expireChunk, nil
}
