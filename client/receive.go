package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/client/clientdb"
	"samizdat/client/internal/contentpb"
	"samizdat/relay/wire"
	"samizdat/session"
	"samizdat/session/sealed"
	"samizdat/session/sealed/sealedsession"
	"samizdat/session/senderkey"
	"samizdat/username"
)

// EventKind says what an Event reports.
type EventKind int

const (
	EventMessage         EventKind = iota // a text arrived (Peer, Text, SentAt)
	EventSent                             // the relay acknowledged one of our messages as durable
	EventDelivered                        // a device of the recipient confirmed one of our messages
	EventFailed                           // the relay refused one of our messages for good (Err)
	EventQueueEmpty                       // the backlog has been delivered; what follows is live
	EventIdentityChanged                  // Peer's identity key changed: the safety number changed
	EventConnected                        // connected to the relay
	EventDisconnected                     // lost the relay (Err); reconnecting
	EventUndecryptable                    // a message could not be decrypted (Err); it was dropped
	EventBridgeOffer                      // Peer offered us their bridge (or withdrew it: Text "withdrawn")
	EventRefused                          // something Peer sent was refused (Err says why); nothing changed
	EventManifest                         // Peer handed us a newer manifest, now in use (Text: its serial)
	EventDeviceRemoved                    // the primary removed one of the account's devices (Device)
	EventGroupMessage                     // a member (Peer) wrote to a group (Group, Text, SentAt)
	EventGroupChange                      // a member (Peer) changed a group (Group): Text says how ("added bob")
	EventChannelPost                      // a post in a channel we joined (Peer: the channel's name, Text, SentAt)
	EventChannelAdmin                     // Peer made us an admin of a channel (Text: its name here)
	EventTimer                            // the disappearing-message timer of the conversation with Peer changed (Text: FormatTimer)
	EventGroupRequest                     // Peer, not a contact we accepted, added us to a group (Group): a group request (GroupRequests)
)

// Event is something the user may want to see. It carries message text only
// for EventMessage, EventGroupMessage and EventChannelPost.
type Event struct {
	Kind       EventKind
	Peer       string
	Group      string // EventGroupMessage, EventGroupChange: the group's local name
	Text       string
	EnvelopeID [16]byte
	SentAt     time.Time
	Err        error
	Device     uint32 // EventDeviceRemoved: the device's id
}

// Stats counts what Receive did since the Client was opened.
type Stats struct {
	Received       int64 // new messages (texts and receipts) stored
	Duplicates     int64 // deliveries dropped because their envelope id was seen
	Undecryptable  int64 // deliveries dropped because they did not decrypt
	SentSealed     int64 // messages sent with sealed sender
	ReceivedSealed int64 // messages received with sealed sender
	AnonDials      int64 // anonymous channels opened for sealed sends (one per burst)
	GroupMulti     int64 // group texts sent with one sealed sender v2 multi-recipient request
}

type stats struct {
	received, duplicates, undecryptable, sentSealed, receivedSealed, anonDials, sentGroupMulti atomic.Int64
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Received: c.stats.received.Load(), Duplicates: c.stats.duplicates.Load(), Undecryptable: c.stats.undecryptable.Load(),
		SentSealed: c.stats.sentSealed.Load(), ReceivedSealed: c.stats.receivedSealed.Load(), AnonDials: c.stats.anonDials.Load(),
		GroupMulti: c.stats.sentGroupMulti.Load(),
	}
}

// emit passes e to Config.OnEvent.
func (c *Client) emit(e Event) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(e)
	}
}

// seenRetention is how long received envelope ids are remembered for
// dedupe: well beyond the relay's mailbox retention (30 days).
const seenRetention = 60 * 24 * time.Hour

// typeSealed is the envelope type of a sealed-sender message.
const typeSealed = 6

// Receive connects to the relay and, until ctx ends, replenishes prekeys,
// sends the outbox, and receives the backlog and live messages, reporting
// them through Config.OnEvent. It keeps the connection up with package
// dialer: a dropped connection is redialled at once over whichever endpoint
// answers first, newer manifests are fetched from every channel when no
// endpoint does, and only then does it back off. It returns nil when ctx
// ends if it connected at least once, and otherwise the last connection
// error.
func (c *Client) Receive(ctx context.Context) error {
	var lastErr error
	connected := false
	runErr, dialErr := c.receiveLoop(ctx, func(rc *relayConn) error {
		up := false
		err := c.receiveOn(ctx, rc, &up)
		connected = connected || up
		if ctx.Err() != nil {
			return nil
		}
		lastErr = err
		c.emit(Event{Kind: EventDisconnected, Err: err})
		c.cfg.Logger.Debug("receive: disconnected", "err", err)
		if errors.Is(err, ErrDeviceRemoved) {
			return err // for good: stop reconnecting
		}
		if errors.Is(err, errReplaced) {
			// Another connection of this device took over: give it room.
			select {
			case <-ctx.Done():
			case <-c.cfg.Clock.After(3 * time.Second):
			case <-c.closed:
			}
		}
		return nil
	})
	select {
	case <-c.closed:
		return nil
	default:
	}
	if errors.Is(runErr, ErrDeviceRemoved) {
		return runErr
	}
	if connected {
		return nil
	}
	if dialErr != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, dialErr)
	}
	if lastErr != nil {
		return lastErr
	}
	return runErr
}

// receiveOn runs one connection's delivery stream until it fails.
func (c *Client) receiveOn(ctx context.Context, rc *relayConn, connected *bool) error {
	defer rc.Close()
	rctx, cancel := c.cfg.Clock.WithTimeout(ctx, c.cfg.RequestTimeout)
	_, err := rc.call(rctx, "start delivery", &wire.Request{Op: &wire.Request_StartDelivery{StartDelivery: &wire.StartDelivery{}}})
	cancel()
	if err != nil {
		return err
	}
	*connected = true
	c.emit(Event{Kind: EventConnected})

	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	// Background work: prekeys, then the outbox whenever asked and every
	// few seconds (a message queued by another process goes out too).
	wg.Add(1)
	go func() {
		defer wg.Done()
		replenish := func() {
			if _, _, err := c.ReplenishPreKeys(sctx); err != nil && sctx.Err() == nil {
				c.cfg.Logger.Debug("replenishing prekeys", "err", err)
			}
		}
		replenish()
		if _, err := c.db.Store().PruneSeen(sctx, c.cfg.Now().Add(-seenRetention)); err != nil && sctx.Err() == nil {
			c.cfg.Logger.Debug("pruning seen envelope ids", "err", err)
		}
		t := c.cfg.Clock.NewTicker(5 * time.Second)
		defer t.Stop()
		polled := c.cfg.Clock.Now()
		for {
			// The relay tells this connection of new posts; a post
			// through another relay node is caught here.
			if now := c.cfg.Clock.Now(); now.Sub(polled) >= channelPoll {
				polled = now
				if err := c.readChannels(sctx, rc, false); err != nil && sctx.Err() == nil {
					c.cfg.Logger.Debug("channels", "err", err)
				}
			}
			if _, err := c.Flush(sctx); err != nil && sctx.Err() == nil {
				c.cfg.Logger.Debug("outbox", "err", err)
			}
			if err := c.deleteExpired(sctx); err != nil && sctx.Err() == nil {
				c.cfg.Logger.Debug("disappearing messages", "err", err)
			}
			select {
			case <-sctx.Done():
				return
			case <-c.kick:
			case <-c.replenish:
				replenish()
			case <-t.C():
			}
		}
	}()

	// Acks go out in the background, so that receiving goes on while they
	// travel; ackWG counts those in flight.
	var acks [][]byte
	var ackWG sync.WaitGroup
	flushAcks := func() {
		if len(acks) == 0 {
			return
		}
		ids := acks
		acks = nil
		ackWG.Add(1)
		go func() {
			defer ackWG.Done()
			actx, cancel := c.cfg.Clock.WithTimeout(context.Background(), c.cfg.RequestTimeout)
			defer cancel()
			if _, err := rc.call(actx, "ack", &wire.Request{Op: &wire.Request_Ack{Ack: &wire.Ack{EnvelopeIds: ids}}}); err != nil {
				c.cfg.Logger.Debug("ack", "err", err)
			}
		}()
	}
	defer ackWG.Wait()
	defer flushAcks()
	for {
		p, err := rc.nextPush(ctx)
		if err != nil {
			return err
		}
		switch b := p.Body.(type) {
		case *wire.Push_Delivery:
			ack, err := c.handleDelivery(ctx, b.Delivery)
			if err != nil {
				// Not stored: do not ack; the relay delivers it again.
				rc.fail(err)
				return err
			}
			if ack {
				acks = append(acks, b.Delivery.Id)
			}
			rc.mu.Lock()
			more := len(rc.pushes)
			rc.mu.Unlock()
			if more == 0 || len(acks) >= 200 {
				flushAcks()
			}
		case *wire.Push_QueueEmpty:
			// The backlog is acknowledged before it is reported as
			// received: a caller that stops then (recv) closes the
			// connection, and an ack still on its way would be lost, the
			// relay handing the backlog over again next time.
			flushAcks()
			ackWG.Wait()
			// The channels' backlog is part of what waited for us.
			if err := c.readChannels(ctx, rc, true); err != nil {
				rc.fail(err)
				return err
			}
			c.emit(Event{Kind: EventQueueEmpty})
		case *wire.Push_Channel:
			if err := c.channelNotice(ctx, rc, b.Channel); err != nil {
				rc.fail(err)
				return err
			}
		case *wire.Push_Manifest:
			if _, err := c.UpdateManifest(ctx, b.Manifest); err != nil {
				c.cfg.Logger.Debug("ignoring a pushed manifest", "err", err)
			}
		}
	}
}

// kickReplenish asks the receive loop to check the relay's prekey count
// (a session was just opened with one of our one-time prekeys).
func (c *Client) kickReplenish() {
	select {
	case c.replenish <- struct{}{}:
	default:
	}
}

// kickOutbox asks the receive loop to send the outbox.
func (c *Client) kickOutbox() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// handleDelivery decrypts and stores one envelope. It returns whether to
// ack it; an error means nothing was stored and the envelope must not be
// acked (it will be delivered again).
func (c *Client) handleDelivery(ctx context.Context, env *wire.Envelope) (bool, error) {
	if len(env.Id) != 16 {
		// The relay refuses such ids from senders, so only a faulty relay
		// sends one; it cannot be acked or deduplicated: drop it and go on.
		c.cfg.Logger.Debug("dropping an envelope with a malformed id", "len", len(env.Id))
		return false, nil
	}
	var eid [16]byte
	copy(eid[:], env.Id)
	if seen, err := c.db.Store().Seen(ctx, eid); err != nil {
		return false, err
	} else if seen {
		c.stats.duplicates.Add(1)
		return true, nil
	}
	var events []Event
	var h handed
	c.sessMu.Lock()
	err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		events, h = nil, handed{}
		fresh, err := s.MarkSeen(ctx, eid, c.cfg.Now())
		if err != nil {
			return err
		}
		if !fresh {
			c.stats.duplicates.Add(1)
			return nil
		}
		events, err = c.process(ctx, s, eid, env, &h)
		if err != nil && permanent(err) {
			// Keep the seen mark (commit) so it is not tried again.
			c.stats.undecryptable.Add(1)
			events, h = []Event{{Kind: EventUndecryptable, EnvelopeID: eid, Err: err}}, handed{}
			return nil
		}
		return err
	})
	c.sessMu.Unlock()
	if err != nil {
		return false, err
	}
	events = append(events, c.afterDelivery(ctx, &h)...)
	for _, e := range events {
		c.emit(e)
	}
	c.kickFiles()
	return true, nil
}

// process decrypts and stores one new envelope, or applies the relay's
// account notice, and returns the events to report once it commits.
func (c *Client) process(ctx context.Context, s *clientdb.Store, eid [16]byte, env *wire.Envelope, h *handed) ([]Event, error) {
	if env.Type == wire.TypeAccountNotice {
		return c.notice(ctx, s, env)
	}
	start := c.cfg.Now().Truncate(time.Millisecond)
	sender, pt, dist, err := c.decrypt(ctx, s, env)
	if err != nil {
		return nil, err
	}
	if acct, ok := parseUUID(sender.Name); ok && (acct != c.account || sender.DeviceID != c.device) {
		if gone, err := c.senderRemoved(ctx, s, acct, sender.DeviceID); err != nil {
			return nil, err
		} else if gone {
			c.cfg.Logger.Debug("dropped a message from a removed device")
			return []Event{{Kind: EventRefused, Err: errRemovedSender}}, nil
		}
	}
	content, err := decodeContent(pt)
	if err != nil {
		return nil, err
	}
	if gc := content.GetGroupCiphertext(); gc != nil && dist == nil {
		// A Sender Key message sent 1:1: open it as if it came sealed.
		pt, d, err := senderKeyDecrypt(ctx, s, sender, gc.GetMessage())
		if err != nil {
			return nil, err
		}
		if content, err = decodeContent(pt); err != nil {
			return nil, err
		}
		dist = &d
	}
	// A group text comes only under a Sender Key, and a Sender Key
	// carries only group texts.
	if (dist != nil) != (content.GetGroupText() != nil) {
		return nil, fmt.Errorf("%w: a group text must come under the group's key, and only a group text", errGroupRefused)
	}
	if dist != nil {
		events, err := c.receiveGroupText(ctx, s, eid, sender, *dist, content)
		if errors.Is(err, errGroupRefused) {
			c.cfg.Logger.Debug("group text refused", "err", err)
			return []Event{{Kind: EventRefused, Err: err}}, nil
		}
		return events, err
	}
	return c.store(ctx, s, eid, start, sender, content, h)
}

// permanent reports whether err is about the message itself (it will never
// decrypt), rather than the database or the network.
func permanent(err error) bool {
	for _, target := range []error{
		session.ErrNoSession, session.ErrUntrustedIdentity, session.ErrDuplicateMessage, session.ErrInvalidMessage,
		session.ErrBadMAC, session.ErrTooFarAhead, session.ErrLegacyVersion, session.ErrUnknownVersion,
		session.ErrTruncated, session.ErrMalformed, session.ErrBadSignature, session.ErrNoPreKey,
		session.ErrInvalidBaseKey, session.ErrReusedBaseKey, session.ErrInvalidState, session.ErrPQRatchet,
		sealed.ErrMalformed, sealed.ErrUnknownVersion, sealed.ErrInvalidMessage, sealed.ErrRevoked,
		sealed.ErrUntrusted, sealed.ErrBadSignature, sealed.ErrExpired, sealed.ErrUnknownServerCertificate,
		sealed.ErrSelfSend, sealedsession.ErrUnexpectedType, errBadPadding, errMalformedContent, errUnknownType,
		senderkey.ErrNoSenderKeyState, senderkey.ErrInvalidState, senderkey.ErrDuplicateMessage, senderkey.ErrBadSignature,
		senderkey.ErrTooFarInFuture, senderkey.ErrVersion, senderkey.ErrTruncated, senderkey.ErrMalformed, senderkey.ErrDecrypt,
		errGroupRefused,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

var (
	errMalformedContent = errors.New("client: malformed content")
	errUnknownType      = errors.New("client: unknown envelope type")
)

// decrypt opens an envelope's Signal message with the stores of one
// transaction. dist is set when it was a Sender Key message (a group's):
// its distribution.
func (c *Client) decrypt(ctx context.Context, s *clientdb.Store, env *wire.Envelope) (sender session.Address, pt []byte, dist *[16]byte, err error) {
	switch env.Type {
	case session.TypeWhisper, session.TypePreKey:
		if len(env.SourceAccount) != 16 || env.SourceDevice == 0 {
			return session.Address{}, nil, nil, fmt.Errorf("%w: no source", errMalformedContent)
		}
		var acct [16]byte
		copy(acct[:], env.SourceAccount)
		sender := addr(acct, env.SourceDevice)
		msg, err := session.ParseCiphertextMessage(int(env.Type), env.Content)
		if err != nil {
			return sender, nil, nil, err
		}
		pt, err := session.Decrypt(ctx, s.Stores(), c.localAddr(), sender, msg, c.cfg.Rand)
		if err == nil && env.Type == session.TypePreKey {
			c.kickReplenish()
		}
		return sender, pt, nil, err
	case typeSealed:
		root, err := c.trustRoot()
		if err != nil {
			return session.Address{}, nil, nil, err
		}
		res, err := sealedsession.Decrypt(ctx, s.Stores(), c.localAddr(), "", env.Content, root, c.cfg.Now(), c.cfg.Rand)
		if errors.Is(err, sealedsession.ErrUnexpectedType) && res != nil && res.Content.Type() == sealed.TypeSenderKey {
			// A group's message: the certificate validated; the sender
			// is the one it names.
			pt, d, err := senderKeyDecrypt(ctx, s, res.Sender, res.Content.Contents())
			if err != nil {
				return session.Address{}, nil, nil, err
			}
			c.stats.receivedSealed.Add(1)
			return res.Sender, pt, &d, nil
		}
		if err != nil {
			return session.Address{}, nil, nil, err
		}
		c.stats.receivedSealed.Add(1)
		if res.Content != nil && res.Content.Type() == sealed.TypePreKey {
			c.kickReplenish()
		}
		return res.Sender, res.Plaintext, nil, nil
	default:
		return session.Address{}, nil, nil, fmt.Errorf("%w: %d", errUnknownType, env.Type)
	}
}

// store records a decrypted content in the transaction and returns the
// events to report once it commits; what the keeper must do then goes
// into h.
func (c *Client) store(ctx context.Context, s *clientdb.Store, eid [16]byte, start time.Time, sender session.Address, content *contentpb.Content, h *handed) ([]Event, error) {
	acct, ok := parseUUID(sender.Name)
	if !ok {
		return nil, fmt.Errorf("%w: sender", errMalformedContent)
	}
	if acct != c.account {
		// Checked before the name: a blocked sender costs no lookup.
		if blocked, err := s.Blocked(ctx, acct); err != nil || blocked {
			if blocked {
				c.cfg.Logger.Debug("dropped a message from a blocked sender")
			}
			return nil, err
		}
	}
	peer, changed, err := c.peerName(ctx, s, acct, content.SenderUsername)
	if err != nil {
		return nil, err
	}
	accepted := acct == c.account
	if !accepted {
		st, err := s.PeerState(ctx, peer)
		if err != nil {
			return nil, err
		}
		if st == clientdb.PeerBlocked {
			c.cfg.Logger.Debug("dropped a message from a blocked sender")
			return nil, nil
		}
		accepted = st == clientdb.PeerAccepted
	}
	var events []Event
	if changed {
		events = append(events, Event{Kind: EventIdentityChanged, Peer: peer})
	}
	if at, err := s.ChangedIdentity(ctx, sender.Name); err == nil && !at.IsZero() && !at.Before(start) {
		events = append(events, Event{Kind: EventIdentityChanged, Peer: peer})
	}
	if len(content.AccessKey) == 16 {
		if err := s.SetContactAccessKey(ctx, acct, content.AccessKey); err != nil {
			return nil, err
		}
	}
	h.peer = peer
	if accepted {
		if err := c.answerHeld(ctx, s, peer, content.Manifest, h); err != nil {
			return nil, err
		}
	}
	if ok, ev, err := c.storeSync(ctx, s, acct == c.account, peer, content); ok {
		return append(events, ev...), err
	}
	sentAt := time.UnixMilli(int64(content.Timestamp))
	now := c.cfg.Now()
	switch b := content.Body.(type) {
	case *contentpb.Content_Text:
		text := b.Text.GetBody()
		if p := content.GetAttachment(); p != nil {
			// A file: recorded now, reported once DownloadFiles saved it.
			ev, err := c.holdFile(ctx, s, clientdb.Download{EnvelopeID: eid, Peer: peer, Body: text, SentAt: sentAt, ExpireTimer: content.GetExpireTimer()}, p)
			if err == nil && !accepted {
				err = s.NotePending(ctx, peer, acct, now)
			}
			return append(events, ev...), err
		}
		id, err := s.AddMessage(ctx, clientdb.Message{EnvelopeID: eid, Peer: peer, Body: text, SentAt: sentAt, At: now, Status: clientdb.StatusReceived})
		if err != nil {
			return nil, err
		}
		if err := c.expireStored(ctx, s, id, content); err != nil {
			return nil, err
		}
		c.stats.received.Add(1)
		events = append(events, Event{Kind: EventMessage, Peer: peer, Text: text, EnvelopeID: eid, SentAt: sentAt})
		switch {
		case !accepted:
			// A message request: no receipt until the user accepts them.
			if err := s.NotePending(ctx, peer, acct, now); err != nil {
				return nil, err
			}
		case !c.cfg.NoReceipts && acct != c.account:
			if err := c.queueReceipt(ctx, s, peer, eid); err != nil {
				return nil, err
			}
		}
	case *contentpb.Content_Receipt:
		c.stats.received.Add(1)
		status := clientdb.StatusDelivered
		if b.Receipt.GetType() == contentpb.Receipt_READ {
			status = clientdb.StatusSeen
		}
		for _, id := range b.Receipt.GetEnvelopeIds() {
			if len(id) != 16 {
				continue
			}
			var rid [16]byte
			copy(rid[:], id)
			ok, err := s.SetMessageStatus(ctx, rid, status)
			if err != nil {
				return nil, err
			}
			if ok {
				events = append(events, Event{Kind: EventDelivered, Peer: peer, EnvelopeID: rid, SentAt: sentAt})
			}
		}
	case *contentpb.Content_BridgeOffer:
		ev, err := c.storeBridgeOffer(ctx, s, peer, acct, accepted, b.BridgeOffer)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	case *contentpb.Content_ChannelAdmin:
		ev, err := c.storeChannelAdmin(ctx, s, peer, accepted, b.ChannelAdmin)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	case *contentpb.Content_ManifestOffer:
		switch blob := b.ManifestOffer.GetBlob(); {
		case len(blob) == 0:
			// A notice: the serial it tells of is in content.Manifest.
		case !accepted:
			c.cfg.Logger.Debug("manifest refused", "err", ErrNotAccepted)
			events = append(events, Event{Kind: EventRefused, Peer: peer, Err: ErrNotAccepted})
		default:
			h.blob = blob
		}
	case *contentpb.Content_GroupUpdate:
		ev, err := c.receiveGroupUpdate(ctx, s, peer, acct, accepted, b.GroupUpdate)
		if err != nil {
			return nil, err
		}
		events = append(events, ev...)
	case *contentpb.Content_GroupKey:
		ev, err := c.receiveGroupKey(ctx, s, sender, peer, b.GroupKey)
		if err != nil {
			return nil, err
		}
		events = append(events, ev...)
	default:
		// A content kind from a newer client: nothing to show.
	}
	return events, nil
}

// queueReceipt puts a delivery receipt for eids in the outbox. Only an
// accepted contact gets one: it carries our access key.
func (c *Client) queueReceipt(ctx context.Context, s *clientdb.Store, peer string, eids ...[16]byte) error {
	ids := make([][]byte, len(eids))
	for i := range eids {
		ids[i] = eids[i][:]
	}
	return c.enqueue(ctx, s, peer, &contentpb.Content{Body: &contentpb.Content_Receipt{Receipt: &contentpb.Receipt{EnvelopeIds: ids}}})
}

// peerName returns the username of the account acct: a known contact, or
// the name the message claims once the relay confirms it names acct.
func (c *Client) peerName(ctx context.Context, s *clientdb.Store, acct [16]byte, claimed string) (string, bool, error) {
	if acct == c.account {
		return c.username, false, nil
	}
	ct, err := s.ContactByAccount(ctx, acct)
	if err == nil {
		return ct.Username, false, nil
	}
	if !errors.Is(err, clientdb.ErrNotFound) {
		return "", false, err
	}
	unverified := "unknown-" + uuidString(acct)[:8]
	claimed, err = username.Normalize(claimed)
	if err != nil {
		return unverified, false, nil // the relay would refuse to look it up
	}
	// Network call inside the transaction: lookup touches no database.
	f, err := c.lookup(ctx, claimed)
	var se *StatusError
	if errors.Is(err, ErrNoSuchUser) || errors.As(err, &se) {
		// The relay answered but cannot confirm the name (no such user,
		// our lookup budget spent, ...): show the message under the
		// unverified name rather than leave it at the head of the mailbox.
		if se != nil {
			c.cfg.Logger.Debug("sender's name unverified", "status", se.Status)
		}
		return unverified, false, nil
	}
	if err != nil {
		return "", false, err // the connection failed: it comes again on the next
	}
	if len(f.AccountId) != 16 || [16]byte(f.AccountId) != acct {
		return unverified, false, nil
	}
	ct, changed, err := c.recordContact(ctx, s, claimed, f)
	if err != nil {
		return "", false, err
	}
	return ct.Username, changed, nil
}
