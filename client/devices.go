package client

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/proto"

	"samizdat/client/clientdb"
	"samizdat/relay/wire"
	"samizdat/session/curve"
)

// The account's devices, as Signal models them: device 1 (the primary,
// which registered the account) links others and may remove them; a
// removed device is refused by the relay from then on, and the account's
// other devices and its contacts stop encrypting for it.

// Errors about devices that callers branch on.
var (
	// ErrDeviceRemoved: this device was removed from its account; the
	// relay refuses it for good. Its home can no longer send or receive.
	ErrDeviceRemoved = errors.New("client: this device was removed from its account")
	// ErrNotPrimary: only the primary device (1) removes devices.
	ErrNotPrimary = errors.New("client: only the primary device (1) removes devices")
	// ErrRemoveSelf: a device cannot remove itself.
	ErrRemoveSelf = errors.New("client: a device cannot remove itself")
	// ErrNoSuchDevice: the account has no device with that id.
	ErrNoSuchDevice = errors.New("client: no such device")
)

// primaryDevice is the id of the device that registered the account.
const primaryDevice = 1

// MaxDeviceName bounds a device name, in bytes of UTF-8.
const MaxDeviceName = 64

// Device is one device of the account, as Devices lists it.
type Device struct {
	ID       uint32
	Name     string    // "" when it has none, or when it could not be opened
	Created  time.Time // when it was registered or linked
	LastSeen time.Time // the start (UTC) of the day it last connected; zero if unknown
	Current  bool      // this device
}

// Devices asks the relay for the account's devices, ordered by id.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	resp, err := c.call(ctx, "list devices", &wire.Request{Op: &wire.Request_ListDevices{ListDevices: &wire.ListDevices{}}})
	if err != nil {
		return nil, err
	}
	identity, err := c.db.Store().IdentityKeyPair(ctx)
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, d := range resp.GetDevices().GetDevices() {
		name, err := openName(identity.Private, d.Name)
		if err != nil {
			c.cfg.Logger.Debug("a device name did not open", "device", d.Id, "err", err)
		}
		out = append(out, Device{ID: d.Id, Name: name, Created: fromMillis(d.Created), LastSeen: fromMillis(d.LastSeen), Current: d.Id == c.device})
	}
	return out, nil
}

func fromMillis(ms uint64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms)).UTC()
}

// RemoveDevice removes device id from the account: the relay deletes its
// keys and mailbox, closes its connection and refuses it from then on; the
// account's other devices are told, and contacts stop encrypting for it at
// their next send. Only the primary device may, and not for itself.
func (c *Client) RemoveDevice(ctx context.Context, id uint32) error {
	switch {
	case id == c.device:
		return ErrRemoveSelf
	case c.device != primaryDevice:
		return ErrNotPrimary
	}
	_, err := c.call(ctx, "remove device", &wire.Request{Op: &wire.Request_RemoveDevice{RemoveDevice: &wire.RemoveDevice{DeviceId: id}}})
	var se *StatusError
	if errors.As(err, &se) && se.Status == wire.Status_NOT_FOUND {
		return fmt.Errorf("%w: %d", ErrNoSuchDevice, id)
	}
	if err != nil {
		return err
	}
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	return c.db.Tx(ctx, func(s *clientdb.Store) error { return c.forgetOwnDevice(ctx, s, id) })
}

// forgetOwnDevice stops encrypting for one of the account's own devices:
// its session is archived and it leaves the account's own device list.
// The caller holds sessMu.
func (c *Client) forgetOwnDevice(ctx context.Context, s *clientdb.Store, id uint32) error {
	if err := archiveSession(ctx, s, addr(c.account, id)); err != nil {
		return err
	}
	ct, err := s.ContactByAccount(ctx, c.account)
	if errors.Is(err, clientdb.ErrNotFound) {
		return nil // we never wrote to ourselves
	}
	if err != nil {
		return err
	}
	ct.Devices = slices.DeleteFunc(ct.Devices, func(d uint32) bool { return d == id })
	ct.Updated = c.cfg.Now()
	return s.PutContact(ctx, ct)
}

// errBadNotice marks an account notice that is not one: not from our own
// account, or malformed.
var errBadNotice = fmt.Errorf("%w: account notice", errMalformedContent)

// notice applies an AccountNotice the relay stored for this device. The
// relay is the one telling (it keeps the device lists, so it could not lie
// about more than it already can), and only about our own account.
func (c *Client) notice(ctx context.Context, s *clientdb.Store, env *wire.Envelope) ([]Event, error) {
	var n wire.AccountNotice
	if !slices.Equal(env.SourceAccount, c.account[:]) || proto.Unmarshal(env.Content, &n) != nil {
		return nil, errBadNotice
	}
	if n.RemovedDevice == 0 || n.RemovedDevice == c.device {
		return nil, nil // about no device, or this one (which the relay refuses anyway)
	}
	if err := c.forgetOwnDevice(ctx, s, n.RemovedDevice); err != nil {
		return nil, err
	}
	return []Event{{Kind: EventDeviceRemoved, Device: n.RemovedDevice}}, nil
}

// Device names are sealed with a key that every device of the account
// derives from the identity private key they share, so that the relay,
// which stores them, cannot read them (as Signal encrypts device names to
// the identity key). A sealed name is a random XChaCha20-Poly1305 nonce
// and the ciphertext.

const nameInfo = "samizdat device name v1"

func nameAEAD(identity curve.PrivateKey) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, identity.Bytes(), nil, nameInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(key)
}

// CheckDeviceName reports whether name fits as a device name
// (Config.DeviceName): at most MaxDeviceName bytes of UTF-8.
func CheckDeviceName(name string) error {
	if len(name) > MaxDeviceName || !utf8.ValidString(name) {
		return fmt.Errorf("client: a device name is at most %d bytes of UTF-8", MaxDeviceName)
	}
	return nil
}

// sealName seals a device name ("" seals to nil: no name).
func (cfg Config) sealName(identity curve.PrivateKey, name string) ([]byte, error) {
	if name == "" {
		return nil, nil
	}
	if err := CheckDeviceName(name); err != nil {
		return nil, err
	}
	aead, err := nameAEAD(identity)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := cfg.Rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(name), []byte(nameInfo)), nil
}

// openName opens a sealed device name (nil: no name).
func openName(identity curve.PrivateKey, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	if len(sealed) < chacha20poly1305.NonceSizeX {
		return "", errors.New("client: sealed device name too short")
	}
	aead, err := nameAEAD(identity)
	if err != nil {
		return "", err
	}
	name, err := aead.Open(nil, sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:], []byte(nameInfo))
	if err != nil {
		return "", errors.New("client: a device name did not open")
	}
	if CheckDeviceName(string(name)) != nil {
		return "", errors.New("client: a device name opened to something that is not one")
	}
	return string(name), nil
}

// DefaultDeviceListMaxAge is Config.DeviceListMaxAge's default.
const DefaultDeviceListMaxAge = 10 * time.Minute

// errRemovedSender refuses a message from a device its account no longer
// has.
var errRemovedSender = errors.New("client: the sending device was removed from its account")

// senderRemoved reports whether sender, a device of a known contact (or of
// our own account), is no longer one of its account's devices. The relay
// refuses a removed device at once, but cannot see who sent a sealed
// message: a removed device keeps sending them while the sender
// certificate it holds lasts (2 h). So a message from a device missing
// from the contact's device list, or one from a list older than
// Config.DeviceListMaxAge, has the list asked for again (a lookup); a
// device not in the new list was removed (device ids are never given
// again), and its session is archived. The answer is no when the list
// cannot be had (a stranger, a name gone, a lookup refused or failed); an
// error only when the database fails.
func (c *Client) senderRemoved(ctx context.Context, s *clientdb.Store, sender [16]byte, device uint32) (bool, error) {
	ct, err := s.ContactByAccount(ctx, sender)
	if errors.Is(err, clientdb.ErrNotFound) {
		return false, nil // a stranger: peerName looks them up
	}
	if err != nil {
		return false, err
	}
	now := c.cfg.Now()
	if slices.Contains(ct.Devices, device) && now.Sub(ct.Updated) < c.cfg.DeviceListMaxAge && !now.Before(ct.Updated) {
		return false, nil
	}
	// Network call inside the transaction, as peerName's. Whatever
	// keeps the list from us (no such name, the lookup budget spent, the
	// connection gone) leaves the message to the certificate's bound
	// rather than hold up the mailbox.
	f, err := c.lookup(ctx, ct.Username)
	if err != nil {
		c.cfg.Logger.Debug("contact's devices not refreshed", "err", err)
		return false, nil
	}
	if len(f.AccountId) != 16 || [16]byte(f.AccountId) != sender {
		return false, nil // the name is another account's now
	}
	ct.Devices = slices.Sorted(slices.Values(f.DeviceIds))
	ct.Updated = now
	ct.AccessKey = nil // PutContact keeps the one stored
	if err := s.PutContact(ctx, ct); err != nil {
		return false, err
	}
	if slices.Contains(ct.Devices, device) {
		return false, nil
	}
	return true, archiveSession(ctx, s, addr(sender, device))
}
