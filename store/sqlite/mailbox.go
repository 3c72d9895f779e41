package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"samizdat/relay"
)

type devKey struct {
	acct relay.AccountID
	dev  uint32
}

// Append implements relay.Mailboxes. The envelopes are committed by the
// writer in one savepoint: if any device's quota would be exceeded, none of
// them is stored.
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
	seqs := make([]uint64, len(envs))
	err := s.submit(ctx, func(w *writer) error {
		type usage struct {
			n     int64
			bytes int64
		}
		var order []devKey
		added := make(map[devKey]*usage)
		for i := range envs {
			e := &envs[i]
			res, err := w.insEnvelope.Exec(e.Account[:], e.Device, e.ID[:], e.Type, e.SourceAccount[:],
				e.SourceDevice, e.Sealed, int64(e.Timestamp), nanos(e.ServerTime), nonNil(e.Content))
			if err != nil {
				return writeErr("append", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return writeErr("append", err)
			}
			var seq int64
			if n == 0 {
				// A duplicate: report the stored copy's Seq.
				err = w.envelopeSeq.QueryRow(e.Account[:], e.Device, e.ID[:]).Scan(&seq)
				if err != nil {
					return writeErr("append", err)
				}
				seqs[i] = uint64(seq)
				continue
			}
			if seq, err = res.LastInsertId(); err != nil {
				return writeErr("append", err)
			}
			seqs[i] = uint64(seq)
			k := devKey{e.Account, e.Device}
			u := added[k]
			if u == nil {
				u = &usage{}
				added[k] = u
				order = append(order, k)
			}
			u.n++
			u.bytes += int64(len(e.Content))
		}
		for _, k := range order {
			u := added[k]
			var n, b int64
			if err := w.addUsage.QueryRow(k.acct[:], k.dev, u.n, u.bytes).Scan(&n, &b); err != nil {
				return writeErr("append", err)
			}
			if n > int64(s.opts.MaxMessages) || b > s.opts.MaxBytes {
				return fmt.Errorf("sqlite: append: %w", relay.ErrQuotaExceeded)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range envs {
		envs[i].Seq = seqs[i]
	}
	return nil
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
	rows, err := s.rs.fetch.QueryContext(ctx, acct[:], dev, int64(min(after, 1<<63-1)), cutoff.UnixNano(), limit)
	if err != nil {
		return nil, readErr("fetch", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := relay.Envelope{Account: acct, Device: dev}
		var id, src []byte
		var seq, ts, st int64
		if err := rows.Scan(&seq, &id, &e.Type, &src, &e.SourceDevice, &e.Sealed, &ts, &st, &e.Content); err != nil {
			return nil, readErr("fetch", err)
		}
		if len(id) != len(e.ID) || len(src) != len(e.SourceAccount) {
			return nil, readErr("fetch", errors.New("malformed envelope row"))
		}
		copy(e.ID[:], id)
		copy(e.SourceAccount[:], src)
		e.Seq = uint64(seq)
		e.Timestamp = uint64(ts)
		e.ServerTime = fromNanos(st)
		if e.Content == nil {
			e.Content = []byte{}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr("fetch", err)
	}
	return out, nil
}

// ackChunkSize is how many ids one statement of Ack deletes.
const ackChunkSize = 32

// Ack implements relay.Mailboxes. It deletes the ids ackChunkSize at a
// time (the last chunk padded with repeats of an id), in one write without
// a savepoint of its own: it has nothing to undo but with the whole batch.
func (s *Store) Ack(ctx context.Context, acct relay.AccountID, dev uint32, ids [][16]byte) error {
	if len(ids) == 0 {
		return nil
	}
	return s.submitPlain(ctx, func(w *writer) error {
		var n, bytes int64
		count := func(rows *sql.Rows) error {
			defer rows.Close()
			for rows.Next() {
				var size int64
				if err := rows.Scan(&size); err != nil {
					return err
				}
				n++
				bytes += size
			}
			return rows.Err()
		}
		args := make([]any, 2+ackChunkSize)
		args[0], args[1] = acct[:], dev
		for len(ids) > 0 {
			if len(ids) < ackChunkSize/4 {
				for _, id := range ids {
					rows, err := w.ackEnvelope.Query(acct[:], dev, id[:])
					if err == nil {
						err = count(rows)
					}
					if err != nil {
						return writeErr("ack", err)
					}
				}
				break
			}
			k := min(len(ids), ackChunkSize)
			for j := range ackChunkSize {
				args[2+j] = ids[min(j, k-1)][:]
			}
			ids = ids[k:]
			rows, err := w.ackChunk.Query(args...)
			if err == nil {
				err = count(rows)
			}
			if err != nil {
				return writeErr("ack", err)
			}
		}
		if n > 0 {
			if _, err := w.subUsage.Exec(n, bytes, acct[:], dev); err != nil {
				return writeErr("ack", err)
			}
		}
		return nil
	})
}

// expireChunk bounds how many envelopes one write of Expire deletes, so that
// appends are not held up behind a large expiry.
const expireChunk = 2000

// Expire implements relay.Mailboxes. It deletes in chunks, each its own
// write, so other writes interleave with a large expiry.
func (s *Store) Expire(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := s.submit(ctx, func(w *writer) error {
			rows, err := w.expireEnvelopes.Query(nanos(before), expireChunk)
			if err != nil {
				return writeErr("expire", err)
			}
			type usage struct{ n, bytes int64 }
			freed := make(map[devKey]*usage)
			var order []devKey
			for rows.Next() {
				var acct []byte
				var k devKey
				var size int64
				if err := rows.Scan(&acct, &k.dev, &size); err != nil {
					rows.Close()
					return writeErr("expire", err)
				}
				copy(k.acct[:], acct)
				u := freed[k]
				if u == nil {
					u = &usage{}
					freed[k] = u
					order = append(order, k)
				}
				u.n++
				u.bytes += size
				n++
			}
			if err := rows.Close(); err != nil {
				return writeErr("expire", err)
			}
			if err := rows.Err(); err != nil {
				return writeErr("expire", err)
			}
			for _, k := range order {
				if _, err := w.subUsage.Exec(freed[k].n, freed[k].bytes, k.acct[:], k.dev); err != nil {
					return writeErr("expire", err)
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < expireChunk {
			return total, nil
		}
	}
}

// MailboxDepth returns how many envelopes, and how many bytes of content,
// all mailboxes hold together (what the quota counts), for metrics.
func (s *Store) MailboxDepth(ctx context.Context) (envelopes, bytes int64, err error) {
	err = s.rdb.QueryRowContext(ctx, "SELECT coalesce(sum(count), 0), coalesce(sum(bytes), 0) FROM mailbox_usage").Scan(&envelopes, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: mailbox depth: %w", err)
	}
	return envelopes, bytes, nil
}
