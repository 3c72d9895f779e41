package relay_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/session/sealed"
	"samizdat/store/memstore"
)

func listDevices() *wire.Request {
	return &wire.Request{Op: &wire.Request_ListDevices{ListDevices: &wire.ListDevices{}}}
}

func removeDevice(id uint32) *wire.Request {
	return &wire.Request{Op: &wire.Request_RemoveDevice{RemoveDevice: &wire.RemoveDevice{DeviceId: id}}}
}

// link adds a device to u through its first device and returns it, not
// connected.
func (e *env) link(u *user, regID uint32, name string) *device {
	e.t.Helper()
	noise := newKey(e.t)
	r := u.dev1().call(&wire.Request{Op: &wire.Request_AddDevice{AddDevice: &wire.AddDevice{
		RegistrationId:        regID,
		NoiseStaticKey:        noise.Public[:],
		SignedPreKey:          signed(e.t, u.identity, 5),
		LastResortKyberPreKey: kyber(e.t, u.identity, 6),
		Name:                  []byte(name),
	}}})
	if r.Status != wire.Status_OK {
		e.t.Fatalf("add device: %v (%s)", r.Status, r.Reason)
	}
	d := &device{id: r.GetRegistered().GetDeviceId(), regID: regID, noise: noise}
	u.devices[d.id] = d
	return d
}

// deviceIDs lists the account's devices as one of them sees them.
func deviceIDs(t *testing.T, c *client) []uint32 {
	t.Helper()
	var ids []uint32
	for _, d := range c.mustOK(listDevices()).GetDevices().GetDevices() {
		ids = append(ids, d.Id)
	}
	return ids
}

// expectStatus calls and checks the status.
func expectStatus(t *testing.T, c *client, req *wire.Request, want wire.Status) *wire.Response {
	t.Helper()
	r := c.call(req)
	if r.Status != want {
		t.Fatalf("%T: %v (%s), want %v", req.Op, r.Status, r.Reason, want)
	}
	return r
}

// skipToRemoved reads pushes up to a Removed one, failing on any other
// but QueueEmpty.
func skipToRemoved(t *testing.T, c *client) {
	t.Helper()
	for {
		p := c.nextPush()
		switch {
		case p.GetRemoved() != nil:
			return
		case p.GetQueueEmpty() != nil:
		default:
			t.Fatalf("push %v, want Removed", p)
		}
	}
}

// TestRemoveDevice: the primary removes a linked device; the device's
// connection is told and closed, its mailbox and keys are gone, its key
// is refused from then on, its slot is free, the account's other device
// gets a notice, and senders are told the device list changed.
func TestRemoveDevice(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) { c.Limits.MaxDevices = 3 })
	alice := e.register("alice", 0)
	bob := e.register("bob", 1)
	d2 := e.link(bob, 77, "sealed name of 2")
	d3 := e.link(bob, 78, "")
	if d2.id != 2 || d3.id != 3 {
		t.Fatalf("linked devices %d and %d, want 2 and 3", d2.id, d3.id)
	}
	expectStatus(t, bob.dev1(), &wire.Request{Op: &wire.Request_AddDevice{AddDevice: &wire.AddDevice{
		RegistrationId: 79, NoiseStaticKey: bytes.Repeat([]byte{7}, 32),
		SignedPreKey: signed(t, bob.identity, 5), LastResortKyberPreKey: kyber(t, bob.identity, 6),
	}}}, wire.Status_CONFLICT) // the account is full

	c2, c3 := e.dial(d2.noise), e.dial(d3.noise)
	for _, c := range []*client{c2, c3} {
		c.mustOK(startDelivery())
		expectQueueEmpty(t, c)
	}
	alice.dev1().mustOK(sendReq(bob, envID(1), "before", 1, 2, 3))
	expectDeliveries(t, c2, "before") // not acked: it stays in device 2's mailbox
	expectDeliveries(t, c3, "before")
	c3.mustOK(ack(envID(1)))

	// Every device may list; names come back as given.
	list := c2.mustOK(listDevices()).GetDevices().GetDevices()
	if len(list) != 3 || list[1].Id != 2 || string(list[1].Name) != "sealed name of 2" || list[2].Name != nil || list[0].Created == 0 {
		t.Fatalf("device list: %v", list)
	}

	// Refusals change nothing.
	expectStatus(t, c2, removeDevice(3), wire.Status_UNAUTHORIZED)        // not the primary
	expectStatus(t, bob.dev1(), removeDevice(1), wire.Status_BAD_REQUEST) // itself
	expectStatus(t, bob.dev1(), removeDevice(9), wire.Status_NOT_FOUND)
	expectStatus(t, bob.dev1(), removeDevice(0), wire.Status_NOT_FOUND)
	expectStatus(t, alice.dev1(), removeDevice(2), wire.Status_NOT_FOUND) // alice has no device 2
	if ids := deviceIDs(t, bob.dev1()); !slices.Equal(ids, []uint32{1, 2, 3}) {
		t.Fatalf("devices after refused removals: %v", ids)
	}

	bob.dev1().mustOK(removeDevice(2))

	// Device 2's connection is told and closed.
	skipToRemoved(t, c2)
	if reason := c2.waitClosed(); reason != "" {
		t.Errorf("removed connection closed with %q, want no Closing after Removed", reason)
	}
	// Its mail and keys are gone.
	if envs, err := e.store.Fetch(context.Background(), relay.AccountID(bob.account), 2, 0, 10); err != nil || len(envs) != 0 {
		t.Errorf("removed device's mailbox: %d envelopes, %v", len(envs), err)
	}
	expectStatus(t, alice.dev1(), fetch(bob.account, 2), wire.Status_NOT_FOUND)
	if ids := deviceIDs(t, bob.dev1()); !slices.Equal(ids, []uint32{1, 3}) {
		t.Fatalf("devices after removing 2: %v", ids)
	}

	// Device 3 finds a notice from the relay; the primary, who asked, does not.
	p := c3.nextPush().GetDelivery()
	var notice wire.AccountNotice
	if p == nil || p.Type != wire.TypeAccountNotice || !bytes.Equal(p.SourceAccount, bob.account) || p.SourceDevice != 0 ||
		proto.Unmarshal(p.Content, &notice) != nil || notice.RemovedDevice != 2 {
		t.Fatalf("device 3 got %v, want an account notice of device 2's removal", p)
	}
	bob.dev1().mustOK(startDelivery())
	expectDeliveries(t, bob.dev1(), "before")
	expectQueueEmpty(t, bob.dev1())

	// Senders are told device 2 is gone, and nothing is stored for it.
	r := expectStatus(t, alice.dev1(), sendReq(bob, envID(2), "after", 1, 2, 3), wire.Status_MISMATCHED_DEVICES)
	if !slices.Equal(r.GetMismatch().GetExtra(), []uint32{2}) {
		t.Fatalf("mismatch %v, want device 2 extra", r.GetMismatch())
	}
	alice.dev1().mustOK(sendReq(bob, envID(2), "after", 1, 3))
	expectDeliveries(t, bob.dev1(), "after")

	// The removed device is refused with the reason, whatever it asks.
	for _, req := range []*wire.Request{ping(), startDelivery(), sendReq(alice, envID(3), "x", 1),
		{Op: &wire.Request_Register{Register: registerReq(t, "thief", bob.identity, d2.noise, nil, 0)}}} {
		c := e.dial(d2.noise)
		if p := c.nextPush(); p.GetRemoved() == nil {
			t.Fatalf("reconnected removed device got %v, want Removed", p)
		}
		expectStatus(t, c, req, wire.Status_DEVICE_REMOVED)
		c.waitClosed()
	}
	if _, err := e.store.AccountByUsername(context.Background(), "thief"); !errors.Is(err, relay.ErrNotFound) {
		t.Errorf("the removed device registered an account: %v", err)
	}

	// The slot is free again.
	d4 := e.link(bob, 80, "")
	if ids := deviceIDs(t, bob.dev1()); !slices.Equal(ids, []uint32{1, 3, d4.id}) {
		t.Fatalf("devices after linking another: %v", ids)
	}
}

// TestRemoveDeviceOnAnotherNode: a device connected to another relay node
// (sharing the store and the hub, as nodes share a database and a bus) is
// closed when the primary removes it through this one.
func TestRemoveDeviceOnAnotherNode(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	hub := relay.NewLocalHub()
	shared := func(c *relay.Config) { c.Hub = hub }
	a := newEnvStore(t, st, shared)
	b := newEnvStore(t, st, shared)
	alice := a.register("alice", 0)
	bob := a.register("bob", 1)
	d2 := a.link(bob, 77, "")
	d3 := a.link(bob, 78, "")
	d4 := a.link(bob, 79, "")
	c2, c3 := b.dial(d2.noise), b.dial(d3.noise)
	for _, c := range []*client{c2, c3} {
		c.mustOK(startDelivery())
		expectQueueEmpty(t, c)
	}
	// Device 4 only makes requests: no mail, so no wake-up reaches it.
	c4 := b.dial(d4.noise)
	c4.mustOK(listDevices())

	bob.dev1().mustOK(removeDevice(2))
	skipToRemoved(t, c2)
	c2.waitClosed()

	// Device 4's next requests are refused once node b's cached device
	// list (DeviceCacheTTL, a second by default) has expired.
	bob.dev1().mustOK(removeDevice(4))
	deadline := time.Now().Add(patience)
	for {
		r := c4.call(listDevices())
		if r.Status == wire.Status_DEVICE_REMOVED {
			break
		}
		if r.Status != wire.Status_OK || time.Now().After(deadline) {
			t.Fatalf("removed device 4's request on the other node: %v (%s)", r.Status, r.Reason)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c4.waitClosed()
	// Device 3, on the other node too, stays and gets both notices.
	for _, removed := range []uint32{2, 4} {
		p := c3.nextPush().GetDelivery()
		var n wire.AccountNotice
		if p == nil || p.Type != wire.TypeAccountNotice || proto.Unmarshal(p.Content, &n) != nil || n.RemovedDevice != removed {
			t.Fatalf("device 3 got %v, want a notice of device %d's removal", p, removed)
		}
	}
	c3.mustOK(ping())
	// A wake-up that brings no mail leaves a device that still exists alone.
	hub.Notify(relay.AccountID(bob.account), 3)
	alice.dev1().mustOK(sendReq(bob, envID(1), "hi", 1, 3))
	expectDeliveries(t, c3, "hi")
}

// TestLinkedDeviceOnAnotherNode: a device linked through one node and
// connecting at once to another, whose cached device list of the account
// predates it, is served there (the store has the last word).
func TestLinkedDeviceOnAnotherNode(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	a := newEnvStore(t, st, nil)
	b := newEnvStore(t, st, func(c *relay.Config) { c.Limits.DeviceCacheTTL = time.Hour })
	bob := a.register("bob", 1)
	carol := b.register("carol", 0)
	carol.dev1().mustOK(sendReq(bob, envID(1), "caches bob's devices on b", 1))
	d2 := a.link(bob, 77, "")
	c2 := b.dial(d2.noise)
	if ids := deviceIDs(t, c2); !slices.Equal(ids, []uint32{1, 2}) {
		t.Fatalf("device 2 on node b lists %v", ids)
	}
	// And b's senders now see device 2.
	r := expectStatus(t, carol.dev1(), sendReq(bob, envID(2), "x", 1), wire.Status_MISMATCHED_DEVICES)
	if !slices.Equal(r.GetMismatch().GetMissing(), []uint32{2}) {
		t.Fatalf("mismatch %v, want device 2 missing", r.GetMismatch())
	}
}

// TestLastSeen: the relay records the day a device last connected, once a
// day, and lists it.
func TestLastSeen(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 5, 1, 13, 30, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	e := newEnv(t, func(c *relay.Config) { c.Now = clock })
	bob := e.register("bob", 0)
	day1 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	seen := func() time.Time {
		d := bob.dev1().mustOK(listDevices()).GetDevices().GetDevices()[0]
		return time.UnixMilli(int64(d.LastSeen)).UTC()
	}
	if got := seen(); !got.Equal(day1) {
		t.Fatalf("last seen after registering: %v, want %v", got, day1)
	}
	d2 := e.link(bob, 77, "")
	if d := bob.dev1().mustOK(listDevices()).GetDevices().GetDevices()[1]; d.LastSeen != 0 {
		t.Fatalf("a device that never connected was last seen at %d", d.LastSeen)
	}
	mu.Lock()
	now = now.Add(36 * time.Hour)
	mu.Unlock()
	e.dial(d2.noise).mustOK(ping())
	day2 := day1.Add(48 * time.Hour)
	deadline := time.Now().Add(patience)
	for {
		d, err := e.store.DeviceByNoiseKey(context.Background(), d2.noise.Public)
		if err != nil {
			t.Fatal(err)
		}
		if d.LastSeen.Equal(day2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device 2 last seen %v, want %v", d.LastSeen, day2)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := seen(); !got.Equal(day1) {
		t.Errorf("device 1, not connected since day 1, last seen %v", got)
	}
}

// TestDeviceNameLimit: a sealed name over MaxDeviceName bytes is refused.
func TestDeviceNameLimit(t *testing.T) {
	e := newEnv(t, nil)
	bob := e.register("bob", 0)
	long := bytes.Repeat([]byte{1}, relay.MaxDeviceName+1)
	expectStatus(t, bob.dev1(), &wire.Request{Op: &wire.Request_AddDevice{AddDevice: &wire.AddDevice{
		RegistrationId: 79, NoiseStaticKey: bytes.Repeat([]byte{7}, 32), Name: long,
		SignedPreKey: signed(t, bob.identity, 5), LastResortKyberPreKey: kyber(t, bob.identity, 6),
	}}}, wire.Status_BAD_REQUEST)
	noise := newKey(t)
	reg := registerReq(t, "carol", bob.identity, noise, nil, 0)
	reg.DeviceName = long
	expectStatus(t, e.dial(noise), &wire.Request{Op: &wire.Request_Register{Register: reg}}, wire.Status_BAD_REQUEST)
	reg.DeviceName = long[:relay.MaxDeviceName]
	e.dial(noise).mustOK(&wire.Request{Op: &wire.Request_Register{Register: reg}})
}

// TestRemovedDeviceCertificateLapses: the relay issues a removed device no
// sender certificate, and the one it got just before removal is refused by
// recipients within the default bound (it cannot be checked by the relay,
// which does not see the sender of a sealed envelope).
func TestRemovedDeviceCertificateLapses(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	e := newEnv(t, func(c *relay.Config) { c.Now = func() time.Time { return now } })
	bob := e.register("bob", 0)
	d2 := e.link(bob, 77, "")
	c2 := e.dial(d2.noise)
	getCert := &wire.Request{Op: &wire.Request_SenderCertificate{SenderCertificate: &wire.GetSenderCertificate{}}}
	cert, err := sealed.ParseSenderCertificate(c2.mustOK(getCert).GetSenderCertificate().GetCertificate())
	if err != nil {
		t.Fatal(err)
	}
	bob.dev1().mustOK(removeDevice(d2.id))
	skipToRemoved(t, c2)
	c2.waitClosed()

	c := e.dial(d2.noise)
	if p := c.nextPush(); p.GetRemoved() == nil {
		t.Fatalf("reconnected removed device got %v, want Removed", p)
	}
	expectStatus(t, c, getCert, wire.Status_DEVICE_REMOVED)
	c.waitClosed()

	bound := now.Add(2 * time.Hour) // the bound docs/design.md states
	if err := cert.Validate(e.trustRoot.Public, bound.Add(time.Second)); !errors.Is(err, sealed.ErrExpired) {
		t.Fatalf("the removed device's certificate at %v after removal: %v, want expired", bound.Sub(now), err)
	}
}

// TestDeviceIDsNotReused: a device linked after a removal never gets the
// removed device's id, even when it was the highest, so that contacts'
// sessions with "account.id" never point at another device.
func TestDeviceIDsNotReused(t *testing.T) {
	e := newEnv(t, nil)
	bob := e.register("bob", 0)
	d2 := e.link(bob, 77, "")
	d3 := e.link(bob, 78, "")
	bob.dev1().mustOK(removeDevice(d3.id))
	d4 := e.link(bob, 79, "")
	if d4.id == d3.id {
		t.Fatalf("the device linked after removing %d got its id", d3.id)
	}
	bob.dev1().mustOK(removeDevice(d4.id))
	bob.dev1().mustOK(removeDevice(d2.id))
	d5 := e.link(bob, 80, "")
	if d5.id != 5 {
		t.Fatalf("the device linked after removing 2, 3 and 4 got id %d, want 5", d5.id)
	}
	if ids := deviceIDs(t, bob.dev1()); !slices.Equal(ids, []uint32{1, 5}) {
		t.Fatalf("devices: %v, want [1 5]", ids)
	}
}
