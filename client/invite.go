package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"samizdat/manifest"
	"samizdat/relay/wire"
)

// Invite makes a personal invite: the manifest this device holds (its
// cohort's, once the relay pushed it) and an inviter token the relay
// seals for this account, so that whoever joins with it is placed in this
// account's cohort (manifest.Slot). The relay bounds how many invites an
// account makes (a StatusError with RATE_LIMITED and RetryAfter) and how
// long each is accepted: expires.
func (c *Client) Invite(ctx context.Context) (inv manifest.Invite, expires time.Time, err error) {
	if _, err := c.network(); err != nil {
		return manifest.Invite{}, time.Time{}, fmt.Errorf("client: invite: %w", err)
	}
	resp, err := c.call(ctx, "invite", &wire.Request{Op: &wire.Request_MakeInvite{MakeInvite: &wire.MakeInvite{}}})
	if err != nil {
		return manifest.Invite{}, time.Time{}, err
	}
	tok := resp.GetInvite()
	if tok == nil || len(tok.Token) == 0 || len(tok.Token) > manifest.MaxInviterToken {
		return manifest.Invite{}, time.Time{}, errors.New("client: relay answered invite without a token")
	}
	inv = manifest.Invite{NetworkKey: c.networkKey, Manifest: c.currentManifest(), Inviter: tok.Token}
	return inv, time.UnixMilli(int64(tok.Expires)), nil
}
