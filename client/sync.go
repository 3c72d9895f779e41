package client

import (
	"context"
	"errors"
	"slices"
	"time"

	"samizdat/attachment"
	"samizdat/client/clientdb"
	"samizdat/client/internal/contentpb"
)

// Sync between the account's own devices, as Signal's sync messages: what
// one device sends to someone, shows of what it received, and decides
// about a peer goes end to end to the account's other devices (as a
// message to one's own account, which skips this device), so that each
// device's history and message requests follow. Every sync content is
// taken only from one's own account.

// syncSent queues, in the transaction that queues msg (an outgoing text
// to another user, sent as content), its copy for the account's other
// devices, ahead of msg: a device's mailbox is delivered in order, so the
// copy is stored there before the recipient's receipt for msg arrives. (A
// message the relay then refuses for good shows as sent on the other
// devices.) The copy carries the message's timer and its file's pointer,
// so the other devices save the file too. Group texts reach them already:
// they are members like the others.
func (c *Client) syncSent(ctx context.Context, s *clientdb.Store, msg clientdb.Message, content *contentpb.Content) error {
	if msg.Peer == c.username {
		return nil // a note to self goes to the other devices itself
	}
	if _, ok := clientdb.ParseGroupPeer(msg.Peer); ok {
		return nil
	}
	if others, err := c.otherDevices(ctx, s); err != nil || !others {
		return err
	}
	// Queued without kicking the outbox: the flush that sends msg sends
	// it, and reports msg's fate to the sender.
	now := c.cfg.Now()
	body := msg.Body
	if t, ok := content.Body.(*contentpb.Content_Text); ok {
		body = t.Text.GetBody() // without the file's label
	}
	enc, err := c.stampContent(&contentpb.Content{ExpireTimer: content.ExpireTimer, Attachment: content.Attachment,
		Body: &contentpb.Content_SyncSent{SyncSent: &contentpb.SyncSent{Destination: msg.Peer, EnvelopeId: msg.EnvelopeID[:], Body: body}}}, now)
	if err != nil {
		return err
	}
	var eid [16]byte
	if _, err := c.cfg.Rand.Read(eid[:]); err != nil {
		return err
	}
	return s.Enqueue(ctx, clientdb.Outgoing{EnvelopeID: eid, Peer: c.username, Content: enc, Timestamp: now})
}

// otherDevices reports whether this device knows of other devices of its
// account: only then is there anyone to sync with. A device learns of the
// others when it links one or is linked (addOwnDevice, the state it takes
// over), and from the relay's device mismatches when it sends them
// anything.
func (c *Client) otherDevices(ctx context.Context, s *clientdb.Store) (bool, error) {
	ct, err := s.ContactByAccount(ctx, c.account)
	if errors.Is(err, clientdb.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return len(c.recipientDevices(ct)) > 0, nil
}

// syncPeer queues what the user decided about peer for the account's
// other devices.
func (c *Client) syncPeer(ctx context.Context, s *clientdb.Store, peer string, state int) error {
	if others, err := c.otherDevices(ctx, s); err != nil || !others {
		return err
	}
	acct, err := s.PeerAccount(ctx, peer)
	var id []byte
	if err == nil {
		id = acct[:]
	} else if !errors.Is(err, clientdb.ErrNotFound) {
		return err
	}
	return c.enqueue(ctx, s, c.username, &contentpb.Content{Body: &contentpb.Content_SyncPeer{SyncPeer: &contentpb.SyncPeer{
		Peer: peer, AccountId: id, State: int32(state)}}})
}

// MarkRead records that the messages eids from peer were shown to the
// user: they are marked read here and on the account's other devices, and
// unless receipts is false, or peer is not an accepted contact (a message
// request, a stranger), peer gets a read receipt.
func (c *Client) MarkRead(ctx context.Context, peer string, receipts bool, eids ...[16]byte) error {
	if len(eids) == 0 {
		return nil
	}
	return c.db.Tx(ctx, func(s *clientdb.Store) error {
		read, err := s.MarkRead(ctx, peer, eids)
		if err != nil || len(read) == 0 {
			return err
		}
		ids := make([][]byte, len(read))
		for i := range read {
			ids[i] = read[i][:]
		}
		others, err := c.otherDevices(ctx, s)
		if err != nil {
			return err
		}
		if others && peer != c.username {
			if err := c.enqueue(ctx, s, c.username, &contentpb.Content{Body: &contentpb.Content_SyncRead{SyncRead: &contentpb.SyncRead{
				Peer: peer, EnvelopeIds: ids}}}); err != nil {
				return err
			}
		}
		if !receipts || peer == c.username {
			return nil
		}
		if _, ok := clientdb.ParseGroupPeer(peer); ok {
			return nil
		}
		if st, err := s.PeerState(ctx, peer); err != nil || st != clientdb.PeerAccepted {
			return err // never to a pending stranger
		}
		return c.enqueue(ctx, s, peer, &contentpb.Content{Body: &contentpb.Content_Receipt{Receipt: &contentpb.Receipt{
			Type: contentpb.Receipt_READ, EnvelopeIds: ids}}})
	})
}

// storeSync applies a sync content from one of the account's own devices
// (fromSelf), or a timer update from peer, in the transaction that stores
// the envelope. It returns false for a content that is neither.
func (c *Client) storeSync(ctx context.Context, s *clientdb.Store, fromSelf bool, peer string, content *contentpb.Content) (bool, []Event, error) {
	switch b := content.Body.(type) {
	case *contentpb.Content_ExpireTimerUpdate:
		ev, err := c.storeTimer(ctx, s, fromSelf, peer, b.ExpireTimerUpdate)
		return true, ev, err
	case *contentpb.Content_SyncSent:
		if !fromSelf {
			return true, nil, nil
		}
		return true, nil, c.storeSyncSent(ctx, s, content, b.SyncSent)
	case *contentpb.Content_SyncRead:
		if !fromSelf {
			return true, nil, nil
		}
		var eids [][16]byte
		for _, id := range b.SyncRead.GetEnvelopeIds() {
			if len(id) == 16 {
				eids = append(eids, [16]byte(id))
			}
		}
		_, err := s.MarkRead(ctx, b.SyncRead.GetPeer(), eids)
		return true, nil, err
	case *contentpb.Content_SyncPeer:
		if !fromSelf {
			return true, nil, nil
		}
		p := b.SyncPeer
		var acct []byte
		if len(p.AccountId) == 16 {
			acct = p.AccountId
		}
		switch p.State {
		case clientdb.PeerPending, clientdb.PeerAccepted, clientdb.PeerBlocked:
		default:
			return true, nil, nil
		}
		if NormalizeUsername(p.Peer) != p.Peer || p.Peer == "" {
			return true, nil, nil
		}
		return true, nil, s.SetPeerState(ctx, p.Peer, acct, int(p.State), c.cfg.Now())
	}
	return false, nil, nil
}

// storeSyncSent adds another device's outgoing message to the history.
// Writing to someone accepts them, there as here. A message with a file
// shows with the file's label at once, and the file is downloaded and
// saved as a received one is (DownloadFiles), under the same timer.
func (c *Client) storeSyncSent(ctx context.Context, s *clientdb.Store, content *contentpb.Content, m *contentpb.SyncSent) error {
	dest := m.GetDestination()
	if len(m.EnvelopeId) != 16 || dest == "" || NormalizeUsername(dest) != dest {
		return nil
	}
	eid := [16]byte(m.EnvelopeId)
	if _, err := s.MessageByEnvelope(ctx, eid); err == nil {
		return nil // had it already
	} else if !errors.Is(err, clientdb.ErrNotFound) {
		return err
	}
	now := c.cfg.Now()
	sentAt := time.UnixMilli(int64(content.Timestamp))
	body := m.GetBody()
	p := content.GetAttachment()
	if p != nil && checkPointer(p) != nil {
		p = nil // nothing to download: the text alone
	}
	if p != nil {
		body = FileLabel(attachment.SafeName(p.FileName), int64(p.Size), m.GetBody())
	}
	id, err := s.AddMessage(ctx, clientdb.Message{EnvelopeID: eid, Peer: dest, Outgoing: true, Body: body,
		SentAt: sentAt, At: now, Status: clientdb.StatusSent})
	if err != nil {
		return err
	}
	if err := c.expireStored(ctx, s, id, content); err != nil {
		return err
	}
	if p != nil {
		if _, err := c.holdFile(ctx, s, clientdb.Download{EnvelopeID: eid, Peer: dest, Body: m.GetBody(), SentAt: sentAt,
			Outgoing: true, ExpireTimer: content.GetExpireTimer()}, p); err != nil {
			return err
		}
	}
	st, err := s.PeerState(ctx, dest)
	if err != nil || st != clientdb.PeerPending {
		return err // accepted already, or blocked here since
	}
	return s.SetPeerState(ctx, dest, nil, clientdb.PeerAccepted, now)
}

// addOwnDevice records that the account has device id (one this device
// just linked), so that what this device sends its own account reaches it.
func (c *Client) addOwnDevice(ctx context.Context, id uint32) error {
	return c.db.Tx(ctx, func(s *clientdb.Store) error {
		ct, err := s.ContactByAccount(ctx, c.account)
		if errors.Is(err, clientdb.ErrNotFound) {
			ct = clientdb.Contact{Username: c.username, AccountID: c.account}
		} else if err != nil {
			return err
		}
		for _, d := range []uint32{c.device, id} {
			if !slices.Contains(ct.Devices, d) {
				ct.Devices = append(ct.Devices, d)
			}
		}
		slices.Sort(ct.Devices)
		ct.Updated = c.cfg.Now()
		return s.PutContact(ctx, ct)
	})
}
