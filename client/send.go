package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"samizdat/client/clientdb"
	"samizdat/client/internal/contentpb"
	"samizdat/relay/wire"
	"samizdat/session"
	"samizdat/session/curve"
	"samizdat/session/kem"
	"samizdat/username"
)

// ErrGaveUp means a queued message was dropped from the outbox because the
// relay refused it for good (no such user, a malformed request).
var ErrGaveUp = errors.New("client: message dropped")

// NormalizeUsername trims and lowercases a username as the relay does
// (username.Canonical); username.Normalize also checks it.
func NormalizeUsername(name string) string {
	return username.Canonical(name)
}

// Send queues text for the user to and sends the outbox (oldest first). It
// returns the history entry once the relay has acknowledged the message as
// durable. Otherwise the error says why, and the message stays in the outbox
// for the next Send, Flush or Receive (unless the relay refused it for good:
// ErrGaveUp).
//
// When to is the local name of a group we are in, the text goes to the
// group (SendGroup).
func (c *Client) Send(ctx context.Context, to, text string) (clientdb.Message, error) {
	return c.sendTo(ctx, to, text, nil)
}

// sendTo is Send with an optional file (SendFile, nil for none): its
// pointer goes into the content, its label before the text in the
// history, and the transaction that queues the message forgets its upload.
func (c *Client) sendTo(ctx context.Context, to, text string, f *fileSend) (clientdb.Message, error) {
	peer, g, err := c.target(ctx, to)
	if err != nil {
		return clientdb.Message{}, err
	}
	if g != nil {
		return c.sendGroup(ctx, *g, text, f)
	}
	msg := clientdb.Message{Peer: peer, Outgoing: true, Body: f.label(text)}
	content := &contentpb.Content{Body: &contentpb.Content_Text{Text: &contentpb.Text{Body: text}}, Attachment: f.pointer()}
	return c.queueText(ctx, msg, content,
		func(s *clientdb.Store) error {
			if err := f.sent(ctx, s); err != nil {
				return err
			}
			// Writing to someone accepts them (a reply accepts a request).
			return c.accept(ctx, s, peer)
		})
}

// target resolves the name a message goes to: the local name of a group
// we are in (g set, peer its GroupPeer), else a username (normalized).
func (c *Client) target(ctx context.Context, to string) (peer string, g *clientdb.Group, err error) {
	if g, err := c.db.Store().GroupByName(ctx, NormalizeUsername(to)); err == nil {
		return clientdb.GroupPeer(g.ID), &g, nil
	} else if !errors.Is(err, clientdb.ErrNotFound) {
		return "", nil, err
	}
	peer, err = username.Normalize(to)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrNoSuchUser, err)
	}
	return peer, nil, nil
}

// queueText adds msg (an outgoing text to msg.Peer) to the history and
// content to the outbox, in one transaction with before, and sends the
// outbox. It returns once the relay has acknowledged the message as
// durable (see Send).
func (c *Client) queueText(ctx context.Context, msg clientdb.Message, content *contentpb.Content, before func(*clientdb.Store) error) (clientdb.Message, error) {
	now := c.cfg.Now()
	var eid [16]byte
	if _, err := c.cfg.Rand.Read(eid[:]); err != nil {
		return clientdb.Message{}, err
	}
	timer, err := c.outgoingTimer(ctx, msg.Peer)
	if err != nil {
		return clientdb.Message{}, err
	}
	content.ExpireTimer = timer
	enc, err := c.stampContent(content, now)
	if err != nil {
		return clientdb.Message{}, err
	}
	msg.EnvelopeID, msg.SentAt, msg.At, msg.Status = eid, now, now, clientdb.StatusQueued
	err = c.db.Tx(ctx, func(s *clientdb.Store) error {
		if err := before(s); err != nil {
			return err
		}
		id, err := s.AddMessage(ctx, msg)
		if err != nil {
			return err
		}
		msg.ID = id
		if err := c.expireStored(ctx, s, id, content); err != nil {
			return err
		}
		// The copy for our other devices goes first, so that it is in
		// their mailboxes before any receipt for the message can be.
		if err := c.syncSent(ctx, s, msg, content); err != nil {
			return err
		}
		return s.Enqueue(ctx, clientdb.Outgoing{EnvelopeID: eid, Peer: msg.Peer, Content: enc, Timestamp: now, MessageID: id})
	})
	if err != nil {
		return clientdb.Message{}, err
	}
	results, err := c.Flush(ctx)
	if r, ok := results[eid]; ok {
		if r == nil {
			msg.Status = clientdb.StatusSent
		}
		return msg, r
	}
	// Another flush (the receive loop's) may have sent it.
	m, mErr := c.db.Store().MessageByEnvelope(ctx, eid)
	if mErr != nil {
		return msg, mErr
	}
	msg.Status = m.Status
	switch {
	case m.Status == clientdb.StatusSent || m.Status == clientdb.StatusDelivered:
		return msg, nil
	case m.Status == StatusFailed:
		return msg, ErrGaveUp
	case err == nil:
		err = errors.New("client: message not sent yet")
	}
	return msg, err
}

// Flush queues the bridge offers due (AnnounceBridges), sends the outbox in
// order and reports what happened to each message it tried (nil:
// acknowledged and removed). A message that fails for a
// reason that may pass stays queued, and so do the later ones to the same
// user (their order is kept); when the relay itself is out of reach Flush
// stops there. It returns the first such error.
func (c *Client) Flush(ctx context.Context) (map[[16]byte]error, error) {
	// The bridge offers due go with this flush.
	if _, err := c.AnnounceBridges(ctx); err != nil {
		c.cfg.Logger.Debug("bridge offers not queued", "err", err)
	}
	// A flush waiting for the connection holds the token; the receive
	// loop's flush must still give up when its connection ends, so that
	// Receive can adopt the next one that flush waits for.
	select {
	case c.sendSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sendSem }()
	defer c.endAnonBurst() // sealed sends of the next flush go on a new channel
	out, err := c.db.Store().Outbox(ctx)
	if err != nil {
		return nil, err
	}
	results := make(map[[16]byte]error)
	blocked := make(map[string]bool) // users with an earlier message still queued
	var firstErr error
	for _, o := range out {
		if blocked[o.Peer] {
			continue
		}
		err := c.sendOne(ctx, o)
		if err == nil {
			if err := c.db.Tx(ctx, func(s *clientdb.Store) error {
				if err := s.Dequeue(ctx, o.EnvelopeID); err != nil {
					return err
				}
				_, err := s.SetMessageStatus(ctx, o.EnvelopeID, clientdb.StatusSent)
				return err
			}); err != nil {
				return results, err
			}
			results[o.EnvelopeID] = nil
			if o.MessageID != 0 {
				c.emit(Event{Kind: EventSent, Peer: c.peerLabel(ctx, o.Peer), EnvelopeID: o.EnvelopeID, SentAt: o.Timestamp})
			}
			continue
		}
		var se *StatusError
		if errors.As(err, &se) && !se.transient() || errors.Is(err, ErrNoSuchUser) || errors.Is(err, ErrNotMember) {
			// Refused for good: keep the history, drop the message.
			err = fmt.Errorf("%w: %w", ErrGaveUp, err)
			if dErr := c.db.Tx(ctx, func(s *clientdb.Store) error {
				if err := s.Dequeue(ctx, o.EnvelopeID); err != nil {
					return err
				}
				_, err := s.SetMessageStatus(ctx, o.EnvelopeID, StatusFailed)
				return err
			}); dErr != nil {
				return results, dErr
			}
			results[o.EnvelopeID] = err
			if o.MessageID != 0 {
				c.emit(Event{Kind: EventFailed, Peer: c.peerLabel(ctx, o.Peer), EnvelopeID: o.EnvelopeID, Err: err})
			}
			continue
		}
		results[o.EnvelopeID] = err
		_ = c.db.Store().NoteAttempt(ctx, o.EnvelopeID, err.Error())
		if firstErr == nil {
			firstErr = err
		}
		if !errors.As(err, &se) || ctx.Err() != nil {
			return results, firstErr // the relay is out of reach
		}
		blocked[o.Peer] = true // refused for now (rate limit, full mailbox)
	}
	return results, firstErr
}

// StatusFailed marks an outgoing message the relay refused for good.
const StatusFailed = 9

// sendOne encrypts o for every device of its recipient and sends it,
// correcting the device list when the relay reports a mismatch.
func (c *Client) sendOne(ctx context.Context, o clientdb.Outgoing) error {
	if id, ok := clientdb.ParseGroupPeer(o.Peer); ok {
		return c.sendGroupOne(ctx, o, id)
	}
	contact, err := c.contact(ctx, o.Peer, false)
	if err != nil {
		return err
	}
	padded := pad(c.stamp(o.Content))
	redialed := false
	for attempt := 0; ; attempt++ {
		devices := c.recipientDevices(contact)
		if len(devices) == 0 {
			if contact.AccountID == c.account {
				return nil // no other device of our own to tell
			}
			// Refresh once: the contact may have devices now.
			if contact, err = c.contact(ctx, o.Peer, true); err != nil {
				return err
			}
			if len(contact.Devices) == 0 {
				return fmt.Errorf("%w: %s has no devices", ErrNoSuchUser, o.Peer)
			}
			continue
		}
		sent := false
		if len(contact.AccessKey) == 16 && contact.AccountID != c.account && !c.cfg.NoSealedSender {
			sent, err = c.sendSealed(ctx, o, contact, devices, padded)
		}
		if !sent {
			var msgs []*wire.OutgoingMessage
			msgs, err = c.encryptFor(ctx, contact, devices, padded)
			if err != nil {
				return err
			}
			_, err = c.call(ctx, "send", &wire.Request{Op: &wire.Request_Send{Send: &wire.SendMessages{
				Recipient:  contact.AccountID[:],
				Messages:   msgs,
				Timestamp:  uint64(o.Timestamp.UnixMilli()),
				EnvelopeId: o.EnvelopeID[:],
			}}})
		}
		if errors.Is(err, ErrDisconnected) && !redialed && ctx.Err() == nil {
			// The connection died under the request (an idle channel the
			// relay closed, a relay restart): try once on a new one. The
			// envelope id makes a repeat harmless.
			redialed = true
			continue
		}
		var se *StatusError
		if errors.As(err, &se) && se.Status == wire.Status_NOT_FOUND {
			return fmt.Errorf("%w: %s", ErrNoSuchUser, o.Peer)
		}
		if !errors.As(err, &se) || se.Status != wire.Status_MISMATCHED_DEVICES {
			return err
		}
		if attempt >= 4 {
			return fmt.Errorf("client: device list of %s keeps changing: %w", o.Peer, err)
		}
		mm := se.mismatch
		if mm == nil {
			mm = &wire.DeviceMismatch{}
		}
		if contact, err = c.fixDevices(ctx, contact, mm); err != nil {
			return err
		}
	}
}

// recipientDevices returns the devices of ct a message goes to: all of
// them, but never this device when ct is our own account.
func (c *Client) recipientDevices(ct clientdb.Contact) []uint32 {
	return slices.DeleteFunc(slices.Clone(ct.Devices), func(d uint32) bool {
		return ct.AccountID == c.account && d == c.device
	})
}

// fixDevices applies a device mismatch: extra devices are forgotten,
// stale ones lose their session (a new bundle is fetched), missing ones are
// added (their bundles are fetched by encryptFor).
func (c *Client) fixDevices(ctx context.Context, contact clientdb.Contact, mm *wire.DeviceMismatch) (clientdb.Contact, error) {
	c.cfg.Logger.Debug("device list mismatch", "missing", len(mm.Missing), "extra", len(mm.Extra), "stale", len(mm.Stale))
	devs := slices.DeleteFunc(slices.Clone(contact.Devices), func(d uint32) bool {
		return slices.Contains(mm.Extra, d)
	})
	for _, d := range mm.Missing {
		if !slices.Contains(devs, d) {
			devs = append(devs, d)
		}
	}
	slices.Sort(devs)
	contact.Devices = devs
	contact.Updated = c.cfg.Now()
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		for _, d := range append(slices.Clone(mm.Stale), mm.Extra...) {
			if err := archiveSession(ctx, s, addr(contact.AccountID, d)); err != nil {
				return err
			}
		}
		return s.PutContact(ctx, contact)
	})
	return contact, err
}

func archiveSession(ctx context.Context, s *clientdb.Store, a session.Address) error {
	rec, err := s.LoadSession(ctx, a)
	if err != nil || rec == nil || !rec.HasCurrentSession() {
		return err
	}
	rec.ArchiveCurrentState()
	return s.StoreSession(ctx, a, rec)
}

// encryptFor encrypts padded for each device, opening sessions from fetched
// bundles where there is none usable.
func (c *Client) encryptFor(ctx context.Context, contact clientdb.Contact, devices []uint32, padded []byte) ([]*wire.OutgoingMessage, error) {
	for attempt := 0; ; attempt++ {
		if err := c.ensureSessions(ctx, contact, devices); err != nil {
			return nil, err
		}
		now := c.cfg.Now()
		var msgs []*wire.OutgoingMessage
		var retry []uint32
		c.sessMu.Lock()
		err := c.db.Tx(ctx, func(s *clientdb.Store) error {
			msgs, retry = nil, nil
			for _, d := range devices {
				a := addr(contact.AccountID, d)
				ct, err := session.Encrypt(ctx, s.Stores(), c.localAddr(), a, padded, now, c.cfg.Rand)
				if errors.Is(err, session.ErrNoSession) || errors.Is(err, session.ErrUntrustedIdentity) {
					if err := archiveSession(ctx, s, a); err != nil {
						return err
					}
					retry = append(retry, d)
					continue
				}
				if err != nil {
					return err
				}
				reg, err := remoteRegistrationID(ctx, s, a)
				if err != nil {
					return err
				}
				msgs = append(msgs, &wire.OutgoingMessage{DeviceId: d, RegistrationId: reg, Type: uint32(ct.Type()), Content: ct.Bytes()})
			}
			return nil // commit, archived sessions included
		})
		c.sessMu.Unlock()
		if err != nil {
			return nil, err
		}
		if len(retry) > 0 {
			if attempt < 2 {
				continue // bundles for the archived sessions, then again
			}
			return nil, fmt.Errorf("client: no usable session with %s", contact.Username)
		}
		return msgs, nil
	}
}

// ensureSessions opens sessions, from fetched bundles, with the devices
// that have no usable one.
func (c *Client) ensureSessions(ctx context.Context, contact clientdb.Contact, devices []uint32) error {
	var need []uint32
	c.sessMu.Lock()
	now := c.cfg.Now()
	for _, d := range devices {
		rec, err := c.db.Store().LoadSession(ctx, addr(contact.AccountID, d))
		if err != nil {
			c.sessMu.Unlock()
			return err
		}
		if rec == nil || !rec.HasUsableSenderChain(now) {
			need = append(need, d)
		}
	}
	c.sessMu.Unlock()
	for _, d := range need {
		if err := c.openSession(ctx, contact, d); err != nil {
			return err
		}
	}
	return nil
}

// openSession fetches a bundle for one device and opens a session with it.
func (c *Client) openSession(ctx context.Context, contact clientdb.Contact, device uint32) error {
	resp, err := c.call(ctx, "fetch bundles", &wire.Request{Op: &wire.Request_FetchBundles{FetchBundles: &wire.FetchBundles{
		AccountId: contact.AccountID[:], DeviceId: device,
	}}})
	if err != nil {
		return err
	}
	var wb *wire.Bundle
	for _, b := range resp.GetBundles().GetBundles() {
		if b.DeviceId == device {
			wb = b
		}
	}
	if wb == nil {
		return fmt.Errorf("client: relay sent no bundle for %s device %d", contact.Username, device)
	}
	b, err := parseBundle(wb)
	if err != nil {
		return err
	}
	a := addr(contact.AccountID, device)
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	changed := false
	err = c.db.Tx(ctx, func(s *clientdb.Store) error {
		old, ok, err := s.Identity(ctx, a)
		if err != nil {
			return err
		}
		if ok && !old.Equal(b.IdentityKey) {
			// A new identity: accept it with a warning (the safety
			// number changes), as Signal does for unverified contacts.
			if _, err := s.SaveIdentity(ctx, a, b.IdentityKey); err != nil {
				return err
			}
			changed = true
		}
		return session.ProcessPreKeyBundle(ctx, s.Stores(), c.localAddr(), a, b, c.cfg.Now(), c.cfg.Rand)
	})
	if err != nil {
		return fmt.Errorf("client: open session with %s: %w", contact.Username, err)
	}
	if changed {
		c.emit(Event{Kind: EventIdentityChanged, Peer: contact.Username})
	}
	return nil
}

func parseBundle(wb *wire.Bundle) (*session.PreKeyBundle, error) {
	bad := func(what string) error { return fmt.Errorf("client: relay sent a bundle with a malformed %s", what) }
	ik, err := curve.DecodePublicKey(wb.IdentityKey)
	if err != nil {
		return nil, bad("identity key")
	}
	if wb.SignedPreKey == nil || wb.KyberPreKey == nil {
		return nil, bad("prekey set")
	}
	spk, err := curve.DecodePublicKey(wb.SignedPreKey.PublicKey)
	if err != nil {
		return nil, bad("signed prekey")
	}
	kpk, err := kem.DecodePublicKey(wb.KyberPreKey.PublicKey)
	if err != nil {
		return nil, bad("kyber prekey")
	}
	b := &session.PreKeyBundle{
		RegistrationID:        wb.RegistrationId,
		DeviceID:              wb.DeviceId,
		SignedPreKeyID:        wb.SignedPreKey.Id,
		SignedPreKey:          spk,
		SignedPreKeySignature: wb.SignedPreKey.Signature,
		KyberPreKeyID:         wb.KyberPreKey.Id,
		KyberPreKey:           kpk,
		KyberPreKeySignature:  wb.KyberPreKey.Signature,
		IdentityKey:           ik,
	}
	if wb.PreKey != nil {
		pk, err := curve.DecodePublicKey(wb.PreKey.PublicKey)
		if err != nil {
			return nil, bad("one-time prekey")
		}
		b.HasPreKey, b.PreKeyID, b.PreKey = true, wb.PreKey.Id, pk
	}
	return b, nil
}

// contact returns the contact for username, looking it up at the relay
// when unknown or when refresh is set. A looked-up identity that differs
// from the stored one is accepted with an EventIdentityChanged warning and
// the old sessions are archived.
func (c *Client) contact(ctx context.Context, username string, refresh bool) (clientdb.Contact, error) {
	username = NormalizeUsername(username)
	if !refresh {
		ct, err := c.db.Store().ContactByName(ctx, username)
		if err == nil && len(ct.Devices) > 0 {
			return ct, nil
		}
		if err != nil && !errors.Is(err, clientdb.ErrNotFound) {
			return ct, err
		}
	}
	found, err := c.lookup(ctx, username)
	if err != nil {
		return clientdb.Contact{}, err
	}
	var ct clientdb.Contact
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	changed := false
	err = c.db.Tx(ctx, func(s *clientdb.Store) error {
		var err error
		ct, changed, err = c.recordContact(ctx, s, username, found)
		return err
	})
	if changed {
		c.emit(Event{Kind: EventIdentityChanged, Peer: username})
	}
	return ct, err
}

// lookup asks the relay for a username. It touches no database.
func (c *Client) lookup(ctx context.Context, username string) (*wire.UsernameFound, error) {
	resp, err := c.call(ctx, "lookup", &wire.Request{Op: &wire.Request_Lookup{Lookup: &wire.LookupUsername{Username: username}}})
	var se *StatusError
	if errors.As(err, &se) && se.Status == wire.Status_NOT_FOUND {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchUser, username)
	}
	if err != nil {
		return nil, err
	}
	f := resp.GetFound()
	if f == nil || len(f.AccountId) != 16 {
		return nil, errors.New("client: relay answered lookup without an account")
	}
	return f, nil
}

// recordContact stores a looked-up user and checks their identity.
func (c *Client) recordContact(ctx context.Context, s *clientdb.Store, username string, f *wire.UsernameFound) (clientdb.Contact, bool, error) {
	var ct clientdb.Contact
	ct.Username = username
	copy(ct.AccountID[:], f.AccountId)
	ct.Devices = slices.Clone(f.DeviceIds)
	slices.Sort(ct.Devices)
	ct.Updated = c.cfg.Now()
	ik, err := curve.DecodePublicKey(f.IdentityKey)
	if err != nil {
		return ct, false, errors.New("client: relay sent a malformed identity key")
	}
	a := addr(ct.AccountID, 1)
	old, ok, err := s.Identity(ctx, a)
	if err != nil {
		return ct, false, err
	}
	changed := false
	if !ok || !old.Equal(ik) {
		if _, err := s.SaveIdentity(ctx, a, ik); err != nil {
			return ct, false, err
		}
		if ok {
			changed = true
			devs, err := s.SessionDevices(ctx, a.Name)
			if err != nil {
				return ct, false, err
			}
			for _, d := range devs {
				if err := archiveSession(ctx, s, addr(ct.AccountID, d)); err != nil {
					return ct, false, err
				}
			}
		}
	}
	if prev, err := s.ContactByName(ctx, username); err == nil && !bytes.Equal(prev.AccountID[:], ct.AccountID[:]) {
		c.cfg.Logger.Info("a username now names another account")
	}
	return ct, changed, s.PutContact(ctx, ct)
}

// remoteRegistrationID is the registration id of the device at a, from the
// session just used to encrypt to it; the relay checks it to catch stale
// sessions.
func remoteRegistrationID(ctx context.Context, s *clientdb.Store, a session.Address) (uint32, error) {
	rec, err := s.LoadSession(ctx, a)
	if err != nil {
		return 0, err
	}
	return rec.RemoteRegistrationID()
}
