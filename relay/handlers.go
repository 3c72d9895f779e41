package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"samizdat/relay/regwork"
	"samizdat/relay/wire"
	"samizdat/session/curve"
	"samizdat/session/kem"
	"samizdat/session/sealed"
	"samizdat/username"
)

// Response helpers. Reasons are short and never echo the peer's data.

func ok() *wire.Response { return &wire.Response{Status: wire.Status_OK} }

func fail(st wire.Status, reason string) *wire.Response {
	return &wire.Response{Status: st, Reason: reason}
}

func badRequest(reason string) *wire.Response { return fail(wire.Status_BAD_REQUEST, reason) }

func unauthenticated() *wire.Response {
	return fail(wire.Status_UNAUTHENTICATED, "this request needs a registered device")
}

func rateLimited(what string, after time.Duration) *wire.Response {
	r := fail(wire.Status_RATE_LIMITED, "rate limited: "+what)
	ms := after.Milliseconds()
	if after >= 24*time.Hour || after < 0 {
		ms = (24 * time.Hour).Milliseconds()
	}
	r.RetryAfterMs = uint64(max(ms, 1))
	return r
}

// internal logs err (which never holds keys or contents) and answers
// INTERNAL without details.
func (c *conn) internal(op string, err error) *wire.Response {
	if !c.closing() {
		c.log.Error("request failed", "op", op, "err", err)
	}
	return fail(wire.Status_INTERNAL, "relay error")
}

// handle answers one request that runs concurrently with others.
func (c *conn) handle(ctx context.Context, req *wire.Request) *wire.Response {
	c.mu.Lock()
	d, removed := c.dev, c.removed
	c.mu.Unlock()
	if removed {
		return deviceRemoved()
	}
	switch op := req.Op.(type) {
	case *wire.Request_Ping:
		return &wire.Response{Result: &wire.Response_Pong{Pong: &wire.Pong{ServerTime: millis(c.s.now())}}}
	case *wire.Request_SendSealed:
		return c.sendSealed(ctx, d, op.SendSealed)
	case *wire.Request_SendMulti:
		return c.sendMulti(ctx, d, op.SendMulti)
	case *wire.Request_Register:
		return c.register(ctx, op.Register)
	case *wire.Request_PostToChannel:
		return c.postToChannel(ctx, op.PostToChannel)
	case *wire.Request_ReadChannel:
		return c.readChannel(ctx, op.ReadChannel)
	case *wire.Request_ProvisionOpen:
		return c.provisionOpen(op.ProvisionOpen)
	case *wire.Request_ProvisionSend:
		return c.provisionSend(ctx, op.ProvisionSend)
	case nil:
		return badRequest("unknown request")
	}
	if d == nil {
		return unauthenticated()
	}
	if _, isAck := req.Op.(*wire.Request_Ack); !isAck {
		// An ack touches only the device's own mailbox: not worth a
		// look at the device list.
		if resp := c.checkDevice(ctx, *d); resp != nil {
			return resp
		}
	}
	switch op := req.Op.(type) {
	case *wire.Request_UploadPreKeys:
		return c.uploadPreKeys(ctx, *d, op.UploadPreKeys)
	case *wire.Request_PreKeyCount:
		return c.preKeyCount(ctx, *d)
	case *wire.Request_FetchBundles:
		return c.fetchBundles(ctx, *d, op.FetchBundles)
	case *wire.Request_Send:
		return c.send(ctx, *d, op.Send)
	case *wire.Request_Ack:
		return c.ack(ctx, *d, op.Ack)
	case *wire.Request_Lookup:
		return c.lookup(ctx, *d, op.Lookup)
	case *wire.Request_SenderCertificate:
		return c.senderCertificate(ctx, *d)
	case *wire.Request_AddDevice:
		return c.addDevice(ctx, *d, op.AddDevice)
	case *wire.Request_ListDevices:
		return c.listDevices(ctx, *d)
	case *wire.Request_RemoveDevice:
		return c.removeDevice(ctx, *d, op.RemoveDevice)
	case *wire.Request_CreateChannel:
		return c.createChannel(ctx, *d, op.CreateChannel)
	case *wire.Request_MakeInvite:
		return c.makeInvite(ctx, *d)
	case *wire.Request_UploadStart:
		return c.uploadStart(ctx, *d, op.UploadStart)
	case *wire.Request_UploadChunk:
		return c.uploadChunk(ctx, *d, op.UploadChunk)
	case *wire.Request_DownloadChunk:
		return c.downloadChunk(ctx, *d, op.DownloadChunk)
	case *wire.Request_ProvisionJoin:
		return c.provisionJoin(ctx, *d, op.ProvisionJoin)
	default:
		return badRequest("unknown request")
	}
}

// allow spends cost from the bucket kind/parts. The bucket's name is a
// keyed hash, so the store never learns who talks to whom.
func (c *conn) allow(ctx context.Context, kind string, r Rate, cost float64, parts ...[]byte) (bool, time.Duration, error) {
	if r.unlimited() {
		return true, 0, nil
	}
	m := hmac.New(sha256.New, c.s.salt)
	m.Write([]byte(kind))
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		m.Write(p)
	}
	key := kind + ":" + hex.EncodeToString(m.Sum(nil)[:16])
	return c.s.store.Allow(ctx, key, cost, r.Burst, r.PerSecond, c.s.now())
}

// limit is allow as a response: nil when allowed.
func (c *conn) limit(ctx context.Context, what, kind string, r Rate, cost float64, parts ...[]byte) *wire.Response {
	okay, after, err := c.allow(ctx, kind, r, cost, parts...)
	if err != nil {
		return c.internal("rate limit", err)
	}
	if !okay {
		c.s.obs.RateLimited(kind)
		c.log.Debug("rate limited", "limit", kind)
		return rateLimited(what, after)
	}
	return nil
}

func devBytes(d Device) []byte {
	b := make([]byte, 20)
	copy(b, d.Account[:])
	binary.BigEndian.PutUint32(b[16:], d.ID)
	return b
}

// validRegistrationID reports whether id is a Signal registration id
// (14 bits, nonzero).
func validRegistrationID(id uint32) bool { return id >= 1 && id <= 0x3fff }

// canonicalEC reports whether b is a DJB public key exactly as libsignal
// serializes it (type byte and 32 bytes, nothing after), so that what the
// relay stores and hands out is what was signed.
func canonicalEC(b []byte) bool {
	pk, err := curve.DecodePublicKey(b)
	return err == nil && bytes.Equal(pk.Bytes(), b)
}

// preKeys is a validated set of prekeys from a request.
type preKeys struct {
	signed     *SignedPreKey
	lastResort *SignedPreKey
	ec         []OneTimePreKey
	kyber      []SignedPreKey
}

// parsePreKeys checks keys against the account identity key ik: EC and
// Kyber keys must decode as libsignal serializes them and signed keys must
// carry ik's XEdDSA signature over the serialized public key. It returns a
// response when the keys are refused.
func (c *conn) parsePreKeys(ik curve.PublicKey, spk *wire.SignedPreKey, lr *wire.KyberPreKey, ec []*wire.OneTimePreKey, ky []*wire.KyberPreKey) (preKeys, *wire.Response) {
	var out preKeys
	if len(ec) > c.s.lim.MaxPreKeysPerCall || len(ky) > c.s.lim.MaxPreKeysPerCall {
		return out, badRequest(fmt.Sprintf("at most %d one-time prekeys of each kind per request", c.s.lim.MaxPreKeysPerCall))
	}
	if spk != nil {
		if !canonicalEC(spk.PublicKey) {
			return out, badRequest("malformed signed prekey")
		}
		if !ik.VerifySignature(spk.Signature, spk.PublicKey) {
			return out, fail(wire.Status_UNAUTHORIZED, "bad signed prekey signature")
		}
		out.signed = &SignedPreKey{ID: spk.Id, PublicKey: spk.PublicKey, Signature: spk.Signature}
	}
	kyber := func(k *wire.KyberPreKey) (SignedPreKey, *wire.Response) {
		if pk, err := kem.DecodePublicKey(k.PublicKey); err != nil || !bytes.Equal(pk.Bytes(), k.PublicKey) {
			return SignedPreKey{}, badRequest("malformed kyber prekey")
		}
		if !ik.VerifySignature(k.Signature, k.PublicKey) {
			return SignedPreKey{}, fail(wire.Status_UNAUTHORIZED, "bad kyber prekey signature")
		}
		return SignedPreKey{ID: k.Id, PublicKey: k.PublicKey, Signature: k.Signature}, nil
	}
	if lr != nil {
		k, r := kyber(lr)
		if r != nil {
			return out, r
		}
		out.lastResort = &k
	}
	for _, k := range ec {
		if k == nil {
			return out, badRequest("malformed one-time prekey")
		}
		if !canonicalEC(k.PublicKey) {
			return out, badRequest("malformed one-time prekey")
		}
		out.ec = append(out.ec, OneTimePreKey{ID: k.Id, PublicKey: k.PublicKey})
	}
	for _, k := range ky {
		if k == nil {
			return out, badRequest("malformed kyber prekey")
		}
		sk, r := kyber(k)
		if r != nil {
			return out, r
		}
		out.kyber = append(out.kyber, sk)
	}
	return out, nil
}

// store saves the keys for the device.
func (p preKeys) store(ctx context.Context, s Store, acct AccountID, dev uint32) error {
	if p.signed != nil {
		if err := s.SetSignedPreKey(ctx, acct, dev, *p.signed); err != nil {
			return err
		}
	}
	if p.lastResort != nil {
		if err := s.SetLastResortKyberPreKey(ctx, acct, dev, *p.lastResort); err != nil {
			return err
		}
	}
	if len(p.ec) > 0 || len(p.kyber) > 0 {
		return s.AddPreKeys(ctx, acct, dev, p.ec, p.kyber)
	}
	return nil
}

// register creates an account whose first device is this channel's key.
func (c *conn) register(ctx context.Context, r *wire.Register) *wire.Response {
	if c.device() != nil {
		return fail(wire.Status_CONFLICT, "this device is registered already")
	}
	if resp := c.admitRegistration(ctx, r.Work); resp != nil {
		return resp
	}
	name, err := username.Normalize(r.Username)
	if err != nil {
		return badRequest(username.Rule)
	}
	remote := c.nc.RemoteStatic()
	if !bytes.Equal(r.NoiseStaticKey, remote[:]) {
		return badRequest("noise_static_key is not this channel's key")
	}
	ik, err := curve.DecodePublicKey(r.IdentityKey)
	if err != nil || !bytes.Equal(ik.Bytes(), r.IdentityKey) { // canonical, as canonicalEC
		return badRequest("malformed identity key")
	}
	if !validRegistrationID(r.RegistrationId) {
		return badRequest("registration id must be 1-16383")
	}
	if n := len(r.UnidentifiedAccessKey); n != 0 && n != 16 {
		return badRequest("unidentified access key must be 16 bytes")
	}
	if r.SignedPreKey == nil || r.LastResortKyberPreKey == nil {
		return badRequest("signed prekey and last-resort kyber prekey are required")
	}
	if !validName(r.DeviceName) {
		return badRequest(fmt.Sprintf("a device name has at most %d bytes", MaxDeviceName))
	}
	keys, resp := c.parsePreKeys(ik, r.SignedPreKey, r.LastResortKyberPreKey, r.PreKeys, r.KyberPreKeys)
	if resp != nil {
		return resp
	}
	slot, resp := c.place(ctx, r.Inviter, remote)
	if resp != nil {
		return resp
	}
	var id AccountID
	if err := c.s.readRand(id[:]); err != nil {
		return c.internal("register", err)
	}
	id[6] = id[6]&0x0f | 0x40 // a version 4 UUID, as service ids are
	id[8] = id[8]&0x3f | 0x80
	now := c.s.now()
	acct := Account{
		ID:                             id,
		Username:                       name,
		IdentityKey:                    ik.Bytes(),
		UnidentifiedAccessKey:          r.UnidentifiedAccessKey,
		UnrestrictedUnidentifiedAccess: r.UnrestrictedUnidentifiedAccess,
		Created:                        now,
	}
	dev := Device{Account: id, ID: 1, RegistrationID: r.RegistrationId, NoiseKey: remote, Created: now,
		Name: nonEmpty(r.DeviceName), LastSeen: dayOf(now), Slot: slot}
	if err := c.s.store.CreateAccount(ctx, acct, dev); err != nil {
		if errors.Is(err, ErrConflict) {
			return fail(wire.Status_CONFLICT, "username or device key taken")
		}
		return c.internal("register", err)
	}
	if err := keys.store(ctx, c.s.store, id, 1); err != nil {
		// The account exists; the device can upload its keys again.
		c.authenticate(dev)
		return c.internal("register prekeys", err)
	}
	c.authenticate(dev)
	c.log.Debug("registered")
	return &wire.Response{Result: &wire.Response_Registered{Registered: &wire.Registered{AccountId: id[:], DeviceId: 1, Slot: slot}}}
}

// admitRegistration spends what a registration costs: a token of its
// address's budget where the address is the client's own, or through a
// shared proxy (whose address is every fronted user's) a proof of work
// bound to this channel's key. It returns a response when the
// registration is refused.
func (c *conn) admitRegistration(ctx context.Context, work []byte) *wire.Response {
	if c.src.capped {
		return c.limit(ctx, "too many registrations from this address", "reg", c.s.lim.Registrations, 1, []byte(c.src.addr))
	}
	bits := c.s.registrationWork(ctx)
	if bits == 0 {
		return nil
	}
	if !regwork.Check(c.s.cfg.NoiseKey.Public, c.nc.RemoteStatic(), work, bits) {
		c.s.obs.RateLimited("regwork")
		resp := fail(wire.Status_UNAUTHORIZED, "registration needs a proof of work")
		resp.WorkBits = uint32(bits)
		return resp
	}
	c.s.workDone(ctx)
	return nil
}

// limitSealed spends one sealed send (kind "sealed" or "multi", to the
// bucket named by parts) from its source's SealedMessages budget: the
// device's; an anonymous sender's address where it is the sender's own;
// or, through a shared proxy, whose address is every fronted user's, the
// connection's (kept in memory; ProxiedSealed caps what all such
// connections together send to one recipient, see limitProxied).
func (c *conn) limitSealed(ctx context.Context, d *Device, what, kind string, parts ...[]byte) *wire.Response {
	switch {
	case d != nil:
		return c.limit(ctx, what, kind, c.s.lim.SealedMessages, 1, append([][]byte{devBytes(*d)}, parts...)...)
	case c.src.capped:
		return c.limit(ctx, what, kind, c.s.lim.SealedMessages, 1, append([][]byte{[]byte(c.src.addr)}, parts...)...)
	}
	c.mu.Lock()
	okay, after := c.sealed.spend(c.s.clk.Now())
	c.mu.Unlock()
	if !okay {
		c.s.obs.RateLimited(kind)
		c.log.Debug("rate limited", "limit", kind)
		return rateLimited("too many messages on this connection", after)
	}
	return nil
}

// limitProxied spends one message to recipient from the ceiling over
// every anonymous connection through shared proxies (nil for others).
func (c *conn) limitProxied(ctx context.Context, d *Device, recipient []byte) *wire.Response {
	if d != nil || c.src.capped {
		return nil
	}
	return c.limit(ctx, "too many anonymous messages to this recipient", "psealed", c.s.lim.ProxiedSealed, 1, recipient)
}

// identityOf returns the account's identity key.
func (c *conn) identityOf(ctx context.Context, acct AccountID) (curve.PublicKey, error) {
	a, err := c.s.store.AccountByID(ctx, acct)
	if err != nil {
		return curve.PublicKey{}, err
	}
	return curve.DecodePublicKey(a.IdentityKey)
}

func (c *conn) addDevice(ctx context.Context, d Device, r *wire.AddDevice) *wire.Response {
	if resp := c.limit(ctx, "too many prekey uploads", "prekeys", c.s.lim.PreKeyUploads, 1, devBytes(d)); resp != nil {
		return resp
	}
	if len(r.NoiseStaticKey) != 32 || bytes.Equal(r.NoiseStaticKey, make([]byte, 32)) {
		return badRequest("noise_static_key must be 32 bytes")
	}
	if !validRegistrationID(r.RegistrationId) {
		return badRequest("registration id must be 1-16383")
	}
	if r.SignedPreKey == nil || r.LastResortKyberPreKey == nil {
		return badRequest("signed prekey and last-resort kyber prekey are required")
	}
	if !validName(r.Name) {
		return badRequest(fmt.Sprintf("a device name has at most %d bytes", MaxDeviceName))
	}
	ik, err := c.identityOf(ctx, d.Account)
	if err != nil {
		return c.internal("add device", err)
	}
	keys, resp := c.parsePreKeys(ik, r.SignedPreKey, r.LastResortKyberPreKey, r.PreKeys, r.KyberPreKeys)
	if resp != nil {
		return resp
	}
	// A linked device is in its account's cohort.
	nd := Device{Account: d.Account, RegistrationID: r.RegistrationId, Created: c.s.now(), Name: nonEmpty(r.Name),
		Slot: uint64(DeviceSlot(d))}
	copy(nd.NoiseKey[:], r.NoiseStaticKey)
	// Device ids rise and are never reused; a concurrent AddDevice may
	// take the id first.
	for attempt := 0; ; attempt++ {
		devs, err := c.s.store.Devices(ctx, d.Account)
		if err != nil {
			return c.internal("add device", err)
		}
		if len(devs) >= c.s.lim.MaxDevices {
			return fail(wire.Status_CONFLICT, fmt.Sprintf("an account has at most %d devices", c.s.lim.MaxDevices))
		}
		next, err := c.s.store.NextDeviceID(ctx, d.Account)
		if err != nil {
			return c.internal("add device", err)
		}
		if next > maxDeviceID {
			return fail(wire.Status_CONFLICT, "no device id left")
		}
		nd.ID = next
		err = c.s.store.AddDevice(ctx, nd)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConflict) {
			return c.internal("add device", err)
		}
		if attempt == 2 {
			return fail(wire.Status_CONFLICT, "device key or id taken")
		}
	}
	c.s.devs.forget(d.Account)
	if err := keys.store(ctx, c.s.store, d.Account, nd.ID); err != nil {
		return c.internal("add device prekeys", err)
	}
	return &wire.Response{Result: &wire.Response_Registered{Registered: &wire.Registered{AccountId: d.Account[:], DeviceId: nd.ID, Slot: nd.Slot}}}
}

func (c *conn) uploadPreKeys(ctx context.Context, d Device, r *wire.UploadPreKeys) *wire.Response {
	if resp := c.limit(ctx, "too many prekey uploads", "prekeys", c.s.lim.PreKeyUploads, 1, devBytes(d)); resp != nil {
		return resp
	}
	ik, err := c.identityOf(ctx, d.Account)
	if err != nil {
		return c.internal("upload prekeys", err)
	}
	keys, resp := c.parsePreKeys(ik, r.SignedPreKey, r.LastResortKyberPreKey, r.PreKeys, r.KyberPreKeys)
	if resp != nil {
		return resp
	}
	if err := keys.store(ctx, c.s.store, d.Account, d.ID); err != nil {
		return c.internal("upload prekeys", err)
	}
	return ok()
}

func (c *conn) preKeyCount(ctx context.Context, d Device) *wire.Response {
	ec, ky, err := c.s.store.CountPreKeys(ctx, d.Account, d.ID)
	if err != nil {
		return c.internal("count prekeys", err)
	}
	return &wire.Response{Result: &wire.Response_PreKeyCount{PreKeyCount: &wire.PreKeyCount{Ec: uint32(ec), Kyber: uint32(ky)}}}
}

// accountID parses a 16-byte account id.
func accountID(b []byte) (AccountID, bool) {
	var id AccountID
	if len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

func (c *conn) fetchBundles(ctx context.Context, d Device, r *wire.FetchBundles) *wire.Response {
	target, valid := accountID(r.AccountId)
	if !valid {
		return badRequest("account id must be 16 bytes")
	}
	devs, err := c.s.store.Devices(ctx, target)
	if errors.Is(err, ErrNotFound) {
		return fail(wire.Status_NOT_FOUND, "no such account")
	}
	if err != nil {
		return c.internal("fetch bundles", err)
	}
	if r.DeviceId != 0 {
		var found []Device
		for _, x := range devs {
			if x.ID == r.DeviceId {
				found = append(found, x)
			}
		}
		if len(found) == 0 {
			return fail(wire.Status_NOT_FOUND, "no such device")
		}
		devs = found
	}
	if resp := c.limit(ctx, "too many prekey fetches", "fetch", c.s.lim.PreKeyFetches, float64(len(devs)), devBytes(d)); resp != nil {
		return resp
	}
	out := &wire.Bundles{}
	for _, x := range devs {
		b, err := c.s.store.TakeBundle(ctx, target, x.ID)
		if errors.Is(err, ErrNotFound) {
			if r.DeviceId != 0 {
				return fail(wire.Status_NOT_FOUND, "device has no prekeys")
			}
			continue // a device without keys cannot start sessions; skip it
		}
		if err != nil {
			return c.internal("fetch bundles", err)
		}
		wb := &wire.Bundle{
			DeviceId:       b.Device.ID,
			RegistrationId: b.Device.RegistrationID,
			IdentityKey:    b.Identity,
			SignedPreKey:   &wire.SignedPreKey{Id: b.SignedPreKey.ID, PublicKey: b.SignedPreKey.PublicKey, Signature: b.SignedPreKey.Signature},
			KyberPreKey:    &wire.KyberPreKey{Id: b.KyberPreKey.ID, PublicKey: b.KyberPreKey.PublicKey, Signature: b.KyberPreKey.Signature},
		}
		if b.PreKey != nil {
			wb.PreKey = &wire.OneTimePreKey{Id: b.PreKey.ID, PublicKey: b.PreKey.PublicKey}
		}
		out.Bundles = append(out.Bundles, wb)
	}
	if len(out.Bundles) == 0 {
		return fail(wire.Status_NOT_FOUND, "no device has prekeys")
	}
	return &wire.Response{Result: &wire.Response_Bundles{Bundles: out}}
}

// checkDevices compares the devices a sender addressed with the recipient's
// devices (minus skip, the sending device itself). It returns a mismatch, a
// bad-request response, or neither.
func checkDevices(devs []Device, msgs []*wire.OutgoingMessage, skip uint32) (*wire.DeviceMismatch, *wire.Response) {
	want := make(map[uint32]uint32, len(devs)) // device id → registration id
	for _, d := range devs {
		if d.ID != skip {
			want[d.ID] = d.RegistrationID
		}
	}
	seen := make(map[uint32]bool, len(msgs))
	var mm wire.DeviceMismatch
	for _, m := range msgs {
		if m == nil {
			return nil, badRequest("empty message")
		}
		if seen[m.DeviceId] {
			return nil, badRequest("two messages for one device")
		}
		seen[m.DeviceId] = true
		reg, exists := want[m.DeviceId]
		switch {
		case !exists:
			mm.Extra = append(mm.Extra, m.DeviceId)
		case reg != m.RegistrationId:
			mm.Stale = append(mm.Stale, m.DeviceId)
		}
	}
	for _, d := range devs {
		if d.ID != skip && !seen[d.ID] {
			mm.Missing = append(mm.Missing, d.ID)
		}
	}
	if len(mm.Missing)+len(mm.Extra)+len(mm.Stale) == 0 {
		return nil, nil
	}
	return &mm, nil
}

// outgoing is a validated send request, for both SendMessages and
// SendSealed.
type outgoing struct {
	recipient AccountID
	envID     [16]byte
	timestamp uint64
	msgs      []*wire.OutgoingMessage
	bytes     int
}

func (c *conn) parseOutgoing(recipient, envID []byte, ts uint64, msgs []*wire.OutgoingMessage) (outgoing, *wire.Response) {
	var o outgoing
	var valid bool
	if o.recipient, valid = accountID(recipient); !valid {
		return o, badRequest("recipient must be 16 bytes")
	}
	if len(envID) != 16 {
		return o, badRequest("envelope id must be 16 bytes")
	}
	copy(o.envID[:], envID)
	if len(msgs) == 0 || len(msgs) > c.s.lim.MaxMessagesPerCall {
		return o, badRequest(fmt.Sprintf("a send carries 1-%d messages", c.s.lim.MaxMessagesPerCall))
	}
	for _, m := range msgs {
		if m == nil || len(m.Content) == 0 {
			return o, badRequest("empty message")
		}
		o.bytes += len(m.Content)
	}
	o.timestamp = ts
	o.msgs = msgs
	return o, nil
}

// deliverTo checks the recipient's device list, applies the recipient's
// byte limit and stores one envelope per device, answering only once they
// are durable.
func (c *conn) deliverTo(ctx context.Context, o outgoing, skip uint32, source *Device) *wire.Response {
	devs, err := c.s.devs.devices(ctx, c.s.store, o.recipient)
	if errors.Is(err, ErrNotFound) {
		return fail(wire.Status_NOT_FOUND, "no such account")
	}
	if err != nil {
		return c.internal("send", err)
	}
	mm, resp := checkDevices(devs, o.msgs, skip)
	if resp != nil {
		return resp
	}
	if mm != nil {
		r := fail(wire.Status_MISMATCHED_DEVICES, "device list changed")
		r.Result = &wire.Response_Mismatch{Mismatch: mm}
		return r
	}
	if resp := c.limit(ctx, "recipient receives too much", "rbytes", c.s.lim.RecipientBytes, float64(o.bytes), o.recipient[:]); resp != nil {
		return resp
	}
	now := c.s.now()
	envs := make([]Envelope, len(o.msgs))
	for i, m := range o.msgs {
		envs[i] = Envelope{
			ID:         o.envID,
			Account:    o.recipient,
			Device:     m.DeviceId,
			Type:       m.Type,
			Timestamp:  o.timestamp,
			ServerTime: now,
			Content:    m.Content,
		}
		if source != nil {
			envs[i].SourceAccount = source.Account
			envs[i].SourceDevice = source.ID
		} else {
			envs[i].Sealed = true
		}
	}
	if err := c.s.store.Append(ctx, envs); err != nil {
		if errors.Is(err, ErrQuotaExceeded) {
			return fail(wire.Status_QUOTA_EXCEEDED, "recipient mailbox full")
		}
		return c.internal("append", err)
	}
	kind := "send"
	if source == nil {
		kind = "sealed"
	}
	c.s.obs.MessagesIn(kind, len(envs))
	c.s.handOff(envs)
	return &wire.Response{Result: &wire.Response_Sent{Sent: &wire.Sent{}}}
}

func (c *conn) send(ctx context.Context, d Device, r *wire.SendMessages) *wire.Response {
	o, resp := c.parseOutgoing(r.Recipient, r.EnvelopeId, r.Timestamp, r.Messages)
	if resp != nil {
		return resp
	}
	if resp := c.limit(ctx, "too many messages to this recipient", "msg", c.s.lim.Messages, 1, d.Account[:], o.recipient[:]); resp != nil {
		return resp
	}
	var skip uint32
	if o.recipient == d.Account {
		skip = d.ID // a device does not send to itself
	}
	return c.deliverTo(ctx, o, skip, &d)
}

// sendSealed stores envelopes whose sender the relay does not learn. The
// sender proves it may reach the recipient with the recipient's
// unidentified access key, compared in constant time, unless the recipient
// accepts sealed envelopes from anyone.
func (c *conn) sendSealed(ctx context.Context, d *Device, r *wire.SendSealed) *wire.Response {
	o, resp := c.parseOutgoing(r.Recipient, r.EnvelopeId, r.Timestamp, r.Messages)
	if resp != nil {
		return resp
	}
	denied := fail(wire.Status_UNAUTHORIZED, "sealed sender access denied")
	a, err := c.s.store.AccountByID(ctx, o.recipient)
	if errors.Is(err, ErrNotFound) {
		return denied // do not tell anonymous senders which accounts exist
	}
	if err != nil {
		return c.internal("send sealed", err)
	}
	if !a.UnrestrictedUnidentifiedAccess {
		if len(a.UnidentifiedAccessKey) != 16 || len(r.UnidentifiedAccessKey) != 16 ||
			subtle.ConstantTimeCompare(a.UnidentifiedAccessKey, r.UnidentifiedAccessKey) != 1 {
			return denied
		}
	}
	var skip uint32
	if d != nil && d.Account == o.recipient {
		skip = d.ID
	}
	if resp := c.limitSealed(ctx, d, "too many messages to this recipient", "sealed", o.recipient[:]); resp != nil {
		return resp
	}
	if resp := c.limitProxied(ctx, d, o.recipient[:]); resp != nil {
		return resp
	}
	return c.deliverTo(ctx, o, skip, nil)
}

func (c *conn) ack(ctx context.Context, d Device, r *wire.Ack) *wire.Response {
	if len(r.EnvelopeIds) > c.s.lim.MaxAcksPerCall {
		return badRequest(fmt.Sprintf("at most %d ids per ack", c.s.lim.MaxAcksPerCall))
	}
	ids := make([][16]byte, len(r.EnvelopeIds))
	for i, b := range r.EnvelopeIds {
		if len(b) != 16 {
			return badRequest("envelope id must be 16 bytes")
		}
		copy(ids[i][:], b)
	}
	if len(ids) == 0 {
		return ok()
	}
	if err := c.s.store.Ack(ctx, d.Account, d.ID, ids); err != nil {
		return c.internal("ack", err)
	}
	return ok()
}

func (c *conn) lookup(ctx context.Context, d Device, r *wire.LookupUsername) *wire.Response {
	name, err := username.Normalize(r.Username)
	if err != nil {
		return badRequest(username.Rule)
	}
	if resp := c.limit(ctx, "too many lookups", "lookup", c.s.lim.Lookups, 1, devBytes(d)); resp != nil {
		return resp
	}
	a, err := c.s.store.AccountByUsername(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return fail(wire.Status_NOT_FOUND, "no such user")
	}
	if err != nil {
		return c.internal("lookup", err)
	}
	devs, err := c.s.store.Devices(ctx, a.ID)
	if err != nil {
		return c.internal("lookup", err)
	}
	f := &wire.UsernameFound{AccountId: a.ID[:], IdentityKey: a.IdentityKey}
	for _, x := range devs {
		f.DeviceIds = append(f.DeviceIds, x.ID)
	}
	return &wire.Response{Result: &wire.Response_Found{Found: f}}
}

// UUID formats an account id as a UUID string (lowercase, hyphenated), as
// sender certificates name senders.
func (id AccountID) UUID() string {
	h := hex.EncodeToString(id[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (c *conn) senderCertificate(ctx context.Context, d Device) *wire.Response {
	if c.s.cfg.ServerCertificate == nil {
		return fail(wire.Status_INTERNAL, "this relay does not issue sender certificates")
	}
	if d.ID < 1 || d.ID > maxDeviceID {
		return badRequest("device id out of range for a sender certificate")
	}
	ik, err := c.identityOf(ctx, d.Account)
	if err != nil {
		return c.internal("sender certificate", err)
	}
	cert, err := sealed.NewSenderCertificate(sealed.SenderCertificateParams{
		SenderUUID: d.Account.UUID(),
		DeviceID:   d.ID,
		Key:        ik,
		Expiration: c.s.now().Add(c.s.lim.CertificateTTL),
	}, c.s.cfg.ServerCertificate, c.s.cfg.ServerCertificateKey, randReader{c.s})
	if err != nil {
		return c.internal("sender certificate", err)
	}
	return &wire.Response{Result: &wire.Response_SenderCertificate{SenderCertificate: &wire.SenderCertificate{Certificate: cert.Bytes()}}}
}
