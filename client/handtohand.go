package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/client/clientdb"
	"samizdat/client/internal/contentpb"
	"samizdat/manifest"
)

// Manifests passed hand to hand. Everything we send end to end says which
// manifest this device holds (its serial, and the device's cohort under
// it), inside the encrypted content: the relay never sees it. When an
// accepted contact says it holds an older serial than ours, we queue, once
// per serial, either our signed manifest blob (the exact bytes channels
// carry) if the contact's device is in our cohort, or only a notice that a
// newer serial exists if it is not, so that no device learns the endpoints
// of a cohort not its own from us; the notice makes it ask its own
// channels. A manifest handed to us goes through the same Keeper.Offer as
// every channel (signature, network, rollback, expiry) and is refused with
// the reason, changing nothing, when it fails, when it comes from a
// stranger, or when it lists endpoints of another cohort and none of ours.
//
// What this trusts: a contact's claim of its cohort. The relay assigns
// cohorts (manifest.Slot) and the claim is not checked, so a contact can
// claim any cohort; a contact the user accepted thus learns the manifest
// of the user's cohort, no more (as it would by asking the user for a
// personal invite, which places its holder in that cohort).

// errOtherCohort refuses a manifest made for another cohort than ours.
var errOtherCohort = errors.New("client: a manifest for another cohort")

// heardRefreshEvery is the least time between two fetches from our
// channels that contacts' newer serials set off.
const heardRefreshEvery = 10 * time.Minute

// held says which manifest this device holds, for what it sends; nil
// before the keeper holds one.
func (c *Client) held() *contentpb.ManifestHeld {
	m := c.keeper.Current()
	if m == nil {
		return nil
	}
	return &contentpb.ManifestHeld{Serial: m.Serial, Cohort: m.CohortOf(c.at.slot), Cohorts: m.Cohorts}
}

// stamp returns content (an encoded Content) saying which manifest we
// hold now, or content unchanged if it does not decode.
func (c *Client) stamp(content []byte) []byte {
	h := c.held()
	if h == nil {
		return content
	}
	var pb contentpb.Content
	if proto.Unmarshal(content, &pb) != nil {
		return content
	}
	pb.Manifest = h
	b, err := encodeContent(&pb)
	if err != nil {
		return content
	}
	return b
}

// handed is what a stored delivery asks of the keeper once its
// transaction has committed.
type handed struct {
	peer  string
	blob  []byte // a manifest the peer handed us
	heard uint64 // the serial the peer holds, when newer than ours
}

// answerHeld looks at the manifest an accepted contact says it holds
// (theirs), in the receiving transaction: a newer serial goes into h for
// a fetch from our channels; an older one gets our manifest, or a notice
// of it, queued for peer once per serial.
func (c *Client) answerHeld(ctx context.Context, s *clientdb.Store, peer string, theirs *contentpb.ManifestHeld, h *handed) error {
	cur := c.keeper.Current()
	if cur == nil || theirs == nil {
		return nil
	}
	if theirs.GetSerial() > cur.Serial {
		h.heard = theirs.GetSerial()
		return nil
	}
	if theirs.GetSerial() == cur.Serial {
		return nil
	}
	// Current may have moved on since: what we hand on is what the keeper
	// holds now, with the serial and cohorts of that blob.
	m, blob := c.keeper.Held()
	if sent, err := s.ManifestSent(ctx, peer); err != nil || sent >= m.Serial {
		return err
	}
	offer := &contentpb.ManifestOffer{}
	if mayHandTo(m, c.at.slot, theirs) {
		offer.Blob = blob
	}
	if err := c.enqueue(ctx, s, peer, &contentpb.Content{Body: &contentpb.Content_ManifestOffer{ManifestOffer: offer}}); err != nil {
		return err
	}
	return s.SetManifestSent(ctx, peer, m.Serial)
}

// mayHandTo reports whether m, our manifest, may go to a device that holds
// theirs: in a network without cohorts always, else only to a device of
// our cohort under m (by the same count of cohorts).
func mayHandTo(m *manifest.Manifest, ours manifest.Slot, theirs *contentpb.ManifestHeld) bool {
	if m.Cohorts == 0 {
		return true
	}
	return theirs.GetCohorts() == m.Cohorts && theirs.GetCohort() == m.CohortOf(ours)
}

// forAnotherCohort reports whether m lists endpoints of a cohort other
// than the one of the device in slot s, and none of its own: a manifest
// made for another cohort, which would leave this device only the
// endpoints for everyone.
func forAnotherCohort(m *manifest.Manifest, s manifest.Slot) bool {
	if m.Cohorts == 0 {
		return false
	}
	mine := m.CohortOf(s)
	other := false
	for _, r := range m.Relays {
		for _, e := range r.Endpoints {
			switch e.Cohort {
			case mine:
				return false
			case 0:
			default:
				other = true
			}
		}
	}
	return other
}

// afterDelivery does what a committed delivery asked in h: it offers a
// handed manifest to the keeper and adopts it, or has our channels asked
// for the newer serial a contact holds. It returns the events to report.
func (c *Client) afterDelivery(ctx context.Context, h *handed) []Event {
	var events []Event
	if h.blob != nil {
		m, err := c.takeHanded(ctx, h.blob)
		if err != nil {
			c.cfg.Logger.Info("refused a manifest a contact handed us", "err", err)
			events = append(events, Event{Kind: EventRefused, Peer: h.peer, Err: err})
		} else {
			c.cfg.Logger.Info("adopted a newer manifest a contact handed us", "serial", m.Serial)
			events = append(events, Event{Kind: EventManifest, Peer: h.peer, Text: strconv.FormatUint(m.Serial, 10)})
		}
	}
	if h.heard != 0 {
		c.heardNewer(h.heard)
	}
	return events
}

// takeHanded offers blob, handed to us by a contact, to the keeper and
// adopts it. It is refused, changing nothing, if it is not a manifest of
// our network signed by its key, newer than ours and valid now, or if it
// is made for another cohort.
func (c *Client) takeHanded(ctx context.Context, blob []byte) (*manifest.Manifest, error) {
	if err := checkHanded(blob, c.networkKey, c.at.slot); err != nil {
		return nil, err
	}
	m, err := c.keeper.Offer(blob, c.cfg.Now())
	if err != nil {
		return nil, err
	}
	if err := c.adoptManifest(ctx, c.keeper.Blob()); err != nil {
		return nil, err
	}
	return m, nil
}

// checkHanded is what a handed manifest must pass before the keeper sees
// it: signed by networkKey, and not made for another cohort than that of
// the device in slot s.
func checkHanded(blob []byte, networkKey ed25519.PublicKey, s manifest.Slot) error {
	m, err := manifest.Open(blob, networkKey)
	if err != nil {
		return err
	}
	if forAnotherCohort(m, s) {
		return fmt.Errorf("%w: serial %d lists another cohort's endpoints and none of cohort %d", errOtherCohort, m.Serial, m.CohortOf(s))
	}
	return nil
}

// heardNewer asks our channels for a newer manifest, in the background,
// when a contact holds serial: at most once per serial heard and once per
// heardRefreshEvery.
func (c *Client) heardNewer(serial uint64) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
		return
	default:
	}
	if serial <= c.heardSerial || (!c.heardAt.IsZero() && now.Before(c.heardAt.Add(heardRefreshEvery))) {
		return
	}
	c.heardSerial, c.heardAt = serial, now
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := c.whileOpen(context.Background())
		defer cancel()
		if err := c.refreshManifest(ctx); err != nil {
			c.cfg.Logger.Debug("a contact holds a newer manifest; our channels had none", "err", err)
		}
	}()
}
