package client

import (
	"context"

	"samizdat/dialer"
	"samizdat/manifest"
	"samizdat/manifest/channel"
)

// Every manifest a client ever held: a client offline through several
// moves holds only retired addresses, but some endpoint, mirror or channel
// of an older manifest may still answer. The client remembers the
// manifests its keeper accepted (maxHeldManifests, newest first), asks
// the channels of all of them, and the mirror each relay serves on its
// wss endpoints (channel.Relay), whenever it asks for a newer manifest;
// and when that brings nothing newer it dials the endpoints of the older
// manifests too, after the current ones, until a newer manifest arrives.

// maxHeldManifests bounds the manifests a client remembers having held.
const maxHeldManifests = 8

// maxRefreshSources bounds the sources one refresh asks at once.
const maxRefreshSources = 64

// hold records blob, a manifest the keeper accepted, among those held.
func (c *Client) hold(ctx context.Context, blob []byte) error {
	if err := c.db.Store().HoldManifest(ctx, blob, c.cfg.Now(), maxHeldManifests); err != nil {
		return err
	}
	c.manifestMu.Lock()
	c.heldCache = nil
	c.heldGen++
	c.manifestMu.Unlock()
	return nil
}

// heldManifests returns the manifests held, newest first, opened
// (signature chain checked, not times: an expired one still names
// addresses and channels), leaving out those signed by a node key the
// network has revoked since.
func (c *Client) heldManifests() []*manifest.Manifest {
	c.manifestMu.Lock()
	cached, gen := c.heldCache, c.heldGen
	c.manifestMu.Unlock()
	if cached != nil {
		return cached
	}
	blobs, err := c.db.Store().HeldManifests(context.Background())
	if err != nil {
		return nil
	}
	out := []*manifest.Manifest{}
	for _, b := range blobs {
		m, d, err := manifest.OpenChain(b, c.networkKey)
		if err != nil || d != nil && c.keeper.Revoked(d.NodeKey) {
			continue // a revoked node key's manifest may lead anywhere
		}
		out = append(out, m)
	}
	c.manifestMu.Lock()
	if c.heldGen == gen { // else a newer one was held meanwhile
		c.heldCache = out
	}
	c.manifestMu.Unlock()
	return out
}

// olderCandidates lists the endpoints (for this device's cohort) of the
// manifests held before cur that cur does not list, newest first.
func (c *Client) olderCandidates(cur *manifest.Manifest) []dialer.Candidate {
	seen := map[string]bool{}
	for _, cd := range candidates(cur, c.at) {
		seen[candidateID(cd)] = true
	}
	var out []dialer.Candidate
	for _, m := range c.heldManifests() {
		if m.Serial == cur.Serial {
			continue
		}
		for _, cd := range candidates(m, c.at) {
			if id := candidateID(cd); !seen[id] {
				seen[id] = true
				out = append(out, cd)
			}
		}
	}
	return out
}

// candidateID tells candidates apart: the endpoint and the relay key the
// handshake pins.
func candidateID(cd dialer.Candidate) string { return cd.Key() + "|" + string(cd.RelayKey[:]) }

// refreshSources lists where to ask for a newer manifest: the channels of
// cur and of every manifest held before it, then the mirrors their relays
// serve on their wss endpoints, each once, at most maxRefreshSources.
func (c *Client) refreshSources(cur *manifest.Manifest) []channel.Source {
	ms := []*manifest.Manifest{cur}
	for _, m := range c.heldManifests() {
		if m.Serial != cur.Serial {
			ms = append(ms, m)
		}
	}
	var out []channel.Source
	seen := map[string]bool{}
	add := func(s channel.Source) {
		if s != nil && !seen[s.Name()] && len(out) < maxRefreshSources {
			seen[s.Name()] = true
			out = append(out, s)
		}
	}
	for _, m := range ms {
		for _, s := range channel.FromManifest(c.at.view(m), c.cfg.NetDial) {
			add(s)
		}
	}
	for _, m := range ms {
		for _, cd := range candidates(m, c.at) {
			add(channel.Relay(cd.Endpoint, c.cfg.NetDial))
		}
	}
	return out
}
