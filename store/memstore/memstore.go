// Package memstore is an in-memory relay.Store for tests. It keeps
// everything in maps behind one mutex, so it is simple rather than fast, and
// nothing survives Close. It passes the same conformance suite
// (samizdat/store/storetest) as the durable stores.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"samizdat/relay"
	"samizdat/store/internal/bucket"
)

// Defaults for the zero Options.
const (
	DefaultMaxMessages = relay.DefaultMaxMessages
	DefaultMaxBytes    = relay.DefaultMaxBytes
	DefaultRetention   = relay.DefaultRetention
)

// Options configures a Store. The zero value uses the defaults above.
type Options struct {
	MaxMessages int           // per-device mailbox quota, envelopes
	MaxBytes    int64         // per-device mailbox quota, bytes of Content
	Retention   time.Duration // how long envelopes are kept
	Now         func() time.Time
}

type devKey struct {
	acct relay.AccountID
	dev  uint32
}

type device struct {
	relay.Device
	signed     *relay.SignedPreKey
	lastResort *relay.SignedPreKey
	ec         map[uint32]relay.OneTimePreKey
	kyber      map[uint32]relay.SignedPreKey
}

type mailbox struct {
	envs  []relay.Envelope    // in Seq order
	seqs  map[[16]byte]uint64 // Seq by envelope id
	bytes int64
}

// Store is an in-memory relay.Store.
type Store struct {
	opts  Options
	rates *bucket.Table

	mu        sync.Mutex
	closed    bool                              // guarded by mu
	accounts  map[relay.AccountID]relay.Account // guarded by mu
	byName    map[string]relay.AccountID        // guarded by mu
	devices   map[devKey]*device                // guarded by mu
	byNoise   map[[32]byte]devKey               // guarded by mu
	removed   map[[32]byte]bool                 // noise keys of removed devices; guarded by mu
	topID     map[relay.AccountID]uint32        // highest device id each account has had; guarded by mu
	gone      map[devKey]bool                   // ids of removed devices; guarded by mu
	mailboxes map[devKey]*mailbox               // guarded by mu
	seq       uint64                            // last Seq assigned; guarded by mu
	channels  map[relay.ChannelID]*channel      // guarded by mu

	blobTable // attachments, under their own lock
}

// channel is a broadcast channel and its log.
type channel struct {
	relay.Channel
	posts []relay.ChannelPost // posts[i].Seq == i+1
	byID  map[[16]byte]int    // index in posts by post id
}

var _ relay.Store = (*Store)(nil)

// New returns an empty store.
func New(opts Options) *Store {
	if opts.MaxMessages <= 0 {
		opts.MaxMessages = DefaultMaxMessages
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{
		opts:      opts,
		rates:     bucket.NewTable(),
		accounts:  make(map[relay.AccountID]relay.Account),
		byName:    make(map[string]relay.AccountID),
		devices:   make(map[devKey]*device),
		byNoise:   make(map[[32]byte]devKey),
		removed:   make(map[[32]byte]bool),
		topID:     make(map[relay.AccountID]uint32),
		gone:      make(map[devKey]bool),
		mailboxes: make(map[devKey]*mailbox),
		channels:  make(map[relay.ChannelID]*channel),
	}
}

// Close marks the store closed; later calls fail. It is safe to call twice.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

var errClosed = fmt.Errorf("memstore: closed")

// lock takes the mutex and checks that the store is open and ctx alive.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

func cloneAccount(a relay.Account) relay.Account {
	a.IdentityKey = clone(a.IdentityKey)
	a.UnidentifiedAccessKey = clone(a.UnidentifiedAccessKey)
	return a
}

func cloneSigned(k relay.SignedPreKey) relay.SignedPreKey {
	k.PublicKey = clone(k.PublicKey)
	k.Signature = clone(k.Signature)
	return k
}

// CreateAccount implements relay.Accounts.
func (s *Store) CreateAccount(ctx context.Context, a relay.Account, d relay.Device) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.accounts[a.ID]; ok {
		return fmt.Errorf("memstore: account id: %w", relay.ErrConflict)
	}
	if _, ok := s.byName[a.Username]; ok {
		return fmt.Errorf("memstore: username: %w", relay.ErrConflict)
	}
	if s.keyTaken(d.NoiseKey) {
		return fmt.Errorf("memstore: noise key: %w", relay.ErrConflict)
	}
	d.Account = a.ID
	s.accounts[a.ID] = cloneAccount(a)
	s.byName[a.Username] = a.ID
	k := devKey{a.ID, d.ID}
	s.devices[k] = newDevice(d)
	s.byNoise[d.NoiseKey] = k
	s.topID[a.ID] = d.ID
	return nil
}

// keyTaken reports whether a device has, or a removed device had, the
// noise key.
func (s *Store) keyTaken(key [32]byte) bool {
	_, ok := s.byNoise[key]
	return ok || s.removed[key]
}

func cloneDevice(d relay.Device) relay.Device {
	d.Name = clone(d.Name)
	return d
}

func newDevice(d relay.Device) *device {
	d = cloneDevice(d)
	return &device{Device: d, ec: make(map[uint32]relay.OneTimePreKey), kyber: make(map[uint32]relay.SignedPreKey)}
}

// AddDevice implements relay.Accounts.
func (s *Store) AddDevice(ctx context.Context, d relay.Device) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.accounts[d.Account]; !ok {
		return fmt.Errorf("memstore: account: %w", relay.ErrNotFound)
	}
	k := devKey{d.Account, d.ID}
	if _, ok := s.devices[k]; ok || s.gone[k] {
		return fmt.Errorf("memstore: device id: %w", relay.ErrConflict)
	}
	if s.keyTaken(d.NoiseKey) {
		return fmt.Errorf("memstore: noise key: %w", relay.ErrConflict)
	}
	s.devices[k] = newDevice(d)
	s.byNoise[d.NoiseKey] = k
	s.topID[d.Account] = max(s.topID[d.Account], d.ID)
	return nil
}

// NextDeviceID implements relay.Accounts.
func (s *Store) NextDeviceID(ctx context.Context, id relay.AccountID) (uint32, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if _, ok := s.accounts[id]; !ok {
		return 0, fmt.Errorf("memstore: account: %w", relay.ErrNotFound)
	}
	return s.topID[id] + 1, nil
}

// AccountByID implements relay.Accounts.
func (s *Store) AccountByID(ctx context.Context, id relay.AccountID) (relay.Account, error) {
	if err := s.lock(ctx); err != nil {
		return relay.Account{}, err
	}
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return relay.Account{}, fmt.Errorf("memstore: account: %w", relay.ErrNotFound)
	}
	return cloneAccount(a), nil
}

// AccountByUsername implements relay.Accounts.
func (s *Store) AccountByUsername(ctx context.Context, name string) (relay.Account, error) {
	if err := s.lock(ctx); err != nil {
		return relay.Account{}, err
	}
	defer s.mu.Unlock()
	id, ok := s.byName[name]
	if !ok {
		return relay.Account{}, fmt.Errorf("memstore: username: %w", relay.ErrNotFound)
	}
	return cloneAccount(s.accounts[id]), nil
}

// DeviceByNoiseKey implements relay.Accounts.
func (s *Store) DeviceByNoiseKey(ctx context.Context, key [32]byte) (relay.Device, error) {
	if err := s.lock(ctx); err != nil {
		return relay.Device{}, err
	}
	defer s.mu.Unlock()
	k, ok := s.byNoise[key]
	if !ok {
		if s.removed[key] {
			return relay.Device{}, fmt.Errorf("memstore: device: %w", relay.ErrDeviceRemoved)
		}
		return relay.Device{}, fmt.Errorf("memstore: device: %w", relay.ErrNotFound)
	}
	return cloneDevice(s.devices[k].Device), nil
}

// RemoveDevice implements relay.Accounts.
func (s *Store) RemoveDevice(ctx context.Context, acct relay.AccountID, dev uint32) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	k := devKey{acct, dev}
	d, err := s.device(acct, dev)
	if err != nil {
		return err
	}
	delete(s.devices, k)
	delete(s.byNoise, d.NoiseKey)
	delete(s.mailboxes, k)
	s.removed[d.NoiseKey] = true
	s.gone[k] = true
	return nil
}

// SetLastSeen implements relay.Accounts.
func (s *Store) SetLastSeen(ctx context.Context, acct relay.AccountID, dev uint32, at time.Time) error {
	return s.update(ctx, acct, dev, func(d *device) { d.LastSeen = at })
}

// Devices implements relay.Accounts.
func (s *Store) Devices(ctx context.Context, id relay.AccountID) ([]relay.Device, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if _, ok := s.accounts[id]; !ok {
		return nil, fmt.Errorf("memstore: account: %w", relay.ErrNotFound)
	}
	var ds []relay.Device
	for k, d := range s.devices {
		if k.acct == id {
			ds = append(ds, cloneDevice(d.Device))
		}
	}
	slices.SortFunc(ds, func(a, b relay.Device) int { return cmp.Compare(a.ID, b.ID) })
	return ds, nil
}

func (s *Store) device(acct relay.AccountID, dev uint32) (*device, error) {
	d, ok := s.devices[devKey{acct, dev}]
	if !ok {
		return nil, fmt.Errorf("memstore: device: %w", relay.ErrNotFound)
	}
	return d, nil
}

// update runs f on the device under the lock, or returns ErrNotFound.
func (s *Store) update(ctx context.Context, acct relay.AccountID, dev uint32, f func(*device)) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d, err := s.device(acct, dev)
	if err != nil {
		return err
	}
	f(d)
	return nil
}

// SetSignedPreKey implements relay.PreKeys.
func (s *Store) SetSignedPreKey(ctx context.Context, acct relay.AccountID, dev uint32, k relay.SignedPreKey) error {
	k = cloneSigned(k)
	return s.update(ctx, acct, dev, func(d *device) { d.signed = &k })
}

// SetLastResortKyberPreKey implements relay.PreKeys.
func (s *Store) SetLastResortKyberPreKey(ctx context.Context, acct relay.AccountID, dev uint32, k relay.SignedPreKey) error {
	k = cloneSigned(k)
	return s.update(ctx, acct, dev, func(d *device) { d.lastResort = &k })
}

// AddPreKeys implements relay.PreKeys.
func (s *Store) AddPreKeys(ctx context.Context, acct relay.AccountID, dev uint32, ec []relay.OneTimePreKey, kyber []relay.SignedPreKey) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d, err := s.device(acct, dev)
	if err != nil {
		return err
	}
	for _, k := range ec {
		k.PublicKey = clone(k.PublicKey)
		d.ec[k.ID] = k
	}
	for _, k := range kyber {
		d.kyber[k.ID] = cloneSigned(k)
	}
	return nil
}

// CountPreKeys implements relay.PreKeys.
func (s *Store) CountPreKeys(ctx context.Context, acct relay.AccountID, dev uint32) (int, int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, 0, err
	}
	defer s.mu.Unlock()
	d, err := s.device(acct, dev)
	if err != nil {
		return 0, 0, err
	}
	return len(d.ec), len(d.kyber), nil
}

func minKey[V any](m map[uint32]V) (uint32, bool) {
	var lo uint32
	found := false
	for id := range m {
		if !found || id < lo {
			lo, found = id, true
		}
	}
	return lo, found
}

// TakeBundle implements relay.PreKeys.
func (s *Store) TakeBundle(ctx context.Context, acct relay.AccountID, dev uint32) (relay.Bundle, error) {
	if err := s.lock(ctx); err != nil {
		return relay.Bundle{}, err
	}
	defer s.mu.Unlock()
	d, err := s.device(acct, dev)
	if err != nil {
		return relay.Bundle{}, err
	}
	if d.signed == nil {
		return relay.Bundle{}, fmt.Errorf("memstore: signed prekey: %w", relay.ErrNotFound)
	}
	b := relay.Bundle{
		Device:       cloneDevice(d.Device),
		Identity:     clone(s.accounts[acct].IdentityKey),
		SignedPreKey: cloneSigned(*d.signed),
	}
	if id, ok := minKey(d.kyber); ok {
		b.KyberPreKey = d.kyber[id] // already a private copy; removed below
		delete(d.kyber, id)
	} else if d.lastResort != nil {
		b.KyberPreKey = cloneSigned(*d.lastResort)
	} else {
		return relay.Bundle{}, fmt.Errorf("memstore: kyber prekey: %w", relay.ErrNotFound)
	}
	if id, ok := minKey(d.ec); ok {
		k := d.ec[id]
		b.PreKey = &k
		delete(d.ec, id)
	}
	return b, nil
}

// Append implements relay.Mailboxes.
func (s *Store) Append(ctx context.Context, envs []relay.Envelope) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	// First pass: find duplicates and check quotas, storing nothing.
	type usage struct {
		n     int
		bytes int64
	}
	add := make(map[devKey]*usage)
	type idKey struct {
		devKey
		id [16]byte
	}
	seen := make(map[idKey]bool)
	dup := make([]uint64, len(envs)) // Seq of the stored copy, or 0
	for i, e := range envs {
		k := devKey{e.Account, e.Device}
		if seen[idKey{k, e.ID}] {
			continue
		}
		seen[idKey{k, e.ID}] = true
		if mb := s.mailboxes[k]; mb != nil {
			if seq, ok := mb.seqs[e.ID]; ok {
				dup[i] = seq
				continue
			}
		}
		u := add[k]
		if u == nil {
			u = &usage{}
			add[k] = u
		}
		u.n++
		u.bytes += int64(len(e.Content))
	}
	for k, u := range add {
		var n int
		var b int64
		if mb := s.mailboxes[k]; mb != nil {
			n, b = len(mb.envs), mb.bytes
		}
		if n+u.n > s.opts.MaxMessages || b+u.bytes > s.opts.MaxBytes {
			return fmt.Errorf("memstore: append: %w", relay.ErrQuotaExceeded)
		}
	}
	// Second pass: store.
	for i := range envs {
		e := &envs[i]
		if e.ServerTime.IsZero() {
			e.ServerTime = now
		}
		if dup[i] != 0 {
			e.Seq = dup[i]
			continue
		}
		k := devKey{e.Account, e.Device}
		mb := s.mailboxes[k]
		if mb == nil {
			mb = &mailbox{seqs: make(map[[16]byte]uint64)}
			s.mailboxes[k] = mb
		}
		if seq, ok := mb.seqs[e.ID]; ok {
			e.Seq = seq // duplicate within this call
			continue
		}
		s.seq++
		e.Seq = s.seq
		mb.seqs[e.ID] = e.Seq
		c := *e
		c.Content = clone(c.Content)
		mb.envs = append(mb.envs, c)
		mb.bytes += int64(len(c.Content))
	}
	return nil
}

// Fetch implements relay.Mailboxes.
func (s *Store) Fetch(ctx context.Context, acct relay.AccountID, dev uint32, after uint64, limit int) ([]relay.Envelope, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []relay.Envelope{}
	mb := s.mailboxes[devKey{acct, dev}]
	if mb == nil || limit <= 0 {
		return out, nil
	}
	cutoff := s.opts.Now().Add(-s.opts.Retention)
	i, _ := slices.BinarySearchFunc(mb.envs, after+1, func(e relay.Envelope, seq uint64) int { return cmp.Compare(e.Seq, seq) })
	for ; i < len(mb.envs) && len(out) < limit; i++ {
		e := mb.envs[i]
		if e.ServerTime.Before(cutoff) {
			continue
		}
		e.Content = clone(e.Content)
		out = append(out, e)
	}
	return out, nil
}

// Ack implements relay.Mailboxes.
func (s *Store) Ack(ctx context.Context, acct relay.AccountID, dev uint32, ids [][16]byte) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	mb := s.mailboxes[devKey{acct, dev}]
	if mb == nil {
		return nil
	}
	drop := make(map[[16]byte]bool, len(ids))
	for _, id := range ids {
		drop[id] = true
	}
	mb.envs = slices.DeleteFunc(mb.envs, func(e relay.Envelope) bool {
		if drop[e.ID] {
			mb.bytes -= int64(len(e.Content))
			delete(mb.seqs, e.ID)
			return true
		}
		return false
	})
	return nil
}

// Expire implements relay.Mailboxes.
func (s *Store) Expire(ctx context.Context, before time.Time) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for _, mb := range s.mailboxes {
		mb.envs = slices.DeleteFunc(mb.envs, func(e relay.Envelope) bool {
			if e.ServerTime.Before(before) {
				mb.bytes -= int64(len(e.Content))
				delete(mb.seqs, e.ID)
				n++
				return true
			}
			return false
		})
	}
	return n, nil
}

// Allow implements relay.RateLimits.
func (s *Store) Allow(ctx context.Context, key string, cost, burst, rate float64, now time.Time) (bool, time.Duration, error) {
	if err := s.lock(ctx); err != nil {
		return false, 0, err
	}
	s.mu.Unlock()
	ok, retry, err := s.rates.Allow(key, cost, burst, rate, now)
	if err != nil {
		return false, 0, fmt.Errorf("memstore: %w", err)
	}
	return ok, retry, nil
}

var _ relay.AccountsBatch = (*Store)(nil)

// AccountsDevices implements relay.AccountsBatch: one snapshot under the
// lock, one pass over the devices.
func (s *Store) AccountsDevices(ctx context.Context, ids []relay.AccountID) ([]relay.AccountDevices, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]relay.AccountDevices, len(ids))
	at := make(map[relay.AccountID][]int, len(ids))
	for i, id := range ids {
		if a, ok := s.accounts[id]; ok {
			out[i] = relay.AccountDevices{Account: cloneAccount(a), Found: true}
			at[id] = append(at[id], i)
		}
	}
	for k, d := range s.devices {
		for _, i := range at[k.acct] {
			out[i].Devices = append(out[i].Devices, cloneDevice(d.Device))
		}
	}
	for i := range out {
		slices.SortFunc(out[i].Devices, func(a, b relay.Device) int { return cmp.Compare(a.ID, b.ID) })
	}
	return out, nil
}

// CreateChannel implements relay.Channels.
func (s *Store) CreateChannel(ctx context.Context, ch relay.Channel) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.channels[ch.ID] != nil {
		return fmt.Errorf("memstore: channel: %w", relay.ErrConflict)
	}
	ch.AdminKey = clone(ch.AdminKey)
	s.channels[ch.ID] = &channel{Channel: ch, byID: make(map[[16]byte]int)}
	return nil
}

// ChannelByID implements relay.Channels.
func (s *Store) ChannelByID(ctx context.Context, id relay.ChannelID) (relay.Channel, error) {
	if err := s.lock(ctx); err != nil {
		return relay.Channel{}, err
	}
	defer s.mu.Unlock()
	ch := s.channels[id]
	if ch == nil {
		return relay.Channel{}, fmt.Errorf("memstore: channel: %w", relay.ErrNotFound)
	}
	c := ch.Channel
	c.AdminKey = clone(c.AdminKey)
	return c, nil
}

// AppendPost implements relay.Channels.
func (s *Store) AppendPost(ctx context.Context, p *relay.ChannelPost) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	ch := s.channels[p.Channel]
	if ch == nil {
		return fmt.Errorf("memstore: channel: %w", relay.ErrNotFound)
	}
	if i, ok := ch.byID[p.ID]; ok {
		p.Seq, p.ServerTime = ch.posts[i].Seq, ch.posts[i].ServerTime
		return nil
	}
	if p.ServerTime.IsZero() {
		p.ServerTime = s.opts.Now()
	}
	p.Seq = uint64(len(ch.posts)) + 1
	stored := *p
	stored.Content, stored.Signature = clone(p.Content), clone(p.Signature)
	ch.byID[p.ID] = len(ch.posts)
	ch.posts = append(ch.posts, stored)
	return nil
}

// ChannelPosts implements relay.Channels.
func (s *Store) ChannelPosts(ctx context.Context, id relay.ChannelID, after uint64, limit int) ([]relay.ChannelPost, uint64, error) {
	if err := s.lock(ctx); err != nil {
		return nil, 0, err
	}
	defer s.mu.Unlock()
	out := []relay.ChannelPost{}
	ch := s.channels[id]
	if ch == nil {
		return out, 0, nil
	}
	head := uint64(len(ch.posts))
	for seq := after; seq < head && len(out) < limit; seq++ {
		p := ch.posts[seq]
		p.Content, p.Signature = clone(p.Content), clone(p.Signature)
		out = append(out, p)
	}
	return out, head, nil
}
