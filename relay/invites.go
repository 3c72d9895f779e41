package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"samizdat/manifest"
	"samizdat/relay/invitation"
	"samizdat/relay/wire"
)

// DeviceSlot returns d's cohort slot (manifest.Slot): the one the relay
// stored, or for a device stored before slots existed (Slot 0) its noise
// key's hash, the cohort it always had (manifest.KeySlot).
func DeviceSlot(d Device) manifest.Slot {
	if d.Slot != 0 {
		return manifest.Slot(d.Slot)
	}
	return manifest.KeySlot(d.NoiseKey[:])
}

// place returns the slot of a new account whose first device has Noise key
// key and which registers with the inviter token tok (none: the relay's
// own invite): the inviter's slot, the operator's, or a keyed hash of key
// (RootSlot) that no one without the relay's secret can steer. A bad token
// is refused with a response that says why.
func (c *conn) place(ctx context.Context, tok []byte, key [32]byte) (uint64, *wire.Response) {
	if len(tok) == 0 {
		return c.s.inv.RootSlot(key), nil
	}
	t, err := c.s.inv.Open(tok, c.s.now())
	if err != nil {
		reason := "the invite's inviter token is not valid"
		switch {
		case errors.Is(err, invitation.ErrExpired):
			reason = "the invite has expired; ask for a new one"
		case errors.Is(err, invitation.ErrForged):
			reason = "the invite's inviter token is forged or from another relay"
		case errors.Is(err, invitation.ErrMalformed):
			reason = "the invite's inviter token is malformed"
		}
		return 0, fail(wire.Status_UNAUTHORIZED, reason)
	}
	if t.Operator() {
		if t.Slot == 0 {
			return c.s.inv.RootSlot(key), nil
		}
		return t.Slot, nil
	}
	devs, err := c.s.store.Devices(ctx, t.Account)
	if errors.Is(err, ErrNotFound) {
		return 0, fail(wire.Status_UNAUTHORIZED, "the inviter's account no longer exists")
	}
	if err != nil {
		return 0, c.internal("invite", err)
	}
	for _, d := range devs {
		if d.ID == t.Device {
			return uint64(DeviceSlot(d)), nil
		}
	}
	return 0, fail(wire.Status_UNAUTHORIZED, "the invite's device was removed from its account")
}

// makeInvite seals an inviter token for d, within the account's Invites
// budget.
func (c *conn) makeInvite(ctx context.Context, d Device) *wire.Response {
	if resp := c.limit(ctx, fmt.Sprintf("too many invites (at most %.0f at once)", c.s.lim.Invites.Burst), "invite", c.s.lim.Invites, 1, d.Account[:]); resp != nil {
		return resp
	}
	exp := c.s.now().Add(c.s.lim.InviteLifetime)
	tok, err := c.s.sealToken(invitation.Token{Account: d.Account, Device: d.ID, Expires: exp})
	if err != nil {
		return c.internal("invite", err)
	}
	return &wire.Response{Result: &wire.Response_Invite{Invite: &wire.InviteToken{Token: tok, Expires: millis(exp)}}}
}

// sealToken seals t with the server's randomness.
func (s *Server) sealToken(t invitation.Token) ([]byte, error) {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.inv.Seal(t, s.rand)
}

// OperatorInvite returns an inviter token that places whoever registers
// with it in slot (0: where a root invite would), accepted until expires:
// an invite the operator hands out for one cohort, as a user of that
// cohort would.
func (s *Server) OperatorInvite(slot uint64, expires time.Time) ([]byte, error) {
	return s.sealToken(invitation.Token{Slot: slot, Expires: expires})
}
