package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/clock"
	"samizdat/dialer"
	"samizdat/internal/atomicfile"
	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/transport"
)

// A bridge abroad runs from a Credential on a machine with no home: it
// forwards its callers to the relays of the newest manifest it holds. It
// keeps that manifest fresh as a client does, from the manifest's own
// channels and the relays' wss endpoints that serve it (every
// RefreshEvery, and at once when no relay answers) and from the user's
// home, which pushes its own newest manifest and its deny
// list over the control tunnel (see Push). It stores, in StateDir, only
// that manifest and the deny list: labels and when they end, no names.

// Files of a bridge abroad in its state directory.
const (
	abroadManifestFile = "manifest.bin" // the newest manifest (manifest.Keeper)
	abroadStateFile    = "control.bin"  // the home's last update, without its manifest
)

// DefaultRefreshEvery is how often a bridge abroad asks its manifest's
// channels for a newer one.
const DefaultRefreshEvery = 10 * time.Minute

// AbroadConfig configures a bridge run from a credential. It is not
// modified after StartAbroad.
type AbroadConfig struct {
	Credential Credential
	// Listen are the addresses to listen on (host:port).
	Listen []string
	// StateDir keeps the newest manifest and the deny list across
	// restarts (created 0700 if missing).
	StateDir string
	// MaxCallers, PerCaller and Rate are the Server's limits.
	MaxCallers, PerCaller int
	Rate                  int64
	// NetDial is how the bridge reaches relays and channels (nil:
	// net.Dialer).
	NetDial transport.NetDial
	// RefreshEvery is how often the manifest's channels are asked for a
	// newer one (DefaultRefreshEvery).
	RefreshEvery time.Duration
	// Logger receives events (never the bytes); nil discards.
	Logger *slog.Logger
	// Clock is the bridge's time (nil: clock.Real).
	Clock clock.Clock
	// NetListen is the Server's (nil: TCP).
	NetListen func(ctx context.Context, address string) (net.Listener, error)
}

// Abroad is a running bridge abroad.
type Abroad struct {
	cfg    AbroadConfig
	srv    *Server
	keeper *manifest.Keeper
	first  *manifest.Manifest // the credential's manifest, used while the keeper has none
	memory *dialer.Memory     // which relay endpoints answered
	log    *slog.Logger
	cohort atomic.Uint32
	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stateMu sync.Mutex // serializes updates and their writes to the state file
}

// StartAbroad starts the bridge of cfg.Credential on cfg.Listen.
func StartAbroad(cfg AbroadConfig) (*Abroad, error) {
	cred := cfg.Credential
	if err := cred.check(); err != nil {
		return nil, err
	}
	if cfg.StateDir == "" {
		return nil, errors.New("bridge: a bridge abroad needs a state directory")
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("bridge: state directory: %w", err)
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = DefaultRefreshEvery
	}
	first, err := manifest.Open(cred.Manifest, cred.NetworkKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	k, err := manifest.OpenKeeper(filepath.Join(cfg.StateDir, abroadManifestFile), cred.NetworkKey, cred.Network)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	if _, err := k.Offer(cred.Manifest, cfg.Clock.Now()); err != nil && !errors.Is(err, manifest.ErrRollback) {
		cfg.Logger.Info("bridge: the credential's manifest is not current; asking its channels for a newer one", "err", err)
	}
	id, err := cred.Identity(cfg.Clock.Now)
	if err != nil {
		return nil, err
	}
	a := &Abroad{cfg: cfg, keeper: k, first: first, memory: dialer.NewMemory(), log: cfg.Logger, kick: make(chan struct{}, 1)}
	a.memory.SetClock(cfg.Clock)
	a.cohort.Store(cred.Cohort)
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.srv, err = Start(Config{
		Listen: cfg.Listen, Identity: id, Key: cred.Key, SNI: cred.SNI, Upstream: a.upstream,
		MaxCallers: cfg.MaxCallers, PerCaller: cfg.PerCaller, Rate: cfg.Rate, Logger: cfg.Logger, Clock: cfg.Clock,
		Control: a.control, NetListen: cfg.NetListen,
	})
	if err != nil {
		return nil, err
	}
	a.loadState()
	a.wg.Add(1)
	go a.refreshLoop()
	return a, nil
}

// Addrs are the addresses the bridge listens on.
func (a *Abroad) Addrs() []net.Addr { return a.srv.Addrs() }

// Stats reports what the bridge has carried.
func (a *Abroad) Stats() Stats { return a.srv.Stats() }

// Serial is the serial of the manifest the bridge forwards by.
func (a *Abroad) Serial() uint64 { return a.manifest().Serial }

// Close stops the bridge and waits for its tunnels and loops.
func (a *Abroad) Close() error {
	a.cancel()
	err := a.srv.Close()
	a.wg.Wait()
	return err
}

// manifest is the newest manifest held (the credential's if none).
func (a *Abroad) manifest() *manifest.Manifest {
	if m := a.keeper.Current(); m != nil {
		return m
	}
	return a.first
}

// upstream opens a raw stream to a relay of the manifest, through the
// endpoints of the user's cohort; when none answers it has the manifest
// refreshed.
func (a *Abroad) upstream(ctx context.Context) (net.Conn, error) {
	m := a.manifest()
	conn, err := DialRelay(ctx, dialer.Config{NetDial: a.cfg.NetDial, Clock: a.cfg.Clock, Memory: a.memory},
		dialer.CandidatesFrom(m.ForCohort(a.cohort.Load())))
	if err != nil {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	return conn, err
}

// DialRelay opens a raw stream to a relay for a bridge (dialer.DialRaw
// with cfg: the first of cands that connects, in cfg.Memory's order). The
// stream tells cfg.Memory, if set, whether the relay answered through it
// (Reporting), so that the next dial tries first what worked.
func DialRelay(ctx context.Context, cfg dialer.Config, cands []dialer.Candidate) (net.Conn, error) {
	now := cfg.Now
	if now == nil {
		now = clock.Or(cfg.Clock).Now
	}
	start := now()
	conn, cand, err := dialer.DialRaw(ctx, cfg, cands)
	if err != nil || cfg.Memory == nil {
		return conn, err
	}
	return &upstreamConn{Conn: conn, mem: cfg.Memory, now: now, cand: cand, start: start}, nil
}

// upstreamConn is a stream DialRelay opened.
type upstreamConn struct {
	net.Conn
	mem   *dialer.Memory
	now   func() time.Time
	cand  dialer.Candidate
	start time.Time
}

var _ Reporting = (*upstreamConn)(nil)

func (u *upstreamConn) Answered() { u.mem.Success(u.cand, u.now().Sub(u.start)) }

func (u *upstreamConn) LedNowhere() { u.mem.Failure(u.cand, dialer.ClassHandshake) }

// refreshLoop asks the manifest's channels for a newer one every
// RefreshEvery, and when upstream found no relay (at most once a minute).
func (a *Abroad) refreshLoop() {
	defer a.wg.Done()
	t := a.cfg.Clock.NewTimer(a.cfg.RefreshEvery)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C():
			t.Reset(a.cfg.RefreshEvery)
		case <-a.kick:
			if a.cfg.Clock.Now().Sub(last) < time.Minute {
				continue
			}
		}
		last = a.cfg.Clock.Now()
		a.refresh()
	}
}

// refresh asks every channel of the manifest, and every relay endpoint
// of it that serves its manifest (channel.Relay), at once for a newer one.
func (a *Abroad) refresh() {
	m := a.manifest().ForCohort(a.cohort.Load())
	sources := channel.FromManifest(m, a.cfg.NetDial)
	for _, c := range dialer.CandidatesFrom(m) {
		if s := channel.Relay(c.Endpoint, a.cfg.NetDial); s != nil {
			sources = append(sources, s)
		}
	}
	if len(sources) == 0 {
		return
	}
	ctx, cancel := a.cfg.Clock.WithTimeout(a.ctx, time.Minute)
	defer cancel()
	if nm, _ := channel.FetchAll(ctx, sources, a.keeper, a.cfg.Clock.Now()); nm != nil {
		a.log.Info("bridge: a newer manifest from the channels", "serial", nm.Serial)
	}
}

// control applies an update from the user's home.
func (a *Abroad) control(u Update) Ack {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	var refused string
	if u.Manifest != nil {
		switch nm, err := channel.Push(a.keeper, u.Manifest, a.cfg.Clock.Now()); {
		case err == nil:
			a.log.Info("bridge: a newer manifest from the home", "serial", nm.Serial)
		case !errors.Is(err, manifest.ErrRollback):
			refused = err.Error()
			a.log.Info("bridge: the home's manifest was refused", "err", err)
		}
	}
	a.cohort.Store(u.Cohort)
	n := a.srv.SetDenied(u.Denied)
	a.saveState(Update{Cohort: u.Cohort, Denied: u.Denied})
	a.log.Info("bridge: the home's update taken", "denied", n)
	return Ack{Serial: a.manifest().Serial, Denied: n, Refused: refused}
}

// saveState keeps the home's last update (cohort and deny list) for a
// restart; stateMu must be held.
func (a *Abroad) saveState(u Update) {
	b, err := MarshalUpdate(u)
	if err == nil {
		err = atomicfile.Write(filepath.Join(a.cfg.StateDir, abroadStateFile), b, 0o600)
	}
	if err != nil {
		a.log.Warn("bridge: the deny list is not kept for a restart", "err", err)
	}
}

// loadState takes the home's last update back after a restart.
func (a *Abroad) loadState() {
	b, err := os.ReadFile(filepath.Join(a.cfg.StateDir, abroadStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var u Update
	if err == nil {
		u, err = ParseUpdate(b)
	}
	if err != nil {
		a.log.Warn("bridge: the kept deny list is unreadable; waiting for the home's next update", "err", err)
		return
	}
	a.cohort.Store(u.Cohort)
	a.srv.SetDenied(u.Denied)
}
