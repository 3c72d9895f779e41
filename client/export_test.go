package client

import "samizdat/manifest"

// KeeperOf exposes c's manifest keeper to the package's external tests.
func KeeperOf(c *Client) *manifest.Keeper { return c.keeper }
