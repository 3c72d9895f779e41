package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"samizdat/relay"
)

// SetSignedPreKey implements relay.PreKeys.
func (s *Store) SetSignedPreKey(ctx context.Context, acct relay.AccountID, dev uint32, k relay.SignedPreKey) error {
	return s.submit(ctx, func(w *writer) error {
		return update(w.setSigned, "set signed prekey", k.ID, nonNil(k.PublicKey), nonNil(k.Signature), acct[:], dev)
	})
}

// SetLastResortKyberPreKey implements relay.PreKeys.
func (s *Store) SetLastResortKyberPreKey(ctx context.Context, acct relay.AccountID, dev uint32, k relay.SignedPreKey) error {
	return s.submit(ctx, func(w *writer) error {
		return update(w.setLastResort, "set last-resort kyber prekey", k.ID, nonNil(k.PublicKey), nonNil(k.Signature), acct[:], dev)
	})
}

// update runs an UPDATE of one device row; no row is ErrNotFound.
func update(st *sql.Stmt, op string, args ...any) error {
	res, err := st.Exec(args...)
	if err != nil {
		return writeErr(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return writeErr(op, err)
	} else if n == 0 {
		return notFound("device")
	}
	return nil
}

// AddPreKeys implements relay.PreKeys.
func (s *Store) AddPreKeys(ctx context.Context, acct relay.AccountID, dev uint32, ec []relay.OneTimePreKey, kyber []relay.SignedPreKey) error {
	return s.submit(ctx, func(w *writer) error {
		if ok, err := exists(w.deviceExists, acct[:], dev); err != nil {
			return writeErr("add prekeys", err)
		} else if !ok {
			return notFound("device")
		}
		for _, k := range ec {
			if _, err := w.upsertEC.Exec(acct[:], dev, k.ID, nonNil(k.PublicKey)); err != nil {
				return writeErr("add prekeys", err)
			}
		}
		for _, k := range kyber {
			if _, err := w.upsertKyber.Exec(acct[:], dev, k.ID, nonNil(k.PublicKey), nonNil(k.Signature)); err != nil {
				return writeErr("add prekeys", err)
			}
		}
		return nil
	})
}

// CountPreKeys implements relay.PreKeys.
func (s *Store) CountPreKeys(ctx context.Context, acct relay.AccountID, dev uint32) (int, int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, 0, err
	}
	// One read transaction, so that the device check and the counts agree.
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, 0, readErr("count prekeys", err)
	}
	defer tx.Rollback()
	var one, ec, kyber int
	if err := tx.StmtContext(ctx, s.rs.deviceExists).QueryRowContext(ctx, acct[:], dev).Scan(&one); err != nil {
		return 0, 0, readErr("count prekeys: device", err)
	}
	if err := tx.StmtContext(ctx, s.rs.countEC).QueryRowContext(ctx, acct[:], dev).Scan(&ec); err != nil {
		return 0, 0, readErr("count prekeys", err)
	}
	if err := tx.StmtContext(ctx, s.rs.countKyber).QueryRowContext(ctx, acct[:], dev).Scan(&kyber); err != nil {
		return 0, 0, readErr("count prekeys", err)
	}
	return ec, kyber, nil
}

// TakeBundle implements relay.PreKeys. It runs in the writer, so each
// one-time key is deleted by exactly one caller, and returns only after the
// deletion has committed: a key handed out is never handed out again, even
// after a crash.
func (s *Store) TakeBundle(ctx context.Context, acct relay.AccountID, dev uint32) (relay.Bundle, error) {
	var out relay.Bundle
	err := s.submit(ctx, func(w *writer) error {
		b := relay.Bundle{Device: relay.Device{Account: acct, ID: dev}}
		var key []byte
		var created, slot int64
		var spkID, lrID sql.NullInt64
		var lr, lrSig []byte
		err := w.bundleHead.QueryRow(acct[:], dev).Scan(&b.Device.RegistrationID, &key, &created,
			&spkID, &b.SignedPreKey.PublicKey, &b.SignedPreKey.Signature, &lrID, &lr, &lrSig, &b.Identity, &slot)
		b.Device.Slot = uint64(slot)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("device")
		} else if err != nil {
			return writeErr("take bundle", err)
		}
		if !spkID.Valid {
			return notFound("signed prekey")
		}
		if len(key) != len(b.Device.NoiseKey) {
			return writeErr("take bundle", errors.New("malformed device row"))
		}
		copy(b.Device.NoiseKey[:], key)
		b.Device.Created = fromNanos(created)
		b.SignedPreKey.ID = uint32(spkID.Int64)

		err = w.takeKyber.QueryRow(acct[:], dev).Scan(&b.KyberPreKey.ID, &b.KyberPreKey.PublicKey, &b.KyberPreKey.Signature)
		switch {
		case errors.Is(err, sql.ErrNoRows) && lrID.Valid:
			b.KyberPreKey = relay.SignedPreKey{ID: uint32(lrID.Int64), PublicKey: lr, Signature: lrSig}
		case errors.Is(err, sql.ErrNoRows):
			return notFound("kyber prekey")
		case err != nil:
			return writeErr("take bundle", err)
		}

		var pk relay.OneTimePreKey
		err = w.takeEC.QueryRow(acct[:], dev).Scan(&pk.ID, &pk.PublicKey)
		switch {
		case err == nil:
			b.PreKey = &pk
		case !errors.Is(err, sql.ErrNoRows):
			return writeErr("take bundle", err)
		}
		out = b
		return nil
	})
	if err != nil {
		return relay.Bundle{}, err
	}
	return out, nil
}
