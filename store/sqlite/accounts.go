package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"samizdat/relay"
	"samizdat/store/internal/batch"
)

// isDomain reports whether err is an outcome a caller branches on rather
// than a storage failure.
func isDomain(err error) bool {
	return errors.Is(err, relay.ErrNotFound) || errors.Is(err, relay.ErrConflict) ||
		errors.Is(err, relay.ErrQuotaExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// writeErr wraps an error from inside a write.
func writeErr(op string, err error) error {
	if isConstraint(err) {
		return fmt.Errorf("sqlite: %s: %w", op, relay.ErrConflict)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func conflict(what string) error { return fmt.Errorf("sqlite: %s: %w", what, relay.ErrConflict) }
func notFound(what string) error { return fmt.Errorf("sqlite: %s: %w", what, relay.ErrNotFound) }

// CreateAccount implements relay.Accounts.
func (s *Store) CreateAccount(ctx context.Context, a relay.Account, d relay.Device) error {
	return s.submit(ctx, func(w *writer) error {
		for _, c := range []struct {
			what string
			st   *sql.Stmt
			args []any
		}{
			{"account id", w.accountExists, []any{a.ID[:]}},
			{"username", w.usernameExists, []any{a.Username}},
			{"noise key", w.noiseExists, []any{d.NoiseKey[:]}},
		} {
			taken, err := exists(c.st, c.args...)
			if err != nil {
				return writeErr("create account", err)
			}
			if taken {
				return conflict(c.what)
			}
		}
		if _, err := w.insAccount.Exec(a.ID[:], a.Username, nonNil(a.IdentityKey), a.UnidentifiedAccessKey,
			a.UnrestrictedUnidentifiedAccess, nanos(a.Created)); err != nil {
			return writeErr("create account", err)
		}
		if err := insertDevice(w, a.ID, d); err != nil {
			return writeErr("create account", err)
		}
		return nil
	})
}

// nonNil turns a nil slice into an empty one, for NOT NULL columns.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// AddDevice implements relay.Accounts.
func (s *Store) AddDevice(ctx context.Context, d relay.Device) error {
	return s.submit(ctx, func(w *writer) error {
		ok, err := exists(w.accountExists, d.Account[:])
		if err != nil {
			return writeErr("add device", err)
		}
		if !ok {
			return notFound("account")
		}
		if taken, err := exists(w.idTaken, d.Account[:], d.ID); err != nil {
			return writeErr("add device", err)
		} else if taken {
			return conflict("device id")
		}
		if taken, err := exists(w.noiseExists, d.NoiseKey[:]); err != nil {
			return writeErr("add device", err)
		} else if taken {
			return conflict("noise key")
		}
		if err := insertDevice(w, d.Account, d); err != nil {
			return writeErr("add device", err)
		}
		return nil
	})
}

// insertDevice inserts d as a device of acct.
func insertDevice(w *writer, acct relay.AccountID, d relay.Device) error {
	_, err := w.insDevice.Exec(acct[:], d.ID, d.RegistrationID, d.NoiseKey[:], nanos(d.Created), d.Name, nanos(d.LastSeen), int64(d.Slot))
	return err
}

// RemoveDevice implements relay.Accounts: one write deletes the device's
// row, prekeys, envelopes and quota usage and keeps its noise key.
func (s *Store) RemoveDevice(ctx context.Context, acct relay.AccountID, dev uint32) error {
	return s.submit(ctx, func(w *writer) error {
		var key []byte
		switch err := w.deviceNoise.QueryRow(acct[:], dev).Scan(&key); {
		case errors.Is(err, sql.ErrNoRows):
			return notFound("device")
		case err != nil:
			return writeErr("remove device", err)
		}
		for _, st := range []*sql.Stmt{w.delDevice, w.delEC, w.delKyber, w.delMailbox, w.delUsage} {
			if _, err := st.Exec(acct[:], dev); err != nil {
				return writeErr("remove device", err)
			}
		}
		if _, err := w.insGone.Exec(key, acct[:], dev, nanos(s.opts.Now())); err != nil {
			return writeErr("remove device", err)
		}
		return nil
	})
}

// SetLastSeen implements relay.Accounts.
func (s *Store) SetLastSeen(ctx context.Context, acct relay.AccountID, dev uint32, at time.Time) error {
	return s.submit(ctx, func(w *writer) error {
		return update(w.setLastSeen, "set last seen", nanos(at), acct[:], dev)
	})
}

// scanAccount reads the columns of readStmts' account queries.
func scanAccount(row scanner) (relay.Account, error) {
	var a relay.Account
	var id []byte
	var created int64
	if err := row.Scan(&id, &a.Username, &a.IdentityKey, &a.UnidentifiedAccessKey, &a.UnrestrictedUnidentifiedAccess, &created); err != nil {
		return relay.Account{}, err
	}
	if len(id) != len(a.ID) {
		return relay.Account{}, errors.New("malformed account id")
	}
	copy(a.ID[:], id)
	a.Created = fromNanos(created)
	return a, nil
}

// AccountByID implements relay.Accounts.
func (s *Store) AccountByID(ctx context.Context, id relay.AccountID) (relay.Account, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Account{}, err
	}
	a, err := scanAccount(s.rs.accountByID.QueryRowContext(ctx, id[:]))
	if err != nil {
		return relay.Account{}, readErr("account by id", err)
	}
	return a, nil
}

// AccountByUsername implements relay.Accounts.
func (s *Store) AccountByUsername(ctx context.Context, name string) (relay.Account, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Account{}, err
	}
	a, err := scanAccount(s.rs.accountByName.QueryRowContext(ctx, name))
	if err != nil {
		return relay.Account{}, readErr("account by username", err)
	}
	return a, nil
}

type scanner interface{ Scan(...any) error }

// scanDevice reads deviceCols.
func scanDevice(row scanner) (relay.Device, error) {
	var d relay.Device
	var acct, key []byte
	var created, seen, slot int64
	if err := row.Scan(&acct, &d.ID, &d.RegistrationID, &key, &created, &d.Name, &seen, &slot); err != nil {
		return relay.Device{}, err
	}
	d.Slot = uint64(slot)
	d.LastSeen = fromNanos(seen)
	if len(acct) != len(d.Account) || len(key) != len(d.NoiseKey) {
		return relay.Device{}, errors.New("malformed device row")
	}
	copy(d.Account[:], acct)
	copy(d.NoiseKey[:], key)
	d.Created = fromNanos(created)
	return d, nil
}

// DeviceByNoiseKey implements relay.Accounts.
func (s *Store) DeviceByNoiseKey(ctx context.Context, key [32]byte) (relay.Device, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Device{}, err
	}
	d, err := scanDevice(s.rs.deviceByNoise.QueryRowContext(ctx, key[:]))
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		if err := s.rs.removedByNoise.QueryRowContext(ctx, key[:]).Scan(&one); err == nil {
			return relay.Device{}, fmt.Errorf("sqlite: device by noise key: %w", relay.ErrDeviceRemoved)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return relay.Device{}, readErr("device by noise key", err)
		}
	}
	if err != nil {
		return relay.Device{}, readErr("device by noise key", err)
	}
	return d, nil
}

// Devices implements relay.Accounts.
func (s *Store) Devices(ctx context.Context, id relay.AccountID) ([]relay.Device, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.rs.devices.QueryContext(ctx, id[:])
	if err != nil {
		return nil, readErr("devices", err)
	}
	defer rows.Close()
	var ds []relay.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, readErr("devices", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr("devices", err)
	}
	if len(ds) == 0 {
		// Every account has a device, so none means no account.
		return nil, notFound("account")
	}
	return ds, nil
}

// NextDeviceID implements relay.Accounts. Removed devices' ids count, so
// that none is given twice.
func (s *Store) NextDeviceID(ctx context.Context, id relay.AccountID) (uint32, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var next uint32
	if err := s.rs.nextDeviceID.QueryRowContext(ctx, id[:]).Scan(&next); err != nil {
		return 0, readErr("next device id", err)
	}
	return next, nil
}

// readStmts are the read pool's prepared statements.
type readStmts struct {
	accountByID, accountByName, deviceByNoise, devices *sql.Stmt
	removedByNoise, nextDeviceID                       *sql.Stmt
	deviceExists, countEC, countKyber, fetch           *sql.Stmt
	accountsIn, devicesIn                              *sql.Stmt // batchIDs ids at once
	channel, channelHead, channelPosts                 *sql.Stmt
	all                                                []*sql.Stmt
}

// batchIDs is how many account ids AccountsDevices looks up per query.
const batchIDs = 128

func (r *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	const accountCols = "SELECT id, username, identity_key, ua_key, ua_unrestricted, created FROM accounts "
	const deviceCols = "SELECT account, id, registration_id, noise_key, created, name, last_seen, slot FROM devices "
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&r.accountByID, accountCols + "WHERE id = ?"},
		{&r.accountByName, accountCols + "WHERE username = ?"},
		{&r.deviceByNoise, deviceCols + "WHERE noise_key = ?"},
		{&r.removedByNoise, "SELECT 1 FROM removed_devices WHERE noise_key = ?"},
		{&r.devices, deviceCols + "WHERE account = ? ORDER BY id"},
		{&r.nextDeviceID, "SELECT 1 + max(coalesce((SELECT max(id) FROM devices WHERE account = ?1), 0), " +
			"coalesce((SELECT max(device) FROM removed_devices WHERE account = ?1), 0)) FROM accounts WHERE id = ?1"},
		{&r.deviceExists, "SELECT 1 FROM devices WHERE account = ? AND id = ?"},
		{&r.accountsIn, accountCols + "WHERE id IN (?" + strings.Repeat(", ?", batchIDs-1) + ")"},
		{&r.devicesIn, deviceCols + "WHERE account IN (?" + strings.Repeat(", ?", batchIDs-1) + ") ORDER BY account, id"},
		{&r.countEC, "SELECT count(*) FROM ec_prekeys WHERE account = ? AND device = ?"},
		{&r.countKyber, "SELECT count(*) FROM kyber_prekeys WHERE account = ? AND device = ?"},
		{&r.fetch, "SELECT seq, id, type, source_account, source_device, sealed, timestamp, server_time, content " +
			"FROM mailbox WHERE account = ? AND device = ? AND seq > ? AND server_time >= ? ORDER BY seq LIMIT ?"},
		{&r.channel, "SELECT admin_key, token_hash, created FROM channels WHERE id = ?"},
		{&r.channelHead, "SELECT last_seq FROM channels WHERE id = ?"},
		{&r.channelPosts, "SELECT seq, id, content, signature, server_time FROM channel_posts " +
			"WHERE channel = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"},
	} {
		st, err := db.PrepareContext(ctx, p.q)
		if err != nil {
			return err
		}
		*p.st = st
		r.all = append(r.all, st)
	}
	return nil
}

func (r *readStmts) close() {
	for _, st := range r.all {
		st.Close()
	}
	r.all = nil
}

var _ relay.AccountsBatch = (*Store)(nil)

// AccountsDevices implements relay.AccountsBatch: two queries per
// batchIDs distinct ids.
func (s *Store) AccountsDevices(ctx context.Context, ids []relay.AccountID) ([]relay.AccountDevices, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	b := batch.New(ids)
	uniq := b.IDs() // an id in two chunks would be read, and its devices added, twice
	args := make([]any, batchIDs)
	for start := 0; start < len(uniq); start += batchIDs {
		chunk := uniq[start:min(start+batchIDs, len(uniq))]
		for i := range args {
			// A short chunk repeats its first id: IN ignores duplicates.
			id := chunk[0]
			if i < len(chunk) {
				id = chunk[i]
			}
			args[i] = id[:]
		}
		if err := s.accountsIn(ctx, args, b); err != nil {
			return nil, readErr("accounts with devices", err)
		}
	}
	return b.Out(), nil
}

// accountsIn reads the accounts and devices of the ids in args into b.
func (s *Store) accountsIn(ctx context.Context, args []any, b *batch.Accounts) error {
	rows, err := s.rs.accountsIn.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return err
		}
		b.Account(a)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.rs.devicesIn.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return err
		}
		b.Device(d)
	}
	return rows.Err()
}
