// Package storetest is the conformance suite for relay.Store
// implementations. Every implementation (store/memstore, store/sqlite,
// store/postgres) runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, cfg storetest.Config) relay.Store {
//			s := open(t, cfg) // honouring cfg's quotas, retention and clock
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Each subtest opens a fresh, empty store. The suite checks the contracts
// documented on the relay interfaces, including that each one-time prekey
// goes to exactly one of many concurrent fetchers; run it with -race.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"samizdat/relay"
)

// Config is what the suite needs a store to honour. Opener must pass each
// field to the store it opens.
type Config struct {
	MaxMessages int           // per-device mailbox quota, envelopes
	MaxBytes    int64         // per-device mailbox quota, bytes of Content
	Retention   time.Duration // mailbox retention
	Now         func() time.Time
}

// Opener opens a fresh, empty store configured by cfg and arranges for it to
// be closed when t ends.
type Opener func(t *testing.T, cfg Config) relay.Store

// Clock is a settable clock for Config.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// defaultConfig is the suite's configuration unless a test needs another.
func defaultConfig() (Config, *Clock) {
	c := NewClock(epoch)
	return Config{MaxMessages: 1000, MaxBytes: 1 << 20, Retention: 24 * time.Hour, Now: c.Now}, c
}

// Run runs the conformance suite against stores opened by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		f    func(*testing.T, Opener)
	}{
		{"Accounts", testAccounts},
		{"AccountConflicts", testAccountConflicts},
		{"AddDevice", testAddDevice},
		{"RemoveDevice", testRemoveDevice},
		{"RemoveDeviceConcurrent", testRemoveDeviceConcurrent},
		{"LastSeen", testLastSeen},
		{"AccountsDevices", testAccountsDevices},
		{"PreKeys", testPreKeys},
		{"PreKeysNotFound", testPreKeysNotFound},
		{"TakeBundleExhaustion", testTakeBundleExhaustion},
		{"TakeBundleConcurrent", testTakeBundleConcurrent},
		{"AppendFetch", testAppendFetch},
		{"AppendDuplicate", testAppendDuplicate},
		{"AppendConcurrent", testAppendConcurrent},
		{"Ack", testAck},
		{"AckRace", testAckRace},
		{"AckMany", testAckMany},
		{"Expiry", testExpiry},
		{"QuotaCount", testQuotaCount},
		{"QuotaBytes", testQuotaBytes},
		{"Channels", testChannels},
		{"ChannelPosts", testChannelPosts},
		{"ChannelPostsConcurrent", testChannelPostsConcurrent},
		{"RateLimit", testRateLimit},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, open) })
	}
}

func openDefault(t *testing.T, open Opener) (relay.Store, *Clock) {
	cfg, c := defaultConfig()
	return open(t, cfg), c
}

func acctID(n int) relay.AccountID {
	var id relay.AccountID
	id[0] = 0xa0
	id[14], id[15] = byte(n>>8), byte(n)
	return id
}

func noiseKey(n int) [32]byte {
	var k [32]byte
	k[0] = 0x4e
	k[30], k[31] = byte(n>>8), byte(n)
	return k
}

func envID(n int) [16]byte {
	var id [16]byte
	id[0] = 0xe0
	id[13], id[14], id[15] = byte(n>>16), byte(n>>8), byte(n)
	return id
}

func account(n int) (relay.Account, relay.Device) {
	a := relay.Account{
		ID:                    acctID(n),
		Username:              fmt.Sprintf("user%d", n),
		IdentityKey:           append([]byte{0x05}, bytes.Repeat([]byte{byte(n)}, 32)...),
		UnidentifiedAccessKey: bytes.Repeat([]byte{0x0a}, 16),
		Created:               epoch,
	}
	// A slot with its top bit set: it must come back whole from a
	// signed 64-bit column.
	d := relay.Device{Account: a.ID, ID: 1, RegistrationID: uint32(1000 + n), NoiseKey: noiseKey(n * 16), Created: epoch,
		Slot: 1<<63 | uint64(n)}
	return a, d
}

func mustCreate(t *testing.T, s relay.Store, n int) (relay.Account, relay.Device) {
	t.Helper()
	a, d := account(n)
	if err := s.CreateAccount(context.Background(), a, d); err != nil {
		t.Fatalf("CreateAccount(%d): %v", n, err)
	}
	return a, d
}

func equalAccount(a, b relay.Account) bool {
	return a.ID == b.ID && a.Username == b.Username && bytes.Equal(a.IdentityKey, b.IdentityKey) &&
		bytes.Equal(a.UnidentifiedAccessKey, b.UnidentifiedAccessKey) &&
		a.UnrestrictedUnidentifiedAccess == b.UnrestrictedUnidentifiedAccess && a.Created.Equal(b.Created)
}

func equalDevice(a, b relay.Device) bool {
	return a.Account == b.Account && a.ID == b.ID && a.RegistrationID == b.RegistrationID &&
		a.NoiseKey == b.NoiseKey && a.Created.Equal(b.Created) && bytes.Equal(a.Name, b.Name) &&
		a.LastSeen.Equal(b.LastSeen) && a.Slot == b.Slot
}

// testAccountsDevices checks relay.AccountsBatch, for stores that have it:
// results in the order asked, duplicates answered twice, unknown ids not
// found, devices ordered by id, equal to what the single reads return.
func testAccountsDevices(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	b, ok := s.(relay.AccountsBatch)
	if !ok {
		t.Skip("the store reads accounts one by one")
	}
	if got, err := b.AccountsDevices(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("no ids: %v, %v", got, err)
	}
	a1, d1 := mustCreate(t, s, 1)
	a2, d2 := mustCreate(t, s, 2)
	d3 := relay.Device{Account: a2.ID, ID: 3, RegistrationID: 77, NoiseKey: noiseKey(99), Created: epoch}
	d2b := relay.Device{Account: a2.ID, ID: 2, RegistrationID: 78, NoiseKey: noiseKey(98), Created: epoch}
	for _, d := range []relay.Device{d3, d2b} {
		if err := s.AddDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ids := []relay.AccountID{a2.ID, acctID(500), a1.ID, a2.ID}
	got, err := b.AccountsDevices(ctx, ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("AccountsDevices = %d entries, %v", len(got), err)
	}
	want := []struct {
		a    relay.Account
		devs []relay.Device
	}{{a2, []relay.Device{d2, d2b, d3}}, {}, {a1, []relay.Device{d1}}, {a2, []relay.Device{d2, d2b, d3}}}
	for i, w := range want {
		g := got[i]
		if g.Found != (w.devs != nil) || (g.Found && !equalAccount(g.Account, w.a)) || len(g.Devices) != len(w.devs) {
			t.Fatalf("entry %d: %+v, want %+v", i, g, w)
		}
		for j := range w.devs {
			if !equalDevice(g.Devices[j], w.devs[j]) {
				t.Errorf("entry %d device %d: %+v, want %+v", i, j, g.Devices[j], w.devs[j])
			}
		}
	}
	// Many ids at once, known and unknown, across any batching a store does.
	var many []relay.AccountID
	for n := 10; n < 150; n++ {
		mustCreate(t, s, n)
		many = append(many, acctID(n), acctID(1000+n))
	}
	many = append(many, a1.ID)
	all, err := b.AccountsDevices(ctx, many)
	if err != nil || len(all) != len(many) {
		t.Fatalf("%d ids: %d entries, %v", len(many), len(all), err)
	}
	for i, g := range all {
		known := i%2 == 0
		if g.Found != known || (known && (g.Account.ID != many[i] || len(g.Devices) != 1 || g.Devices[0].Account != many[i])) {
			t.Fatalf("entry %d of many: %+v", i, g)
		}
	}
	// An id asked for again further on than any batch holds: each entry
	// has the account's devices once.
	far := append(append([]relay.AccountID(nil), many...), many[0])
	fa, err := b.AccountsDevices(ctx, far)
	if err != nil || len(fa) != len(far) {
		t.Fatalf("%d ids: %d entries, %v", len(far), len(fa), err)
	}
	for _, i := range []int{0, len(far) - 1} {
		if g := fa[i]; !g.Found || g.Account.ID != far[i] || len(g.Devices) != 1 {
			t.Fatalf("entry %d of %d, id repeated: %+v", i, len(far), g)
		}
	}

	// The result is the caller's.
	got[0].Account.UnidentifiedAccessKey[0] ^= 0xff
	got[0].Devices[0].RegistrationID = 9
	again, err := b.AccountsDevices(ctx, ids[:1])
	if err != nil || !equalAccount(again[0].Account, a2) || !equalDevice(again[0].Devices[0], d2) {
		t.Fatalf("changed by the caller: %+v, %v", again, err)
	}
}

func testAccounts(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a, d := account(1)
	a.UnrestrictedUnidentifiedAccess = true
	if err := s.CreateAccount(ctx, a, d); err != nil {
		t.Fatal(err)
	}
	b, _ := mustCreate(t, s, 2)

	got, err := s.AccountByID(ctx, a.ID)
	if err != nil || !equalAccount(got, a) {
		t.Errorf("AccountByID = %+v, %v; want %+v", got, err, a)
	}
	got, err = s.AccountByUsername(ctx, "user2")
	if err != nil || !equalAccount(got, b) {
		t.Errorf("AccountByUsername = %+v, %v; want %+v", got, err, b)
	}
	gd, err := s.DeviceByNoiseKey(ctx, d.NoiseKey)
	if err != nil || !equalDevice(gd, d) {
		t.Errorf("DeviceByNoiseKey = %+v, %v; want %+v", gd, err, d)
	}
	ds, err := s.Devices(ctx, a.ID)
	if err != nil || len(ds) != 1 || !equalDevice(ds[0], d) {
		t.Errorf("Devices = %+v, %v; want [%+v]", ds, err, d)
	}

	// Returned slices are the caller's: changing them changes nothing stored.
	got.IdentityKey[1] ^= 0xff
	again, _ := s.AccountByUsername(ctx, "user2")
	if !equalAccount(again, b) {
		t.Error("modifying a returned account changed the stored one")
	}

	for _, tc := range []struct {
		name string
		f    func() error
	}{
		{"AccountByID", func() error { _, err := s.AccountByID(ctx, acctID(99)); return err }},
		{"AccountByUsername", func() error { _, err := s.AccountByUsername(ctx, "nobody"); return err }},
		{"AccountByUsernameCase", func() error { _, err := s.AccountByUsername(ctx, "USER1"); return err }},
		{"DeviceByNoiseKey", func() error { _, err := s.DeviceByNoiseKey(ctx, noiseKey(9999)); return err }},
		{"Devices", func() error { _, err := s.Devices(ctx, acctID(99)); return err }},
	} {
		if err := tc.f(); !errors.Is(err, relay.ErrNotFound) {
			t.Errorf("%s of unknown = %v, want ErrNotFound", tc.name, err)
		}
	}
}

func testAccountConflicts(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a1, d1 := mustCreate(t, s, 1)

	tests := []struct {
		name string
		edit func(a *relay.Account, d *relay.Device)
	}{
		{"username", func(a *relay.Account, d *relay.Device) { a.Username = a1.Username }},
		{"noise key", func(a *relay.Account, d *relay.Device) { d.NoiseKey = d1.NoiseKey }},
		{"account id", func(a *relay.Account, d *relay.Device) { a.ID = a1.ID; d.Account = a1.ID }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, d := account(10 + i)
			tc.edit(&a, &d)
			if err := s.CreateAccount(ctx, a, d); !errors.Is(err, relay.ErrConflict) {
				t.Fatalf("CreateAccount = %v, want ErrConflict", err)
			}
			// Nothing of the failed registration was stored.
			if a.Username != a1.Username {
				if _, err := s.AccountByUsername(ctx, a.Username); !errors.Is(err, relay.ErrNotFound) {
					t.Errorf("username of a failed registration: %v, want ErrNotFound", err)
				}
			}
			if d.NoiseKey != d1.NoiseKey {
				if _, err := s.DeviceByNoiseKey(ctx, d.NoiseKey); !errors.Is(err, relay.ErrNotFound) {
					t.Errorf("noise key of a failed registration: %v, want ErrNotFound", err)
				}
			}
		})
	}
	// The original is intact.
	got, err := s.AccountByID(ctx, a1.ID)
	if err != nil || !equalAccount(got, a1) {
		t.Errorf("original account = %+v, %v", got, err)
	}
}

func testAddDevice(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a, d1 := mustCreate(t, s, 1)
	_, other := mustCreate(t, s, 2)

	d3 := relay.Device{Account: a.ID, ID: 3, RegistrationID: 7, NoiseKey: noiseKey(5000), Created: epoch.Add(time.Hour), Slot: 12345}
	d2 := relay.Device{Account: a.ID, ID: 2, RegistrationID: 8, NoiseKey: noiseKey(5001), Created: epoch.Add(2 * time.Hour),
		Name: bytes.Repeat([]byte{0xd2}, relay.MaxDeviceName)}
	for _, d := range []relay.Device{d3, d2} {
		if err := s.AddDevice(ctx, d); err != nil {
			t.Fatalf("AddDevice(%d): %v", d.ID, err)
		}
	}
	ds, err := s.Devices(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []relay.Device{d1, d2, d3}
	if !slices.EqualFunc(ds, want, equalDevice) {
		t.Errorf("Devices = %+v, want %+v (ordered by id)", ds, want)
	}
	if gd, err := s.DeviceByNoiseKey(ctx, d2.NoiseKey); err != nil || !equalDevice(gd, d2) {
		t.Errorf("DeviceByNoiseKey(new device) = %+v, %v", gd, err)
	}

	tests := []struct {
		name string
		d    relay.Device
		want error
	}{
		{"device id taken", relay.Device{Account: a.ID, ID: 2, NoiseKey: noiseKey(6000)}, relay.ErrConflict},
		{"noise key taken here", relay.Device{Account: a.ID, ID: 4, NoiseKey: d1.NoiseKey}, relay.ErrConflict},
		{"noise key taken elsewhere", relay.Device{Account: a.ID, ID: 4, NoiseKey: other.NoiseKey}, relay.ErrConflict},
		{"unknown account", relay.Device{Account: acctID(77), ID: 1, NoiseKey: noiseKey(6001)}, relay.ErrNotFound},
	}
	for _, tc := range tests {
		if err := s.AddDevice(ctx, tc.d); !errors.Is(err, tc.want) {
			t.Errorf("%s: AddDevice = %v, want %v", tc.name, err, tc.want)
		}
	}
	if ds, _ := s.Devices(ctx, a.ID); len(ds) != 3 {
		t.Errorf("after failed AddDevice calls: %d devices, want 3", len(ds))
	}
	for _, tc := range []struct {
		acct relay.AccountID
		want uint32
	}{{a.ID, 4}, {other.Account, 2}} {
		if next, err := s.NextDeviceID(ctx, tc.acct); err != nil || next != tc.want {
			t.Errorf("NextDeviceID = %d, %v; want %d", next, err, tc.want)
		}
	}
	if _, err := s.NextDeviceID(ctx, acctID(77)); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("NextDeviceID(unknown account) = %v, want ErrNotFound", err)
	}
}

// testRemoveDevice checks RemoveDevice: the device, its prekeys and its
// mailbox go, in full (its quota too); its key is refused from then on,
// told apart from an unknown key; its id is never given again, even when
// it was the highest; nothing else changes.
func testRemoveDevice(t *testing.T, open Opener) {
	ctx := context.Background()
	cfg, _ := defaultConfig()
	cfg.MaxMessages = 3
	s := open(t, cfg)
	a, d1 := mustCreate(t, s, 1)
	b, bd := mustCreate(t, s, 2)
	d2 := relay.Device{Account: a.ID, ID: 2, RegistrationID: 8, NoiseKey: noiseKey(5001), Created: epoch, Name: []byte("sealed name")}
	d3 := relay.Device{Account: a.ID, ID: 3, RegistrationID: 9, NoiseKey: noiseKey(5002), Created: epoch}
	for _, d := range []relay.Device{d2, d3} {
		must(t, s.AddDevice(ctx, d))
	}
	for _, d := range []relay.Device{d1, d2, bd} {
		must(t, s.SetSignedPreKey(ctx, d.Account, d.ID, signed(1, 0x05)))
		must(t, s.SetLastResortKyberPreKey(ctx, d.Account, d.ID, signed(2, 0x08)))
		must(t, s.AddPreKeys(ctx, d.Account, d.ID, []relay.OneTimePreKey{oneTime(10)}, []relay.SignedPreKey{signed(11, 0x08)}))
	}
	// A full mailbox for device 2, one envelope each for the others.
	must(t, s.Append(ctx, []relay.Envelope{envelope(a.ID, 2, 1, 10), envelope(a.ID, 2, 2, 10), envelope(a.ID, 2, 3, 10),
		envelope(a.ID, 1, 4, 10), envelope(a.ID, 3, 5, 10), envelope(b.ID, 1, 6, 10)}))

	must(t, s.RemoveDevice(ctx, a.ID, 2))

	if ds, err := s.Devices(ctx, a.ID); err != nil || !slices.EqualFunc(ds, []relay.Device{d1, d3}, equalDevice) {
		t.Errorf("Devices after removing 2 = %+v, %v; want devices 1 and 3", ds, err)
	}
	_, err := s.DeviceByNoiseKey(ctx, d2.NoiseKey)
	if !errors.Is(err, relay.ErrDeviceRemoved) || errors.Is(err, relay.ErrNotFound) {
		t.Errorf("DeviceByNoiseKey(removed) = %v, want ErrDeviceRemoved (not ErrNotFound)", err)
	}
	if g := fetchAll(t, s, a.ID, 2); len(g) != 0 {
		t.Errorf("removed device's mailbox still holds ids %v", ids(g))
	}
	if _, _, err := s.CountPreKeys(ctx, a.ID, 2); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("CountPreKeys(removed) = %v, want ErrNotFound", err)
	}
	if _, err := s.TakeBundle(ctx, a.ID, 2); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("TakeBundle(removed) = %v, want ErrNotFound", err)
	}
	if err := s.SetSignedPreKey(ctx, a.ID, 2, signed(3, 0x05)); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("SetSignedPreKey(removed) = %v, want ErrNotFound", err)
	}
	if err := s.SetLastSeen(ctx, a.ID, 2, epoch); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("SetLastSeen(removed) = %v, want ErrNotFound", err)
	}

	// Nothing else changed.
	if g := ids(fetchAll(t, s, a.ID, 1)); !slices.Equal(g, []int{4}) {
		t.Errorf("device 1's mailbox: ids %v, want [4]", g)
	}
	if g := ids(fetchAll(t, s, a.ID, 3)); !slices.Equal(g, []int{5}) {
		t.Errorf("device 3's mailbox: ids %v, want [5]", g)
	}
	if g := ids(fetchAll(t, s, b.ID, 1)); !slices.Equal(g, []int{6}) {
		t.Errorf("another account's mailbox: ids %v, want [6]", g)
	}
	for _, d := range []relay.Device{d1, bd} {
		if ec, ky, err := s.CountPreKeys(ctx, d.Account, d.ID); err != nil || ec != 1 || ky != 1 {
			t.Errorf("CountPreKeys(%d) = %d, %d, %v; want 1, 1", d.ID, ec, ky, err)
		}
	}
	if gd, err := s.DeviceByNoiseKey(ctx, d3.NoiseKey); err != nil || !equalDevice(gd, d3) {
		t.Errorf("DeviceByNoiseKey(device 3) = %+v, %v", gd, err)
	}

	for _, tc := range []struct {
		name string
		acct relay.AccountID
		dev  uint32
	}{{"again", a.ID, 2}, {"unknown device", a.ID, 9}, {"unknown account", acctID(77), 1}, {"other account's id", b.ID, 3}} {
		if err := s.RemoveDevice(ctx, tc.acct, tc.dev); !errors.Is(err, relay.ErrNotFound) {
			t.Errorf("RemoveDevice(%s) = %v, want ErrNotFound", tc.name, err)
		}
	}

	// The removed key stays taken, for this account and any other.
	if err := s.AddDevice(ctx, relay.Device{Account: a.ID, ID: 4, NoiseKey: d2.NoiseKey}); !errors.Is(err, relay.ErrConflict) {
		t.Errorf("AddDevice(removed key) = %v, want ErrConflict", err)
	}
	na, nd := account(3)
	nd.NoiseKey = d2.NoiseKey
	if err := s.CreateAccount(ctx, na, nd); !errors.Is(err, relay.ErrConflict) {
		t.Errorf("CreateAccount(removed key) = %v, want ErrConflict", err)
	}
	if _, err := s.AccountByUsername(ctx, na.Username); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("the refused CreateAccount stored its account: %v", err)
	}

	// The id stays taken, even once it is above every current device's.
	if err := s.AddDevice(ctx, relay.Device{Account: a.ID, ID: 2, RegistrationID: 10, NoiseKey: noiseKey(5003), Created: epoch}); !errors.Is(err, relay.ErrConflict) {
		t.Errorf("AddDevice(removed id 2) = %v, want ErrConflict", err)
	}
	must(t, s.RemoveDevice(ctx, a.ID, 3))
	if next, err := s.NextDeviceID(ctx, a.ID); err != nil || next != 4 {
		t.Errorf("NextDeviceID after removing 2 and 3 = %d, %v; want 4", next, err)
	}
	if err := s.AddDevice(ctx, relay.Device{Account: a.ID, ID: 3, RegistrationID: 10, NoiseKey: noiseKey(5003), Created: epoch}); !errors.Is(err, relay.ErrConflict) {
		t.Errorf("AddDevice(removed id 3) = %v, want ErrConflict", err)
	}
	// A new id starts with an empty mailbox and a whole quota.
	n4 := relay.Device{Account: a.ID, ID: 4, RegistrationID: 10, NoiseKey: noiseKey(5003), Created: epoch}
	must(t, s.AddDevice(ctx, n4))
	if g := fetchAll(t, s, a.ID, 4); len(g) != 0 {
		t.Errorf("new device 4 inherited ids %v", ids(g))
	}
	checkRoom(t, s, a.ID, 4, cfg.MaxMessages)
	if ds, _ := s.Devices(ctx, a.ID); len(ds) != 2 {
		t.Errorf("after adding device 4: %d devices, want 2", len(ds))
	}
	// The last device of an account can go too.
	must(t, s.RemoveDevice(ctx, b.ID, 1))
	if _, err := s.DeviceByNoiseKey(ctx, bd.NoiseKey); !errors.Is(err, relay.ErrDeviceRemoved) {
		t.Errorf("DeviceByNoiseKey(other account's removed device) = %v, want ErrDeviceRemoved", err)
	}
}

// testRemoveDeviceConcurrent races RemoveDevice against appends to the
// device and to its neighbour (Append does not check devices, so every
// one succeeds): the removal stands whatever the order, and the
// neighbour's quota counts exactly what it holds.
func testRemoveDeviceConcurrent(t *testing.T, open Opener) {
	ctx := context.Background()
	cfg, _ := defaultConfig()
	cfg.MaxMessages = 50
	s := open(t, cfg)
	a, _ := mustCreate(t, s, 1)
	must(t, s.AddDevice(ctx, relay.Device{Account: a.ID, ID: 2, RegistrationID: 8, NoiseKey: noiseKey(5001), Created: epoch}))
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Append(ctx, []relay.Envelope{envelope(a.ID, 1, i, 5), envelope(a.ID, 2, i, 5)})
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- s.RemoveDevice(ctx, a.ID, 2)
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Append or RemoveDevice: %v", err)
		}
	}
	if ds, err := s.Devices(ctx, a.ID); err != nil || len(ds) != 1 || ds[0].ID != 1 {
		t.Fatalf("Devices after the race = %+v, %v; want device 1 only", ds, err)
	}
	if g := fetchAll(t, s, a.ID, 1); len(g) != n {
		t.Fatalf("device 1 holds %d envelopes, want %d", len(g), n)
	}
	// Device 1's quota counts exactly its n envelopes.
	checkRoom(t, s, a.ID, 1, cfg.MaxMessages-n)
}

// testLastSeen checks SetLastSeen and that every read returns LastSeen.
func testLastSeen(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a, d := mustCreate(t, s, 1)
	day := epoch.Truncate(24 * time.Hour)
	must(t, s.SetLastSeen(ctx, a.ID, d.ID, day))
	d.LastSeen = day
	if gd, err := s.DeviceByNoiseKey(ctx, d.NoiseKey); err != nil || !gd.LastSeen.Equal(day) {
		t.Errorf("DeviceByNoiseKey after SetLastSeen = %+v, %v; want LastSeen %v", gd, err, day)
	}
	if ds, err := s.Devices(ctx, a.ID); err != nil || len(ds) != 1 || !equalDevice(ds[0], d) {
		t.Errorf("Devices after SetLastSeen = %+v, %v", ds, err)
	}
	if b, ok := s.(relay.AccountsBatch); ok {
		if got, err := b.AccountsDevices(ctx, []relay.AccountID{a.ID}); err != nil || len(got[0].Devices) != 1 || !equalDevice(got[0].Devices[0], d) {
			t.Errorf("AccountsDevices after SetLastSeen = %+v, %v", got, err)
		}
	}
	must(t, s.SetLastSeen(ctx, a.ID, d.ID, day.Add(24*time.Hour)))
	if gd, _ := s.DeviceByNoiseKey(ctx, d.NoiseKey); !gd.LastSeen.Equal(day.Add(24 * time.Hour)) {
		t.Errorf("LastSeen after a second SetLastSeen = %v", gd.LastSeen)
	}
	if err := s.SetLastSeen(ctx, a.ID, 5, day); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("SetLastSeen(unknown device) = %v, want ErrNotFound", err)
	}
	if err := s.SetLastSeen(ctx, acctID(9), 1, day); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("SetLastSeen(unknown account) = %v, want ErrNotFound", err)
	}
}

func signed(id uint32, tag byte) relay.SignedPreKey {
	return relay.SignedPreKey{ID: id, PublicKey: []byte{tag, byte(id >> 8), byte(id)}, Signature: bytes.Repeat([]byte{tag ^ 0xff}, 64)}
}

func oneTime(id uint32) relay.OneTimePreKey {
	return relay.OneTimePreKey{ID: id, PublicKey: []byte{0x05, byte(id >> 8), byte(id)}}
}

func equalSigned(a, b relay.SignedPreKey) bool {
	return a.ID == b.ID && bytes.Equal(a.PublicKey, b.PublicKey) && bytes.Equal(a.Signature, b.Signature)
}

func testPreKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a, d := mustCreate(t, s, 1)

	if ec, ky, err := s.CountPreKeys(ctx, a.ID, d.ID); err != nil || ec != 0 || ky != 0 {
		t.Errorf("CountPreKeys(empty) = %d, %d, %v", ec, ky, err)
	}
	// A device without a signed prekey has no bundle.
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("TakeBundle without keys = %v, want ErrNotFound", err)
	}
	spk := signed(1, 0x05)
	if err := s.SetSignedPreKey(ctx, a.ID, d.ID, signed(0, 0x05)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSignedPreKey(ctx, a.ID, d.ID, spk); err != nil { // replaces
		t.Fatal(err)
	}
	// Signed prekey but no Kyber prekey at all: no bundle, and no one-time EC key spent.
	if err := s.AddPreKeys(ctx, a.ID, d.ID, []relay.OneTimePreKey{oneTime(100)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("TakeBundle without Kyber keys = %v, want ErrNotFound", err)
	}
	if ec, _, _ := s.CountPreKeys(ctx, a.ID, d.ID); ec != 1 {
		t.Errorf("failed TakeBundle spent a one-time EC key: %d left, want 1", ec)
	}
	last := signed(9000, 0x08)
	if err := s.SetLastResortKyberPreKey(ctx, a.ID, d.ID, signed(8999, 0x08)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLastResortKyberPreKey(ctx, a.ID, d.ID, last); err != nil {
		t.Fatal(err)
	}
	ec := []relay.OneTimePreKey{oneTime(102), oneTime(101)}
	ky := []relay.SignedPreKey{signed(201, 0x08), signed(200, 0x08)}
	if err := s.AddPreKeys(ctx, a.ID, d.ID, ec, ky); err != nil {
		t.Fatal(err)
	}
	if e, k, err := s.CountPreKeys(ctx, a.ID, d.ID); err != nil || e != 3 || k != 2 {
		t.Errorf("CountPreKeys = %d, %d, %v; want 3, 2", e, k, err)
	}
	// Re-adding an id replaces, it does not duplicate.
	if err := s.AddPreKeys(ctx, a.ID, d.ID, []relay.OneTimePreKey{oneTime(101)}, []relay.SignedPreKey{signed(201, 0x08)}); err != nil {
		t.Fatal(err)
	}
	if e, k, _ := s.CountPreKeys(ctx, a.ID, d.ID); e != 3 || k != 2 {
		t.Errorf("CountPreKeys after re-adding ids = %d, %d; want 3, 2", e, k)
	}

	// Lowest ids first; the last-resort key once the one-time Kyber keys are gone.
	wantEC := []uint32{100, 101, 102, 0, 0}
	wantKy := []relay.SignedPreKey{signed(200, 0x08), signed(201, 0x08), last, last, last}
	for i := range wantEC {
		b, err := s.TakeBundle(ctx, a.ID, d.ID)
		if err != nil {
			t.Fatalf("TakeBundle %d: %v", i, err)
		}
		if !equalDevice(b.Device, d) || !bytes.Equal(b.Identity, a.IdentityKey) || !equalSigned(b.SignedPreKey, spk) {
			t.Errorf("TakeBundle %d: device %+v identity %x signed %+v", i, b.Device, b.Identity, b.SignedPreKey)
		}
		if !equalSigned(b.KyberPreKey, wantKy[i]) {
			t.Errorf("TakeBundle %d: Kyber prekey %+v, want %+v", i, b.KyberPreKey, wantKy[i])
		}
		switch {
		case wantEC[i] == 0 && b.PreKey != nil:
			t.Errorf("TakeBundle %d: PreKey = %+v, want nil", i, b.PreKey)
		case wantEC[i] != 0 && (b.PreKey == nil || b.PreKey.ID != wantEC[i] || !bytes.Equal(b.PreKey.PublicKey, oneTime(wantEC[i]).PublicKey)):
			t.Errorf("TakeBundle %d: PreKey = %+v, want id %d", i, b.PreKey, wantEC[i])
		}
	}
	if e, k, _ := s.CountPreKeys(ctx, a.ID, d.ID); e != 0 || k != 0 {
		t.Errorf("CountPreKeys after draining = %d, %d", e, k)
	}
}

func testPreKeysNotFound(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a, _ := mustCreate(t, s, 1)
	for _, tc := range []struct {
		acct relay.AccountID
		dev  uint32
	}{{a.ID, 2}, {acctID(50), 1}} {
		errs := map[string]error{
			"SetSignedPreKey":          s.SetSignedPreKey(ctx, tc.acct, tc.dev, signed(1, 5)),
			"SetLastResortKyberPreKey": s.SetLastResortKyberPreKey(ctx, tc.acct, tc.dev, signed(1, 8)),
			"AddPreKeys":               s.AddPreKeys(ctx, tc.acct, tc.dev, []relay.OneTimePreKey{oneTime(1)}, nil),
		}
		_, _, errs["CountPreKeys"] = s.CountPreKeys(ctx, tc.acct, tc.dev)
		_, errs["TakeBundle"] = s.TakeBundle(ctx, tc.acct, tc.dev)
		for name, err := range errs {
			if !errors.Is(err, relay.ErrNotFound) {
				t.Errorf("%s(unknown device %d) = %v, want ErrNotFound", name, tc.dev, err)
			}
		}
	}
}

func testTakeBundleExhaustion(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a, d := mustCreate(t, s, 1)
	must(t, s.SetSignedPreKey(ctx, a.ID, d.ID, signed(1, 5)))
	// One-time Kyber keys only, no last resort: the bundle fails once they run out.
	must(t, s.AddPreKeys(ctx, a.ID, d.ID, []relay.OneTimePreKey{oneTime(1), oneTime(2)}, []relay.SignedPreKey{signed(10, 8)}))
	b, err := s.TakeBundle(ctx, a.ID, d.ID)
	if err != nil || b.KyberPreKey.ID != 10 || b.PreKey == nil || b.PreKey.ID != 1 {
		t.Fatalf("TakeBundle = %+v, %v", b, err)
	}
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("TakeBundle with no Kyber key left = %v, want ErrNotFound", err)
	}
	if e, _, _ := s.CountPreKeys(ctx, a.ID, d.ID); e != 1 {
		t.Errorf("failed TakeBundle spent an EC key: %d left, want 1", e)
	}
	// Last-resort Kyber key, no EC one-time keys: PreKey nil.
	must(t, s.SetLastResortKyberPreKey(ctx, a.ID, d.ID, signed(99, 8)))
	for i, wantEC := range []bool{true, false, false} {
		b, err := s.TakeBundle(ctx, a.ID, d.ID)
		if err != nil || b.KyberPreKey.ID != 99 || (b.PreKey != nil) != wantEC {
			t.Errorf("TakeBundle %d = Kyber %d, PreKey %+v, %v", i, b.KyberPreKey.ID, b.PreKey, err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testTakeBundleConcurrent has 64 fetchers race for one device's keys: each
// one-time key goes to exactly one of them.
func testTakeBundleConcurrent(t *testing.T, open Opener) {
	const (
		fetchers = 64
		nEC      = 300
		nKyber   = 200
	)
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a, d := mustCreate(t, s, 1)
	must(t, s.SetSignedPreKey(ctx, a.ID, d.ID, signed(1, 5)))
	must(t, s.SetLastResortKyberPreKey(ctx, a.ID, d.ID, signed(1<<20, 8)))
	var ec []relay.OneTimePreKey
	var ky []relay.SignedPreKey
	for i := range nEC {
		ec = append(ec, oneTime(uint32(i+1)))
	}
	for i := range nKyber {
		ky = append(ky, signed(uint32(i+1), 8))
	}
	must(t, s.AddPreKeys(ctx, a.ID, d.ID, ec, ky))

	var (
		mu      sync.Mutex
		gotEC   = map[uint32]int{}
		gotKy   = map[uint32]int{}
		lastRes int
		wg      sync.WaitGroup
		errs    = make(chan error, fetchers)
	)
	for range fetchers {
		wg.Go(func() {
			for {
				b, err := s.TakeBundle(ctx, a.ID, d.ID)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if b.KyberPreKey.ID == 1<<20 {
					lastRes++
				} else {
					gotKy[b.KyberPreKey.ID]++
				}
				if b.PreKey != nil {
					gotEC[b.PreKey.ID]++
				}
				mu.Unlock()
				if b.PreKey == nil {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("TakeBundle: %v", err)
	}
	for id, n := range gotEC {
		if n != 1 {
			t.Errorf("EC one-time prekey %d handed out %d times", id, n)
		}
	}
	for id, n := range gotKy {
		if n != 1 {
			t.Errorf("Kyber one-time prekey %d handed out %d times", id, n)
		}
	}
	if len(gotEC) != nEC || len(gotKy) != nKyber {
		t.Errorf("handed out %d EC and %d Kyber one-time keys, want %d and %d", len(gotEC), len(gotKy), nEC, nKyber)
	}
	if lastRes < nEC-nKyber {
		t.Errorf("last-resort key handed out %d times, want at least %d", lastRes, nEC-nKyber)
	}
	if e, k, _ := s.CountPreKeys(ctx, a.ID, d.ID); e != 0 || k != 0 {
		t.Errorf("CountPreKeys after the race = %d, %d", e, k)
	}
}

func envelope(acct relay.AccountID, dev uint32, n int, size int) relay.Envelope {
	return relay.Envelope{
		ID:            envID(n),
		Account:       acct,
		Device:        dev,
		Type:          uint32(n%3 + 1),
		SourceAccount: acctID(900),
		SourceDevice:  uint32(n % 5),
		Sealed:        n%2 == 0,
		Timestamp:     uint64(1_700_000_000_000 + n),
		Content:       bytes.Repeat([]byte{byte(n)}, size),
	}
}

func equalEnvelope(a, b relay.Envelope) bool {
	return a.ID == b.ID && a.Account == b.Account && a.Device == b.Device && a.Type == b.Type &&
		a.SourceAccount == b.SourceAccount && a.SourceDevice == b.SourceDevice && a.Sealed == b.Sealed &&
		a.Timestamp == b.Timestamp && a.ServerTime.Equal(b.ServerTime) && bytes.Equal(a.Content, b.Content) &&
		a.Seq == b.Seq
}

func fetchAll(t *testing.T, s relay.Store, acct relay.AccountID, dev uint32) []relay.Envelope {
	t.Helper()
	envs, err := s.Fetch(context.Background(), acct, dev, 0, 1<<20)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return envs
}

func ids(envs []relay.Envelope) []int {
	var out []int
	for _, e := range envs {
		out = append(out, int(e.ID[13])<<16|int(e.ID[14])<<8|int(e.ID[15]))
	}
	return out
}

func testAppendFetch(t *testing.T, open Opener) {
	ctx := context.Background()
	s, clk := openDefault(t, open)
	a := acctID(1)
	b := acctID(2)

	if envs, err := s.Fetch(ctx, a, 1, 0, 10); err != nil || len(envs) != 0 {
		t.Errorf("Fetch(empty) = %v, %v", envs, err)
	}
	batch := []relay.Envelope{envelope(a, 1, 1, 10), envelope(b, 1, 2, 20), envelope(a, 2, 3, 0), envelope(a, 1, 4, 30)}
	explicit := epoch.Add(-time.Minute)
	batch[3].ServerTime = explicit
	must(t, s.Append(ctx, batch))
	for i, e := range batch {
		if e.Seq == 0 {
			t.Errorf("Append left envs[%d].Seq zero", i)
		}
	}
	if !batch[0].ServerTime.Equal(epoch) || !batch[3].ServerTime.Equal(explicit) {
		t.Errorf("ServerTime = %v, %v; want the store clock %v for a zero one, %v kept", batch[0].ServerTime, batch[3].ServerTime, epoch, explicit)
	}
	clk.Advance(time.Second)
	batch2 := []relay.Envelope{envelope(a, 1, 5, 5)}
	must(t, s.Append(ctx, batch2))

	got := fetchAll(t, s, a, 1)
	want := []relay.Envelope{batch[0], batch[3], batch2[0]}
	if !slices.EqualFunc(got, want, equalEnvelope) {
		t.Fatalf("Fetch(a/1) = %+v\nwant %+v", got, want)
	}
	if !(got[0].Seq < got[1].Seq && got[1].Seq < got[2].Seq) {
		t.Errorf("Seq not increasing: %d %d %d", got[0].Seq, got[1].Seq, got[2].Seq)
	}
	if g := fetchAll(t, s, b, 1); !slices.EqualFunc(g, batch[1:2], equalEnvelope) {
		t.Errorf("Fetch(b/1) = %+v", g)
	}
	if g := fetchAll(t, s, a, 2); len(g) != 1 || len(g[0].Content) != 0 {
		t.Errorf("Fetch(a/2) = %+v, want one empty envelope", g)
	}
	// Cursor and limit.
	if g, err := s.Fetch(ctx, a, 1, got[0].Seq, 1); err != nil || !slices.EqualFunc(g, got[1:2], equalEnvelope) {
		t.Errorf("Fetch(after first, limit 1) = %v, %v", ids(g), err)
	}
	if g, err := s.Fetch(ctx, a, 1, got[2].Seq, 10); err != nil || len(g) != 0 {
		t.Errorf("Fetch(after last) = %v, %v", ids(g), err)
	}
	if g, err := s.Fetch(ctx, a, 1, 0, 0); err != nil || len(g) != 0 {
		t.Errorf("Fetch(limit 0) = %v, %v", ids(g), err)
	}
	// The returned content is the caller's.
	got[0].Content[0] ^= 0xff
	if g := fetchAll(t, s, a, 1); !equalEnvelope(g[0], want[0]) {
		t.Error("modifying fetched content changed the stored envelope")
	}
}

func testAppendDuplicate(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a := acctID(1)
	first := []relay.Envelope{envelope(a, 1, 1, 10), envelope(a, 1, 2, 10)}
	must(t, s.Append(ctx, first))

	// A retry, with different content, in a batch that also carries a new
	// envelope and the same new envelope twice.
	retry := envelope(a, 1, 1, 99)
	batch := []relay.Envelope{retry, envelope(a, 1, 3, 10), envelope(a, 1, 3, 11), envelope(a, 2, 1, 10)}
	must(t, s.Append(ctx, batch))
	if batch[0].Seq != first[0].Seq {
		t.Errorf("duplicate got Seq %d, want the stored copy's %d", batch[0].Seq, first[0].Seq)
	}
	if batch[1].Seq != batch[2].Seq {
		t.Errorf("duplicate within one call got Seq %d and %d", batch[1].Seq, batch[2].Seq)
	}
	got := fetchAll(t, s, a, 1)
	if !slices.Equal(ids(got), []int{1, 2, 3}) {
		t.Fatalf("Fetch = ids %v, want [1 2 3]", ids(got))
	}
	if len(got[0].Content) != 10 || len(got[2].Content) != 10 {
		t.Errorf("duplicate replaced content: lengths %d, %d", len(got[0].Content), len(got[2].Content))
	}
	// The same id for another device is a different envelope.
	if g := fetchAll(t, s, a, 2); len(g) != 1 {
		t.Errorf("device 2 has %d envelopes, want 1", len(g))
	}
}

func testAppendConcurrent(t *testing.T, open Opener) {
	const (
		senders = 32
		each    = 20
	)
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a := acctID(1)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				n := g*each + i
				envs := []relay.Envelope{envelope(a, 1, n, 100), envelope(a, uint32(2+g%2), n, 10)}
				if err := s.Append(ctx, envs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := fetchAll(t, s, a, 1)
	if len(got) != senders*each {
		t.Fatalf("device 1 has %d envelopes, want %d", len(got), senders*each)
	}
	seen := map[[16]byte]bool{}
	for i, e := range got {
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Fatalf("Fetch out of Seq order at %d: %d after %d", i, e.Seq, got[i-1].Seq)
		}
		if seen[e.ID] {
			t.Fatalf("envelope %x twice", e.ID)
		}
		seen[e.ID] = true
	}
	// Paging through with the cursor yields the same sequence.
	var paged []relay.Envelope
	for after := uint64(0); ; {
		page, err := s.Fetch(ctx, a, 1, after, 37)
		must(t, err)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Seq
	}
	if !slices.EqualFunc(paged, got, equalEnvelope) {
		t.Error("paging with the cursor differs from one Fetch")
	}
}

func testAck(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	a := acctID(1)
	var envs []relay.Envelope
	for i := range 5 {
		envs = append(envs, envelope(a, 1, i, 10))
	}
	envs = append(envs, envelope(a, 2, 1, 10))
	must(t, s.Append(ctx, envs))
	must(t, s.Ack(ctx, a, 1, [][16]byte{envID(1), envID(3), envID(77)}))
	must(t, s.Ack(ctx, a, 1, nil))
	must(t, s.Ack(ctx, acctID(9), 1, [][16]byte{envID(0)})) // unknown mailbox
	if g := ids(fetchAll(t, s, a, 1)); !slices.Equal(g, []int{0, 2, 4}) {
		t.Errorf("after Ack: ids %v, want [0 2 4]", g)
	}
	// Acking device 1 did not touch device 2's envelope with the same id.
	if g := fetchAll(t, s, a, 2); len(g) != 1 {
		t.Errorf("device 2 has %d envelopes, want 1", len(g))
	}
	// Seq keeps increasing after deletions.
	last := fetchAll(t, s, a, 1)[2].Seq
	must(t, s.Ack(ctx, a, 1, [][16]byte{envID(4)}))
	more := []relay.Envelope{envelope(a, 1, 5, 10)}
	must(t, s.Append(ctx, more))
	if more[0].Seq <= last {
		t.Errorf("Seq %d after deleting the last (%d): reused", more[0].Seq, last)
	}
	// An acked id may be appended again (at-least-once delivery).
	again := []relay.Envelope{envelope(a, 1, 1, 10)}
	must(t, s.Append(ctx, again))
	if g := ids(fetchAll(t, s, a, 1)); !slices.Equal(g, []int{0, 2, 5, 1}) {
		t.Errorf("after re-append: ids %v, want [0 2 5 1]", g)
	}
}

// testAckMany acks many ids in one call, with repeats, unknown ids and
// another device's ids among them (a store may delete them in chunks):
// exactly the device's named envelopes go, and the quota counts them out.
func testAckMany(t *testing.T, open Opener) {
	const quota = 100
	ctx := context.Background()
	cfg, _ := defaultConfig()
	cfg.MaxMessages = quota
	s := open(t, cfg)
	a := acctID(1)
	var envs []relay.Envelope
	for i := range quota {
		envs = append(envs, envelope(a, 1, i, 10))
	}
	must(t, s.Append(ctx, envs))
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 2, 3, 10)}))
	var acks [][16]byte
	for i := range 70 { // 0..69, every fifth twice, and unknown ids between
		acks = append(acks, envID(i))
		if i%5 == 0 {
			acks = append(acks, envID(i), envID(1000+i))
		}
	}
	acks = append(acks, envID(70), envID(71), envID(72)) // a short last chunk
	must(t, s.Ack(ctx, a, 1, acks))
	got := ids(fetchAll(t, s, a, 1))
	if want := 73; len(got) != quota-want || got[0] != want {
		t.Fatalf("after acking 73 of %d: %d left, first %v", quota, len(got), got[:1])
	}
	if g := fetchAll(t, s, a, 2); len(g) != 1 {
		t.Errorf("device 2 has %d envelopes, want 1 (the ack was device 1's)", len(g))
	}
	// The quota has room for exactly the 73 acked again.
	var more []relay.Envelope
	for i := range 73 {
		more = append(more, envelope(a, 1, 2000+i, 10))
	}
	must(t, s.Append(ctx, more))
	err := s.Append(ctx, []relay.Envelope{envelope(a, 1, 3000, 10)})
	if !errors.Is(err, relay.ErrQuotaExceeded) {
		t.Errorf("one more than the quota: %v, want ErrQuotaExceeded", err)
	}
}

// testAckRace has senders append to one device while its reader fetches
// from a cursor and acks what it got, all at once, against a small quota:
// every envelope whose Append succeeded is delivered exactly once, in Seq
// order (the cursor skips nothing that commits behind it), and once
// everything is acked the quota is whole again.
func testAckRace(t *testing.T, open Opener) {
	const (
		senders = 8
		each    = 40
		quota   = 24
	)
	ctx := context.Background()
	cfg, _ := defaultConfig()
	cfg.MaxMessages = quota
	s := open(t, cfg)
	a := acctID(1)

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		sent    = map[[16]byte]bool{} // guarded by mu
		refused int                   // guarded by mu
		errs    = make(chan error, senders)
	)
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				n := g*each + i
				envs := []relay.Envelope{envelope(a, 1, n, 8), envelope(a, 1, n+1<<16, 8)}
				for tries := 1; ; tries++ {
					err := s.Append(ctx, envs)
					if errors.Is(err, relay.ErrQuotaExceeded) && tries < 10000 {
						// The reader has not caught up: wait for its acks.
						mu.Lock()
						refused++
						mu.Unlock()
						time.Sleep(time.Millisecond)
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
				mu.Lock()
				sent[envs[0].ID], sent[envs[1].ID] = true, true
				mu.Unlock()
			}
		})
	}
	sendersDone := make(chan struct{})
	go func() { wg.Wait(); close(sendersDone) }()

	got := map[[16]byte]int{}
	var after uint64
	for {
		done := false
		select {
		case <-sendersDone:
			done = true // every successful Append has returned: an empty page now means all were read
		default:
		}
		page, err := s.Fetch(ctx, a, 1, after, 7)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if len(page) == 0 {
			if done {
				break
			}
			time.Sleep(100 * time.Microsecond)
			continue
		}
		var ack [][16]byte
		for _, e := range page {
			if e.Seq <= after {
				t.Fatalf("Fetch(after %d) returned Seq %d", after, e.Seq)
			}
			after = e.Seq
			got[e.ID]++
			ack = append(ack, e.ID)
		}
		if err := s.Ack(ctx, a, 1, ack); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}
	if len(sent) != 2*senders*each {
		t.Fatalf("%d envelopes appended, want %d", len(sent), 2*senders*each)
	}
	for id := range sent {
		if got[id] != 1 {
			t.Errorf("envelope %x delivered %d times, want once", id, got[id])
		}
	}
	for id := range got {
		if !sent[id] {
			t.Errorf("envelope %x delivered but never successfully appended", id)
		}
	}
	t.Logf("%d appends refused over quota while the reader caught up", refused)
	if g := fetchAll(t, s, a, 1); len(g) != 0 {
		t.Errorf("%d envelopes left after acking everything", len(g))
	}
	// The quota's accounting survived the race: it holds exactly quota again.
	checkRoom(t, s, a, 1, quota)
}

// checkRoom checks that the device's mailbox has room for exactly n more
// envelopes (of envelope ids from 1<<20 on), filling it.
func checkRoom(t *testing.T, s relay.Store, acct relay.AccountID, dev uint32, n int) {
	t.Helper()
	ctx := context.Background()
	var fill []relay.Envelope
	for i := range n {
		fill = append(fill, envelope(acct, dev, 1<<20+i, 8))
	}
	must(t, s.Append(ctx, fill))
	if err := s.Append(ctx, []relay.Envelope{envelope(acct, dev, 1<<21, 8)}); !errors.Is(err, relay.ErrQuotaExceeded) {
		t.Errorf("Append of one more than %d to device %d = %v, want ErrQuotaExceeded", n, dev, err)
	}
}

func testExpiry(t *testing.T, open Opener) {
	ctx := context.Background()
	cfg, clk := defaultConfig()
	cfg.MaxMessages = 4
	s := open(t, cfg)
	a := acctID(1)
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 1, 10), envelope(a, 2, 2, 10)}))
	clk.Advance(time.Hour)
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 3, 10)}))

	clk.Advance(cfg.Retention - 30*time.Minute) // the first two are now past retention
	if g := ids(fetchAll(t, s, a, 1)); !slices.Equal(g, []int{3}) {
		t.Errorf("Fetch hides expired: ids %v, want [3]", g)
	}
	if g := fetchAll(t, s, a, 2); len(g) != 0 {
		t.Errorf("Fetch(device 2) = %v, want none", ids(g))
	}
	n, err := s.Expire(ctx, clk.Now().Add(-cfg.Retention))
	if err != nil || n != 2 {
		t.Errorf("Expire = %d, %v; want 2", n, err)
	}
	if n, err := s.Expire(ctx, clk.Now().Add(-cfg.Retention)); err != nil || n != 0 {
		t.Errorf("second Expire = %d, %v; want 0", n, err)
	}
	// Expired envelopes no longer count against the quota.
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 4, 10), envelope(a, 1, 5, 10), envelope(a, 1, 6, 10)}))
	n, err = s.Expire(ctx, clk.Now().Add(time.Second))
	if err != nil || n != 4 {
		t.Errorf("Expire(everything) = %d, %v; want 4", n, err)
	}
	if g := fetchAll(t, s, a, 1); len(g) != 0 {
		t.Errorf("after expiring everything: ids %v", ids(g))
	}
}

func testQuotaCount(t *testing.T, open Opener) {
	ctx := context.Background()
	cfg, _ := defaultConfig()
	cfg.MaxMessages = 3
	s := open(t, cfg)
	a := acctID(1)
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 1, 1), envelope(a, 1, 2, 1)}))
	// Two more for device 1 (one over) plus one for device 2: nothing stored.
	err := s.Append(ctx, []relay.Envelope{envelope(a, 2, 10, 1), envelope(a, 1, 3, 1), envelope(a, 1, 4, 1)})
	if !errors.Is(err, relay.ErrQuotaExceeded) {
		t.Fatalf("Append over quota = %v, want ErrQuotaExceeded", err)
	}
	if g := ids(fetchAll(t, s, a, 1)); !slices.Equal(g, []int{1, 2}) {
		t.Errorf("after refused Append: device 1 ids %v, want [1 2]", g)
	}
	if g := fetchAll(t, s, a, 2); len(g) != 0 {
		t.Errorf("refused Append stored device 2's envelope")
	}
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 3, 1)})) // fills it
	// A full mailbox still accepts a duplicate (retry) as a no-op.
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 2, 1)}))
	if err := s.Append(ctx, []relay.Envelope{envelope(a, 1, 4, 1)}); !errors.Is(err, relay.ErrQuotaExceeded) {
		t.Errorf("Append to a full mailbox = %v, want ErrQuotaExceeded", err)
	}
	// Other devices are unaffected.
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 2, 4, 1), envelope(acctID(2), 1, 4, 1)}))
	// Ack makes room.
	must(t, s.Ack(ctx, a, 1, [][16]byte{envID(1)}))
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 4, 1)}))
	if g := ids(fetchAll(t, s, a, 1)); !slices.Equal(g, []int{2, 3, 4}) {
		t.Errorf("device 1 ids %v, want [2 3 4]", g)
	}
}

func testQuotaBytes(t *testing.T, open Opener) {
	ctx := context.Background()
	cfg, _ := defaultConfig()
	cfg.MaxBytes = 1000
	s := open(t, cfg)
	a := acctID(1)
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 1, 400), envelope(a, 1, 2, 400)}))
	if err := s.Append(ctx, []relay.Envelope{envelope(a, 1, 3, 201)}); !errors.Is(err, relay.ErrQuotaExceeded) {
		t.Errorf("Append of 201 bytes into 200 free = %v, want ErrQuotaExceeded", err)
	}
	if err := s.Append(ctx, []relay.Envelope{envelope(a, 1, 3, 1001)}); !errors.Is(err, relay.ErrQuotaExceeded) {
		t.Errorf("Append of one envelope over the whole quota = %v, want ErrQuotaExceeded", err)
	}
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 3, 200)})) // exactly full
	must(t, s.Ack(ctx, a, 1, [][16]byte{envID(2)}))
	must(t, s.Append(ctx, []relay.Envelope{envelope(a, 1, 4, 400)}))
	if g := ids(fetchAll(t, s, a, 1)); !slices.Equal(g, []int{1, 3, 4}) {
		t.Errorf("device 1 ids %v, want [1 3 4]", g)
	}
}

func testRateLimit(t *testing.T, open Opener) {
	ctx := context.Background()
	s, _ := openDefault(t, open)
	now := epoch
	type step struct {
		advance time.Duration
		key     string
		cost    float64
		ok      bool
		retry   time.Duration
	}
	// burst 3, 2 tokens per second.
	steps := []step{
		{0, "k", 1, true, 0},
		{0, "k", 1, true, 0},
		{0, "k", 1, true, 0},
		{0, "k", 1, false, 500 * time.Millisecond},
		{0, "other", 3, true, 0}, // buckets are independent
		{250 * time.Millisecond, "k", 1, false, 250 * time.Millisecond},
		{250 * time.Millisecond, "k", 1, true, 0},
		{0, "k", 2, false, time.Second},                          // refused calls spend nothing...
		{time.Second, "k", 2, true, 0},                           // ...so two tokens are there a second later
		{time.Hour, "k", 4, false, time.Duration(math.MaxInt64)}, // over burst: never
		{0, "k", 3, true, 0},                                     // the refill stopped at burst
		{-time.Minute, "k", 1, false, 500 * time.Millisecond},    // clock going back refills nothing
		{0, "free", 0, true, 0},
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		ok, retry, err := s.Allow(ctx, st.key, st.cost, 3, 2, now)
		if err != nil || ok != st.ok || !approx(retry, st.retry) {
			t.Errorf("step %d: Allow(%q, %v) = %v, %v, %v; want %v, %v", i, st.key, st.cost, ok, retry, err, st.ok, st.retry)
		}
	}
	// Zero rate: once spent, never refilled.
	if ok, _, _ := s.Allow(ctx, "z", 1, 1, 0, now); !ok {
		t.Error("zero-rate bucket refused its first token")
	}
	if ok, retry, _ := s.Allow(ctx, "z", 1, 1, 0, now.Add(time.Hour)); ok || retry != time.Duration(math.MaxInt64) {
		t.Errorf("zero-rate bucket: %v, %v; want refused forever", ok, retry)
	}
	if _, _, err := s.Allow(ctx, "bad", -1, 1, 1, now); err == nil {
		t.Error("Allow with a negative cost succeeded")
	}
	if _, _, err := s.Allow(ctx, "bad", 1, 1, math.NaN(), now); err == nil {
		t.Error("Allow with a NaN rate succeeded")
	}
}

func approx(a, b time.Duration) bool {
	d := a - b
	return d > -time.Millisecond && d < time.Millisecond
}

func testClose(t *testing.T, open Opener) {
	s, _ := openDefault(t, open)
	a, d := account(1)
	must(t, s.CreateAccount(context.Background(), a, d))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.AccountByID(context.Background(), a.ID); err == nil {
		t.Error("AccountByID after Close succeeded")
	}
	if err := s.Append(context.Background(), []relay.Envelope{envelope(a.ID, 1, 1, 1)}); err == nil {
		t.Error("Append after Close succeeded")
	}
}
