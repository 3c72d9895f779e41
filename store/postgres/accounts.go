package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"samizdat/relay"
	"samizdat/store/internal/batch"
)

const (
	accountCols = "SELECT id, username, identity_key, ua_key, ua_unrestricted, created FROM accounts "
	deviceCols  = "SELECT account, id, registration_id, noise_key, created, name, last_seen, slot FROM devices "
)

// CreateAccount implements relay.Accounts. Conflicts are found with ON
// CONFLICT DO NOTHING rather than as unique violations, so that they do not
// put the taken username or key into the server's log.
func (s *Store) CreateAccount(ctx context.Context, a relay.Account, d relay.Device) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return dbErr("create account", err)
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("INSERT INTO accounts (id, username, identity_key, ua_key, ua_unrestricted, created) VALUES ($1, $2, $3, $4, $5, $6) "+
		"ON CONFLICT DO NOTHING",
		a.ID[:], []byte(a.Username), nonNil(a.IdentityKey), a.UnidentifiedAccessKey, a.UnrestrictedUnidentifiedAccess, nanos(a.Created))
	b.Queue("INSERT INTO devices (account, id, registration_id, noise_key, created, name, last_seen, slot) "+
		"SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS (SELECT 1 FROM removed_devices WHERE noise_key = $4) "+
		"ON CONFLICT DO NOTHING",
		a.ID[:], int64(d.ID), int64(d.RegistrationID), d.NoiseKey[:], nanos(d.Created), d.Name, nanos(d.LastSeen), int64(d.Slot))
	br := conn.SendBatch(ctx, b)
	var inserted int64
	for i := range 3 {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			conn.Exec(context.Background(), "ROLLBACK")
			return dbErr("create account", err)
		}
		if i > 0 {
			inserted += tag.RowsAffected()
		}
	}
	if err := br.Close(); err != nil {
		conn.Exec(context.Background(), "ROLLBACK")
		return dbErr("create account", err)
	}
	if inserted != 2 {
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			return dbErr("create account", err)
		}
		return fmt.Errorf("postgres: create account: %w", relay.ErrConflict)
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return dbErr("create account", err)
	}
	return nil
}

// AddDevice implements relay.Accounts. As in CreateAccount, a conflict is
// not a unique violation; the second statement tells it from a missing
// account.
func (s *Store) AddDevice(ctx context.Context, d relay.Device) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	var inserted int
	var exists bool
	err := s.pool.QueryRow(ctx, `WITH ins AS (
	INSERT INTO devices (account, id, registration_id, noise_key, created, name, last_seen, slot)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = $1)
		AND NOT EXISTS (SELECT 1 FROM removed_devices WHERE noise_key = $4)
		AND NOT EXISTS (SELECT 1 FROM removed_devices WHERE account = $1 AND device = $2)
	ON CONFLICT DO NOTHING RETURNING 1)
SELECT (SELECT count(*) FROM ins), EXISTS (SELECT 1 FROM accounts WHERE id = $1)`,
		d.Account[:], int64(d.ID), int64(d.RegistrationID), d.NoiseKey[:], nanos(d.Created), d.Name, nanos(d.LastSeen), int64(d.Slot)).Scan(&inserted, &exists)
	switch {
	case err != nil:
		return dbErr("add device", err)
	case !exists:
		return notFound("add device: account")
	case inserted == 0:
		return fmt.Errorf("postgres: add device: %w", relay.ErrConflict)
	}
	return nil
}

// NextDeviceID implements relay.Accounts. Removed devices' ids count, so
// that none is given twice. (removed_devices has no index on account: the
// query scans it, once per linked device, which is rare.)
func (s *Store) NextDeviceID(ctx context.Context, id relay.AccountID) (uint32, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var next int64
	err := s.pool.QueryRow(ctx, `SELECT 1 + GREATEST(
	COALESCE((SELECT max(id) FROM devices WHERE account = $1), 0),
	COALESCE((SELECT max(device) FROM removed_devices WHERE account = $1), 0)) FROM accounts WHERE id = $1`, id[:]).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, notFound("next device id: account")
	}
	if err != nil {
		return 0, dbErr("next device id", err)
	}
	return uint32(next), nil
}

func scanAccount(row pgx.Row) (relay.Account, error) {
	var a relay.Account
	var id, name []byte
	var created int64
	if err := row.Scan(&id, &name, &a.IdentityKey, &a.UnidentifiedAccessKey, &a.UnrestrictedUnidentifiedAccess, &created); err != nil {
		return relay.Account{}, err
	}
	if len(id) != len(a.ID) {
		return relay.Account{}, errors.New("malformed account id")
	}
	copy(a.ID[:], id)
	a.Username = string(name)
	a.Created = fromNanos(created)
	return a, nil
}

// AccountByID implements relay.Accounts.
func (s *Store) AccountByID(ctx context.Context, id relay.AccountID) (relay.Account, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Account{}, err
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, accountCols+"WHERE id = $1", id[:]))
	if err != nil {
		return relay.Account{}, dbErr("account by id", err)
	}
	return a, nil
}

// AccountByUsername implements relay.Accounts.
func (s *Store) AccountByUsername(ctx context.Context, name string) (relay.Account, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Account{}, err
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, accountCols+"WHERE username = $1", []byte(name)))
	if err != nil {
		return relay.Account{}, dbErr("account by username", err)
	}
	return a, nil
}

// scanDevice reads deviceCols, and then into extra any further columns.
func scanDevice(row pgx.Row, extra ...any) (relay.Device, error) {
	var d relay.Device
	var acct, key []byte
	var id, reg, created, seen, slot int64
	if err := row.Scan(append([]any{&acct, &id, &reg, &key, &created, &d.Name, &seen, &slot}, extra...)...); err != nil {
		return relay.Device{}, err
	}
	d.Slot = uint64(slot)
	d.LastSeen = fromNanos(seen)
	if len(acct) != len(d.Account) || len(key) != len(d.NoiseKey) {
		return relay.Device{}, errors.New("malformed device row")
	}
	copy(d.Account[:], acct)
	copy(d.NoiseKey[:], key)
	d.ID, d.RegistrationID = uint32(id), uint32(reg)
	d.Created = fromNanos(created)
	return d, nil
}

// deviceByNoiseOrRemoved is deviceCols and a removed flag for the device
// with noise key $1, or for the removed device that had it.
const deviceByNoiseOrRemoved = `SELECT account, id, registration_id, noise_key, created, name, last_seen, slot, false FROM devices WHERE noise_key = $1
UNION ALL
SELECT account, device, 0, noise_key, removed, NULL, 0, 0, true FROM removed_devices WHERE noise_key = $1`

// DeviceByNoiseKey implements relay.Accounts.
func (s *Store) DeviceByNoiseKey(ctx context.Context, key [32]byte) (relay.Device, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Device{}, err
	}
	// One round trip whether the key is a device's, a removed device's or
	// unknown (an anonymous connection's, the common case). A key is never
	// in both tables (AddDevice and CreateAccount refuse a removed one), so
	// there is at most one row.
	var removed bool
	d, err := scanDevice(s.pool.QueryRow(ctx, deviceByNoiseOrRemoved, key[:]), &removed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return relay.Device{}, notFound("device by noise key")
	case err != nil:
		return relay.Device{}, dbErr("device by noise key", err)
	case removed:
		return relay.Device{}, fmt.Errorf("postgres: device by noise key: %w", relay.ErrDeviceRemoved)
	}
	return d, nil
}

// RemoveDevice implements relay.Accounts, in one transaction. It holds
// the device's mailbox_usage row lock while it deletes the envelopes, as
// every change to a mailbox does (see the package doc), and zeroes the
// row rather than deleting it, so that a batch waiting for that lock
// finds it and counts what it appends.
func (s *Store) RemoveDevice(ctx context.Context, acct relay.AccountID, dev uint32) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var key []byte
		if err := tx.QueryRow(ctx, "SELECT noise_key FROM devices WHERE account = $1 AND id = $2 FOR UPDATE",
			acct[:], int64(dev)).Scan(&key); err != nil {
			return err
		}
		for _, q := range []string{
			"SELECT 1 FROM mailbox_usage WHERE account = $1 AND device = $2 FOR UPDATE",
			"DELETE FROM mailbox WHERE account = $1 AND device = $2",
			"UPDATE mailbox_usage SET count = 0, bytes = 0 WHERE account = $1 AND device = $2",
			"DELETE FROM ec_prekeys WHERE account = $1 AND device = $2",
			"DELETE FROM kyber_prekeys WHERE account = $1 AND device = $2",
			"DELETE FROM devices WHERE account = $1 AND id = $2",
		} {
			if _, err := tx.Exec(ctx, q, acct[:], int64(dev)); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO removed_devices (noise_key, account, device, removed) VALUES ($1, $2, $3, $4)",
			key, acct[:], int64(dev), nanos(s.opts.Now()))
		return err
	})
	return dbErr("remove device", err)
}

// SetLastSeen implements relay.Accounts.
func (s *Store) SetLastSeen(ctx context.Context, acct relay.AccountID, dev uint32, at time.Time) error {
	return s.updateDevice(ctx, "set last seen", "UPDATE devices SET last_seen = $1 WHERE account = $2 AND id = $3",
		nanos(at), acct[:], int64(dev))
}

// Devices implements relay.Accounts.
func (s *Store) Devices(ctx context.Context, id relay.AccountID) ([]relay.Device, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, deviceCols+"WHERE account = $1 ORDER BY id", id[:])
	if err != nil {
		return nil, dbErr("devices", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (relay.Device, error) { return scanDevice(r) })
	if err != nil {
		return nil, dbErr("devices", err)
	}
	if len(ds) == 0 {
		// Every account has a device, so none means no account.
		return nil, notFound("devices: account")
	}
	return ds, nil
}

var _ relay.AccountsBatch = (*Store)(nil)

// AccountsDevices implements relay.AccountsBatch: two queries in one round
// trip, whatever the number of ids.
func (s *Store) AccountsDevices(ctx context.Context, ids []relay.AccountID) ([]relay.AccountDevices, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	acc := batch.New(ids)
	if len(ids) == 0 {
		return acc.Out(), nil
	}
	uniq := acc.IDs()
	keys := make([][]byte, len(uniq))
	for i := range uniq {
		keys[i] = uniq[i][:]
	}
	b := &pgx.Batch{}
	b.Queue(accountCols+"WHERE id = ANY($1)", keys)
	b.Queue(deviceCols+"WHERE account = ANY($1) ORDER BY account, id", keys)
	br := s.pool.SendBatch(ctx, b)
	err := func() error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		accts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (relay.Account, error) { return scanAccount(r) })
		if err != nil {
			return err
		}
		for _, a := range accts {
			acc.Account(a)
		}
		rows, err = br.Query()
		if err != nil {
			return err
		}
		devs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (relay.Device, error) { return scanDevice(r) })
		if err != nil {
			return err
		}
		for _, d := range devs {
			acc.Device(d)
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, dbErr("accounts with devices", err)
	}
	return acc.Out(), nil
}
