package client

import (
	"context"
	"fmt"

	"samizdat/manifest"
	"samizdat/manifest/channel"
)

// Import adopts a newer manifest of our network that the user brings by
// hand, the last way back when every channel is blocked: an invite file, a
// manifest blob in base64 (as pasted from a chat or a QR code) or the raw
// blob. It goes through the same keeper as every channel, so a manifest
// that is older than or the same as ours, expired, for another network or
// not signed by the network's key is refused with the reason and changes
// nothing. It returns the adopted manifest.
func (c *Client) Import(ctx context.Context, text []byte) (*manifest.Manifest, error) {
	blob, err := channel.Import(text)
	if err != nil {
		return nil, err
	}
	m, err := channel.Push(c.keeper, blob, c.cfg.Now())
	if err != nil {
		return nil, err
	}
	if err := c.adoptManifest(ctx, c.keeper.Blob()); err != nil {
		return nil, fmt.Errorf("client: adopting the imported manifest: %w", err)
	}
	return m, nil
}
