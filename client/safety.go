package client

import (
	"context"
	"errors"
	"strings"
	"time"

	"samizdat/client/clientdb"
	"samizdat/session/fingerprint"
)

// Safety is the safety number of the conversation with one contact.
type Safety struct {
	Peer string
	// Number is the 60-digit safety number in twelve groups of five; both
	// users see the same digits when no one stands between them.
	Number string
	// Scannable is the fingerprint another device compares (QR code
	// contents).
	Scannable []byte
	// ChangedAt is when the contact's identity key last changed (zero if it
	// never did since we first saw it, or the change was accepted).
	ChangedAt time.Time
}

// fingerprintIterations and fingerprintVersion are Signal's for service ids.
const (
	fingerprintIterations = 5200
	fingerprintVersion    = 2
)

// Safety computes the safety number with the user name, looking them up at
// the relay if they are not a contact yet.
func (c *Client) Safety(ctx context.Context, name string) (Safety, error) {
	ct, err := c.contact(ctx, name, false)
	if err != nil {
		return Safety{}, err
	}
	st := c.db.Store()
	theirs, ok, err := st.Identity(ctx, addr(ct.AccountID, 1))
	if err != nil {
		return Safety{}, err
	}
	if !ok {
		return Safety{}, errors.New("client: no identity known for " + ct.Username)
	}
	ours, err := st.IdentityKeyPair(ctx)
	if err != nil {
		return Safety{}, err
	}
	fp, err := fingerprint.New(fingerprintVersion, fingerprintIterations, c.account[:], ours.Public, ct.AccountID[:], theirs)
	if err != nil {
		return Safety{}, err
	}
	changed, err := st.ChangedIdentity(ctx, addr(ct.AccountID, 1).Name)
	if err != nil {
		return Safety{}, err
	}
	d := fp.Displayable()
	var groups []string
	for i := 0; i+5 <= len(d); i += 5 {
		groups = append(groups, d[i:i+5])
	}
	return Safety{Peer: ct.Username, Number: strings.Join(groups, " "), Scannable: fp.Scannable(), ChangedAt: changed}, nil
}

// IdentityChangedAt is when name's identity key last changed and the user
// has not accepted it yet (AcceptIdentity); zero when it did not. Unlike
// Safety it computes no fingerprint, so a list of contacts can show the
// warning cheaply.
func (c *Client) IdentityChangedAt(ctx context.Context, name string) (time.Time, error) {
	ct, err := c.db.Store().ContactByName(ctx, NormalizeUsername(name))
	if err != nil {
		return time.Time{}, err
	}
	return c.db.Store().ChangedIdentity(ctx, addr(ct.AccountID, 1).Name)
}

// AcceptIdentity marks name's current identity as seen by the user (the
// changed warning stops).
func (c *Client) AcceptIdentity(ctx context.Context, name string) error {
	ct, err := c.db.Store().ContactByName(ctx, NormalizeUsername(name))
	if err != nil {
		return err
	}
	return c.db.Store().AcceptIdentity(ctx, addr(ct.AccountID, 1).Name)
}

// Contacts lists the known contacts.
func (c *Client) Contacts(ctx context.Context) ([]clientdb.Contact, error) {
	return c.db.Store().Contacts(ctx)
}

// History returns the last limit messages with peer (all peers if empty).
//
// peer may name a group: its history then holds its members' texts (Sender
// says whose) and its membership changes (StatusNotice), each with Peer
// the group's name.
func (c *Client) History(ctx context.Context, peer string, limit int) ([]clientdb.Message, error) {
	if err := c.deleteExpired(ctx); err != nil {
		return nil, err
	}
	peer = NormalizeUsername(peer)
	g, err := c.db.Store().GroupByName(ctx, peer)
	key := peer
	switch {
	case err == nil:
		key = clientdb.GroupPeer(g.ID)
	case !errors.Is(err, clientdb.ErrNotFound):
		return nil, err
	}
	msgs, err := c.db.Store().History(ctx, key, limit)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for i, m := range msgs {
		if _, ok := clientdb.ParseGroupPeer(m.Peer); !ok {
			continue
		}
		name, ok := names[m.Peer]
		if !ok {
			id, _ := clientdb.ParseGroupPeer(m.Peer)
			gr, err := c.db.Store().Group(ctx, id)
			if err != nil {
				return nil, err
			}
			name, names[m.Peer] = gr.Name, gr.Name
		}
		msgs[i].Peer = name
	}
	return msgs, nil
}

// Outbox lists the messages waiting for the relay's acknowledgement.
func (c *Client) Outbox(ctx context.Context) ([]clientdb.Outgoing, error) {
	return c.db.Store().Outbox(ctx)
}

// Lookup returns the contact named name, asking the relay when it is not
// known yet (which records it as a contact). It returns ErrNoSuchUser when
// the relay knows no user by that name.
func (c *Client) Lookup(ctx context.Context, name string) (clientdb.Contact, error) {
	return c.contact(ctx, name, false)
}
