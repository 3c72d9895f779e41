package postgres

import (
	"context"
	"errors"

	"samizdat/relay"
)

// SetSignedPreKey implements relay.PreKeys.
func (s *Store) SetSignedPreKey(ctx context.Context, acct relay.AccountID, dev uint32, k relay.SignedPreKey) error {
	return s.updateDevice(ctx, "set signed prekey",
		"UPDATE devices SET spk_id = $1, spk = $2, spk_sig = $3 WHERE account = $4 AND id = $5",
		int64(k.ID), nonNil(k.PublicKey), nonNil(k.Signature), acct[:], int64(dev))
}

// SetLastResortKyberPreKey implements relay.PreKeys.
func (s *Store) SetLastResortKyberPreKey(ctx context.Context, acct relay.AccountID, dev uint32, k relay.SignedPreKey) error {
	return s.updateDevice(ctx, "set last-resort kyber prekey",
		"UPDATE devices SET kyber_lr_id = $1, kyber_lr = $2, kyber_lr_sig = $3 WHERE account = $4 AND id = $5",
		int64(k.ID), nonNil(k.PublicKey), nonNil(k.Signature), acct[:], int64(dev))
}

// updateDevice runs an UPDATE of one device row; no row is ErrNotFound.
func (s *Store) updateDevice(ctx context.Context, op, q string, args ...any) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return dbErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op + ": device")
	}
	return nil
}

// addPreKeys upserts both pools in one statement, and only if the device
// exists; it returns how many devices matched (0 or 1).
const addPreKeys = `
WITH dev AS (SELECT 1 FROM devices WHERE account = $1 AND id = $2),
ec AS (
	INSERT INTO ec_prekeys (account, device, id, public_key)
	SELECT $1, $2, u.id, u.pk FROM unnest($3::bigint[], $4::bytea[]) AS u(id, pk)
	WHERE EXISTS (SELECT 1 FROM dev)
	ON CONFLICT (account, device, id) DO UPDATE SET public_key = excluded.public_key),
ky AS (
	INSERT INTO kyber_prekeys (account, device, id, public_key, signature)
	SELECT $1, $2, u.id, u.pk, u.sig FROM unnest($5::bigint[], $6::bytea[], $7::bytea[]) AS u(id, pk, sig)
	WHERE EXISTS (SELECT 1 FROM dev)
	ON CONFLICT (account, device, id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature)
SELECT count(*) FROM dev`

// AddPreKeys implements relay.PreKeys. A key id given twice in one call
// keeps the later key, as if the keys were added one by one.
func (s *Store) AddPreKeys(ctx context.Context, acct relay.AccountID, dev uint32, ec []relay.OneTimePreKey, kyber []relay.SignedPreKey) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	var ecIDs, kyIDs []int64
	var ecKeys, kyKeys, kySigs [][]byte
	at := map[uint32]int{}
	for _, k := range ec {
		if i, ok := at[k.ID]; ok {
			ecKeys[i] = nonNil(k.PublicKey)
			continue
		}
		at[k.ID] = len(ecIDs)
		ecIDs = append(ecIDs, int64(k.ID))
		ecKeys = append(ecKeys, nonNil(k.PublicKey))
	}
	clear(at)
	for _, k := range kyber {
		if i, ok := at[k.ID]; ok {
			kyKeys[i], kySigs[i] = nonNil(k.PublicKey), nonNil(k.Signature)
			continue
		}
		at[k.ID] = len(kyIDs)
		kyIDs = append(kyIDs, int64(k.ID))
		kyKeys = append(kyKeys, nonNil(k.PublicKey))
		kySigs = append(kySigs, nonNil(k.Signature))
	}
	var n int
	if err := s.pool.QueryRow(ctx, addPreKeys, acct[:], int64(dev), nonNil(ecIDs), nonNil(ecKeys),
		nonNil(kyIDs), nonNil(kyKeys), nonNil(kySigs)).Scan(&n); err != nil {
		return dbErr("add prekeys", err)
	}
	if n == 0 {
		return notFound("add prekeys: device")
	}
	return nil
}

// CountPreKeys implements relay.PreKeys.
func (s *Store) CountPreKeys(ctx context.Context, acct relay.AccountID, dev uint32) (int, int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, 0, err
	}
	var ec, kyber int
	err := s.pool.QueryRow(ctx, "SELECT "+
		"(SELECT count(*) FROM ec_prekeys WHERE account = $1 AND device = $2), "+
		"(SELECT count(*) FROM kyber_prekeys WHERE account = $1 AND device = $2) "+
		"FROM devices WHERE account = $1 AND id = $2", acct[:], int64(dev)).Scan(&ec, &kyber)
	if err != nil {
		return 0, 0, dbErr("count prekeys: device", err)
	}
	return ec, kyber, nil
}

// takeBundle is TakeBundle in one statement, hence one transaction. head is
// the device, its signed and last-resort keys and the account's identity.
// ky deletes the lowest one-time Kyber key that no concurrent fetch holds
// (SKIP LOCKED); if every one is held it waits for the lowest (FOR UPDATE),
// which skips it if its holder deletes it, so that it finds a key whenever
// one is left. ec does the same for the EC key, but only if the bundle is
// complete (signed key, and a one-time or last-resort Kyber key), so that a
// failed fetch spends nothing.
const takeBundle = `
WITH head AS (
	SELECT d.registration_id, d.noise_key, d.created, d.spk_id, d.spk, d.spk_sig,
		d.kyber_lr_id, d.kyber_lr, d.kyber_lr_sig, a.identity_key, d.slot
	FROM devices d JOIN accounts a ON a.id = d.account
	WHERE d.account = $1 AND d.id = $2),
ky AS (
	DELETE FROM kyber_prekeys
	WHERE account = $1 AND device = $2 AND (SELECT spk_id FROM head) IS NOT NULL AND id = coalesce(
		(SELECT id FROM kyber_prekeys WHERE account = $1 AND device = $2 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED),
		(SELECT id FROM kyber_prekeys WHERE account = $1 AND device = $2 ORDER BY id LIMIT 1 FOR UPDATE))
	RETURNING id, public_key, signature),
ec AS (
	DELETE FROM ec_prekeys
	WHERE account = $1 AND device = $2 AND (SELECT spk_id FROM head) IS NOT NULL
		AND (EXISTS (SELECT 1 FROM ky) OR (SELECT kyber_lr_id FROM head) IS NOT NULL) AND id = coalesce(
		(SELECT id FROM ec_prekeys WHERE account = $1 AND device = $2 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED),
		(SELECT id FROM ec_prekeys WHERE account = $1 AND device = $2 ORDER BY id LIMIT 1 FOR UPDATE))
	RETURNING id, public_key)
SELECT h.registration_id, h.noise_key, h.created, h.spk_id, h.spk, h.spk_sig,
	h.kyber_lr_id, h.kyber_lr, h.kyber_lr_sig, h.identity_key, h.slot,
	ky.id, ky.public_key, ky.signature, ec.id, ec.public_key
FROM head h LEFT JOIN ky ON true LEFT JOIN ec ON true`

// TakeBundle implements relay.PreKeys. It returns after the deletion of the
// keys it hands out has committed: a key handed out is never handed out
// again, even after a crash.
func (s *Store) TakeBundle(ctx context.Context, acct relay.AccountID, dev uint32) (relay.Bundle, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Bundle{}, err
	}
	b := relay.Bundle{Device: relay.Device{Account: acct, ID: dev}}
	var key, lr, lrSig, kyKey, kySig, ecKey []byte
	var reg, created, slot int64
	var spkID, lrID, kyID, ecID *int64
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		err = s.pool.QueryRow(ctx, takeBundle, acct[:], int64(dev)).Scan(&reg, &key, &created,
			&spkID, &b.SignedPreKey.PublicKey, &b.SignedPreKey.Signature, &lrID, &lr, &lrSig, &b.Identity, &slot,
			&kyID, &kyKey, &kySig, &ecID, &ecKey)
		// Fetchers that wait for each other's last keys may deadlock; the
		// server then aborts one, which nothing has spent: run it again.
		if c := sqlState(err); c != deadlockDetected && c != serializationFailure {
			break
		}
	}
	if err != nil {
		return relay.Bundle{}, dbErr("take bundle: device", err)
	}
	if spkID == nil {
		return relay.Bundle{}, notFound("take bundle: signed prekey")
	}
	if len(key) != len(b.Device.NoiseKey) {
		return relay.Bundle{}, dbErr("take bundle", errors.New("malformed device row"))
	}
	copy(b.Device.NoiseKey[:], key)
	b.Device.RegistrationID = uint32(reg)
	b.Device.Created = fromNanos(created)
	b.Device.Slot = uint64(slot)
	b.SignedPreKey.ID = uint32(*spkID)
	switch {
	case kyID != nil:
		b.KyberPreKey = relay.SignedPreKey{ID: uint32(*kyID), PublicKey: kyKey, Signature: kySig}
	case lrID != nil:
		b.KyberPreKey = relay.SignedPreKey{ID: uint32(*lrID), PublicKey: lr, Signature: lrSig}
	default:
		return relay.Bundle{}, notFound("take bundle: kyber prekey")
	}
	if ecID != nil {
		b.PreKey = &relay.OneTimePreKey{ID: uint32(*ecID), PublicKey: ecKey}
	}
	return b, nil
}
