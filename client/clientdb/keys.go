package clientdb

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"samizdat/session"
	"samizdat/session/curve"
	"samizdat/session/senderkey"
)

var (
	_ session.IdentityStore     = (*Store)(nil)
	_ session.PreKeyStore       = (*Store)(nil)
	_ session.SignedPreKeyStore = (*Store)(nil)
	_ session.KyberPreKeyStore  = (*Store)(nil)
	_ session.SessionStore      = (*Store)(nil)
	_ senderkey.Store           = (*Store)(nil)
)

// Stores returns the session.Stores backed by s.
func (s *Store) Stores() session.Stores {
	return session.Stores{Identity: s, PreKeys: s, SignedPreKeys: s, KyberPreKeys: s, Sessions: s}
}

// Meta keys.
const (
	MetaIdentity       = "identity"        // 32-byte identity private key
	MetaRegistrationID = "registration_id" // uint32, big endian
	MetaNoisePrivate   = "noise_private"   // 32-byte X25519 private key
	MetaAccountID      = "account_id"      // 16 bytes
	MetaDeviceID       = "device_id"       // uint32
	MetaUsername       = "username"
	MetaInvite         = "invite"      // the invite file as joined
	MetaAccessKey      = "access_key"  // our 16-byte unidentified access key
	MetaNextPreKeyID   = "next_prekey" // uint32
	MetaNextKyberID    = "next_kyber"  // uint32
	MetaNextSignedID   = "next_signed" // uint32
)

// Meta returns the value stored under key, or ErrNotFound.
func (s *Store) Meta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("clientdb: meta %s: %w", key, err)
	}
	return v, nil
}

// SetMeta stores value under key.
func (s *Store) SetMeta(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("clientdb: set meta %s: %w", key, err)
	}
	return nil
}

// MetaUint32 returns a uint32 stored under key, or def when none is.
func (s *Store) MetaUint32(ctx context.Context, key string, def uint32) (uint32, error) {
	v, err := s.Meta(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return def, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 4 {
		return 0, fmt.Errorf("clientdb: meta %s: bad length", key)
	}
	return binary.BigEndian.Uint32(v), nil
}

// SetMetaUint32 stores a uint32 under key.
func (s *Store) SetMetaUint32(ctx context.Context, key string, v uint32) error {
	return s.SetMeta(ctx, key, binary.BigEndian.AppendUint32(nil, v))
}

// IdentityKeyPair implements session.IdentityStore.
func (s *Store) IdentityKeyPair(ctx context.Context) (curve.KeyPair, error) {
	raw, err := s.Meta(ctx, MetaIdentity)
	if err != nil {
		return curve.KeyPair{}, err
	}
	priv, err := curve.NewPrivateKey(raw)
	if err != nil {
		return curve.KeyPair{}, fmt.Errorf("clientdb: stored identity key is invalid")
	}
	return curve.KeyPair{Private: priv, Public: priv.PublicKey()}, nil
}

// LocalRegistrationID implements session.IdentityStore.
func (s *Store) LocalRegistrationID(ctx context.Context) (uint32, error) {
	v, err := s.Meta(ctx, MetaRegistrationID)
	if err != nil {
		return 0, err
	}
	if len(v) != 4 {
		return 0, fmt.Errorf("clientdb: registration id: bad length")
	}
	return binary.BigEndian.Uint32(v), nil
}

// SaveIdentity implements session.IdentityStore. Identities are kept per
// account (addr.Name), as Signal's clients do: all devices of an account
// share its identity key. A replaced identity is stamped with the time of the
// change, which ChangedIdentity reports until AcceptIdentity clears it.
func (s *Store) SaveIdentity(ctx context.Context, addr session.Address, identity curve.PublicKey) (bool, error) {
	old, ok, err := s.Identity(ctx, addr)
	if err != nil {
		return false, err
	}
	now := s.now().UnixMilli()
	switch {
	case !ok:
		_, err = s.q.ExecContext(ctx, `INSERT INTO identities (name, key, first_seen) VALUES (?, ?, ?)`,
			addr.Name, identity.Bytes(), now)
	case !old.Equal(identity):
		_, err = s.q.ExecContext(ctx, `UPDATE identities SET key = ?, changed_at = ? WHERE name = ?`,
			identity.Bytes(), now, addr.Name)
	default:
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("clientdb: save identity: %w", err)
	}
	return ok, nil
}

// IsTrustedIdentity implements session.IdentityStore. Incoming messages are
// always accepted (a change is recorded by SaveIdentity and shown to the
// user); for sending, the identity must match the stored one or be the
// first seen. The client replaces a changed identity explicitly, with a
// warning, before it sends.
func (s *Store) IsTrustedIdentity(ctx context.Context, addr session.Address, identity curve.PublicKey, sending bool) (bool, error) {
	if !sending {
		return true, nil
	}
	old, ok, err := s.Identity(ctx, addr)
	if err != nil {
		return false, err
	}
	return !ok || old.Equal(identity), nil
}

// Identity implements session.IdentityStore.
func (s *Store) Identity(ctx context.Context, addr session.Address) (curve.PublicKey, bool, error) {
	var b []byte
	err := s.q.QueryRowContext(ctx, `SELECT key FROM identities WHERE name = ?`, addr.Name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return curve.PublicKey{}, false, nil
	}
	if err != nil {
		return curve.PublicKey{}, false, fmt.Errorf("clientdb: identity: %w", err)
	}
	k, err := curve.DecodePublicKey(b)
	if err != nil {
		return curve.PublicKey{}, false, fmt.Errorf("clientdb: stored identity is invalid")
	}
	return k, true, nil
}

// ChangedIdentity reports when the identity of the account name last
// changed, or the zero time if it never did (or the change was accepted).
func (s *Store) ChangedIdentity(ctx context.Context, name string) (time.Time, error) {
	var at int64
	err := s.q.QueryRowContext(ctx, `SELECT changed_at FROM identities WHERE name = ?`, name).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && at == 0) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("clientdb: identity: %w", err)
	}
	return time.UnixMilli(at), nil
}

// AcceptIdentity clears the changed mark of the account name's identity.
func (s *Store) AcceptIdentity(ctx context.Context, name string) error {
	_, err := s.q.ExecContext(ctx, `UPDATE identities SET changed_at = 0 WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("clientdb: accept identity: %w", err)
	}
	return nil
}

// PreKey implements session.PreKeyStore.
func (s *Store) PreKey(ctx context.Context, id uint32) (*session.PreKeyRecord, error) {
	b, err := s.record(ctx, `SELECT record FROM prekeys WHERE id = ?`, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: prekey %d", session.ErrNoPreKey, id)
	}
	if err != nil {
		return nil, err
	}
	return session.UnmarshalPreKeyRecord(b)
}

// StorePreKey implements session.PreKeyStore.
func (s *Store) StorePreKey(ctx context.Context, rec *session.PreKeyRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	return s.exec(ctx, "store prekey", `INSERT OR REPLACE INTO prekeys (id, record) VALUES (?, ?)`, rec.ID, b)
}

// RemovePreKey implements session.PreKeyStore.
func (s *Store) RemovePreKey(ctx context.Context, id uint32) error {
	return s.exec(ctx, "remove prekey", `DELETE FROM prekeys WHERE id = ?`, id)
}

// SignedPreKey implements session.SignedPreKeyStore.
func (s *Store) SignedPreKey(ctx context.Context, id uint32) (*session.SignedPreKeyRecord, error) {
	b, err := s.record(ctx, `SELECT record FROM signed_prekeys WHERE id = ?`, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: signed prekey %d", session.ErrNoPreKey, id)
	}
	if err != nil {
		return nil, err
	}
	return session.UnmarshalSignedPreKeyRecord(b)
}

// StoreSignedPreKey implements session.SignedPreKeyStore.
func (s *Store) StoreSignedPreKey(ctx context.Context, rec *session.SignedPreKeyRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	return s.exec(ctx, "store signed prekey", `INSERT OR REPLACE INTO signed_prekeys (id, record) VALUES (?, ?)`, rec.ID, b)
}

// KyberPreKey implements session.KyberPreKeyStore.
func (s *Store) KyberPreKey(ctx context.Context, id uint32) (*session.KyberPreKeyRecord, error) {
	var b []byte
	var lastResort bool
	err := s.q.QueryRowContext(ctx, `SELECT record, last_resort FROM kyber_prekeys WHERE id = ?`, id).Scan(&b, &lastResort)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: kyber prekey %d", session.ErrNoPreKey, id)
	}
	if err != nil {
		return nil, fmt.Errorf("clientdb: kyber prekey: %w", err)
	}
	rec, err := session.UnmarshalKyberPreKeyRecord(b)
	if err != nil {
		return nil, err
	}
	rec.LastResort = lastResort
	return rec, nil
}

// StoreKyberPreKey implements session.KyberPreKeyStore.
func (s *Store) StoreKyberPreKey(ctx context.Context, rec *session.KyberPreKeyRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	return s.exec(ctx, "store kyber prekey", `INSERT OR REPLACE INTO kyber_prekeys (id, record, last_resort) VALUES (?, ?, ?)`,
		rec.ID, b, rec.LastResort)
}

// MarkKyberPreKeyUsed implements session.KyberPreKeyStore.
func (s *Store) MarkKyberPreKeyUsed(ctx context.Context, id, signedID uint32, baseKey curve.PublicKey) error {
	var lastResort bool
	err := s.q.QueryRowContext(ctx, `SELECT last_resort FROM kyber_prekeys WHERE id = ?`, id).Scan(&lastResort)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: kyber prekey %d", session.ErrNoPreKey, id)
	}
	if err != nil {
		return fmt.Errorf("clientdb: kyber prekey: %w", err)
	}
	if !lastResort {
		return s.exec(ctx, "remove kyber prekey", `DELETE FROM kyber_prekeys WHERE id = ?`, id)
	}
	res, err := s.q.ExecContext(ctx, `INSERT OR IGNORE INTO kyber_used (kyber_id, signed_id, base_key) VALUES (?, ?, ?)`,
		id, signedID, baseKey.Bytes())
	if err != nil {
		return fmt.Errorf("clientdb: mark kyber prekey used: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: kyber prekey %d", session.ErrReusedBaseKey, id)
	}
	return nil
}

// CountKyberOneTime returns how many one-time Kyber prekeys are stored.
func (s *Store) CountKyberOneTime(ctx context.Context) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM kyber_prekeys WHERE last_resort = 0`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("clientdb: count: %w", err)
	}
	return n, nil
}

// LoadSession implements session.SessionStore.
func (s *Store) LoadSession(ctx context.Context, addr session.Address) (*session.SessionRecord, error) {
	b, err := s.record(ctx, `SELECT record FROM sessions WHERE name = ? AND device = ?`, addr.Name, addr.DeviceID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return session.UnmarshalSessionRecord(b)
}

// StoreSession implements session.SessionStore.
func (s *Store) StoreSession(ctx context.Context, addr session.Address, rec *session.SessionRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	return s.exec(ctx, "store session", `INSERT OR REPLACE INTO sessions (name, device, record) VALUES (?, ?, ?)`,
		addr.Name, addr.DeviceID, b)
}

// SessionDevices returns the device ids we hold sessions with for the
// account name.
func (s *Store) SessionDevices(ctx context.Context, name string) ([]uint32, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT device FROM sessions WHERE name = ? ORDER BY device`, name)
	if err != nil {
		return nil, fmt.Errorf("clientdb: sessions: %w", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var d uint32
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("clientdb: sessions: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// LoadSenderKey implements senderkey.Store.
func (s *Store) LoadSenderKey(ctx context.Context, sender senderkey.SenderAddress, distributionID [16]byte) (*senderkey.Record, error) {
	b, err := s.record(ctx, `SELECT record FROM sender_keys WHERE name = ? AND device = ? AND distribution = ?`,
		sender.Name, sender.DeviceID, distributionID[:])
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return senderkey.ParseRecord(b)
}

// StoreSenderKey implements senderkey.Store.
func (s *Store) StoreSenderKey(ctx context.Context, sender senderkey.SenderAddress, distributionID [16]byte, r *senderkey.Record) error {
	b, err := r.Bytes()
	if err != nil {
		return err
	}
	return s.exec(ctx, "store sender key", `INSERT OR REPLACE INTO sender_keys (name, device, distribution, record) VALUES (?, ?, ?, ?)`,
		sender.Name, sender.DeviceID, distributionID[:], b)
}

func (s *Store) record(ctx context.Context, query string, args ...any) ([]byte, error) {
	var b []byte
	err := s.q.QueryRowContext(ctx, query, args...).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("clientdb: read: %w", err)
	}
	return b, nil
}

func (s *Store) exec(ctx context.Context, what, query string, args ...any) error {
	if _, err := s.q.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("clientdb: %s: %w", what, err)
	}
	return nil
}
