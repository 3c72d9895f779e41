package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/bridge"
	"samizdat/client/clientdb"
	"samizdat/client/internal/contentpb"
	"samizdat/dialer"
	"samizdat/manifest"
)

// Contacts as bridges (package bridge): a client that reaches the relay
// can carry its contacts' connections, and a client cut off from every
// relay address dials its contacts' bridges. Offers travel end to end, one
// per contact with a secret of its own; they go only to contacts the user
// accepted (wrote to, replied to, or accepted: see Accepted) and are taken
// only from them, so a stranger cannot steer a stranded client's
// connections (and learn its address) by offering a bridge.

// Manifest returns the network's manifest in use (checked for its
// signature and time).
func (c *Client) Manifest() (*manifest.Manifest, error) { return c.network() }

// Cohort returns this device's cohort under the manifest in use: which
// cohort's endpoints and channels it dials (0 when the network has no
// cohorts, or the manifest cannot be read).
func (c *Client) Cohort() uint32 {
	m, err := c.network()
	if err != nil {
		return 0
	}
	return m.CohortOf(c.at.slot)
}

// OfferBridge queues o for the contact to (only to them: o holds their own
// secret) and sends it with the outbox. A zero o.Expires withdraws our
// earlier offer of the bridge whose pin is o.TLSPin (of every bridge, if
// o has no pin). Only an accepted contact may be offered a bridge
// (ErrNotAccepted).
func (c *Client) OfferBridge(ctx context.Context, to string, o bridge.Offer) error {
	to = NormalizeUsername(to)
	if st, err := c.db.Store().PeerState(ctx, to); err != nil {
		return err
	} else if st != clientdb.PeerAccepted {
		return fmt.Errorf("%w: %s", ErrNotAccepted, to)
	}
	return c.enqueue(ctx, c.db.Store(), to, &contentpb.Content{Body: &contentpb.Content_BridgeOffer{BridgeOffer: offerPB(o)}})
}

// nonEmpty is b, or nil if b is empty.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// offerPB encodes an offer as it travels.
func offerPB(o bridge.Offer) *contentpb.BridgeOffer {
	pb := &contentpb.BridgeOffer{Network: o.Network, RelayId: o.RelayID, Address: o.Address, Sni: o.SNI,
		Path: o.Path, Secret: o.Secret, TlsPin: o.TLSPin}
	if !o.Withdrawn() {
		pb.Expires = uint64(o.Expires.UnixMilli())
	}
	return pb
}

// offerFrom decodes an offer as it travels.
func offerFrom(pb *contentpb.BridgeOffer) bridge.Offer {
	o := bridge.Offer{Network: pb.GetNetwork(), RelayID: pb.GetRelayId(), Address: pb.GetAddress(), SNI: pb.GetSni(),
		Path: pb.GetPath(), Secret: pb.GetSecret(), TLSPin: pb.GetTlsPin()}
	if pb.GetExpires() != 0 {
		o.Expires = time.UnixMilli(int64(pb.GetExpires()))
	}
	return o
}

// storeBridgeOffer takes peer's offer (in the receiving transaction), or
// refuses it with the reason and changes nothing.
func (c *Client) storeBridgeOffer(ctx context.Context, s *clientdb.Store, peer string, acct [16]byte, accepted bool, pb *contentpb.BridgeOffer) (Event, error) {
	refuse := func(err error) (Event, error) {
		c.cfg.Logger.Debug("bridge offer refused", "err", err)
		return Event{Kind: EventRefused, Peer: peer, Err: err}, nil
	}
	if acct == c.account {
		return refuse(errors.New("client: a bridge offer from our own account"))
	}
	m, err := c.network()
	if err != nil {
		return refuse(err)
	}
	o := offerFrom(pb)
	if err := o.Check(m.Network, c.cfg.Now()); err != nil {
		return refuse(err)
	}
	if o.Withdrawn() {
		// A withdrawal names its bridge by its pin; one without a pin
		// takes back every bridge of peer's.
		if err := s.DeleteBridgeOffer(ctx, peer, nonEmpty(o.TLSPin)); err != nil {
			return Event{}, err
		}
		return Event{Kind: EventBridgeOffer, Peer: peer, Text: "withdrawn"}, nil
	}
	if relayKey(m, o.RelayID) == nil {
		return refuse(fmt.Errorf("%w: relay %q is not in our manifest", bridge.ErrBadOffer, o.RelayID))
	}
	if !accepted {
		return refuse(ErrNotAccepted)
	}
	b, err := proto.Marshal(pb)
	if err != nil {
		return Event{}, err
	}
	if err := s.PutBridgeOffer(ctx, clientdb.BridgeOffer{Peer: peer, Bridge: o.TLSPin, Offer: b, Expires: o.Expires, Received: c.cfg.Now()}); err != nil {
		return Event{}, err
	}
	return Event{Kind: EventBridgeOffer, Peer: peer}, nil
}

// relayKey is the Noise key of the relay named id in m, or nil.
func relayKey(m *manifest.Manifest, id string) *[32]byte {
	for i := range m.Relays {
		if m.Relays[i].ID == id {
			return &m.Relays[i].NoiseKey
		}
	}
	return nil
}

// BridgeOffers lists the contacts' bridges we hold, still valid.
func (c *Client) BridgeOffers(ctx context.Context) ([]bridge.Offer, []string, error) {
	stored, err := c.db.Store().BridgeOffers(ctx, c.cfg.Now())
	if err != nil {
		return nil, nil, err
	}
	var offers []bridge.Offer
	var peers []string
	for _, so := range stored {
		var pb contentpb.BridgeOffer
		if proto.Unmarshal(so.Offer, &pb) != nil {
			continue
		}
		offers = append(offers, offerFrom(&pb))
		peers = append(peers, so.Peer)
	}
	return offers, peers, nil
}

// bridgeCandidates are the contacts' bridges as dial candidates for m:
// each leads to a relay of m, whose key the Noise handshake pins, so a
// bridge carries ciphertext it cannot read or alter unseen.
func (c *Client) bridgeCandidates(m *manifest.Manifest) []dialer.Candidate {
	offers, _, err := c.BridgeOffers(context.Background())
	if err != nil {
		return nil
	}
	offers = append(offers, c.ownBridgeOffers(m)...)
	var out []dialer.Candidate
	for _, o := range offers {
		if o.Check(m.Network, c.cfg.Now()) != nil {
			continue
		}
		if k := relayKey(m, o.RelayID); k != nil {
			out = append(out, dialer.Candidate{RelayID: o.RelayID, RelayKey: *k, Endpoint: o.Endpoint()})
		}
	}
	return out
}

// ownBridgeOffers are offers, minted here for the user's own devices
// (bridge.Issuer.OwnLabel), of the bridges this home made credentials for
// and that run elsewhere (a friend abroad, a VPS): the user who set one up
// for their contacts can use it too when every relay address is blocked.
// A bridge this home runs itself forwards over the same paths this client
// has, so it is left out.
func (c *Client) ownBridgeOffers(m *manifest.Manifest) []bridge.Offer {
	if len(m.Relays) == 0 {
		return nil
	}
	bs, err := c.db.Store().Bridges(context.Background())
	if err != nil {
		return nil
	}
	var out []bridge.Offer
	for _, b := range bs {
		if b.Own {
			continue
		}
		iss := issuerOf(b)
		o, err := iss.Offer(iss.OwnLabel(), m.Network, m.Relays[0].ID, b.Address, c.cfg.Now().Add(DefaultBridgeOfferTTL))
		if err == nil {
			out = append(out, o)
		}
	}
	return out
}

// DialRelayRaw opens a raw transport stream to the relay over the
// manifest's own endpoints (never a contact's bridge), for a bridge we run:
// the caller's Noise handshake goes through it. The stream tells the
// dialer's memory whether the relay answered through it (bridge.DialRelay).
func (c *Client) DialRelayRaw(ctx context.Context) (net.Conn, error) {
	m, err := c.network()
	if err != nil {
		return nil, err
	}
	return bridge.DialRelay(ctx, c.cfg.dialerConfig(c.noise, c.memory), candidates(m, c.at))
}
