package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"samizdat/relay"
)

// FixtureTime is the clock of the stores that write and check a fixture:
// open them with Now returning it, so that the fixture's envelopes are
// not past retention however old the fixture is.
var FixtureTime = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// The fixture's accounts.
var (
	fixtureAlice = relay.Account{ID: relay.AccountID{0xa1, 1}, Username: "alice", IdentityKey: bytes.Repeat([]byte{0xa1}, 33),
		UnidentifiedAccessKey: bytes.Repeat([]byte{0xa2}, 16), Created: FixtureTime.Add(-48 * time.Hour)}
	fixtureBob = relay.Account{ID: relay.AccountID{0xb0, 2}, Username: "bob", IdentityKey: bytes.Repeat([]byte{0xb0}, 33),
		UnrestrictedUnidentifiedAccess: true, Created: FixtureTime.Add(-24 * time.Hour)}
	fixtureAliceDevice = relay.Device{Account: fixtureAlice.ID, ID: 1, RegistrationID: 4242, NoiseKey: [32]byte{0xa1, 0xde},
		Created: fixtureAlice.Created, Name: []byte("sealed device name"), LastSeen: FixtureTime.Truncate(24 * time.Hour)}
	fixtureRemoved   = relay.Device{Account: fixtureAlice.ID, ID: 2, RegistrationID: 4343, NoiseKey: [32]byte{0xa1, 0xd2}, Created: FixtureTime.Add(-time.Hour)}
	fixtureBobDevice = relay.Device{Account: fixtureBob.ID, ID: 1, RegistrationID: 77, NoiseKey: [32]byte{0xb0, 0xde}, Created: fixtureBob.Created}
)

// fixtureEnvelopes are what bob's device holds.
func fixtureEnvelopes() []relay.Envelope {
	var envs []relay.Envelope
	for i := range 3 {
		e := relay.Envelope{ID: [16]byte{0xe0, byte(i)}, Account: fixtureBob.ID, Device: 1, Type: 1 + uint32(i),
			SourceAccount: fixtureAlice.ID, SourceDevice: 1, Timestamp: uint64(FixtureTime.UnixMilli()) + uint64(i),
			ServerTime: FixtureTime.Add(time.Duration(i) * time.Second), Content: bytes.Repeat([]byte{byte(i)}, 100+i)}
		if i == 2 {
			e.Sealed, e.SourceAccount, e.SourceDevice = true, relay.AccountID{}, 0
		}
		envs = append(envs, e)
	}
	return envs
}

// WriteFixture fills an empty store with the content CheckFixture checks:
// two accounts, devices (one removed), prekeys and envelopes, in every
// table a store has. A release writes it into the fixture it keeps of its
// schema (see docs/upgrades.md).
func WriteFixture(ctx context.Context, s relay.Store) error {
	steps := []func() error{
		func() error { return s.CreateAccount(ctx, fixtureAlice, fixtureAliceDevice) },
		func() error { return s.CreateAccount(ctx, fixtureBob, fixtureBobDevice) },
		func() error { return s.AddDevice(ctx, fixtureRemoved) },
		func() error { return s.RemoveDevice(ctx, fixtureAlice.ID, fixtureRemoved.ID) },
		func() error {
			return s.SetLastSeen(ctx, fixtureAlice.ID, 1, fixtureAliceDevice.LastSeen)
		},
		func() error {
			return s.SetSignedPreKey(ctx, fixtureAlice.ID, 1, relay.SignedPreKey{ID: 7, PublicKey: []byte("spk"), Signature: []byte("spk sig")})
		},
		func() error {
			return s.SetLastResortKyberPreKey(ctx, fixtureAlice.ID, 1, relay.SignedPreKey{ID: 8, PublicKey: []byte("kyber lr"), Signature: []byte("kyber lr sig")})
		},
		func() error {
			return s.AddPreKeys(ctx, fixtureAlice.ID, 1,
				[]relay.OneTimePreKey{{ID: 11, PublicKey: []byte("ec 11")}, {ID: 12, PublicKey: []byte("ec 12")}},
				[]relay.SignedPreKey{{ID: 21, PublicKey: []byte("kyber 21"), Signature: []byte("kyber 21 sig")}})
		},
		func() error { return s.Append(ctx, fixtureEnvelopes()) },
	}
	for i, f := range steps {
		if err := f(); err != nil {
			return fmt.Errorf("storetest: writing the fixture, step %d: %w", i+1, err)
		}
	}
	return nil
}

// CheckFixture checks that s holds what WriteFixture wrote, read through
// the store's interface, and that it takes new writes. It changes s.
func CheckFixture(ctx context.Context, s relay.Store) error {
	a, err := s.AccountByUsername(ctx, "alice")
	if err != nil {
		return fmt.Errorf("alice: %w", err)
	}
	if !sameAccount(a, fixtureAlice) {
		return fmt.Errorf("alice reads back as %+v", a)
	}
	if b, err := s.AccountByID(ctx, fixtureBob.ID); err != nil || !sameAccount(b, fixtureBob) {
		return fmt.Errorf("bob reads back as %+v, %v", b, err)
	}
	devs, err := s.Devices(ctx, fixtureAlice.ID)
	if err != nil || len(devs) != 1 || !sameDevice(devs[0], fixtureAliceDevice) {
		return fmt.Errorf("alice's devices read back as %+v, %v", devs, err)
	}
	if _, err := s.DeviceByNoiseKey(ctx, fixtureRemoved.NoiseKey); !errors.Is(err, relay.ErrDeviceRemoved) {
		return fmt.Errorf("the removed device's key: %v, want ErrDeviceRemoved", err)
	}
	if d, err := s.DeviceByNoiseKey(ctx, fixtureBobDevice.NoiseKey); err != nil || !sameDevice(d, fixtureBobDevice) {
		return fmt.Errorf("bob's device reads back as %+v, %v", d, err)
	}
	if ec, ky, err := s.CountPreKeys(ctx, fixtureAlice.ID, 1); err != nil || ec != 2 || ky != 1 {
		return fmt.Errorf("alice's prekeys: %d EC, %d Kyber, %v; want 2 and 1", ec, ky, err)
	}
	bu, err := s.TakeBundle(ctx, fixtureAlice.ID, 1)
	if err != nil || bu.PreKey == nil || bu.PreKey.ID != 11 || string(bu.PreKey.PublicKey) != "ec 11" || bu.SignedPreKey.ID != 7 ||
		string(bu.SignedPreKey.Signature) != "spk sig" || bu.KyberPreKey.ID != 21 || !bytes.Equal(bu.Identity, fixtureAlice.IdentityKey) {
		return fmt.Errorf("alice's bundle reads back as %+v, %v", bu, err)
	}
	got, err := s.Fetch(ctx, fixtureBob.ID, 1, 0, 100)
	want := fixtureEnvelopes()
	if err != nil || len(got) != len(want) {
		return fmt.Errorf("bob's mailbox holds %d envelopes, %v; want %d", len(got), err, len(want))
	}
	for i, e := range got {
		w := want[i]
		if e.ID != w.ID || e.Type != w.Type || e.Sealed != w.Sealed || e.SourceAccount != w.SourceAccount || e.SourceDevice != w.SourceDevice ||
			e.Timestamp != w.Timestamp || !e.ServerTime.Equal(w.ServerTime) || !bytes.Equal(e.Content, w.Content) {
			return fmt.Errorf("bob's envelope %d reads back as %+v", i, e)
		}
	}
	// The store takes writes after the upgrade: sequence numbers go on.
	more := []relay.Envelope{{ID: [16]byte{0xe1}, Account: fixtureBob.ID, Device: 1, Type: 1, Content: []byte("new")}}
	if err := s.Append(ctx, more); err != nil {
		return fmt.Errorf("appending after the upgrade: %w", err)
	}
	if more[0].Seq <= got[len(got)-1].Seq {
		return fmt.Errorf("a new envelope got Seq %d, not after %d", more[0].Seq, got[len(got)-1].Seq)
	}
	if err := s.Ack(ctx, fixtureBob.ID, 1, [][16]byte{want[0].ID}); err != nil {
		return fmt.Errorf("acknowledging after the upgrade: %w", err)
	}
	return nil
}

func sameAccount(a, b relay.Account) bool {
	return a.ID == b.ID && a.Username == b.Username && bytes.Equal(a.IdentityKey, b.IdentityKey) &&
		bytes.Equal(a.UnidentifiedAccessKey, b.UnidentifiedAccessKey) && a.UnrestrictedUnidentifiedAccess == b.UnrestrictedUnidentifiedAccess &&
		a.Created.Equal(b.Created)
}

func sameDevice(a, b relay.Device) bool {
	return a.Account == b.Account && a.ID == b.ID && a.RegistrationID == b.RegistrationID && a.NoiseKey == b.NoiseKey &&
		a.Created.Equal(b.Created) && bytes.Equal(a.Name, b.Name) && a.LastSeen.Equal(b.LastSeen)
}
