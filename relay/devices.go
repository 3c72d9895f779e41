package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/relay/wire"
)

// An account's devices: listing them, removing one, and when each was last
// seen.
//
// Removal follows Signal's model: the primary device (1) unlinks a linked
// device; a linked device cannot remove others, and no device removes
// itself. The store deletes the device's keys and mailbox and keeps its
// noise key as removed; the relay closes the device's connection here
// (Push.removed) and wakes its mailbox, so that a delivering connection of
// it on another relay node sharing the store finds it removed (a wake-up
// that brings no mail has the connection check its device) and closes
// too. Every request of an authenticated device (acks aside) checks the
// device against its account's cached device list, so a connection that
// no wake-up reaches is refused at its next request within
// DeviceCacheTTL. A removed device that connects again is answered
// DEVICE_REMOVED. The account's other devices find an AccountNotice in
// their mailboxes, and senders learn of the change from the device
// mismatch of their next send, after which they no longer encrypt for the
// removed device.

// reasonRemoved is the Closing reason for a removed device's connection.
const reasonRemoved = "device removed from its account"

// primaryDevice is the id of an account's first device, the one that may
// remove the others.
const primaryDevice = 1

// removedPush tells a connection that its device was removed.
func removedPush() *wire.Push {
	return &wire.Push{Body: &wire.Push_Removed{Removed: &wire.Removed{}}}
}

// deviceRemoved answers every request of a removed device.
func deviceRemoved() *wire.Response {
	return fail(wire.Status_DEVICE_REMOVED, "this device was removed from its account; link it again as a new device")
}

// dayOf is the start (UTC) of t's day: the relay keeps when a device was
// last seen to the day, as Signal does, and no finer.
func dayOf(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// validName reports whether a sealed device name fits.
func validName(b []byte) bool { return len(b) <= MaxDeviceName }

// nonEmpty is b, or nil when b is empty.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// listDevices answers the account's devices.
func (c *conn) listDevices(ctx context.Context, d Device) *wire.Response {
	devs, err := c.s.store.Devices(ctx, d.Account)
	if err != nil {
		return c.internal("list devices", err)
	}
	out := &wire.DeviceList{}
	for _, x := range devs {
		out.Devices = append(out.Devices, &wire.DeviceInfo{Id: x.ID, Name: x.Name, Created: millis(x.Created), LastSeen: millis(x.LastSeen)})
	}
	return &wire.Response{Result: &wire.Response_Devices{Devices: out}}
}

// removeDevice removes another device of the primary's account.
func (c *conn) removeDevice(ctx context.Context, d Device, r *wire.RemoveDevice) *wire.Response {
	if d.ID != primaryDevice {
		return fail(wire.Status_UNAUTHORIZED, fmt.Sprintf("only the primary device (%d) removes devices", primaryDevice))
	}
	if r.DeviceId == d.ID {
		return badRequest("a device cannot remove itself")
	}
	err := c.s.store.RemoveDevice(ctx, d.Account, r.DeviceId)
	if errors.Is(err, ErrNotFound) {
		return fail(wire.Status_NOT_FOUND, "no such device")
	}
	if err != nil {
		return c.internal("remove device", err)
	}
	c.s.devs.forget(d.Account)
	c.s.closeRemoved(deviceKey{d.Account, r.DeviceId})
	c.s.hub.Notify(d.Account, r.DeviceId) // its connection on another node, if any
	c.log.Info("removed a device")
	switch err := c.noticeRemoved(ctx, d, r.DeviceId); {
	case err == nil || c.closing():
	case errors.Is(err, ErrQuotaExceeded):
		// The removal stands; the others learn of it from their next
		// send's device mismatch instead.
		c.log.Info("a device's mailbox is full; removal notices not stored")
	default:
		c.log.Error("storing removal notices", "err", err)
	}
	return ok()
}

// noticeRemoved stores an AccountNotice of the removal for every device
// of the account but the primary that asked, and wakes them.
func (c *conn) noticeRemoved(ctx context.Context, primary Device, removed uint32) error {
	devs, err := c.s.store.Devices(ctx, primary.Account)
	if err != nil {
		return err
	}
	content, err := proto.Marshal(&wire.AccountNotice{RemovedDevice: removed})
	if err != nil {
		return err
	}
	var id [16]byte
	if err := c.s.readRand(id[:]); err != nil {
		return err
	}
	now := c.s.now()
	var envs []Envelope
	for _, x := range devs {
		if x.ID == primary.ID {
			continue
		}
		envs = append(envs, Envelope{ID: id, Account: primary.Account, Device: x.ID, Type: wire.TypeAccountNotice,
			SourceAccount: primary.Account, Timestamp: millis(now), ServerTime: now, Content: content})
	}
	if len(envs) == 0 {
		return nil
	}
	if err := c.s.store.Append(ctx, envs); err != nil {
		return err
	}
	c.s.handOff(envs)
	return nil
}

// closeRemoved closes the live connection of a removed device, if it has
// one here.
func (s *Server) closeRemoved(k deviceKey) {
	s.mu.Lock()
	c := s.live[k]
	s.mu.Unlock()
	if c != nil {
		c.closeLater(reasonRemoved, removedPush())
	}
}

// removedNow asks the store whether the connection's device has been
// removed.
func (c *conn) removedNow(ctx context.Context) (bool, error) {
	_, err := c.s.store.DeviceByNoiseKey(ctx, c.nc.RemoteStatic())
	switch {
	case errors.Is(err, ErrDeviceRemoved), errors.Is(err, ErrNotFound):
		return true, nil
	case err != nil:
		return false, err
	}
	return false, nil
}

// stillDevice checks that the connection's device has not been removed
// (on another node: see the top of this file) and closes the connection if
// it has. It is called after a wake-up that brought no mail, so it costs a
// read only then. A failed read is not a removal.
func (c *conn) stillDevice(ctx context.Context) bool {
	if removed, _ := c.removedNow(ctx); removed {
		c.log.Debug("device removed; closing")
		c.closeWith(reasonRemoved, removedPush())
		return false
	}
	return true
}

// checkDevice answers DEVICE_REMOVED (and marks the connection so) when
// d is no longer a device of its account. It looks in the account's
// device list, cached for DeviceCacheTTL as for a send to the account, and
// only when d is not there asks the store; so a removed device's
// connection that another node still serves (not delivering, it is not
// woken) is refused at its next request within DeviceCacheTTL, for the
// price of a cache lookup per request. It returns nil when d is current.
func (c *conn) checkDevice(ctx context.Context, d Device) *wire.Response {
	devs, err := c.s.devs.devices(ctx, c.s.store, d.Account)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c.internal("device list", err)
	}
	for _, x := range devs {
		if x.ID == d.ID && x.NoiseKey == d.NoiseKey {
			return nil
		}
	}
	// Not in the list, which may predate the device (linked through
	// another node less than DeviceCacheTTL ago): the store decides.
	removed, err := c.removedNow(ctx)
	if err != nil {
		return c.internal("device check", err)
	}
	if !removed {
		c.s.devs.forget(d.Account)
		return nil
	}
	c.mu.Lock()
	c.removed = true
	c.mu.Unlock()
	return deviceRemoved()
}

// noteSeen records, at most once a day, that d connected. It runs as the
// connection's work, so that the connection does not wait for the write.
func (c *conn) noteSeen(d Device) {
	today := dayOf(c.s.now())
	if !d.LastSeen.Before(today) {
		return
	}
	ctx := c.begin()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.end()
		err := c.s.store.SetLastSeen(ctx, d.Account, d.ID, today)
		if err != nil && !c.closing() && !errors.Is(err, ErrNotFound) {
			c.log.Warn("recording when a device was last seen", "err", err)
		}
	}()
}
