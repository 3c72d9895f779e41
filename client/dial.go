package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"samizdat/dialer"
	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/noisechan"
	"samizdat/relay/wire"
	"samizdat/transport"
)

// Files in the home directory beside client.db.
const (
	keeperFile = "manifest.bin" // the newest accepted manifest (manifest.Keeper)
	memoryFile = "dialer.json"  // what worked on which network (dialer.Memory)
)

// where is how a device finds its cohort under a manifest: by the slot
// the relay assigned it (placed), or, before it registered, by the cohort
// of its invite (invite; 0: a root invite, whose endpoints are all open to
// it).
type where struct {
	slot   manifest.Slot
	placed bool
	invite uint32
}

// placed is where a registered device in slot s is.
func placed(s manifest.Slot) where { return where{slot: s, placed: true} }

// view returns what of m this device uses: its cohort's endpoints and
// cohort 0's, channels for its cohort (manifest.ForCohort).
func (w where) view(m *manifest.Manifest) *manifest.Manifest {
	switch {
	case w.placed:
		return m.ForCohort(m.CohortOf(w.slot))
	case w.invite > 0:
		return m.ForCohort(w.invite)
	}
	return m
}

// candidates lists the endpoints of m that the device at w may use: its
// cohort's and cohort 0's.
func candidates(m *manifest.Manifest, w where) []dialer.Candidate {
	if m == nil {
		return nil
	}
	return dialer.CandidatesFrom(w.view(m))
}

// allCandidates are the endpoints of m for this device and, after them,
// the bridges its contacts offered: the dialer tries the direct paths
// first and falls back on a bridge only while they fail. Once a refresh
// found nothing newer, the endpoints of older manifests come last.
func (c *Client) allCandidates(m *manifest.Manifest) []dialer.Candidate {
	out := append(candidates(m, c.at), c.bridgeCandidates(m)...)
	if c.wide.Load() {
		out = append(out, c.olderCandidates(m)...)
	}
	return out
}

// dialerConfig is the dialer's configuration for connecting with local.
func (cfg Config) dialerConfig(local noisechan.KeyPair, mem *dialer.Memory) dialer.Config {
	dc := dialer.Config{
		Local:          local,
		NetDial:        cfg.NetDial,
		Memory:         mem,
		Events:         cfg.OnDial,
		Clock:          cfg.Clock,
		Now:            cfg.Now,
		Rand:           cfg.DialJitter,
		AttemptTimeout: cfg.DialTimeout,
	}
	if len(cfg.Dialers) > 0 {
		dc.Transports = map[string]dialer.DialFunc{}
		for name, d := range cfg.Dialers {
			dc.Transports[name] = func(ctx context.Context, ep manifest.Endpoint, _ transport.NetDial) (net.Conn, error) {
				return d.Dial(ctx, ep.Address)
			}
		}
	}
	return dc
}

// dial races the endpoints of m (see package dialer) and returns the
// first Noise channel to the relay that completes its handshake.
func dial(ctx context.Context, cfg Config, mem *dialer.Memory, m *manifest.Manifest, local noisechan.KeyPair, w where) (*noisechan.Conn, error) {
	return dialCandidates(ctx, cfg, mem, candidates(m, w), local)
}

// dialCandidates races cands (see package dialer) and returns the first
// Noise channel to the relay that completes its handshake.
func dialCandidates(ctx context.Context, cfg Config, mem *dialer.Memory, cands []dialer.Candidate, local noisechan.KeyPair) (*noisechan.Conn, error) {
	nc, _, err := dialer.Dial(ctx, cfg.dialerConfig(local, mem), cands)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return nc, nil
}

// dialNetwork dials the current manifest's endpoints with local; when none
// answers it fetches newer manifests from every channel the manifest
// names and, if one arrives, dials again.
func (c *Client) dialNetwork(ctx context.Context, local noisechan.KeyPair) (*noisechan.Conn, error) {
	m, err := c.network()
	if err != nil {
		if rerr := c.refreshManifest(ctx); rerr != nil {
			return nil, err
		}
		if m, err = c.network(); err != nil {
			return nil, err
		}
	}
	nc, err := dialCandidates(ctx, c.cfg, c.memory, c.allCandidates(m), local)
	if err == nil || !errors.Is(err, ErrUnreachable) {
		return nc, err
	}
	if rerr := c.refreshManifest(ctx); rerr != nil {
		return nil, err
	}
	if m, err = c.network(); err != nil {
		return nil, err
	}
	return dialCandidates(ctx, c.cfg, c.memory, c.allCandidates(m), local)
}

// fetchNewer asks the channels of m (whose blob is blob) for a newer
// manifest, before the client exists (Init). It returns the newer manifest and its blob, or nil.
func fetchNewer(ctx context.Context, cfg Config, networkKey ed25519.PublicKey, blob []byte, m *manifest.Manifest, w where) (*manifest.Manifest, []byte) {
	// A scratch keeper: the real one starts once registration succeeded,
	// so a failed Init leaves no manifest behind.
	path := filepath.Join(cfg.Home, keeperFile+".init")
	os.Remove(path)
	os.Remove(path + manifest.RevokedSuffix)
	defer os.Remove(path)
	defer os.Remove(path + manifest.RevokedSuffix)
	k, err := manifest.OpenKeeper(path, networkKey, m.Network)
	if err != nil {
		return nil, nil
	}
	k.Offer(blob, cfg.Now()) // the floor; refused if the keeper holds it or newer
	cur := k.Current()
	if cur == nil {
		return nil, nil
	}
	fctx, cancel := cfg.Clock.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	channel.FetchAll(fctx, channel.FromManifest(w.view(cur), cfg.NetDial), k, cfg.Now())
	if cur := k.Current(); cur != nil && cur.Serial > m.Serial {
		return cur, k.Blob()
	}
	return nil, nil
}

// errNothingNewer means no channel had a manifest newer than ours.
var errNothingNewer = errors.New("client: no channel has a newer manifest")

// refreshManifest asks every channel and relay mirror of the manifests
// held (see history.go) at once for a newer one and adopts the newest
// valid answer. When none has one, it has the endpoints of older
// manifests dialed too, and says so by returning nil the first time.
func (c *Client) refreshManifest(ctx context.Context) error {
	cur := c.keeper.Current()
	if cur == nil {
		return errNothingNewer
	}
	var errs []error
	var m *manifest.Manifest
	if sources := c.refreshSources(cur); len(sources) > 0 {
		fctx, cancel := c.cfg.Clock.WithTimeout(ctx, c.cfg.RequestTimeout)
		m, errs = channel.FetchAll(fctx, sources, c.keeper, c.cfg.Now())
		cancel()
	}
	if m == nil {
		// The keeper may hold a manifest newer than the one in use (a push
		// it accepted whose adoption failed): nothing newer out there, but
		// newer candidates here.
		if adopted, err := c.catchUp(ctx); adopted || err != nil {
			return err
		}
		if inUse, err := c.network(); err == nil && !c.wide.Load() && len(c.olderCandidates(inUse)) > 0 {
			c.wide.Store(true)
			c.cfg.Logger.Info("no newer manifest anywhere; trying the endpoints of older ones too")
			return nil
		}
		return fmt.Errorf("%w: %w", errNothingNewer, errors.Join(errs...))
	}
	if err := c.adoptManifest(ctx, c.keeper.Blob()); err != nil {
		return err
	}
	c.cfg.Logger.Debug("fetched a newer manifest", "serial", m.Serial)
	return nil
}

// adoptManifest makes blob (already accepted by the keeper) the manifest
// in use and stores it with the client state.
func (c *Client) adoptManifest(ctx context.Context, blob []byte) error {
	if err := c.db.Store().SetMeta(ctx, metaManifest, blob); err != nil {
		return err
	}
	if err := c.hold(ctx, blob); err != nil {
		return err
	}
	c.manifestMu.Lock()
	c.manifest = append([]byte(nil), blob...)
	c.opened = nil
	c.manifestMu.Unlock()
	c.wide.Store(false) // the newer endpoints first again
	// Make-before-break: if the new manifest retired the endpoint in use,
	// the receive loop moves to a replacement before dropping it. (Not
	// c.mu: a request may adopt a manifest while it dials under it.)
	if l := c.link.Load(); l != nil {
		l.CandidatesChanged()
	}
	return nil
}

// catchUp adopts the keeper's manifest if it is newer than the one in use,
// and reports whether it did.
func (c *Client) catchUp(ctx context.Context) (bool, error) {
	kept := c.keeper.Current()
	if kept == nil {
		return false, nil
	}
	c.manifestMu.Lock()
	blob := c.manifest
	c.manifestMu.Unlock()
	if m, err := manifest.Open(blob, c.networkKey); err == nil && kept.Serial <= m.Serial {
		return false, nil
	}
	return true, c.adoptManifest(ctx, c.keeper.Blob())
}

// openNetworkState opens the manifest keeper and the dialer's memory in
// the home directory. The keeper starts from the stored manifest, or the
// stored manifest catches up with the keeper, whichever is newer.
func (c *Client) openNetworkState(ctx context.Context) error {
	var network string
	if m, err := manifest.Open(c.manifest, c.networkKey); err == nil {
		network = m.Network
	}
	path := filepath.Join(c.cfg.Home, keeperFile)
	k, err := manifest.OpenKeeper(path, c.networkKey, network)
	if err != nil {
		// Damaged, or from another network: the stored manifest rules.
		c.cfg.Logger.Debug("starting the manifest keeper over", "err", err)
		os.Remove(path)
		if k, err = manifest.OpenKeeper(path, c.networkKey, network); err != nil {
			return fmt.Errorf("client: %w", err)
		}
	}
	c.keeper = k
	if _, err := k.Offer(c.manifest, c.cfg.Now()); err != nil && !errors.Is(err, manifest.ErrRollback) {
		c.cfg.Logger.Debug("stored manifest not kept", "err", err)
	}
	if _, err := c.catchUp(ctx); err != nil {
		return err
	}
	if err := c.hold(ctx, c.currentManifest()); err != nil {
		return err
	}
	mem, err := dialer.OpenMemory(filepath.Join(c.cfg.Home, memoryFile), c.cfg.Network)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	mem.SetClock(c.cfg.Clock)
	c.memory = mem
	return nil
}

// receiveLoop keeps a connection up with dialer.RunHedged and runs session on
// each; session returns nil to have the connection redialled. It returns
// when ctx ends or the client closes, with Run's error and the last dial
// failure.
func (c *Client) receiveLoop(ctx context.Context, session func(*relayConn) error) (err, lastDial error) {
	ctx, cancel := c.whileOpen(ctx)
	defer cancel()
	// From now on sends wait for this loop's connections instead of
	// dialing their own. A connection already up (made by a send) serves
	// first.
	c.mu.Lock()
	c.receiving++
	rc := c.conn
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.receiving--
		c.mu.Unlock()
	}()
	if rc != nil && rc.Err() == nil {
		if err := session(rc); err != nil {
			return err, nil
		}
	}
	source := func() []dialer.Candidate {
		m, err := c.network()
		if err != nil {
			return nil
		}
		return c.allCandidates(m)
	}
	dc := c.cfg.dialerConfig(c.noise, c.memory)
	user := dc.Events
	dc.Events = func(e dialer.Event) { // called one at a time, never after Run returns
		if e.Kind == dialer.EventFailure && e.Class != dialer.ClassCanceled {
			lastDial = e.Err
		}
		if user != nil {
			user(e)
		}
	}
	err = dialer.RunHedged(ctx, dc, source, c.refreshManifest, func(nc *noisechan.Conn, link *dialer.Link) error {
		return session(c.adoptConn(nc, link))
	})
	return err, lastDial
}

// whileOpen returns a context derived from ctx that also ends when the
// client closes.
func (c *Client) whileOpen(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// adoptConn makes nc (from dialer.RunHedged, with link) the client's
// connection, replacing a previous one.
func (c *Client) adoptConn(nc *noisechan.Conn, link *dialer.Link) *relayConn {
	rc := c.newRelayConn(nc, link)
	c.link.Store(link)
	c.mu.Lock()
	old := c.conn
	c.conn = rc
	close(c.connWake)
	c.connWake = make(chan struct{})
	c.mu.Unlock()
	if old != nil && old != rc {
		old.Close()
	}
	c.cfg.Logger.Debug("connected to relay")
	return rc
}

// liveness is the keepalive policy of the client's connections.
func (cfg Config) liveness() dialer.Liveness {
	return dialer.Liveness{Calm: cfg.PingInterval, Alert: cfg.AlertPingInterval, MinDeadline: cfg.PongTimeout}.WithDefaults()
}

// newRelayConn starts serving nc and its keepalive; link is nil for a
// connection made outside dialer.RunHedged.
func (c *Client) newRelayConn(nc *noisechan.Conn, link *dialer.Link) *relayConn {
	rc := newRelayConn(nc, c.cfg.Clock, c.cfg.liveness().Monitor(c.memory, c.cfg.Now), link)
	c.wg.Add(1)
	go c.keepalive(rc)
	return rc
}

// keepalive watches rc under the liveness policy (see dialer.Liveness):
// it pings when the monitor says so and, when an answer is overdue, has
// dialer.RunHedged race a replacement while rc stays up; a connection
// made outside RunHedged has nothing to race and is closed instead, so
// the request waiting on it is retried on a new one. A connection silent
// for Liveness.Dead is closed in any case.
func (c *Client) keepalive(rc *relayConn) {
	defer c.wg.Done()
	lv := c.cfg.liveness()
	t := c.cfg.Clock.NewTimer(0)
	defer t.Stop()
	var replaced <-chan struct{}
	if rc.link != nil {
		replaced = rc.link.Replaced()
	}
	for {
		select {
		case <-rc.done:
			return
		case <-c.closed:
			return
		case <-replaced:
			// The replacement is up: end this session now rather than when
			// the transport's close reaches the reader.
			rc.fail(nil)
			return
		case <-t.C():
		case <-rc.mon.Wake():
			t.Stop()
		}
		v, ping, next := rc.mon.Check()
		switch {
		case v == dialer.Dead:
			rc.fail(fmt.Errorf("keepalive: nothing from the relay for %v", lv.Dead))
			return
		case v == dialer.Suspect && rc.link != nil:
			rc.link.Suspect()
		case v == dialer.Suspect:
			rc.fail(fmt.Errorf("keepalive: no answer within %v", rc.mon.Deadline().Round(time.Millisecond)))
			return
		}
		if ping {
			go func() {
				ctx, cancel := c.cfg.Clock.WithTimeout(context.Background(), lv.Dead)
				defer cancel()
				rc.call(ctx, "ping", &wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}})
			}()
		}
		t.Reset(next)
	}
}
