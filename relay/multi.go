package relay

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"samizdat/relay/wire"
	"samizdat/session/sealed"
)

// Multi-recipient sends (SendMultiRecipient): one sealed sender v2 message
// for many accounts, as Signal-Server's PUT /v1/messages/multi_recipient.
//
// Security property of the combined access key. The sender presents K, the
// XOR of the unidentified access keys of every recipient it lists with
// devices (16 zero bytes for a recipient whose account accepts sealed
// envelopes from anyone). The relay recomputes the XOR over the accounts it
// finds and compares in constant time. Access keys are 16 uniformly random
// bytes that only the account's contacts know, so for a set that contains a
// recipient R whose key the sender does not know, K is uniform from the
// sender's point of view: a guess succeeds with probability 2^-128, exactly
// as a guess of R's own key in a SendSealed would. A recipient listed twice
// is merged by the parser (its key counts once, so it cannot cancel out).
// An unknown recipient (or a PNI, which this relay does not serve) makes
// the request fail with the same UNAUTHORIZED answer as a wrong key, after
// the same lookups, so a request tells no more about which accounts exist
// than single sealed sends do: nothing, without every recipient's key.
// Device lists (MultiMismatch) are told only after access is granted, as
// for SendSealed.

// maxMultiDevices bounds the recipient devices of one SendMultiRecipient
// (a 1,000-member group with a few devices each fits in one request).
const maxMultiDevices = 4096

// maxMultiBytes bounds what one SendMultiRecipient stores: recipient
// devices times the size of each one's message. The relay stores a copy of
// the shared ciphertext per recipient, so this bounds the amplification of
// one frame (at most wire.MaxFrameSize) to four times its size.
const maxMultiBytes = 4 << 20

// multiLookups is how many recipients' accounts are read at once.
const multiLookups = 16

// reasonMalformedMulti is the Closing reason for a multi-recipient message
// that does not parse.
const reasonMalformedMulti = "malformed multi-recipient message"

// errMalformedMulti marks a SendMultiRecipient whose message is malformed;
// the relay closes the connection that sent it.
var errMalformedMulti = errors.New("relay: malformed multi-recipient message")

// multiRecipient is one recipient (listed with devices) of a multi send.
type multiRecipient struct {
	sid  sealed.ServiceID
	acct AccountID
	aci  bool                    // a PNI cannot be served: access is denied
	msgs []*wire.OutgoingMessage // one per device, all with the same content
}

// multiSend is a parsed SendMultiRecipient.
type multiSend struct {
	envID      [16]byte
	timestamp  uint64
	key        []byte // 16 bytes
	recipients []multiRecipient
	devices    int
}

// parseMulti checks r and cuts each recipient's message out of it. An
// error wrapping errMalformedMulti means the v2 message itself is
// malformed; other errors are bad requests whose text may go to the peer.
func parseMulti(r *wire.SendMultiRecipient) (*multiSend, error) {
	if len(r.EnvelopeId) != 16 {
		return nil, errors.New("envelope id must be 16 bytes")
	}
	if len(r.AccessKey) != 16 {
		return nil, errors.New("access key must be 16 bytes")
	}
	sm, err := sealed.ParseSentMessage(r.Message)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformedMulti, err)
	}
	ms := &multiSend{timestamp: r.Timestamp, key: r.AccessKey}
	copy(ms.envID[:], r.EnvelopeId)
	for i := range sm.Recipients {
		rc := &sm.Recipients[i]
		if rc.Excluded() {
			continue
		}
		ms.devices += len(rc.Devices)
		if ms.devices > maxMultiDevices {
			return nil, fmt.Errorf("a multi-recipient send reaches at most %d devices", maxMultiDevices)
		}
		// Every recipient's message has the same size; allocate no more
		// copies once they would exceed the bound.
		content := sm.ReceivedMessage(rc)
		if ms.devices*len(content) > maxMultiBytes {
			return nil, fmt.Errorf("a multi-recipient send stores at most %d bytes", maxMultiBytes)
		}
		var seen [128]bool
		mr := multiRecipient{sid: rc.ServiceID, acct: rc.ServiceID.UUID(), aci: rc.ServiceID.Kind() == sealed.KindACI,
			msgs: make([]*wire.OutgoingMessage, len(rc.Devices))}
		for j, d := range rc.Devices {
			if seen[d.DeviceID] {
				return nil, fmt.Errorf("%w: device listed twice", errMalformedMulti)
			}
			seen[d.DeviceID] = true
			mr.msgs[j] = &wire.OutgoingMessage{DeviceId: uint32(d.DeviceID), RegistrationId: uint32(d.RegistrationID),
				Type: envelopeTypeSealed, Content: content}
		}
		ms.recipients = append(ms.recipients, mr)
	}
	if len(ms.recipients) == 0 {
		return nil, errors.New("a multi-recipient send needs a recipient with devices")
	}
	return ms, nil
}

// envelopeTypeSealed is libsignal's CiphertextMessage type of a sealed
// sender message (UNIDENTIFIED_SENDER).
const envelopeTypeSealed = 6

// resolved is what the relay knows of one recipient.
type resolved struct {
	acct  Account
	devs  []Device
	found bool
}

// sendMulti stores one sealed v2 message for many recipients: one access
// check over all of them, one device check each, one Append for all.
func (c *conn) sendMulti(ctx context.Context, d *Device, r *wire.SendMultiRecipient) *wire.Response {
	ms, err := parseMulti(r)
	if errors.Is(err, errMalformedMulti) {
		c.log.Info("malformed multi-recipient message; closing", "size", len(r.Message))
		c.closeWith(reasonMalformedMulti, closingPush(reasonMalformedMulti))
		return badRequest(reasonMalformedMulti)
	}
	if err != nil {
		return badRequest(err.Error())
	}
	// One request counts as one sealed message of its source; each
	// recipient's byte budget is charged below, once access is granted.
	if resp := c.limitSealed(ctx, d, "too many multi-recipient sends", "multi"); resp != nil {
		return resp
	}

	found, err := c.resolve(ctx, ms.recipients)
	if err != nil {
		return c.internal("send multi", err)
	}
	var combined [16]byte
	denied := false
	for i, rc := range found {
		switch {
		case !rc.found || !ms.recipients[i].aci:
			denied = true
		case rc.acct.UnrestrictedUnidentifiedAccess:
		case len(rc.acct.UnidentifiedAccessKey) != 16:
			denied = true
		default:
			subtle.XORBytes(combined[:], combined[:], rc.acct.UnidentifiedAccessKey)
		}
	}
	if subtle.ConstantTimeCompare(combined[:], ms.key) != 1 || denied {
		return fail(wire.Status_UNAUTHORIZED, "sealed sender access denied")
	}

	var mm wire.MultiMismatch
	for i := range ms.recipients {
		rc := &ms.recipients[i]
		var skip uint32
		if d != nil && d.Account == rc.acct {
			skip = d.ID // a device does not send to itself
		}
		m, resp := checkDevices(found[i].devs, rc.msgs, skip)
		if resp != nil {
			return resp
		}
		if m != nil {
			mm.Recipients = append(mm.Recipients, &wire.RecipientMismatch{ServiceId: serviceIDBytes(rc.sid), Devices: m})
		}
	}
	if len(mm.Recipients) > 0 {
		resp := fail(wire.Status_MISMATCHED_DEVICES, "device list changed")
		resp.Result = &wire.Response_MultiMismatch{MultiMismatch: &mm}
		return resp
	}
	for _, rc := range ms.recipients {
		cost := float64(len(rc.msgs) * len(rc.msgs[0].Content))
		if resp := c.limit(ctx, "recipient receives too much", "rbytes", c.s.lim.RecipientBytes, cost, rc.acct[:]); resp != nil {
			return resp
		}
		if resp := c.limitProxied(ctx, d, rc.acct[:]); resp != nil {
			return resp
		}
	}

	now := c.s.now()
	envs := make([]Envelope, 0, ms.devices)
	for _, rc := range ms.recipients {
		for _, m := range rc.msgs {
			envs = append(envs, Envelope{ID: ms.envID, Account: rc.acct, Device: m.DeviceId, Type: m.Type,
				Sealed: true, Timestamp: ms.timestamp, ServerTime: now, Content: m.Content})
		}
	}
	full, err := c.appendMulti(ctx, ms.recipients, envs)
	if err != nil {
		return c.internal("append multi", err)
	}
	out := &wire.MultiSent{}
	kept, at := envs[:0], 0 // the envelopes stored, in place
	for i, rc := range ms.recipients {
		part := envs[at : at+len(rc.msgs)]
		at += len(rc.msgs)
		if full[i] {
			out.QuotaExceeded = append(out.QuotaExceeded, serviceIDBytes(rc.sid))
			continue
		}
		kept = append(kept, part...)
	}
	stored := len(kept)
	c.s.handOff(kept)
	c.s.obs.MessagesIn("multi", stored)
	resp := &wire.Response{Result: &wire.Response_MultiSent{MultiSent: out}}
	if stored == 0 {
		resp.Status, resp.Reason = wire.Status_QUOTA_EXCEEDED, "recipient mailbox full"
	}
	return resp
}

// serviceIDBytes is a service id as a recipient is named in responses: the
// 17-byte fixed-width form.
func serviceIDBytes(s sealed.ServiceID) []byte { return append([]byte(nil), s[:]...) }

// resolve reads each recipient's account and devices: in one call when
// the store can (AccountsBatch), else multiLookups at a time. A recipient
// that does not exist, or is not an ACI, comes back with found false.
func (c *conn) resolve(ctx context.Context, rcs []multiRecipient) ([]resolved, error) {
	out := make([]resolved, len(rcs))
	if b, ok := c.s.store.(AccountsBatch); ok {
		ids := make([]AccountID, len(rcs))
		for i := range rcs {
			ids[i] = rcs[i].acct
		}
		got, err := b.AccountsDevices(ctx, ids)
		if err != nil {
			return nil, err
		}
		for i, g := range got {
			if rcs[i].aci && g.Found && len(g.Devices) > 0 {
				out[i] = resolved{acct: g.Account, devs: g.Devices, found: true}
			}
		}
		return out, nil
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(multiLookups)
	for i := range rcs {
		if !rcs[i].aci {
			continue
		}
		g.Go(func() error {
			a, err := c.s.store.AccountByID(ctx, rcs[i].acct)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			devs, err := c.s.devs.devices(ctx, c.s.store, rcs[i].acct)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			out[i] = resolved{acct: a, devs: devs, found: true}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// appendMulti stores envs (the envelopes of rcs, in order) in one Append.
// If a recipient's mailbox is full, that Append stores nothing; then each
// recipient's envelopes are appended on their own (concurrently, so the
// store still commits them together) and full reports whose mailbox
// refused them. Other recipients are not held hostage by one full mailbox.
func (c *conn) appendMulti(ctx context.Context, rcs []multiRecipient, envs []Envelope) (full []bool, err error) {
	full = make([]bool, len(rcs))
	err = c.s.store.Append(ctx, envs)
	if err == nil || !errors.Is(err, ErrQuotaExceeded) {
		return full, err
	}
	var g errgroup.Group
	g.SetLimit(multiLookups)
	at := 0
	for i, rc := range rcs {
		part := envs[at : at+len(rc.msgs)]
		at += len(rc.msgs)
		g.Go(func() error {
			err := c.s.store.Append(ctx, part)
			if errors.Is(err, ErrQuotaExceeded) {
				full[i] = true
				return nil
			}
			return err
		})
	}
	return full, g.Wait()
}
