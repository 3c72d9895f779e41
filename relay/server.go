package relay

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/clock"
	"samizdat/internal/netsource"
	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/relay/invitation"
	"samizdat/session/curve"
	"samizdat/session/sealed"
)

// ErrServerClosed is returned by Serve once Close has been called.
var ErrServerClosed = errors.New("relay: server closed")

// Config configures a Server. It must not be modified after New.
type Config struct {
	// Store keeps accounts, prekeys, mailboxes and rate-limit buckets.
	// Required. The Server does not close it.
	Store Store
	// NoiseKey is the relay's static Noise key, pinned by clients. Required.
	NoiseKey noisechan.KeyPair
	// Prologue is extra bytes for the Noise prologue (noisechan already
	// mixes in its protocol name); clients must use the same. Usually nil.
	Prologue []byte
	// ServerCertificate and ServerCertificateKey issue sealed-sender
	// certificates to devices. Without them GetSenderCertificate answers
	// INTERNAL.
	ServerCertificate    *sealed.ServerCertificate
	ServerCertificateKey curve.PrivateKey
	// Blobs keeps attachments' sealed chunks; nil means the Store's own
	// when it is a BlobStore, else the relay refuses attachments.
	Blobs BlobStore
	// Hub carries mail wake-ups; nil means a new LocalHub.
	Hub Hub
	// Limits bounds what one peer may do; zero fields take defaults.
	Limits Limits
	// RateLimitSalt keys the hash that names rate-limit buckets, so the
	// store never holds who sends to whom in the clear. Relays sharing a
	// store should share it; nil means random per Server.
	RateLimitSalt []byte
	// CohortKey is the secret (at least 16 bytes) that places accounts
	// joining through the relay's own invite in cohorts and seals the
	// inviter tokens of personal invites (relay/invitation). Relays
	// sharing a store must share it; nil derives it from NoiseKey.
	CohortKey []byte
	// Clock times handshakes, reads and writes, the rate limits, the
	// delivery poll and expiry (nil: clock.Real).
	Clock clock.Clock
	// Now reads the time for the store, certificates and pongs
	// (Clock.Now).
	Now func() time.Time
	// Rand is the randomness source; nil means crypto/rand.
	Rand io.Reader
	// Logger receives connection and error events (never keys, contents or
	// usernames); nil discards them.
	Logger *slog.Logger
	// Observer is told what the relay does, for metrics; nil: nothing.
	Observer Observer
}

// Rate is a token bucket: Burst tokens at most, refilled at PerSecond. The
// zero Rate means "use the default"; a negative Burst means unlimited.
type Rate struct {
	Burst     float64
	PerSecond float64
}

// Unlimited is a Rate that never refuses.
var Unlimited = Rate{Burst: -1}

func (r Rate) unlimited() bool { return r.Burst < 0 }

// Limits bounds connections and protects users from each other. Zero fields
// take the defaults of DefaultLimits.
type Limits struct {
	HandshakeTimeout time.Duration // the Noise handshake must finish within it
	ReadTimeout      time.Duration // an idle connection (no frame) is closed after it
	WriteTimeout     time.Duration // one frame must be written within it
	MaxInFlight      int           // requests handled concurrently per connection
	MaxHandshakes    int           // handshakes in progress at once (see HandshakesPerSource for who gives way)
	// HandshakesPerSource bounds the handshakes in progress from one
	// source address; more connections from it are dropped. When all
	// MaxHandshakes are taken, a connection from a source holding fewer
	// takes the oldest slot of the busiest source. Connections through a
	// shared proxy (ProxiedListener: a CDN edge's address is every fronted
	// user's) are not capped per source. Negative: no cap per source (load
	// tests whose every peer is on one loopback address).
	HandshakesPerSource int
	// PressureHandshakeTimeout replaces HandshakeTimeout for handshakes
	// that begin while more than half of MaxHandshakes are taken.
	PressureHandshakeTimeout time.Duration
	// AnonymousPerSource bounds the established connections without a
	// device (registration, sealed sends) from one source address; more
	// are closed after their handshake. Not applied through shared
	// proxies; negative: no cap.
	AnonymousPerSource int
	// AnonymousProxied bounds the established connections without a
	// device through shared proxies, all together: a newer one closes the
	// oldest (clients keep anonymous connections short, so the oldest are
	// a flooder's). Negative: no cap.
	AnonymousProxied int

	ConnFrames     Rate // frames read per connection (in memory; throttles reading)
	Messages       Rate // SendMessages per sender account → recipient account
	SealedMessages Rate // SendSealed per source → recipient, and SendMulti per source: the source is the device, the address of an anonymous sender where it is the sender's own, or the connection of an anonymous sender through a shared proxy (in memory)
	RecipientBytes Rate // content bytes per recipient account
	// ProxiedSealed bounds the SendSealed (and each recipient of a
	// SendMulti) to one recipient from every anonymous connection through
	// shared proxies together: the ceiling over their per-connection
	// budgets, which a flooder could multiply by opening connections.
	ProxiedSealed Rate
	Registrations Rate // Register attempts per source address, where the address is the client's (not through shared proxies)
	// RegistrationWork is the proof of work (relay/regwork: bits) that a
	// registration through a shared proxy must carry, since its address
	// is every fronted user's. The relay asks one bit more for each
	// doubling of such registrations beyond Registrations.Burst in a
	// minute or so (up to 8 more), so a flood of them grows dear while
	// no one is refused for others' registrations. Negative: none.
	RegistrationWork int
	PreKeyUploads    Rate // UploadPreKeys and AddDevice per device
	PreKeyFetches    Rate // bundles fetched per device
	Lookups          Rate // username lookups per device
	ChannelCreates   Rate // CreateChannel per device
	ChannelPosts     Rate // PostToChannel per channel
	// Invites bounds the inviter tokens (MakeInvite) per account: each
	// personal invite places whoever registers with it in the account's
	// cohort, so an account that hands out invites in bulk cannot fill
	// its cohort with strangers faster than this.
	Invites Rate
	// InviteLifetime is how long an inviter token is accepted.
	InviteLifetime time.Duration

	MaxDevices         int           // devices per account (at most 127)
	MaxPreKeysPerCall  int           // one-time keys of each kind per request
	MaxMessagesPerCall int           // recipient devices per send
	MaxAcksPerCall     int           // envelope ids per Ack
	DeliveryBatch      int           // envelopes fetched from the store at once
	DeliveryPoll       time.Duration // a delivering connection re-reads its mailbox this long (up to an eighth more) after the last read without wake-ups
	DeviceCacheTTL     time.Duration // how long a device list read for a send is reused; negative: never
	CertificateTTL     time.Duration // lifetime of sender certificates: how long a removed device's stays usable
	Retention          time.Duration // mailbox entries older than this are expired
	ExpireEvery        time.Duration // how often Expire runs
	ChannelPage        int           // posts a ReadChannel returns at most
	ChannelSubscribers int           // ReadChannel subscriptions per connection
	ChannelCache       int           // channels whose keys (and latest posts) the server keeps in memory
	BlobCreates        Rate          // UploadStart of a new blob per device
	BlobReads          Rate          // sealed bytes of attachments downloaded per device
	BlobQuota          int64         // sealed bytes of attachments an account may have stored (complete or not) at once
}

// DefaultCertificateTTL is the default lifetime of sender certificates.
// It bounds how long a removed device can still send sealed messages that
// recipients accept: the relay issues it none after removal, and cannot see
// the certificate inside a sealed envelope. Clients fetch a new one when
// half has passed, one request an hour per sending device.
const DefaultCertificateTTL = 2 * time.Hour

// DefaultLimits returns the limits used for zero fields of Config.Limits.
func DefaultLimits() Limits {
	return Limits{
		HandshakeTimeout: 10 * time.Second,
		ReadTimeout:      60 * time.Second,
		WriteTimeout:     30 * time.Second,
		MaxInFlight:      64,
		MaxHandshakes:    1024,

		HandshakesPerSource:      32,
		PressureHandshakeTimeout: 2 * time.Second,
		AnonymousPerSource:       64,
		AnonymousProxied:         4096,

		ConnFrames:     Rate{Burst: 4000, PerSecond: 2000},
		Messages:       Rate{Burst: 600, PerSecond: 60},
		SealedMessages: Rate{Burst: 600, PerSecond: 60},
		RecipientBytes: Rate{Burst: 64 << 20, PerSecond: 1 << 20},
		ProxiedSealed:  Rate{Burst: 6000, PerSecond: 600},
		Registrations:  Rate{Burst: 30, PerSecond: 0.2},
		PreKeyUploads:  Rate{Burst: 20, PerSecond: 0.1},
		PreKeyFetches:  Rate{Burst: 1000, PerSecond: 20},
		Lookups:        Rate{Burst: 200, PerSecond: 2},
		ChannelCreates: Rate{Burst: 10, PerSecond: 1.0 / 60},
		ChannelPosts:   Rate{Burst: 60, PerSecond: 1},
		Invites:        Rate{Burst: 5, PerSecond: 5.0 / 86400}, // 5 a day
		InviteLifetime: 14 * 24 * time.Hour,

		RegistrationWork: 20,

		MaxDevices:         6,
		MaxPreKeysPerCall:  200,
		MaxMessagesPerCall: 127,
		MaxAcksPerCall:     1000,
		DeliveryBatch:      256,
		DeliveryPoll:       30 * time.Second,
		DeviceCacheTTL:     time.Second,
		CertificateTTL:     DefaultCertificateTTL,
		Retention:          DefaultRetention,
		ExpireEvery:        time.Hour,
		ChannelPage:        100,
		ChannelSubscribers: 1000,
		ChannelCache:       1024,
		BlobCreates:        Rate{Burst: 100, PerSecond: 1},
		BlobReads:          Rate{Burst: 1 << 30, PerSecond: 128 << 20},
		BlobQuota:          DefaultBlobQuota,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	dur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	num := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	rate := func(v *Rate, def Rate) {
		if *v == (Rate{}) {
			*v = def
		}
	}
	dur(&l.HandshakeTimeout, d.HandshakeTimeout)
	dur(&l.ReadTimeout, d.ReadTimeout)
	dur(&l.WriteTimeout, d.WriteTimeout)
	num(&l.MaxInFlight, d.MaxInFlight)
	num(&l.MaxHandshakes, d.MaxHandshakes)
	if l.HandshakesPerSource == 0 {
		l.HandshakesPerSource = d.HandshakesPerSource
	}
	dur(&l.PressureHandshakeTimeout, d.PressureHandshakeTimeout)
	l.PressureHandshakeTimeout = min(l.PressureHandshakeTimeout, l.HandshakeTimeout)
	if l.AnonymousPerSource == 0 {
		l.AnonymousPerSource = d.AnonymousPerSource
	}
	if l.AnonymousProxied == 0 {
		l.AnonymousProxied = d.AnonymousProxied
	}
	if l.RegistrationWork == 0 {
		l.RegistrationWork = d.RegistrationWork
	}
	rate(&l.ConnFrames, d.ConnFrames)
	rate(&l.Messages, d.Messages)
	rate(&l.SealedMessages, d.SealedMessages)
	rate(&l.RecipientBytes, d.RecipientBytes)
	rate(&l.ProxiedSealed, d.ProxiedSealed)
	rate(&l.Registrations, d.Registrations)
	rate(&l.PreKeyUploads, d.PreKeyUploads)
	rate(&l.PreKeyFetches, d.PreKeyFetches)
	rate(&l.Lookups, d.Lookups)
	rate(&l.ChannelCreates, d.ChannelCreates)
	rate(&l.ChannelPosts, d.ChannelPosts)
	num(&l.ChannelPage, d.ChannelPage)
	num(&l.ChannelSubscribers, d.ChannelSubscribers)
	num(&l.ChannelCache, d.ChannelCache)
	rate(&l.Invites, d.Invites)
	dur(&l.InviteLifetime, d.InviteLifetime)
	num(&l.MaxDevices, d.MaxDevices)
	if l.MaxDevices > maxDeviceID {
		l.MaxDevices = maxDeviceID
	}
	num(&l.MaxPreKeysPerCall, d.MaxPreKeysPerCall)
	num(&l.MaxMessagesPerCall, d.MaxMessagesPerCall)
	num(&l.MaxAcksPerCall, d.MaxAcksPerCall)
	num(&l.DeliveryBatch, d.DeliveryBatch)
	dur(&l.DeliveryPoll, d.DeliveryPoll)
	if l.DeviceCacheTTL == 0 {
		l.DeviceCacheTTL = d.DeviceCacheTTL
	}
	dur(&l.CertificateTTL, d.CertificateTTL)
	dur(&l.Retention, d.Retention)
	dur(&l.ExpireEvery, d.ExpireEvery)
	rate(&l.BlobCreates, d.BlobCreates)
	rate(&l.BlobReads, d.BlobReads)
	if l.BlobQuota <= 0 {
		l.BlobQuota = d.BlobQuota
	}
	return l
}

// maxDeviceID is the largest device id a sender certificate can carry.
const maxDeviceID = 127

// Server is a relay: it accepts Noise channels on any number of listeners,
// authenticates devices by their static keys, stores envelopes and delivers
// them. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config // defaults filled in; read-only
	lim    Limits
	store  Store
	blobs  BlobStore // nil: attachments are refused
	hub    Hub
	log    *slog.Logger
	obs    Observer
	now    func() time.Time
	clk    clock.Clock
	rand   io.Reader
	salt   []byte
	inv    *invitation.Key // places accounts in cohorts, seals inviter tokens
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server starts
	nextID atomic.Uint64  // connection ids, for logs
	epoch  time.Time      // start of clock
	hs     *admission     // handshakes in progress
	devs   deviceCache
	work   workLoad     // registrations through shared proxies, for the work they must carry
	chans  channels     // broadcast channels: keys cached, subscriptions
	prov   provisioning // rendezvous of devices being linked

	mu        sync.Mutex
	closed    bool                       // guarded by mu
	listeners map[net.Listener]struct{}  // guarded by mu
	conns     map[*conn]struct{}         // every connection past its handshake; guarded by mu
	live      map[deviceKey]*conn        // the authenticated connection of each device; guarded by mu
	receivers map[*conn]struct{}         // connections that sent StartDelivery; guarded by mu
	anonymous map[string]int             // established anonymous connections by capped source; guarded by mu
	anonProxy map[*conn]*list.Element    // established anonymous connections through shared proxies, in anonOrder; guarded by mu
	anonOrder list.List                  // of *conn: anonProxy's connections, oldest first; guarded by mu
	manifest  []byte                     // the signed manifest given to SetManifest; guarded by mu
	pickMf    func(manifest.Slot) []byte // the manifest for a device's cohort slot; guarded by mu
	mfGen     uint64                     // bumped by every SetManifest; guarded by mu
	randMu    sync.Mutex                 // serializes reads of rand
}

// New returns a Server for cfg. It starts the mailbox expiry loop; Close
// stops it.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("relay: config has no store")
	}
	if cfg.NoiseKey.Public == ([32]byte{}) {
		return nil, errors.New("relay: config has no noise key")
	}
	if cfg.ServerCertificate != nil && !cfg.ServerCertificate.Key().Equal(cfg.ServerCertificateKey.PublicKey()) {
		return nil, errors.New("relay: server certificate does not match its key")
	}
	s := &Server{
		cfg:       cfg,
		lim:       cfg.Limits.withDefaults(),
		store:     cfg.Store,
		blobs:     blobStoreOf(cfg),
		hub:       cfg.Hub,
		log:       cfg.Logger,
		obs:       cfg.Observer,
		now:       cfg.Now,
		rand:      cfg.Rand,
		salt:      cfg.RateLimitSalt,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		live:      make(map[deviceKey]*conn),
		receivers: make(map[*conn]struct{}),
		anonymous: make(map[string]int),
		anonProxy: make(map[*conn]*list.Element),
	}
	if s.hub == nil {
		s.hub = NewLocalHub()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	s.clk = clock.Or(cfg.Clock)
	if s.now == nil {
		s.now = s.clk.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.salt == nil {
		s.salt = make([]byte, 32)
		if _, err := io.ReadFull(s.rand, s.salt); err != nil {
			return nil, fmt.Errorf("relay: rate-limit salt: %w", err)
		}
	}
	ck := cfg.CohortKey
	if ck == nil {
		m := hmac.New(sha256.New, cfg.NoiseKey.Private[:])
		m.Write([]byte("samizdat relay secret: cohort key"))
		ck = m.Sum(nil)
	}
	var err error
	if s.inv, err = invitation.NewKey(ck); err != nil {
		return nil, fmt.Errorf("relay: cohort key: %w", err)
	}
	s.hs = newAdmission(s.lim.MaxHandshakes, s.lim.HandshakesPerSource)
	s.devs = deviceCache{ttl: s.lim.DeviceCacheTTL, max: 100000, now: s.clk.Now}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.epoch = s.clk.Now()
	s.wg.Add(2)
	go s.expireLoop()
	go s.pollLoop()
	return s, nil
}

// clock returns monotonic nanoseconds since New.
func (s *Server) clock() int64 { return int64(s.clk.Since(s.epoch)) }

// pollLoop has every delivering connection re-read its mailbox once
// DeliveryPoll has passed since its last read, so that a lost wake-up only
// delays delivery: one loop for all connections, checking every eighth of
// DeliveryPoll, instead of a timer for each.
func (s *Server) pollLoop() {
	defer s.wg.Done()
	t := s.clk.NewTicker(max(s.lim.DeliveryPoll/8, time.Millisecond))
	defer t.Stop()
	var due []*conn
	for {
		select {
		case <-t.C():
		case <-s.ctx.Done():
			return
		}
		cutoff := s.clock() - int64(s.lim.DeliveryPoll)
		s.mu.Lock()
		for c := range s.receivers {
			if c.lastRead.Load() <= cutoff {
				due = append(due, c)
			}
		}
		s.mu.Unlock()
		for i, c := range due {
			c.kick(kickMail)
			due[i] = nil
		}
		due = due[:0]
	}
}

// readRand fills b from the configured randomness source.
func (s *Server) readRand(b []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	_, err := io.ReadFull(s.rand, b)
	return err
}

// randReader is s.rand behind randMu, for APIs that take an io.Reader.
type randReader struct{ s *Server }

func (r randReader) Read(b []byte) (int, error) {
	if err := r.s.readRand(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Serve accepts connections on l until ctx is done or the server is closed,
// and serves each in its own goroutine: a Noise handshake, then the relay
// protocol. Serve may run on several listeners at once; it closes l before
// it returns. It returns nil when ctx is done, ErrServerClosed after Close,
// or the listener's error.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()

	stop := make(chan struct{})
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		case <-stop:
		}
		l.Close()
	}()
	defer func() {
		close(stop)
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	transport, proxied := transportOf(l), proxiedListener(l)
	s.log.Info("relay listening", "addr", l.Addr().String(), "transport", transport)
	var backoff time.Duration
	for {
		raw, err := l.Accept()
		if err != nil {
			switch {
			case s.ctx.Err() != nil:
				return ErrServerClosed
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, net.ErrClosed):
				return fmt.Errorf("relay: accept: %w", err)
			}
			// Out of file descriptors and the like: wait and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
			select {
			case <-s.clk.After(backoff):
			case <-ctx.Done():
			case <-s.ctx.Done():
			}
			continue
		}
		backoff = 0
		src := source{addr: netsource.Key(raw.RemoteAddr()), capped: !proxied}
		h, evict, pressure := s.hs.admit(src.addr, src.capped && s.lim.HandshakesPerSource > 0, raw)
		if h == nil {
			// Too many half-open connections from this source, or in
			// all: shed this one now rather than let a flood of silent
			// peers pin memory.
			raw.Close()
			s.obs.Handshake(transport, "shed")
			s.log.Debug("too many handshakes in progress; dropped a connection")
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.hs.release(h)
			raw.Close()
			if evict != nil {
				evict.Close()
			}
			return ErrServerClosed
		}
		s.wg.Add(1)
		if evict != nil {
			// A wss or front conn may take a moment to close.
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				evict.Close()
			}()
		}
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(raw, transport, src, h, pressure)
		}()
		// Let the connections we have run before we take the next one.
		// Accept does not wait while connections are queued, so when
		// thousands arrive at once (a flood of silent peers) the loop
		// would otherwise start thousands of handshakes back to back,
		// and every established connection's work would wait behind
		// them: the flood would cost the honest users tens of
		// milliseconds per message. Yielding sends the loop to the back
		// of the run queue, so a burst is taken in turn with the
		// others' work; when nothing else waits it costs nothing.
		runtime.Gosched()
	}
}

// Close stops every listener and connection and waits for all goroutines
// the server started. It does not close the store. It is safe to call more
// than once.
func (s *Server) Close() error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	var ls []net.Listener
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	if first {
		s.cancel()
		for _, l := range ls {
			l.Close()
		}
		// Tell every connection, each in its own goroutine: a peer that
		// does not read holds its closing write up for a moment.
		s.mu.Lock()
		for c := range s.conns {
			c.closeLater(reasonShutdown, closingPush(reasonShutdown))
		}
		s.mu.Unlock()
	}
	s.wg.Wait()
	return nil
}

// addConn registers c for Close, or returns false if the server is closed.
func (s *Server) addConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// removeConn forgets c.
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	delete(s.receivers, c)
}

// expireLoop deletes expired mailbox entries now and every ExpireEvery.
func (s *Server) expireLoop() {
	defer s.wg.Done()
	t := s.clk.NewTicker(s.lim.ExpireEvery)
	defer t.Stop()
	for {
		n, err := s.store.Expire(s.ctx, s.now().Add(-s.lim.Retention))
		switch {
		case err != nil && s.ctx.Err() == nil:
			s.log.Error("expiring mailboxes", "err", err)
		case n > 0:
			s.log.Info("expired envelopes", "count", n)
		}
		s.expireBlobs()
		select {
		case <-t.C():
		case <-s.ctx.Done():
			return
		}
	}
}

// claim makes c the live connection of its device and returns the one it
// replaces, if any.
func (s *Server) claim(c *conn, k deviceKey) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.live[k]
	s.live[k] = c
	if old == c {
		return nil
	}
	return old
}

// release forgets c as its device's live connection, unless a newer one
// has replaced it already.
func (s *Server) release(c *conn, k deviceKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live[k] == c {
		delete(s.live, k)
	}
}

// SetManifest makes blob the signed manifest the relay hands its clients
// and pushes it (wire Push.manifest) to every connection that has started
// delivery, all at once; a connection that starts delivery later gets it
// right after its StartDelivery response. A nil or empty blob stops the
// pushes. The relay does not check blob: the caller signs it, and clients
// verify it and keep only manifests newer than the one they hold. Each
// connection is sent manifests in the order SetManifest saw them and never
// an older one after a newer; when several arrive faster than a
// connection can take them, it gets only the newest.
func (s *Server) SetManifest(blob []byte) {
	blob = append([]byte(nil), blob...)
	if len(blob) == 0 {
		blob = nil
	}
	s.setManifest(blob, func(manifest.Slot) []byte { return blob })
}

// SetManifestFunc is SetManifest with a manifest per device: pick returns
// the signed manifest for a device whose cohort slot is its argument (the
// one the relay stored for it, see DeviceSlot; nil: none), for example one
// listing only the endpoints of the device's cohort (Slot.Cohort). pick
// must be fast and safe for concurrent use; it is called once per
// receiving connection per change, and its results must not be modified
// afterwards. A nil pick stops the pushes.
func (s *Server) SetManifestFunc(pick func(slot manifest.Slot) []byte) {
	if pick == nil {
		pick = func(manifest.Slot) []byte { return nil }
	}
	s.setManifest(nil, pick)
}

func (s *Server) setManifest(blob []byte, pick func(manifest.Slot) []byte) {
	s.mu.Lock()
	s.manifest = blob
	s.pickMf = pick
	s.mfGen++
	var wake []*conn
	for c := range s.receivers {
		wake = append(wake, c)
	}
	s.mu.Unlock()
	for _, c := range wake {
		c.kick(kickManifest) // coalesced: the worker reads the newest
	}
	s.log.Info("new manifest", "connections", len(wake))
}

// Manifest returns the blob last given to SetManifest, or nil (also after
// SetManifestFunc).
func (s *Server) Manifest() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.manifest...)
}

// currentManifest returns the manifest to push to the device d, and its
// generation.
func (s *Server) currentManifest(d Device) ([]byte, uint64) {
	s.mu.Lock()
	pick, gen := s.pickMf, s.mfGen
	s.mu.Unlock()
	if pick == nil {
		return nil, gen
	}
	blob := pick(DeviceSlot(d))
	if len(blob) == 0 {
		blob = nil
	}
	return blob, gen
}

// source is where a connection comes from, for per-source limits.
type source struct {
	addr   string // netsource.Key of the remote address
	capped bool   // false through a shared proxy, whose address is not the peer's
}

// addAnonymous counts c as an established anonymous connection. It
// returns false when c's source (capped) has AnonymousPerSource already;
// through a shared proxy, when AnonymousProxied are open, it returns the
// oldest of them for the caller to close.
func (s *Server) addAnonymous(c *conn) (ok bool, evict *conn) {
	src := c.src
	if !src.capped {
		if s.lim.AnonymousProxied < 0 {
			return true, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.anonProxy) >= s.lim.AnonymousProxied {
			evict = s.anonOrder.Remove(s.anonOrder.Front()).(*conn)
			delete(s.anonProxy, evict)
		}
		s.anonProxy[c] = s.anonOrder.PushBack(c)
		return true, evict
	}
	if s.lim.AnonymousPerSource < 0 {
		return true, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.anonymous[src.addr] >= s.lim.AnonymousPerSource {
		return false, nil
	}
	s.anonymous[src.addr]++
	return true, nil
}

// removeAnonymous forgets an anonymous connection counted by addAnonymous.
func (s *Server) removeAnonymous(c *conn) {
	src := c.src
	if !src.capped {
		s.mu.Lock()
		defer s.mu.Unlock()
		if e, ok := s.anonProxy[c]; ok {
			s.anonOrder.Remove(e)
			delete(s.anonProxy, c)
		}
		return
	}
	if s.lim.AnonymousPerSource < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.anonymous[src.addr]--; s.anonymous[src.addr] <= 0 {
		delete(s.anonymous, src.addr)
	}
}

// addReceiver registers c for manifest pushes.
func (s *Server) addReceiver(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.receivers[c] = struct{}{}
}
