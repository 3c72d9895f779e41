package client

import (
	"context"
	"errors"
	"fmt"
	"net"

	"samizdat/client/clientdb"
	"samizdat/noisechan"
	"samizdat/relay/wire"
	"samizdat/session"
	"samizdat/session/sealed"
	"samizdat/session/sealed/sealedsession"
)

// Sealed sender: once a contact has told us their unidentified access key
// (every content carries the sender's), our messages to them go sealed, over
// a separate channel with a throwaway Noise key, so the relay learns the
// recipient but not the sender.

// errNoCertificate means the relay issues no sender certificates.
var errNoCertificate = errors.New("client: relay issues no sender certificates")

// senderCertificate returns a valid sender certificate, fetching a new one
// when the cached one is missing or half its lifetime (as seen when it was
// fetched) has passed. Relays issue short-lived certificates (a removed
// device's lasts at most that long), so the margin follows the lifetime.
func (c *Client) senderCertificate(ctx context.Context) (*sealed.SenderCertificate, error) {
	c.mu.Lock()
	cert, renew := c.cert, c.certRenew
	c.mu.Unlock()
	if cert != nil && c.cfg.Now().Before(renew) {
		return cert, nil
	}
	resp, err := c.call(ctx, "sender certificate", &wire.Request{Op: &wire.Request_SenderCertificate{SenderCertificate: &wire.GetSenderCertificate{}}})
	var se *StatusError
	if errors.As(err, &se) && !se.transient() || errors.As(err, &se) && se.Status == wire.Status_INTERNAL {
		return nil, fmt.Errorf("%w: %w", errNoCertificate, err)
	}
	if err != nil {
		return nil, err
	}
	cert, err = sealed.ParseSenderCertificate(resp.GetSenderCertificate().GetCertificate())
	if err != nil {
		return nil, fmt.Errorf("client: relay sent a malformed sender certificate: %w", err)
	}
	root, err := c.trustRoot()
	if err != nil {
		return nil, err
	}
	now := c.cfg.Now()
	if err := cert.Validate(root, now); err != nil {
		return nil, fmt.Errorf("client: relay sent an invalid sender certificate: %w", err)
	}
	c.mu.Lock()
	c.cert, c.certRenew = cert, now.Add(cert.Expiration().Sub(now)/2)
	c.mu.Unlock()
	return cert, nil
}

// anonConnection returns the channel for sealed sends to recipient:
// authenticated to us as the relay, anonymous to the relay (a fresh Noise
// key). It is short-lived so that it does not link our sends: one lives
// for consecutive sends to one recipient within one outbox flush (a burst)
// and is closed when the recipient changes or the flush ends
// (endAnonBurst). The cost is one dial and Noise handshake per burst.
// Dials are serialized by anonMu, not mu, so that one does not hold up
// the ordinary connection's calls and pushes.
func (c *Client) anonConnection(ctx context.Context, recipient [16]byte) (*relayConn, error) {
	c.anonMu.Lock()
	defer c.anonMu.Unlock()
	c.mu.Lock()
	rc := c.anon
	if rc != nil && (rc.Err() != nil || c.anonFor != recipient) {
		rc.Close()
		c.anon, rc = nil, nil
	}
	c.mu.Unlock()
	if rc != nil {
		return rc, nil
	}
	kp, err := noisechan.GenerateKeyPair(c.cfg.Rand)
	if err != nil {
		return nil, err
	}
	nc, err := c.dialNetwork(ctx, kp)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed: // Close has begun and may have closed c.anon already
		nc.Close()
		return nil, net.ErrClosed
	default:
	}
	c.anon, c.anonFor = c.newRelayConn(nc, nil), recipient
	c.stats.anonDials.Add(1)
	return c.anon, nil
}

// endAnonBurst closes the anonymous channel at the end of an outbox
// flush, so that the next sealed send comes from a new, unrelated one.
func (c *Client) endAnonBurst() {
	c.anonMu.Lock()
	defer c.anonMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.anon != nil {
		c.anon.Close()
		c.anon = nil
	}
}

// sendSealed encrypts and seals padded for the devices and sends it over
// the anonymous channel. ok is false when sealed sending is not possible
// (no certificate); the caller then sends it the ordinary way.
func (c *Client) sendSealed(ctx context.Context, o clientdb.Outgoing, contact clientdb.Contact, devices []uint32, padded []byte) (ok bool, err error) {
	cert, err := c.senderCertificate(ctx)
	if errors.Is(err, errNoCertificate) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	if err := c.ensureSessions(ctx, contact, devices); err != nil {
		return true, err
	}
	var msgs []*wire.OutgoingMessage
	c.sessMu.Lock()
	err = c.db.Tx(ctx, func(s *clientdb.Store) error {
		msgs = nil
		now := c.cfg.Now()
		for _, d := range devices {
			a := addr(contact.AccountID, d)
			b, err := sealedsession.Encrypt(ctx, s.Stores(), c.localAddr(), a, cert, padded, now, c.cfg.Rand)
			if err != nil {
				return err
			}
			reg, err := remoteRegistrationID(ctx, s, a)
			if err != nil {
				return err
			}
			msgs = append(msgs, &wire.OutgoingMessage{DeviceId: d, RegistrationId: reg, Type: typeSealed, Content: b})
		}
		return nil
	})
	c.sessMu.Unlock()
	if errors.Is(err, session.ErrNoSession) || errors.Is(err, session.ErrUntrustedIdentity) {
		return false, nil // the ordinary path repairs the session
	}
	if err != nil {
		return true, err
	}
	rc, err := c.anonConnection(ctx, contact.AccountID)
	if err != nil {
		return true, err
	}
	rctx, cancel := c.cfg.Clock.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	_, err = rc.call(rctx, "sealed send", &wire.Request{Op: &wire.Request_SendSealed{SendSealed: &wire.SendSealed{
		Recipient:             contact.AccountID[:],
		UnidentifiedAccessKey: contact.AccessKey,
		Messages:              msgs,
		Timestamp:             uint64(o.Timestamp.UnixMilli()),
		EnvelopeId:            o.EnvelopeID[:],
	}}})
	if errors.Is(err, context.DeadlineExceeded) {
		rc.fail(errors.New("sealed send timed out"))
		return true, fmt.Errorf("%w: sealed send timed out", ErrDisconnected)
	}
	var se *StatusError
	if errors.As(err, &se) && se.Status == wire.Status_UNAUTHORIZED {
		// The access key we hold is wrong or revoked: forget it and send
		// the ordinary way.
		if err := c.db.Store().SetContactAccessKey(ctx, contact.AccountID, nil); err != nil {
			return true, err
		}
		return false, nil
	}
	if err == nil {
		c.stats.sentSealed.Add(1)
	}
	return true, err
}
