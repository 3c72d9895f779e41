package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"samizdat/bridge"
	"samizdat/client/clientdb"
	"samizdat/manifest"
)

// The bridges the user offers to their contacts: the one this home runs
// (ServeBridge, while `samizdat bridge --listen` or a chat with --bridge
// runs) and those run elsewhere from a bridge-only credential
// (NewBridgeCredential: a friend abroad, a VPS). Each accepted contact
// gets, for each bridge, a label of their own (package bridge: the bridge
// knows labels, never names) and an offer minted from it; the offers go
// with the outbox (every Flush queues those due: a contact's first, and a
// renewal once half of the last one's life is gone). Blocking a contact
// takes back every label they hold (Block): the bridges deny it and
// nothing more is sent to them. A bridge run elsewhere hears of denials
// and of newer manifests when SyncBridges pushes them.

// DefaultBridgeOfferTTL is how long an offer of a bridge run elsewhere
// lasts (renewed with the outbox once half of it is gone).
const DefaultBridgeOfferTTL = 7 * 24 * time.Hour

// ServedBridge is the bridge this home runs, as ServeBridge records it.
type ServedBridge struct {
	Issuer  bridge.Issuer
	Address string        // what contacts dial
	TTL     time.Duration // how long an offer lasts
	// Deny replaces the running bridge's deny list (bridge.Server.SetDenied).
	Deny func([]bridge.Denial) int
}

// is reports whether sb (nil: none) is the bridge pin.
func (sb *ServedBridge) is(pin []byte) bool {
	return sb != nil && bytes.Equal(sb.Issuer.Pin, pin)
}

// servedBridge is the bridge this home runs now, or nil.
func (c *Client) servedBridge() *ServedBridge {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served
}

// UserBridge is a bridge the user offers, as Bridges lists it.
type UserBridge struct {
	ID       string // bridge.ID of its pin
	Pin      []byte
	Address  string
	Own      bool // run by this home; else from a credential, elsewhere
	Running  bool // Own, and running now in this process
	Holders  int  // contacts holding an offer
	Denied   int  // labels taken back
	Pending  bool // run elsewhere and not yet told of a change
	PushedAt time.Time
}

// NewBridgeCredential makes a bridge-only credential (package bridge) for
// a bridge to run elsewhere, which contacts reach at address, their TLS
// sending sni ("": bridge.SNIFor its new key), and records the bridge: its offers
// go to the accepted contacts with the next Flush. The credential holds
// none of the user's keys; it forwards to the relays of the user's own
// cohort.
func (c *Client) NewBridgeCredential(ctx context.Context, address, sni string) (bridge.Credential, error) {
	m, err := c.network()
	if err != nil {
		return bridge.Credential{}, err
	}
	cred, err := bridge.NewCredential(c.networkKey, c.currentManifest(), m.CohortOf(c.at.slot), sni, c.cfg.Rand)
	if err != nil {
		return bridge.Credential{}, err
	}
	iss, err := cred.Issuer()
	if err != nil {
		return bridge.Credential{}, err
	}
	err = c.db.Store().PutBridge(ctx, clientdb.Bridge{ID: iss.Pin, Address: address, Key: iss.Key, SNI: iss.SNI, Added: c.cfg.Now()})
	return cred, err
}

// ServeBridge records sb as the bridge this home runs, until
// StopServingBridge: its offers go to accepted contacts with the outbox
// like those of the other bridges, and sb.Deny gets its deny list now and
// whenever a block changes it.
func (c *Client) ServeBridge(ctx context.Context, sb ServedBridge) error {
	if sb.TTL <= 0 {
		sb.TTL = DefaultBridgeOfferTTL
	}
	iss := sb.Issuer
	if err := c.db.Store().PutBridge(ctx, clientdb.Bridge{ID: iss.Pin, Address: sb.Address, Key: iss.Key, SNI: iss.SNI, Own: true, Added: c.cfg.Now()}); err != nil {
		return err
	}
	c.mu.Lock()
	c.served = &sb
	c.mu.Unlock()
	return c.denyServed(ctx)
}

// StopServingBridge withdraws the offers of the bridge this home ran from
// the accepted contacts holding one (queued: the caller flushes) and takes
// their labels back, so that the next start offers new ones; it returns
// those contacts.
func (c *Client) StopServingBridge(ctx context.Context) ([]string, error) {
	sb := c.servedBridge()
	if sb == nil {
		return nil, nil
	}
	told, err := c.withdraw(ctx, sb.Issuer.Pin)
	c.mu.Lock()
	if c.served == sb {
		c.served = nil
	}
	c.mu.Unlock()
	return told, err
}

// withdraw queues a withdrawal of the bridge pin for every accepted
// contact holding an offer of it, takes their labels back (a withdrawn
// offer opens nothing, even for a contact who kept it), and returns those
// contacts.
func (c *Client) withdraw(ctx context.Context, pin []byte) ([]string, error) {
	m, err := c.network()
	if err != nil {
		return nil, err
	}
	grants, err := c.db.Store().Grants(ctx, pin)
	if err != nil {
		return nil, err
	}
	var told []string
	for _, g := range grants {
		if g.Expires.IsZero() {
			continue
		}
		err := c.OfferBridge(ctx, g.Peer, bridge.Offer{Network: m.Network, TLSPin: pin})
		if errors.Is(err, ErrNotAccepted) {
			continue
		}
		if err != nil {
			return told, err
		}
		told = append(told, g.Peer)
	}
	if err := c.db.Store().DenyGrants(ctx, pin, c.cfg.Now()); err != nil {
		return told, err
	}
	return told, c.denyServed(ctx)
}

// Bridges lists the bridges the user offers.
func (c *Client) Bridges(ctx context.Context) ([]UserBridge, error) {
	bs, err := c.db.Store().Bridges(ctx)
	if err != nil {
		return nil, err
	}
	serial := uint64(0)
	if m, err := c.network(); err == nil {
		serial = m.Serial
	}
	served := c.servedBridge()
	var out []UserBridge
	for _, b := range bs {
		grants, err := c.db.Store().Grants(ctx, b.ID)
		if err != nil {
			return nil, err
		}
		denied, err := c.db.Store().Denied(ctx, b.ID, c.cfg.Now())
		if err != nil {
			return nil, err
		}
		ub := UserBridge{ID: bridge.ID(b.ID), Pin: b.ID, Address: b.Address, Own: b.Own, Denied: len(denied), PushedAt: b.PushedAt}
		ub.Running = b.Own && served.is(b.ID)
		ub.Pending = !b.Own && (b.Changed > b.Pushed || b.PushedSerial < serial)
		for _, g := range grants {
			if !g.Expires.IsZero() && g.Expires.After(c.cfg.Now()) {
				ub.Holders++
			}
		}
		out = append(out, ub)
	}
	return out, nil
}

// ErrNoSuchBridge means no bridge the user offers matches.
var ErrNoSuchBridge = errors.New("client: no such bridge")

// ForgetBridge withdraws the offers of the bridge named by which (its ID,
// a prefix of it, or its address) from the contacts holding one (queued:
// the caller flushes) and forgets it. A bridge run elsewhere is told to
// deny every label it was offered with (the returned pushErr says if it
// could not be reached: it then takes them until they end, or until it is
// stopped). It returns the contacts told.
func (c *Client) ForgetBridge(ctx context.Context, which string) (told []string, pushErr error, err error) {
	b, err := c.findBridge(ctx, which)
	if err != nil {
		return nil, nil, err
	}
	if told, err = c.withdraw(ctx, b.ID); err != nil {
		return told, nil, err
	}
	if b.Own {
		c.mu.Lock()
		if c.served.is(b.ID) {
			c.served = nil
		}
		c.mu.Unlock()
	} else {
		u, err := c.bridgeUpdate(ctx, b, c.cfg.Now())
		if err != nil {
			return told, nil, err
		}
		_, pushErr = bridge.Push(ctx, issuerOf(b), b.Address, c.cfg.NetDial, u)
	}
	return told, pushErr, c.db.Store().DeleteBridge(ctx, b.ID)
}

// findBridge finds the one bridge which names.
func (c *Client) findBridge(ctx context.Context, which string) (clientdb.Bridge, error) {
	bs, err := c.db.Store().Bridges(ctx)
	if err != nil {
		return clientdb.Bridge{}, err
	}
	var found []clientdb.Bridge
	for _, b := range bs {
		if which != "" && (b.Address == which || strings.HasPrefix(hex.EncodeToString(b.ID), strings.ToLower(which))) {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return clientdb.Bridge{}, fmt.Errorf("%w: %q", ErrNoSuchBridge, which)
	}
	return clientdb.Bridge{}, fmt.Errorf("%w: %q names %d bridges; give more of the ID", ErrNoSuchBridge, which, len(found))
}

// OfferSent is an offer queued by AnnounceBridges.
type OfferSent struct {
	Peer   string
	Bridge []byte // the bridge's pin
}

// AnnounceBridges queues the offers due (Flush does too): for each bridge
// the user offers (their own only while it runs) and each accepted
// contact, a first offer, or a renewal once half of the last one's life
// is gone. It returns the offers queued.
func (c *Client) AnnounceBridges(ctx context.Context) ([]OfferSent, error) {
	bs, m, err := c.userBridges(ctx)
	if err != nil || len(bs) == 0 || len(m.Relays) == 0 {
		return nil, err
	}
	names, err := c.Accepted(ctx)
	if err != nil {
		return nil, err
	}
	served := c.servedBridge()
	now := c.cfg.Now()
	var sent []OfferSent
	for _, b := range bs {
		ttl := DefaultBridgeOfferTTL
		if b.Own {
			if !served.is(b.ID) {
				continue
			}
			ttl = served.TTL
		}
		grants, err := c.db.Store().Grants(ctx, b.ID)
		if err != nil {
			return sent, err
		}
		held := make(map[string]clientdb.Grant, len(grants))
		for _, g := range grants {
			held[g.Peer] = g
		}
		iss := issuerOf(b)
		for _, n := range names {
			g, ok := held[n]
			if ok && g.Expires.Sub(now) > ttl/2 {
				continue
			}
			if !ok || len(g.Label) != bridge.LabelSize {
				l, err := bridge.NewLabel(c.cfg.Rand)
				if err != nil {
					return sent, err
				}
				g = clientdb.Grant{Bridge: b.ID, Peer: n, Label: l[:]}
			}
			o, err := iss.Offer(bridge.Label(g.Label), m.Network, m.Relays[0].ID, b.Address, now.Add(ttl))
			if err != nil {
				return sent, err
			}
			if err := c.OfferBridge(ctx, n, o); err != nil {
				if errors.Is(err, ErrNotAccepted) {
					continue
				}
				return sent, err
			}
			g.Expires = o.Expires
			if err := c.db.Store().PutGrant(ctx, g); err != nil {
				return sent, err
			}
			sent = append(sent, OfferSent{Peer: n, Bridge: b.ID})
		}
	}
	return sent, nil
}

// BridgeSync is what SyncBridges did for one bridge run elsewhere.
type BridgeSync struct {
	ID, Address string
	Denials     bool // the push carried denials the bridge had not heard of
	Ack         bridge.Ack
	Err         error
}

// How often SyncBridges tells a bridge run elsewhere what it knows even
// when nothing changed (the bridge may have restarted without its state),
// and how long it leaves one that could not be reached.
const (
	bridgeResync     = time.Hour
	bridgeRetryAfter = time.Minute
)

// SyncBridges tells every bridge run elsewhere that needs it the newest
// manifest this client holds, its cohort and the bridge's whole deny
// list, over the bridge's control tunnel (package bridge): a bridge whose
// deny list changed, that holds an older manifest, or that was last told
// over an hour ago. A bridge that could not be reached is tried again
// after a minute, or at once when its deny list changes. It dials through
// the client's NetDial, never through a relay.
func (c *Client) SyncBridges(ctx context.Context) ([]BridgeSync, error) {
	bs, m, err := c.userBridges(ctx)
	if err != nil || len(bs) == 0 {
		return nil, err
	}
	now := c.cfg.Now()
	var out []BridgeSync
	for _, b := range bs {
		changed := b.Changed > b.Pushed
		if b.Own || !changed && b.PushedSerial >= m.Serial && now.Sub(b.PushedAt) < bridgeResync ||
			!changed && !b.FailedAt.IsZero() && now.Sub(b.FailedAt) < bridgeRetryAfter {
			continue
		}
		u, err := c.bridgeUpdate(ctx, b, now)
		if err != nil {
			return out, err
		}
		ack, err := bridge.Push(ctx, issuerOf(b), b.Address, c.cfg.NetDial, u)
		out = append(out, BridgeSync{ID: bridge.ID(b.ID), Address: b.Address, Denials: changed, Ack: ack, Err: err})
		if perr := c.db.Store().BridgePushed(ctx, b.ID, err == nil, b.Changed, ack.Serial, c.cfg.Now()); perr != nil {
			return out, perr
		}
	}
	return out, nil
}

// bridgeUpdate is what the bridge b, run elsewhere, is told at now: the
// manifest in use, this device's cohort under it, and b's whole deny
// list.
func (c *Client) bridgeUpdate(ctx context.Context, b clientdb.Bridge, now time.Time) (bridge.Update, error) {
	denied, err := c.db.Store().Denied(ctx, b.ID, now)
	if err != nil {
		return bridge.Update{}, err
	}
	u := bridge.Update{Manifest: c.currentManifest(), Denied: toDenials(denied)}
	if m, err := c.network(); err == nil {
		u.Cohort = m.CohortOf(c.at.slot)
	}
	return u, nil
}

// issuerOf mints the offers of b.
func issuerOf(b clientdb.Bridge) bridge.Issuer {
	return bridge.Issuer{Key: b.Key, Pin: b.ID, SNI: b.SNI}
}

// userBridges lists the bridges the user offers and, if there are any,
// the manifest in use.
func (c *Client) userBridges(ctx context.Context) ([]clientdb.Bridge, *manifest.Manifest, error) {
	bs, err := c.db.Store().Bridges(ctx)
	if err != nil || len(bs) == 0 {
		return nil, nil, err
	}
	m, err := c.network()
	if err != nil {
		return nil, nil, err
	}
	return bs, m, nil
}

// denyPeer takes back every label of every bridge that peer holds, in the
// blocking transaction, and drops what the outbox holds for them that is
// not a message. It reports whether peer held any label.
func denyPeer(ctx context.Context, s *clientdb.Store, peer string, now time.Time) (bool, error) {
	if err := s.DropQueuedTo(ctx, peer); err != nil {
		return false, err
	}
	return s.DenyPeer(ctx, peer, now)
}

// denyServed gives the bridge this home runs, if any, its deny list.
func (c *Client) denyServed(ctx context.Context) error {
	sb := c.servedBridge()
	if sb == nil || sb.Deny == nil {
		return nil
	}
	denied, err := c.db.Store().Denied(ctx, sb.Issuer.Pin, c.cfg.Now())
	if err != nil {
		return err
	}
	sb.Deny(toDenials(denied))
	return nil
}

func toDenials(ds []clientdb.Denial) []bridge.Denial {
	out := make([]bridge.Denial, 0, len(ds))
	for _, d := range ds {
		out = append(out, denial(d.Label, d.Until))
	}
	return out
}

func denial(label []byte, until time.Time) bridge.Denial {
	var l bridge.Label
	copy(l[:], label)
	return bridge.Denial{Label: l, Until: until}
}
