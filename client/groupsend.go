package client

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"samizdat/client/clientdb"
	"samizdat/client/group"
	"samizdat/client/internal/contentpb"
	"samizdat/relay/wire"
	"samizdat/session"
	"samizdat/session/sealed"
	"samizdat/session/sealed/sealedsession"
	"samizdat/session/senderkey"
)

// SendGroup sends text to the group with the local name and returns its
// history entry once the relay has stored it for every member (see Send,
// which calls it for a group's name).
func (c *Client) SendGroup(ctx context.Context, name, text string) (clientdb.Message, error) {
	g, err := c.db.Store().GroupByName(ctx, name)
	if errors.Is(err, clientdb.ErrNotFound) {
		return clientdb.Message{}, fmt.Errorf("%w: %s", ErrNoSuchGroup, name)
	}
	if err != nil {
		return clientdb.Message{}, err
	}
	return c.sendGroup(ctx, g, text, nil)
}

func (c *Client) sendGroup(ctx context.Context, g clientdb.Group, text string, f *fileSend) (clientdb.Message, error) {
	if !g.Member {
		return clientdb.Message{}, fmt.Errorf("%w: %s", ErrNotMember, g.Name)
	}
	msg := clientdb.Message{Peer: clientdb.GroupPeer(g.ID), Sender: c.username, Outgoing: true, Body: f.label(text)}
	content := &contentpb.Content{Body: &contentpb.Content_GroupText{GroupText: &contentpb.GroupText{GroupId: g.ID[:], Body: text}},
		Attachment: f.pointer()}
	return c.queueText(ctx, msg, content, func(s *clientdb.Store) error {
		if err := f.sent(ctx, s); err != nil {
			return err
		}
		// Writing to a group request accepts it, as a reply does a
		// message request.
		return c.acceptGroup(ctx, s, g)
	})
}

// groupTarget is a member we send a group's text to.
type groupTarget struct {
	m  group.Member
	ct clientdb.Contact
}

// sendGroupOne sends a queued group text: our Sender Key to the member
// devices that lack it (1:1), then the text, encrypted once under it, to
// every other member device with one sealed sender v2 request, and 1:1 to
// the members whose access key we do not know and to our own other
// devices.
func (c *Client) sendGroupOne(ctx context.Context, o clientdb.Outgoing, id group.ID) error {
	g, err := c.db.Store().Group(ctx, id)
	if errors.Is(err, clientdb.ErrNotFound) || err == nil && !g.Member {
		return fmt.Errorf("%w: %s", ErrNotMember, g.Name)
	}
	if err != nil {
		return err
	}
	st, err := c.groupState(ctx, c.db.Store(), id)
	if err != nil {
		return err
	}
	inner := pad(o.Content)
	for attempt := 0; ; attempt++ {
		targets, err := c.distributeKey(ctx, id, st, o)
		if err != nil || len(targets) == 0 {
			return err
		}
		plain, err := c.sendGroupSealed(ctx, o, id, targets, inner)
		var se *StatusError
		if errors.As(err, &se) && se.Status == wire.Status_MISMATCHED_DEVICES && attempt < 4 {
			if err := c.fixMultiDevices(ctx, targets, se); err != nil {
				return err
			}
			continue // the new devices get our key first
		}
		if err != nil {
			return err
		}
		if len(plain) == 0 {
			return nil
		}
		// One Sender Key message serves every member who gets it 1:1.
		skm, err := c.groupEncrypt(ctx, id, inner)
		if err != nil {
			return err
		}
		enc, err := c.stampContent(&contentpb.Content{Body: &contentpb.Content_GroupCiphertext{GroupCiphertext: &contentpb.GroupCiphertext{Message: skm}}}, o.Timestamp)
		if err != nil {
			return err
		}
		for _, t := range plain {
			err = c.sendOne(ctx, clientdb.Outgoing{EnvelopeID: o.EnvelopeID, Peer: t.ct.Username, Content: enc, Timestamp: o.Timestamp})
			if err != nil && !errors.Is(err, ErrNoSuchUser) {
				return err
			}
		}
		return nil
	}
}

// distributeKey sends our Sender Key for the group 1:1 to every device of
// every other member that was not sent our current chain, and returns the
// members to send to (a member whose name now names another account, or
// no account, is left out).
func (c *Client) distributeKey(ctx context.Context, id group.ID, st *group.State, o clientdb.Outgoing) ([]groupTarget, error) {
	var dm *senderkey.DistributionMessage
	c.sessMu.Lock()
	err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		var err error
		dm, err = senderkey.Create(ctx, s, c.localAddr(), distributionID(id), c.cfg.Rand)
		return err
	})
	c.sessMu.Unlock()
	if err != nil {
		return nil, err
	}
	// What we know of the members, and who holds our chain: one read
	// each, not two per member.
	names := make([]string, len(st.Members))
	for i, m := range st.Members {
		names[i] = NormalizeUsername(m.Username)
	}
	known, err := c.db.Store().ContactsByName(ctx, names)
	if err != nil {
		return nil, err
	}
	sentTo, err := c.db.Store().GroupKeysSent(ctx, id, dm.ChainID())
	if err != nil {
		return nil, err
	}
	var targets []groupTarget
	for i, m := range st.Members {
		ct, ok := known[names[i]]
		if !ok || len(ct.Devices) == 0 {
			// Not known yet: ask the relay (as contact does).
			ct, err = c.contact(ctx, m.Username, false)
		}
		if errors.Is(err, ErrNoSuchUser) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if ct.AccountID != m.Account {
			c.cfg.Logger.Info("a group member's name now names another account; left out")
			continue
		}
		// Our own other devices, if we have any.
		if ct.Devices = c.recipientDevices(ct); len(ct.Devices) == 0 && m.Account == c.account {
			continue
		}
		sent := sentTo[m.Account]
		if slices.ContainsFunc(ct.Devices, func(d uint32) bool { return !slices.Contains(sent, d) }) {
			enc, err := c.stampContent(&contentpb.Content{Body: &contentpb.Content_GroupKey{GroupKey: &contentpb.GroupKey{
				GroupId: id[:], Distribution: dm.Bytes()}}}, o.Timestamp)
			if err != nil {
				return nil, err
			}
			var eid [16]byte
			if _, err := c.cfg.Rand.Read(eid[:]); err != nil {
				return nil, err
			}
			err = c.sendOne(ctx, clientdb.Outgoing{EnvelopeID: eid, Peer: m.Username, Content: enc, Timestamp: o.Timestamp})
			if errors.Is(err, ErrNoSuchUser) {
				continue
			}
			if err != nil {
				return nil, err
			}
			// sendOne corrected the device list if it had to.
			if ct, err = c.contact(ctx, m.Username, false); err != nil {
				return nil, err
			}
			ct.Devices = c.recipientDevices(ct)
			if err := c.db.Store().MarkGroupKeySent(ctx, id, dm.ChainID(), m.Account, ct.Devices); err != nil {
				return nil, err
			}
		}
		targets = append(targets, groupTarget{m: m, ct: ct})
	}
	return targets, nil
}

// groupEncrypt encrypts padded on our chain for the group.
func (c *Client) groupEncrypt(ctx context.Context, id group.ID, padded []byte) ([]byte, error) {
	var skm []byte
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		var err error
		skm, err = senderkey.Encrypt(ctx, s, c.localAddr(), distributionID(id), padded, c.cfg.Rand)
		return err
	})
	return skm, err
}

// sendGroupSealed sends padded, encrypted once under our Sender Key, to
// every device of the targets whose access key we know, with one sealed
// sender v2 multi-recipient request. It returns the targets left to send
// to 1:1.
func (c *Client) sendGroupSealed(ctx context.Context, o clientdb.Outgoing, id group.ID, targets []groupTarget, padded []byte) ([]groupTarget, error) {
	var sealedTo, plain []groupTarget
	for _, t := range targets {
		// Our own other devices get it 1:1, as a note to self goes.
		if len(t.ct.AccessKey) == 16 && !c.cfg.NoSealedSender && t.ct.AccountID != c.account {
			sealedTo = append(sealedTo, t)
		} else {
			plain = append(plain, t)
		}
	}
	if len(sealedTo) == 0 {
		return plain, nil
	}
	cert, err := c.senderCertificate(ctx)
	if errors.Is(err, errNoCertificate) {
		return targets, nil
	}
	if err != nil {
		return nil, err
	}
	var remotes []session.Address
	var key [16]byte
	for _, t := range sealedTo {
		if err := c.ensureSessions(ctx, t.ct, t.ct.Devices); err != nil {
			return nil, err
		}
		for _, d := range t.ct.Devices {
			remotes = append(remotes, addr(t.ct.AccountID, d))
		}
		subtle.XORBytes(key[:], key[:], t.ct.AccessKey)
	}
	skm, err := c.groupEncrypt(ctx, id, padded)
	if err != nil {
		return nil, err
	}
	content, err := sealed.NewContent(sealed.TypeSenderKey, cert, skm, sealed.HintResendable, id[:])
	if err != nil {
		return nil, err
	}
	var msg []byte
	c.sessMu.Lock()
	msg, err = sealedsession.EncryptMulti(ctx, c.db.Store().Stores(), remotes, nil, content, c.cfg.Rand)
	c.sessMu.Unlock()
	if err != nil {
		return nil, err
	}
	rc, err := c.anonConnection(ctx, [16]byte(id[:16]))
	if err != nil {
		return nil, err
	}
	rctx, cancel := c.cfg.Clock.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := rc.call(rctx, "group send", &wire.Request{Op: &wire.Request_SendMulti{SendMulti: &wire.SendMultiRecipient{
		Message: msg, AccessKey: key[:], Timestamp: uint64(o.Timestamp.UnixMilli()), EnvelopeId: o.EnvelopeID[:],
	}}})
	if errors.Is(err, context.DeadlineExceeded) {
		rc.fail(errors.New("group send timed out"))
		return nil, fmt.Errorf("%w: group send timed out", ErrDisconnected)
	}
	var se *StatusError
	if errors.As(err, &se) && se.Status == wire.Status_UNAUTHORIZED {
		// An access key we hold is wrong: send to each 1:1 this time.
		c.cfg.Logger.Debug("group send refused access; sending 1:1")
		return targets, nil
	}
	if err != nil {
		return nil, err
	}
	c.stats.sentGroupMulti.Add(1)
	if full := resp.GetMultiSent().GetQuotaExceeded(); len(full) > 0 {
		c.cfg.Logger.Debug("group send: some members' mailboxes are full", "members", len(full))
	}
	return plain, nil
}

// fixMultiDevices applies a multi-recipient device mismatch to the
// targets' contacts.
func (c *Client) fixMultiDevices(ctx context.Context, targets []groupTarget, se *StatusError) error {
	if se.multiMismatch == nil {
		return fmt.Errorf("client: device lists keep changing: %w", se)
	}
	for _, rm := range se.multiMismatch.Recipients {
		if len(rm.ServiceId) != 17 || rm.Devices == nil {
			continue
		}
		acct := [16]byte(rm.ServiceId[1:])
		i := slices.IndexFunc(targets, func(t groupTarget) bool { return t.ct.AccountID == acct })
		if i < 0 {
			continue
		}
		if _, err := c.fixDevices(ctx, targets[i].ct, rm.Devices); err != nil {
			return err
		}
	}
	return nil
}
