package client_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/relay"
	"samizdat/session"
)

// link links a device to u's account under name.
func (u *user) link(t *testing.T, name string) *user {
	t.Helper()
	nu := &user{wake: make(chan struct{}, 1)}
	nu.Client = linkDevice(t, u.Client, client.Config{Home: t.TempDir(), OnEvent: nu.onEvent, PingInterval: time.Second, DeviceName: name})
	return nu
}

// linkDevice pairs a new device in cfg.Home with c's account, as link and
// devices approve do.
func linkDevice(t testing.TB, c *client.Client, cfg client.Config) *client.Client {
	t.Helper()
	ctx := context.Background()
	p, err := client.StartLink(ctx, cfg, client.InviteOf(c))
	if err != nil {
		t.Fatal(err)
	}
	approved := make(chan error, 1)
	go func() {
		_, err := c.ApproveLink(ctx, p.Code())
		approved <- err
	}()
	nc, err := p.Wait(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-approved; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// receiveUntilErr runs u's receive loop and returns where its result
// arrives.
func (u *user) receiveUntilErr(t *testing.T) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Receive(ctx) }()
	t.Cleanup(cancel)
	return done
}

// waitRemoved waits for a removed device's Receive (receiveUntilErr) to
// end with ErrDeviceRemoved.
func waitRemoved(t *testing.T, removed <-chan error) {
	t.Helper()
	select {
	case err := <-removed:
		if !errors.Is(err, client.ErrDeviceRemoved) {
			t.Fatalf("the removed device's Receive returned %v, want ErrDeviceRemoved", err)
		}
	case <-time.After(patience):
		t.Fatal("the removed device's Receive did not end")
	}
}

func ownDevices(t *testing.T, u *user) []uint32 {
	t.Helper()
	cts, err := u.Contacts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cts {
		if ct.AccountID == u.AccountID() {
			return ct.Devices
		}
	}
	t.Fatalf("%s device %d has no contact record of its own account", u.Username(), u.DeviceID())
	return nil
}

// TestRemoveDevice: bob's primary removes his second device. The removed
// device stops receiving and is refused with ErrDeviceRemoved; his third
// device is told and stops encrypting for it; alice, who wrote to all
// three, stops at her next send; names are listed and the relay holds
// them sealed.
func TestRemoveDevice(t *testing.T) {
	n := startRelay(t)
	ctx := context.Background()
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", func(c *client.Config) { c.DeviceName = "bob's phone" })
	bob2 := bob.link(t, "old laptop")
	bob3 := bob.link(t, "")
	bob.receive(t)
	bob3.receive(t)
	removed := bob2.receiveUntilErr(t)

	// Everyone has sessions with device 2: alice's message, and a note
	// to self from each of bob's other devices.
	if _, err := alice.Send(ctx, "bob", "before"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*user{bob, bob2, bob3} {
		u.waitFor(t, client.EventMessage, 1)
	}
	for _, u := range []*user{bob, bob3} {
		if _, err := u.Send(ctx, "bob", "note to self"); err != nil {
			t.Fatal(err)
		}
	}
	bob2.waitFor(t, client.EventMessage, 3)
	for _, u := range []*user{bob, bob3} {
		if devs := ownDevices(t, u); !slices.Equal(devs, []uint32{1, 2, 3}) {
			t.Fatalf("device %d knows its account's devices as %v", u.DeviceID(), devs)
		}
	}

	// Any device lists them, names opened.
	devs, err := bob3.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if len(devs) != 3 || devs[0].Name != "bob's phone" || devs[1].Name != "old laptop" || devs[2].Name != "" ||
		!devs[2].Current || devs[0].Current || devs[0].LastSeen.Before(today.Add(-24*time.Hour)) || devs[1].Created.IsZero() {
		t.Fatalf("devices as device 3 lists them: %+v", devs)
	}
	// The relay holds the names sealed.
	stored, err := n.store.Devices(ctx, relay.AccountID(bob.AccountID()))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range stored {
		if bytes.Contains(d.Name, []byte("phone")) || bytes.Contains(d.Name, []byte("laptop")) {
			t.Errorf("the relay holds device %d's name in the clear", d.ID)
		}
	}
	if len(stored[1].Name) == 0 || stored[2].Name != nil {
		t.Errorf("stored names: %q, %q", stored[1].Name, stored[2].Name)
	}

	// Refusals.
	if err := bob2.RemoveDevice(ctx, 3); !errors.Is(err, client.ErrNotPrimary) {
		t.Errorf("a linked device removing another: %v, want ErrNotPrimary", err)
	}
	if err := bob.RemoveDevice(ctx, 1); !errors.Is(err, client.ErrRemoveSelf) {
		t.Errorf("the primary removing itself: %v, want ErrRemoveSelf", err)
	}
	if err := bob.RemoveDevice(ctx, 9); !errors.Is(err, client.ErrNoSuchDevice) {
		t.Errorf("removing device 9: %v, want ErrNoSuchDevice", err)
	}

	if err := bob.RemoveDevice(ctx, 2); err != nil {
		t.Fatal(err)
	}

	// Device 2 is out for good.
	waitRemoved(t, removed)
	if _, err := bob2.Send(ctx, "alice", "from the stolen laptop"); !errors.Is(err, client.ErrDeviceRemoved) {
		t.Fatalf("a removed device's Send: %v, want ErrDeviceRemoved", err)
	}
	if err := bob2.Receive(ctx); !errors.Is(err, client.ErrDeviceRemoved) {
		t.Fatalf("a removed device's Receive: %v, want ErrDeviceRemoved", err)
	}

	// Device 3 is told and forgets device 2; so does the primary.
	if e := bob3.waitFor(t, client.EventDeviceRemoved, 1)[0]; e.Device != 2 {
		t.Fatalf("device 3 told of device %d's removal", e.Device)
	}
	for _, u := range []*user{bob, bob3} {
		if devs := ownDevices(t, u); !slices.Equal(devs, []uint32{1, 3}) {
			t.Errorf("after the removal device %d knows its account's devices as %v", u.DeviceID(), devs)
		}
		rec, err := u.DB().Store().LoadSession(ctx, session.Address{Name: uuidOf(bob.AccountID()), DeviceID: 2})
		if err != nil || rec == nil || rec.HasCurrentSession() {
			t.Errorf("device %d's session with device 2: %v, %v; want archived", u.DeviceID(), rec, err)
		}
	}
	if devs, err := bob.Devices(ctx); err != nil || len(devs) != 2 || devs[1].ID != 3 {
		t.Fatalf("devices after the removal: %+v, %v", devs, err)
	}

	// Alice's next message goes to devices 1 and 3 only, and so does a
	// note to self from device 3.
	if _, err := alice.Send(ctx, "bob", "after"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob3.Send(ctx, "bob", "second note"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, client.EventMessage, 4)
	bob3.waitFor(t, client.EventMessage, 3)
	cts, err := alice.Contacts(ctx)
	if err != nil || len(cts) != 1 || !slices.Equal(cts[0].Devices, []uint32{1, 3}) {
		t.Fatalf("alice's contact of bob after the removal: %+v, %v", cts, err)
	}
	if envs, err := n.store.Fetch(ctx, relay.AccountID(bob.AccountID()), 2, 0, 10); err != nil || len(envs) != 0 {
		t.Errorf("%d envelopes stored for the removed device (%v)", len(envs), err)
	}
	if st := bob3.Stats(); st.Undecryptable != 0 {
		t.Errorf("device 3 dropped %d undecryptable envelopes", st.Undecryptable)
	}
}

// TestDeviceNameTooLong: a name over MaxDeviceName bytes is refused
// before anything is registered.
func TestDeviceNameTooLong(t *testing.T) {
	n := startRelay(t)
	bob := newUser(t, n, "bob", nil)
	long := string(bytes.Repeat([]byte{'x'}, client.MaxDeviceName+1))
	if _, err := client.StartLink(context.Background(), client.Config{Home: t.TempDir(), DeviceName: long}, client.InviteOf(bob.Client)); err == nil {
		t.Fatal("linked a device with a name over the limit")
	}
	if devs, err := bob.Devices(context.Background()); err != nil || len(devs) != 1 {
		t.Fatalf("devices after a refused link: %+v, %v", devs, err)
	}
}

// TestRemovedDeviceSealedRefused: a removed device still holds a sender
// certificate the relay issued, so it can send sealed messages the relay
// cannot tell from anyone's. Its contacts refuse them once their list of
// the account's devices, asked for again when it is older than
// DeviceListMaxAge, no longer holds it; messages from the account's
// other devices still arrive.
func TestRemovedDeviceSealedRefused(t *testing.T) {
	n := startRelay(t)
	ctx := context.Background()
	var skew atomic.Int64 // alice's clock ahead of the wall clock
	alice := newUser(t, n, "alice", func(c *client.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	bob := newUser(t, n, "bob", nil)
	bob2 := bob.link(t, "laptop")
	alice.receive(t)
	bob.receive(t)
	removed := bob2.receiveUntilErr(t)

	// Alice writes to bob (so his devices hold her access key); his
	// laptop answers sealed (and so holds a sender certificate).
	if _, err := alice.Send(ctx, "bob", "hi bob"); err != nil {
		t.Fatal(err)
	}
	bob2.waitFor(t, client.EventMessage, 1)
	if _, err := bob2.Send(ctx, "alice", "from the laptop"); err != nil {
		t.Fatal(err)
	}
	if got := alice.waitFor(t, client.EventMessage, 1); got[0].Text != "from the laptop" {
		t.Fatalf("alice got %q", got[0].Text)
	}
	if bob2.Stats().SentSealed == 0 {
		t.Fatal("the laptop did not send sealed")
	}

	if err := bob.RemoveDevice(ctx, 2); err != nil {
		t.Fatal(err)
	}
	waitRemoved(t, removed)
	// Stolen, it sends on while its certificate lasts: sealed, over a
	// connection the relay cannot tie to it.
	skew.Store(int64(client.DefaultDeviceListMaxAge + time.Minute))
	if _, err := bob2.Send(ctx, "alice", "from the stolen laptop"); err != nil {
		t.Fatalf("the removed device's sealed send: %v", err)
	}
	if _, err := bob.Send(ctx, "alice", "from the phone"); err != nil {
		t.Fatal(err)
	}
	got := alice.waitFor(t, client.EventMessage, 2)
	for _, e := range got {
		if e.Text == "from the stolen laptop" {
			t.Fatal("alice was shown a removed device's message")
		}
	}
	if got[1].Text != "from the phone" {
		t.Fatalf("alice got %q, want the phone's message", got[1].Text)
	}
	if refused := alice.waitFor(t, client.EventRefused, 1); refused[0].Err == nil {
		t.Fatal("a refusal without its reason")
	}
	cts, err := alice.Contacts(ctx)
	if err != nil || len(cts) != 1 || !slices.Equal(cts[0].Devices, []uint32{1}) {
		t.Fatalf("alice's contact of bob: %+v, %v; want devices [1]", cts, err)
	}
}
