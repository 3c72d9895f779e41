package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"samizdat/client/clientdb"
	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/relay/regwork"
	"samizdat/relay/wire"
	"samizdat/session"
	"samizdat/session/curve"
)

// Init creates a new identity in cfg.Home, registers username with the
// relay the invite names, and returns the ready Client. The keys are
// written before registering, so nothing is lost if registration fails (run
// Init again: it reuses them).
func Init(ctx context.Context, cfg Config, inv manifest.Invite, username string) (*Client, error) {
	cfg = cfg.withDefaults()
	m, db, err := openInvitedHome(ctx, cfg, inv)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			db.Close()
		}
	}()
	st := db.Store()
	keys, err := newDeviceKeys(ctx, cfg, db, nil)
	if err != nil {
		return nil, err
	}
	// Until the relay places it, the device dials where the invite says.
	at := inviteWhere(m, keys.noise.Public)
	name, err := cfg.sealName(keys.identity.Private, cfg.DeviceName)
	if err != nil {
		return nil, err
	}
	if err := st.SetMeta(ctx, metaNetworkKey, inv.NetworkKey); err != nil {
		return nil, err
	}
	if err := st.SetMeta(ctx, metaManifest, inv.Manifest); err != nil {
		return nil, err
	}
	ak, err := st.Meta(ctx, clientdb.MetaAccessKey)
	if err != nil {
		return nil, err
	}

	held := m // the manifest stored
	nc, err := dial(ctx, cfg, nil, m, keys.noise, at)
	if errors.Is(err, ErrUnreachable) {
		// The invite's endpoints may be blocked already: ask its channels.
		if newer, blob := fetchNewer(ctx, cfg, inv.NetworkKey, inv.Manifest, m, at); newer != nil {
			if err := st.SetMeta(ctx, metaManifest, blob); err != nil {
				return nil, err
			}
			held = newer
			nc, err = dial(ctx, cfg, nil, newer, keys.noise, at)
		}
	}
	if err != nil {
		return nil, err
	}
	rc := newRelayConn(nc, cfg.Clock, cfg.liveness().Monitor(nil, cfg.Now), nil) // one request: no keepalive
	defer rc.Close()
	resp, err := register(ctx, cfg, rc, nc.RemoteStatic(), keys.noise.Public, &wire.Register{
		DeviceName:            name,
		Username:              username,
		IdentityKey:           keys.identity.Public.Bytes(),
		RegistrationId:        keys.regID,
		NoiseStaticKey:        keys.noise.Public[:],
		SignedPreKey:          keys.upload.SignedPreKey,
		LastResortKyberPreKey: keys.upload.LastResortKyberPreKey,
		PreKeys:               keys.upload.PreKeys,
		KyberPreKeys:          keys.upload.KyberPreKeys,
		UnidentifiedAccessKey: ak,
		Inviter:               inv.Inviter,
	})
	if err != nil {
		return nil, err
	}
	reg := resp.GetRegistered()
	if reg == nil || len(reg.AccountId) != 16 {
		return nil, fmt.Errorf("client: relay answered register without an account")
	}
	if err := db.Tx(ctx, func(s *clientdb.Store) error {
		if err := storeSlot(ctx, s, reg.Slot); err != nil {
			return err
		}
		// A manifest fetched for the cohort dialed, when the relay placed
		// the device in another, would hide its own cohort's (of the
		// same serial): keep the invite's, which channels replace.
		if reg.Slot != 0 && held != m && forAnotherCohort(held, manifest.Slot(reg.Slot)) {
			if err := s.SetMeta(ctx, metaManifest, inv.Manifest); err != nil {
				return err
			}
		}
		if err := s.SetMeta(ctx, clientdb.MetaUsername, []byte(username)); err != nil {
			return err
		}
		if err := s.SetMetaUint32(ctx, clientdb.MetaDeviceID, reg.DeviceId); err != nil {
			return err
		}
		return s.SetMeta(ctx, clientdb.MetaAccountID, reg.AccountId)
	}); err != nil {
		return nil, err
	}
	c, err := load(ctx, cfg, db)
	if err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// maxWorkTries bounds how often register does the work the relay asks
// for: the work asked grows while it is being done when many register.
const maxWorkTries = 3

// register sends req on rc; when the relay asks for a proof of work (it
// does for a registration through a shared proxy such as a CDN, see
// relay/regwork), it does the work, bound to the relay's key and the
// device's, and sends req again with it. It pings meanwhile, so the relay
// does not drop the channel as idle.
func register(ctx context.Context, cfg Config, rc *relayConn, relayKey, deviceKey [32]byte, req *wire.Register) (*wire.Response, error) {
	for try := 0; ; try++ {
		rctx, cancel := cfg.Clock.WithTimeout(ctx, cfg.RequestTimeout)
		resp, err := rc.call(rctx, "register", &wire.Request{Op: &wire.Request_Register{Register: req}})
		cancel()
		if err == nil || resp == nil || resp.Status != wire.Status_UNAUTHORIZED || resp.WorkBits == 0 || try == maxWorkTries {
			return resp, err
		}
		work, err := solveWork(ctx, cfg, rc, relayKey, deviceKey, int(resp.WorkBits))
		if err != nil {
			return nil, fmt.Errorf("client: register: %w", err)
		}
		req.Work = work
	}
}

// solveWork finds a proof of work of bits, pinging the relay every
// workPing meanwhile.
func solveWork(ctx context.Context, cfg Config, rc *relayConn, relayKey, deviceKey [32]byte, bits int) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() {
		t := cfg.Clock.NewTicker(workPing)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
			pctx, stop := cfg.Clock.WithTimeout(ctx, cfg.RequestTimeout)
			rc.call(pctx, "ping", &wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}})
			stop()
		}
	})
	return regwork.Solve(ctx, relayKey, deviceKey, bits)
}

// workPing is how often solveWork pings: well within the relay's read
// timeout.
const workPing = 15 * time.Second

// inviteWhere is where a device whose Noise key is noiseKey dials with the
// invite's manifest m before the relay places it: the cohort the invite
// places it in (a personal invite), else the one its key hashes to (any
// cohort's endpoints reach the relay, which places it afterwards).
func inviteWhere(m *manifest.Manifest, noiseKey [32]byte) where {
	at := where{invite: inviteCohort(m)}
	if at.invite == 0 {
		at.invite = m.CohortOf(manifest.KeySlot(noiseKey[:]))
	}
	return at
}

// inviteCohort returns the cohort whose endpoints an invite's manifest m
// lists, when it lists those of exactly one cohort (a personal invite: the
// manifest of the inviter's cohort, which the relay places the invitee
// in), else 0.
func inviteCohort(m *manifest.Manifest) uint32 {
	var c uint32
	for _, r := range m.Relays {
		for _, e := range r.Endpoints {
			switch {
			case e.Cohort == 0 || e.Cohort == c:
			case c == 0:
				c = e.Cohort
			default:
				return 0
			}
		}
	}
	return c
}

// deviceKeys is what a new device generates.
type deviceKeys struct {
	identity curve.KeyPair
	regID    uint32
	noise    noisechan.KeyPair
	upload   *wire.UploadPreKeys
}

// newDeviceKeys creates (or, when db already has them from an earlier
// failed attempt, reloads) a device's keys: identity (given, or new), a
// registration id, a Noise key, an access key, a signed prekey, a last
// resort Kyber prekey and one batch of one-time prekeys. The Noise key is
// drawn once: it has no say in the device's cohort, which the relay
// assigns (manifest.Slot).
func newDeviceKeys(ctx context.Context, cfg Config, db *clientdb.DB, identity *curve.KeyPair) (*deviceKeys, error) {
	st := db.Store()
	k := &deviceKeys{}
	if raw, err := st.Meta(ctx, clientdb.MetaNoisePrivate); err == nil && len(raw) == 64 {
		// An earlier attempt made the keys; reuse them.
		copy(k.noise.Private[:], raw[:32])
		copy(k.noise.Public[:], raw[32:])
		if k.identity, err = st.IdentityKeyPair(ctx); err != nil {
			return nil, err
		}
		if k.regID, err = st.LocalRegistrationID(ctx); err != nil {
			return nil, err
		}
		if k.upload, err = currentUpload(ctx, st); err != nil {
			return nil, err
		}
		return k, nil
	}
	var err error
	if identity != nil {
		k.identity = *identity
	} else if k.identity, err = curve.GenerateKeyPair(cfg.Rand); err != nil {
		return nil, err
	}
	var b [2]byte
	if _, err := cfg.Rand.Read(b[:]); err != nil {
		return nil, err
	}
	k.regID = uint32(binary.BigEndian.Uint16(b[:])&0x3fff) | 1
	if k.noise, err = noisechan.GenerateKeyPair(cfg.Rand); err != nil {
		return nil, err
	}
	ak := make([]byte, 16)
	if _, err := cfg.Rand.Read(ak); err != nil {
		return nil, err
	}
	now := cfg.Now()
	signed, err := session.GenerateSignedPreKey(k.identity, 1, now, cfg.Rand)
	if err != nil {
		return nil, err
	}
	lastResort, err := session.GenerateKyberPreKey(k.identity, 1, true, now, cfg.Rand)
	if err != nil {
		return nil, err
	}
	err = db.Tx(ctx, func(s *clientdb.Store) error {
		if err := s.SetMeta(ctx, clientdb.MetaIdentity, k.identity.Private.Bytes()); err != nil {
			return err
		}
		if err := s.SetMetaUint32(ctx, clientdb.MetaRegistrationID, k.regID); err != nil {
			return err
		}
		if err := s.SetMeta(ctx, clientdb.MetaNoisePrivate, append(k.noise.Private[:], k.noise.Public[:]...)); err != nil {
			return err
		}
		if err := s.SetMeta(ctx, clientdb.MetaAccessKey, ak); err != nil {
			return err
		}
		if err := s.StoreSignedPreKey(ctx, signed); err != nil {
			return err
		}
		if err := s.SetMetaUint32(ctx, clientdb.MetaNextSignedID, 2); err != nil {
			return err
		}
		if err := s.StoreKyberPreKey(ctx, lastResort); err != nil {
			return err
		}
		if err := s.SetMetaUint32(ctx, metaLastResortID, 1); err != nil {
			return err
		}
		if err := s.SetMetaUint32(ctx, clientdb.MetaNextKyberID, 2); err != nil {
			return err
		}
		return s.SetMetaUint32(ctx, clientdb.MetaNextPreKeyID, 1)
	})
	if err != nil {
		return nil, err
	}
	up, err := generateBatch(ctx, cfg, db, k.identity, cfg.PreKeyBatch, cfg.PreKeyBatch)
	if err != nil {
		return nil, err
	}
	up.SignedPreKey = &wire.SignedPreKey{Id: signed.ID, PublicKey: signed.KeyPair.Public.Bytes(), Signature: signed.Signature}
	up.LastResortKyberPreKey = &wire.KyberPreKey{Id: lastResort.ID, PublicKey: lastResort.KeyPair.Public.Bytes(), Signature: lastResort.Signature}
	k.upload = up
	return k, nil
}

const metaLastResortID = "last_resort_kyber"

// currentUpload rebuilds the registration upload from the stored keys.
func currentUpload(ctx context.Context, st *clientdb.Store) (*wire.UploadPreKeys, error) {
	up := &wire.UploadPreKeys{}
	signed, err := st.SignedPreKey(ctx, 1)
	if err != nil {
		return nil, err
	}
	up.SignedPreKey = &wire.SignedPreKey{Id: signed.ID, PublicKey: signed.KeyPair.Public.Bytes(), Signature: signed.Signature}
	lr, err := st.KyberPreKey(ctx, 1)
	if err != nil {
		return nil, err
	}
	up.LastResortKyberPreKey = &wire.KyberPreKey{Id: lr.ID, PublicKey: lr.KeyPair.Public.Bytes(), Signature: lr.Signature}
	next, err := st.MetaUint32(ctx, clientdb.MetaNextPreKeyID, 1)
	if err != nil {
		return nil, err
	}
	for id := uint32(1); id < next; id++ {
		if r, err := st.PreKey(ctx, id); err == nil {
			up.PreKeys = append(up.PreKeys, &wire.OneTimePreKey{Id: r.ID, PublicKey: r.KeyPair.Public.Bytes()})
		}
	}
	nextK, err := st.MetaUint32(ctx, clientdb.MetaNextKyberID, 2)
	if err != nil {
		return nil, err
	}
	for id := uint32(2); id < nextK; id++ {
		if r, err := st.KyberPreKey(ctx, id); err == nil && !r.LastResort {
			up.KyberPreKeys = append(up.KyberPreKeys, &wire.KyberPreKey{Id: r.ID, PublicKey: r.KeyPair.Public.Bytes(), Signature: r.Signature})
		}
	}
	return up, nil
}

// generateBatch makes ec one-time EC prekeys and kyber one-time Kyber
// prekeys with the next free ids, stores them and returns the upload.
func generateBatch(ctx context.Context, cfg Config, db *clientdb.DB, identity curve.KeyPair, ec, kyber int) (*wire.UploadPreKeys, error) {
	up := &wire.UploadPreKeys{}
	err := db.Tx(ctx, func(s *clientdb.Store) error {
		next, err := s.MetaUint32(ctx, clientdb.MetaNextPreKeyID, 1)
		if err != nil {
			return err
		}
		if next == 0 || next > 0xfff000 {
			next = 1
		}
		pks, err := session.GeneratePreKeys(next, uint32(ec), cfg.Rand)
		if err != nil {
			return err
		}
		for _, pk := range pks {
			if err := s.StorePreKey(ctx, pk); err != nil {
				return err
			}
			up.PreKeys = append(up.PreKeys, &wire.OneTimePreKey{Id: pk.ID, PublicKey: pk.KeyPair.Public.Bytes()})
		}
		if err := s.SetMetaUint32(ctx, clientdb.MetaNextPreKeyID, next+uint32(ec)); err != nil {
			return err
		}
		nextK, err := s.MetaUint32(ctx, clientdb.MetaNextKyberID, 2)
		if err != nil {
			return err
		}
		if nextK < 2 || nextK > 0xfff000 {
			nextK = 2
		}
		now := cfg.Now()
		for i := range kyber {
			k, err := session.GenerateKyberPreKey(identity, nextK+uint32(i), false, now, cfg.Rand)
			if err != nil {
				return err
			}
			if err := s.StoreKyberPreKey(ctx, k); err != nil {
				return err
			}
			up.KyberPreKeys = append(up.KyberPreKeys, &wire.KyberPreKey{Id: k.ID, PublicKey: k.KeyPair.Public.Bytes(), Signature: k.Signature})
		}
		return s.SetMetaUint32(ctx, clientdb.MetaNextKyberID, nextK+uint32(kyber))
	})
	if err != nil {
		return nil, err
	}
	return up, nil
}

// PreKeyCount asks the relay how many one-time prekeys it holds for this
// device.
func (c *Client) PreKeyCount(ctx context.Context) (ec, kyber int, err error) {
	resp, err := c.call(ctx, "prekey count", &wire.Request{Op: &wire.Request_PreKeyCount{PreKeyCount: &wire.PreKeyCountRequest{}}})
	if err != nil {
		return 0, 0, err
	}
	n := resp.GetPreKeyCount()
	return int(n.GetEc()), int(n.GetKyber()), nil
}

// ReplenishPreKeys uploads a new batch of one-time prekeys of each kind
// the relay holds fewer than PreKeyLowWater of. It reports how many keys
// of each kind it uploaded.
func (c *Client) ReplenishPreKeys(ctx context.Context) (ec, kyber int, err error) {
	if c.cfg.PreKeyLowWater < 0 {
		return 0, 0, nil
	}
	haveEC, haveKyber, err := c.PreKeyCount(ctx)
	if err != nil {
		return 0, 0, err
	}
	if haveEC < c.cfg.PreKeyLowWater {
		ec = c.cfg.PreKeyBatch
	}
	if haveKyber < c.cfg.PreKeyLowWater {
		kyber = c.cfg.PreKeyBatch
	}
	if ec == 0 && kyber == 0 {
		return 0, 0, nil
	}
	identity, err := c.db.Store().IdentityKeyPair(ctx)
	if err != nil {
		return 0, 0, err
	}
	up, err := generateBatch(ctx, c.cfg, c.db, identity, ec, kyber)
	if err != nil {
		return 0, 0, err
	}
	if _, err := c.call(ctx, "prekey upload", &wire.Request{Op: &wire.Request_UploadPreKeys{UploadPreKeys: up}}); err != nil {
		return 0, 0, err
	}
	c.cfg.Logger.Debug("uploaded prekeys", "ec", ec, "kyber", kyber)
	return ec, kyber, nil
}

// openInvitedHome checks the invite's manifest and opens cfg.Home as
// openNewHome does.
func openInvitedHome(ctx context.Context, cfg Config, inv manifest.Invite) (*manifest.Manifest, *clientdb.DB, error) {
	m, err := manifest.Verify(inv.Manifest, inv.NetworkKey, cfg.Now())
	if err != nil {
		return nil, nil, fmt.Errorf("client: invite: %w", err)
	}
	db, err := openNewHome(ctx, cfg)
	return m, db, err
}

// openNewHome creates cfg.Home if needed and opens its database,
// refusing a home that already belongs to a registered device. The caller
// closes it.
func openNewHome(ctx context.Context, cfg Config) (*clientdb.DB, error) {
	home := cfg.Home
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	db, err := clientdb.Open(ctx, dbPath(home), clientdb.Options{Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	if _, err := db.Store().Meta(ctx, clientdb.MetaAccountID); err == nil {
		db.Close()
		return nil, ErrAlreadyInitialized
	}
	return db, nil
}

// metaSlot is the meta key of the device's cohort slot (manifest.Slot,
// 8 bytes big-endian), as the relay assigned it at registration.
const metaSlot = "cohort_slot"

// storeSlot records the slot the relay assigned (0: none, from a relay
// that assigns none; then the device's key decides, see loadSlot).
func storeSlot(ctx context.Context, s *clientdb.Store, slot uint64) error {
	if slot == 0 {
		return nil
	}
	return s.SetMeta(ctx, metaSlot, binary.BigEndian.AppendUint64(nil, slot))
}

// loadSlot returns the device's cohort slot: the one the relay assigned,
// or for a device registered before relays assigned slots the keyless
// hash of its Noise key, which is the slot the relay falls back on for it
// (relay.DeviceSlot).
func loadSlot(ctx context.Context, st *clientdb.Store, noiseKey [32]byte) (manifest.Slot, error) {
	b, err := st.Meta(ctx, metaSlot)
	switch {
	case errors.Is(err, clientdb.ErrNotFound):
		return manifest.KeySlot(noiseKey[:]), nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, fmt.Errorf("client: stored cohort slot is malformed")
	}
	return manifest.Slot(binary.BigEndian.Uint64(b)), nil
}
