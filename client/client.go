// Package client is the samizdat client library: it keeps a user's keys,
// sessions, contacts and history on their own machine (package clientdb),
// talks to a relay over a Noise channel whose relay key comes from a signed
// invite, and sends and receives end-to-end encrypted messages with the
// Signal protocol (package session).
//
// A Client is one device of one account. Init creates the identity, the
// device's Noise key and prekeys, and registers with the relay named by an
// invite; Open loads an initialized home directory. Send queues a text in
// the outbox and returns once the relay has acknowledged it as durable;
// Receive connects, flushes the outbox, and reports the backlog and live
// messages, dropping the relay's duplicate deliveries by envelope id and
// answering each text from an accepted contact with a delivery receipt.
//
// Message requests: a stranger's messages are shown, but the stranger stays
// pending (no access key, receipt, bridge offer or manifest goes to them)
// until the user writes to them, replies, or accepts them; a blocked
// sender's messages are acked and dropped unread.
//
// Manifests travel hand to hand (handtohand.go): what we send says which
// manifest we hold, and a contact holding an older one gets ours (or, in
// another cohort, word that a newer one exists).
//
// What we send an accepted contact carries our unidentified access key;
// once a contact has sent us theirs, our messages to them travel sealed
// (sealed sender v1, over a short-lived second channel with a throwaway
// Noise key), so the relay learns the recipient but not the sender.
//
// Security properties: the relay sees ciphertext, recipient account and
// device ids, sizes (padded to multiples of 160 bytes) and times, and the
// sender only of unsealed messages; it never sees plaintext or private
// keys. The device's Noise static key is its only
// credential. Identities are trusted on first use; a changed identity is
// accepted with a warning (Event IdentityChanged) and changes the safety
// number. Nothing in this package logs keys or message text.
package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/client/clientdb"
	"samizdat/client/group"
	"samizdat/clock"
	"samizdat/dialer"
	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/noisechan"
	"samizdat/relay/wire"
	"samizdat/session"
	"samizdat/session/curve"
	"samizdat/session/sealed"
	"samizdat/transport"
)

// Errors callers branch on.
var (
	// ErrNotInitialized: the home directory holds no registered identity.
	ErrNotInitialized = errors.New("client: not initialized (run init with an invite)")
	// ErrAlreadyInitialized: Init found an identity in the home directory.
	ErrAlreadyInitialized = errors.New("client: already initialized")
	// ErrNoSuchUser: the relay knows no user by that name.
	ErrNoSuchUser = errors.New("client: no such user")
	// ErrUnreachable: no endpoint of the network answered.
	ErrUnreachable = errors.New("client: relay unreachable")
)

// Config configures a Client. It is not modified after Open or Init.
type Config struct {
	// Home is the directory holding the client state (client.db).
	Home string
	// Dialers maps a manifest transport name to its dialer; "tcp" defaults
	// to a plain TCP dialer.
	Dialers map[string]transport.Dialer
	// NetDial is how every transport reaches the network (nil: a
	// net.Dialer); tests and the censorship lab inject their own.
	NetDial transport.NetDial
	// Network names the network the device is on now (a hash of the Wi-Fi
	// name, the operator, ...), so that what the dialer learns about
	// blocked endpoints stays with that network; "" means "default".
	Network string
	// OnDial, if set, receives the dialer's events (attempts, failures
	// with their class, connections). It must not block for long.
	OnDial func(dialer.Event)
	// Logger receives connection events (never keys or text); nil discards.
	Logger *slog.Logger
	// Clock times requests, keepalives, retries and dials (nil:
	// clock.Real).
	Clock clock.Clock
	// Now reads the time for messages, sessions and manifests
	// (Clock.Now).
	Now func() time.Time
	// Rand is the randomness; nil means crypto/rand.
	Rand io.Reader
	// DialJitter draws the jitter of the dialer's backoff between failed
	// rounds (dialer.Config.Rand); nil means math/rand/v2's global source.
	// Seeded, it makes reconnect timings repeat for a seed on a simulated
	// clock. One client's connection loop draws from it: give each client
	// its own.
	DialJitter *mrand.Rand
	// PreKeyBatch is how many one-time prekeys of each kind (EC and
	// Kyber) are generated at registration and on replenishment (100).
	PreKeyBatch int
	// PreKeyLowWater: when the relay holds fewer one-time keys of a kind
	// than this, a new batch is uploaded (PreKeyBatch/4). Negative
	// disables replenishment.
	PreKeyLowWater int
	// PingInterval is how often an idle connection is pinged on a network
	// where nothing went wrong for ten minutes (dialer.DefaultCalm, 6s).
	// A request unanswered for PongTimeout (or 4×RTT, if longer) with
	// nothing else heard makes the connection suspect: Receive races a
	// new one beside it and switches when that connects; other
	// connections are closed and their request retried. A connection
	// silent for 15 s is closed in any case. See dialer.Liveness for how
	// the defaults were chosen.
	PingInterval time.Duration
	// AlertPingInterval replaces PingInterval for ten minutes after the
	// network showed trouble (a dropped connection, a failed dial), so a
	// censor's next block is noticed within about 2 s
	// (dialer.DefaultAlert, 750ms).
	AlertPingInterval time.Duration
	// PongTimeout is the least time an answer may take before the
	// connection is suspect (dialer.DefaultMinDeadline, 1.5s).
	PongTimeout time.Duration
	// RequestTimeout bounds one request to the relay (15s).
	RequestTimeout time.Duration
	// DialTimeout bounds one dial attempt: transport and Noise handshake
	// (10s). Attempts race (package dialer).
	DialTimeout time.Duration
	// OnEvent receives what the user may want to see (messages, receipts,
	// warnings). It is called synchronously and must not block for long.
	OnEvent func(Event)
	// NoSealedSender sends every message with the sender visible to the
	// relay, even to contacts whose access key we know.
	NoSealedSender bool
	// NoReceipts turns off delivery receipts for received texts.
	NoReceipts bool
	// DeviceListMaxAge is how old a contact's device list may be before a
	// message from one of its devices has it asked for again, so that a
	// removed device's sealed messages are refused (default
	// DefaultDeviceListMaxAge; negative: at every message).
	DeviceListMaxAge time.Duration
	// DeviceName names the device that Init registers or StartLink links
	// (at most MaxDeviceName bytes; "" for none). The relay stores it
	// sealed: only the account's devices read it (Devices).
	DeviceName string
}

func (c Config) withDefaults() Config {
	c.Clock = clock.Or(c.Clock)
	if c.Now == nil {
		c.Now = c.Clock.Now
	}
	switch c.Rand.(type) {
	case nil:
		c.Rand = rand.Reader
	case *lockedReader:
	default:
		if c.Rand != rand.Reader {
			// The client reads randomness from several goroutines at once
			// (receiving, the outbox, sealed sends); a caller's reader, such
			// as the lab's seeded ChaCha8, need not be safe for that.
			c.Rand = &lockedReader{r: c.Rand}
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DeviceListMaxAge == 0 {
		c.DeviceListMaxAge = DefaultDeviceListMaxAge
	}
	if c.PreKeyBatch <= 0 {
		c.PreKeyBatch = 100
	}
	if c.PreKeyLowWater == 0 {
		c.PreKeyLowWater = max(c.PreKeyBatch/4, 1)
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	return c
}

// Client is one device of one account. Its methods are safe for concurrent
// use.
type Client struct {
	cfg Config
	db  *clientdb.DB

	// Loaded at Open; fixed afterwards.
	username   string
	account    [16]byte
	device     uint32
	noise      noisechan.KeyPair
	at         where // the device's cohort slot, as the relay assigned it
	accessKey  []byte
	networkKey ed25519.PublicKey

	manifestMu sync.Mutex
	manifest   []byte               // guarded by manifestMu; the signed manifest in use
	opened     *manifest.Manifest   // guarded by manifestMu; manifest opened, nil until network() needs it
	heldCache  []*manifest.Manifest // guarded by manifestMu; the manifests held (history.go), nil until needed
	heldGen    uint64               // guarded by manifestMu; counts the manifests held, so a stale read is not cached
	wide       atomic.Bool          // dial the endpoints of older manifests too (history.go)
	keeper     *manifest.Keeper     // the newest accepted manifest, on disk
	memory     *dialer.Memory       // what worked on which network

	stats stats

	sessMu sync.Mutex // serializes session operations (encrypt, decrypt)

	groupMu    sync.Mutex
	groupCache map[group.ID]*group.State // guarded by groupMu; group states by id, checked against the stored chain's head

	anonMu sync.Mutex // serializes dialing the anonymous channel (anon)

	mu          sync.Mutex
	conn        *relayConn                  // guarded by mu; nil or the current connection
	receiving   int                         // guarded by mu; Receive loops running (they dial)
	connWake    chan struct{}               // guarded by mu; closed when Receive adopts a connection
	link        atomic.Pointer[dialer.Link] // the Link of the connection Receive adopted last
	anon        *relayConn                  // guarded by mu; the anonymous channel of the current burst of sealed sends
	anonFor     [16]byte                    // guarded by mu; the recipient anon serves
	cert        *sealed.SenderCertificate   // guarded by mu; our cached sender certificate
	certRenew   time.Time                   // guarded by mu; when cert is half spent and fetched again
	heardSerial uint64                      // guarded by mu; the newest serial a contact said it holds that set off a fetch
	heardAt     time.Time                   // guarded by mu; when that fetch started
	served      *ServedBridge               // guarded by mu; the bridge this home runs now, if any

	sendSem   chan struct{} // holds a token while an outbox flush runs: one at a time, waiting respects ctx
	kick      chan struct{} // asks the receive loop to flush the outbox
	replenish chan struct{} // asks the receive loop to check the prekey count
	closed    chan struct{}
	closeErr  sync.Once
	wg        sync.WaitGroup

	files fileSaver // received files: one download at a time, and saving as they arrive (SaveFilesTo)
}

// dbPath is the state file inside a home directory.
func dbPath(home string) string { return filepath.Join(home, "client.db") }

// Initialized reports whether home holds a client's state (Open would not
// fail with ErrNotInitialized).
func Initialized(home string) bool {
	_, err := os.Stat(dbPath(home))
	return err == nil
}

// Open loads the client state in cfg.Home. It fails with ErrNotInitialized
// if the directory holds no registered identity.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if _, err := os.Stat(dbPath(cfg.Home)); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotInitialized
	}
	db, err := clientdb.Open(ctx, dbPath(cfg.Home), clientdb.Options{Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	c, err := load(ctx, cfg, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

func load(ctx context.Context, cfg Config, db *clientdb.DB) (*Client, error) {
	st := db.Store()
	c := &Client{cfg: cfg, db: db, kick: make(chan struct{}, 1), replenish: make(chan struct{}, 1), closed: make(chan struct{}),
		connWake: make(chan struct{}), sendSem: make(chan struct{}, 1)}
	acct, err := st.Meta(ctx, clientdb.MetaAccountID)
	if errors.Is(err, clientdb.ErrNotFound) {
		return nil, ErrNotInitialized
	}
	if err != nil {
		return nil, err
	}
	if len(acct) != 16 {
		return nil, fmt.Errorf("client: stored account id is malformed")
	}
	copy(c.account[:], acct)
	if c.device, err = st.MetaUint32(ctx, clientdb.MetaDeviceID, 0); err != nil {
		return nil, err
	}
	name, err := st.Meta(ctx, clientdb.MetaUsername)
	if err != nil {
		return nil, err
	}
	c.username = string(name)
	nk, err := st.Meta(ctx, clientdb.MetaNoisePrivate)
	if err != nil {
		return nil, err
	}
	if len(nk) != 64 {
		return nil, fmt.Errorf("client: stored noise key is malformed")
	}
	copy(c.noise.Private[:], nk[:32])
	copy(c.noise.Public[:], nk[32:])
	slot, err := loadSlot(ctx, st, c.noise.Public)
	if err != nil {
		return nil, err
	}
	c.at = placed(slot)
	if c.accessKey, err = st.Meta(ctx, clientdb.MetaAccessKey); err != nil {
		return nil, err
	}
	netKey, err := st.Meta(ctx, metaNetworkKey)
	if err != nil {
		return nil, err
	}
	c.networkKey = ed25519.PublicKey(netKey)
	if c.manifest, err = st.Meta(ctx, metaManifest); err != nil {
		return nil, err
	}
	if err := c.openNetworkState(ctx); err != nil {
		return nil, err
	}
	if err := c.deleteExpired(ctx); err != nil { // disappearing messages
		return nil, err
	}
	return c, nil
}

const (
	metaNetworkKey = "network_key"
	metaManifest   = "manifest"
)

// Close closes the connection and the database. It is safe to call twice.
func (c *Client) Close() error {
	var err error
	c.closeErr.Do(func() {
		close(c.closed)
		c.mu.Lock()
		if c.conn != nil {
			c.conn.Close()
		}
		if c.anon != nil {
			c.anon.Close()
		}
		c.mu.Unlock()
		c.wg.Wait()
		err = c.db.Close()
	})
	return err
}

// Username returns the account's username.
func (c *Client) Username() string { return c.username }

// AccountID returns the account id the relay assigned.
func (c *Client) AccountID() [16]byte { return c.account }

// DeviceID returns this device's id within the account.
func (c *Client) DeviceID() uint32 { return c.device }

// DB returns the client database (for tools and tests).
func (c *Client) DB() *clientdb.DB { return c.db }

// addr returns the session address of a device of an account.
func addr(account [16]byte, device uint32) session.Address {
	return session.Address{Name: uuidString(account), DeviceID: device}
}

func (c *Client) localAddr() session.Address { return addr(c.account, c.device) }

// uuidString formats 16 bytes as a hyphenated lowercase UUID.
func uuidString(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func parseUUID(s string) ([16]byte, bool) {
	var out [16]byte
	if len(s) != 36 {
		return out, false
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 {
		return out, false
	}
	copy(out[:], b)
	return out, true
}

// network verifies the current manifest.
// The signature is checked once per manifest (it is asked for per sealed
// message received), the times at every call.
func (c *Client) network() (*manifest.Manifest, error) {
	c.manifestMu.Lock()
	if c.opened == nil {
		m, err := manifest.Open(c.manifest, c.networkKey)
		if err != nil {
			c.manifestMu.Unlock()
			return nil, fmt.Errorf("client: the network's manifest: %w", err)
		}
		c.opened = m
	}
	m := c.opened
	c.manifestMu.Unlock()
	if err := m.CheckTime(c.cfg.Now()); err != nil {
		return nil, fmt.Errorf("client: the network's manifest: %w", err)
	}
	return m, nil
}

// UpdateManifest adopts blob, a signed manifest of our network, if it
// verifies and is newer (a higher serial) than the current one; it reports
// whether it did. Connections already open stay up; new ones use it.
// It goes through the manifest keeper, which refuses rollbacks, other
// networks and expired manifests.
func (c *Client) UpdateManifest(ctx context.Context, blob []byte) (bool, error) {
	m, err := channel.Push(c.keeper, blob, c.cfg.Now())
	if errors.Is(err, manifest.ErrRollback) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("client: pushed manifest: %w", err)
	}
	if err := c.adoptManifest(ctx, c.keeper.Blob()); err != nil {
		return false, err
	}
	c.cfg.Logger.Debug("adopted a newer manifest", "serial", m.Serial)
	return true, nil
}

func (c *Client) currentManifest() []byte {
	c.manifestMu.Lock()
	defer c.manifestMu.Unlock()
	return c.manifest
}

// trustRoot returns the sealed-sender trust root named by the manifest.
func (c *Client) trustRoot() (curve.PublicKey, error) {
	m, err := c.network()
	if err != nil {
		return curve.PublicKey{}, err
	}
	return curve.DecodePublicKey(m.TrustRoot)
}

// connection returns the live connection to the relay, dialing one if
// needed.
func (c *Client) connection(ctx context.Context) (*relayConn, error) {
	var waited <-chan time.Time
	for {
		c.mu.Lock()
		select {
		case <-c.closed:
			c.mu.Unlock()
			return nil, net.ErrClosed
		default:
		}
		if c.conn != nil && c.conn.Err() == nil {
			rc := c.conn
			c.mu.Unlock()
			return rc, nil
		}
		if c.receiving == 0 {
			break // dial here, holding mu
		}
		// Receive keeps the connection up: wait for its next one rather
		// than dial a second one (the relay keeps only the newest).
		wake := c.connWake
		c.mu.Unlock()
		if waited == nil {
			waited = c.cfg.Clock.After(c.cfg.RequestTimeout)
		}
		select {
		case <-wake:
		case <-waited:
			return nil, fmt.Errorf("%w: no connection within %v", ErrUnreachable, c.cfg.RequestTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.closed:
			return nil, net.ErrClosed
		}
	}
	defer c.mu.Unlock()
	nc, err := c.dialNetwork(ctx, c.noise)
	if err != nil {
		return nil, err
	}
	rc := c.newRelayConn(nc, nil)
	c.conn = rc
	c.cfg.Logger.Debug("connected to relay")
	return rc, nil
}

// call sends one request on the current connection (dialing if needed),
// bounded by RequestTimeout.
func (c *Client) call(ctx context.Context, op string, req *wire.Request) (*wire.Response, error) {
	return c.startCall(ctx, op, req)()
}

// startCall sends one request on the current connection (dialing if
// needed) and returns what waits for its answer, bounded by
// RequestTimeout. Requests started one after another reach the relay in
// that order, so a transfer keeps several in flight.
func (c *Client) startCall(ctx context.Context, op string, req *wire.Request) func() (*wire.Response, error) {
	rc, err := c.connection(ctx)
	if err != nil {
		return func() (*wire.Response, error) { return nil, err }
	}
	wait := rc.start(op, req)
	return func() (*wire.Response, error) {
		ctx, cancel := c.cfg.Clock.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
		resp, err := wait(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			rc.fail(fmt.Errorf("%s timed out", op))
			return nil, fmt.Errorf("%w: %s timed out", ErrDisconnected, op)
		}
		return resp, err
	}
}

// Disconnect closes the current connection, if any (the next call dials
// again).
func (c *Client) Disconnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// lockedReader makes a reader safe for concurrent reads.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
