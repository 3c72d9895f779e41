package client

import "samizdat/manifest"

// KeeperOf exposes c's manifest keeper to the package's external tests.
func KeeperOf(c *Client) *manifest.Keeper { return c.keeper }

// ClaimUsername makes c claim name as its username in what it sends, as a
// modified client could.
func ClaimUsername(c *Client, name string) { c.username = name }
