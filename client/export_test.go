package client

import (
	"context"

	"samizdat/client/internal/contentpb"
	"samizdat/manifest"
)

// KeeperOf exposes c's manifest keeper to the package's external tests.
func KeeperOf(c *Client) *manifest.Keeper { return c.keeper }

// ClaimUsername makes c claim name as its username in what it sends, as a
// modified client could.
func ClaimUsername(c *Client, name string) { c.username = name }

// HandManifest queues blob for the contact to as a manifest handed on,
// whatever it holds and whatever to holds, as a modified client could.
func HandManifest(c *Client, to string, blob []byte) error {
	return c.enqueue(context.Background(), c.db.Store(), to, &contentpb.Content{
		Body: &contentpb.Content_ManifestOffer{ManifestOffer: &contentpb.ManifestOffer{Blob: blob}}})
}

// NoiseKey returns c's device Noise public key, which decides its cohort.
func NoiseKey(c *Client) []byte { return c.noise.Public[:] }

// Slot is c's cohort slot.
func Slot(c *Client) manifest.Slot { return c.at.slot }

// HeldManifests lists the manifests c remembers having held, newest first.
func HeldManifests(c *Client) [][]byte {
	b, _ := c.db.Store().HeldManifests(context.Background())
	return b
}

// ConnAddr returns the remote address of c's relay connection (the one
// Receive keeps up and requests go through), or "" when it has none.
func ConnAddr(c *Client) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil || c.conn.Err() != nil {
		return ""
	}
	return c.conn.nc.RemoteAddr().String()
}
