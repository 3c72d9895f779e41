// Package natsbus carries mail wake-ups between relay nodes over core NATS:
// it is a relay.Hub for several relay processes that share one store.
//
// A node that stores an envelope calls Notify: the device's subscribers on
// this node are woken at once, and the other nodes are told with one empty
// NATS message on the device's subject, which the nodes where the device is
// connected subscribe to. A wake-up is only a hint. The store is the truth
// and every delivering connection also re-reads its mailbox on a bounded
// interval (relay.Limits.DeliveryPoll), so a hint lost to a full queue, a
// slow node or a bus outage delays delivery, never loses it. After the
// connection to NATS comes back, every local subscriber is woken once,
// because hints sent while it was down are gone.
//
// Notify never blocks: wake-ups for other nodes go through a bounded,
// coalescing queue (one pending entry per device) that a single goroutine
// publishes; when the queue is full the hint is dropped and counted.
//
// # What the bus learns
//
// A subject is Prefix + "." + the first 80 bits of HMAC-SHA256(Key, account
// id || device id), in hex. Without Key, which every node of a relay shares
// and nothing else holds, the NATS server and anyone watching the bus see
// neither account ids nor device ids, only a stable pseudonym per device:
// which node subscribes to it (where the device is connected) and when some
// node stores mail for it (the timing and rate of its incoming mail, not the
// sender, the size or the content; messages are empty). Such an observer can
// link a pseudonym's activity over time, as the relay itself can; it cannot
// tell which user it is without Key. Run NATS on a private network with TLS
// and authentication (put them in the URL or the server config) to keep
// even that from others.
package natsbus

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"samizdat/relay"
)

// Defaults for zero Config fields.
const (
	DefaultPrefix     = "samizdat.wake"
	DefaultMaxPending = 65536
)

// hashLen is how many bytes of the keyed hash name a device's subject.
const hashLen = 10

// Config configures a Hub. It must not be modified after New.
type Config struct {
	// URL is the NATS server (or a comma-separated list of servers), for
	// example nats://127.0.0.1:4222. Required.
	URL string
	// Key keys the hash that turns a device into its subject. Every node
	// of a relay must use the same Key, of at least 16 bytes, and keep it
	// secret. Required.
	Key []byte
	// Prefix is the first part of every subject (DefaultPrefix); nodes of
	// different relays on one NATS server need different prefixes or keys.
	Prefix string
	// MaxPending bounds the wake-ups waiting to be published
	// (DefaultMaxPending); more are dropped.
	MaxPending int
	// ReconnectWait is how long to wait between attempts to reach NATS
	// again (250ms). The hub never stops trying until Close.
	ReconnectWait time.Duration
	// Name is the connection's name on the NATS server ("samizdat relay").
	Name string
	// Logger receives bus events (never keys or ids); nil discards them.
	Logger *slog.Logger
}

// Stats counts what a Hub did since New.
type Stats struct {
	Published    uint64 // wake-ups published to other nodes
	Dropped      uint64 // wake-ups not published: queue full or the bus refused
	Received     uint64 // wake-ups received from other nodes
	Reconnects   uint64 // times the connection to NATS came back
	Subscribed   int    // devices with a local subscriber now
	SlowConsumer uint64 // wake-ups from other nodes dropped because this node lagged
}

// Hub is a relay.Hub spanning relay nodes over NATS. Its methods are safe for
// concurrent use.
type Hub struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	in     chan *nats.Msg // every device subscription delivers here
	kick   chan struct{}  // wakes the publisher; holds at most one
	stop   chan struct{}  // closed by Close
	wg     sync.WaitGroup // the publisher and the receiver
	closed sync.Once

	published, dropped, received, reconnects, slow atomic.Uint64
	startedDown                                    atomic.Bool // New returned before NATS was reached

	local *relay.LocalHub // this node's subscribers
	subMu sync.Mutex      // serializes NATS (un)subscribing; taken before mu

	// Keyed HMACs for hash, reset between uses: Notify runs per stored
	// envelope, and a new HMAC would hash the key's pads each time.
	macs sync.Pool

	mu      sync.Mutex
	subs    map[devHash]*device  // devices with local subscribers; guarded by mu
	pending map[devHash]struct{} // wake-ups to publish; guarded by mu
}

var _ relay.FuncHub = (*Hub)(nil)

// devHash is the keyed hash that names a device on the bus.
type devHash [hashLen]byte

// device is a device with local subscribers: how many, and its NATS
// subscription.
type device struct {
	acct relay.AccountID
	dev  uint32
	n    int
	sub  *nats.Subscription // nil if subscribing failed; the poll covers it
}

// New connects to NATS and returns a Hub. It does not wait for the server:
// if NATS cannot be reached yet, the Hub keeps trying in the background and
// wakes only local subscribers meanwhile, which the relay's poll covers.
func New(cfg Config) (*Hub, error) {
	if cfg.URL == "" {
		return nil, errors.New("natsbus: no nats url")
	}
	servers := strings.Split(cfg.URL, ",")
	for i, u := range servers {
		// Check here: the client's parse errors quote the URL, password
		// and all.
		if _, err := url.Parse(strings.TrimSpace(u)); err != nil {
			return nil, fmt.Errorf("natsbus: nats url %d of %d does not parse", i+1, len(servers))
		}
	}
	if len(cfg.Key) < 16 {
		return nil, errors.New("natsbus: the subject key must have at least 16 bytes")
	}
	cfg.Key = append([]byte(nil), cfg.Key...)
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, " \t\r\n*>") || strings.HasPrefix(cfg.Prefix, ".") || strings.HasSuffix(cfg.Prefix, ".") {
		return nil, fmt.Errorf("natsbus: bad subject prefix %q", cfg.Prefix)
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.ReconnectWait <= 0 {
		cfg.ReconnectWait = 250 * time.Millisecond
	}
	if cfg.Name == "" {
		cfg.Name = "samizdat relay"
	}
	h := &Hub{
		cfg:     cfg,
		log:     cfg.Logger,
		in:      make(chan *nats.Msg, 8192),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		local:   relay.NewLocalHub(),
		subs:    make(map[devHash]*device),
		pending: make(map[devHash]struct{}),
	}
	h.macs.New = func() any { return hmac.New(sha256.New, h.cfg.Key) }
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	nc, err := nats.Connect(cfg.URL,
		nats.Name(cfg.Name),
		nats.NoEcho(), // local subscribers are woken directly
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.ReconnectJitter(cfg.ReconnectWait/4, cfg.ReconnectWait/4),
		nats.RetryOnFailedConnect(true),
		// While disconnected, publish into a small buffer; once it is
		// full, hints are dropped (the poll covers them).
		nats.ReconnectBufSize(1<<20),
		// A stuck connection holds the client's lock while it writes;
		// give up on it soon and reconnect.
		nats.FlusherTimeout(5*time.Second),
		nats.ConnectHandler(func(*nats.Conn) {
			// Only a connection made after New returned can find
			// subscribers whose hints were lost.
			if h.startedDown.Load() {
				h.log.Info("connected to nats")
				h.wakeAll()
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				h.log.Warn("lost the connection to nats; retrying", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			h.reconnects.Add(1)
			h.log.Info("reconnected to nats")
			h.wakeAll()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				h.slow.Add(1)
				return
			}
			h.log.Warn("nats error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connecting: %w", err)
	}
	h.nc = nc
	if !nc.IsConnected() {
		h.startedDown.Store(true)
		h.log.Warn("nats is not reachable yet; retrying in the background")
	}
	h.wg.Add(2)
	go h.publishLoop()
	go h.receiveLoop()
	return h, nil
}

// hash names the device on the bus.
func (h *Hub) hash(acct relay.AccountID, dev uint32) devHash {
	m := h.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte("samizdat natsbus v1"))
	m.Write(acct[:])
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], dev)
	m.Write(d[:])
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	h.macs.Put(m)
	var out devHash
	copy(out[:], sum[:])
	return out
}

func (h *Hub) subject(k devHash) string {
	return h.cfg.Prefix + "." + hex.EncodeToString(k[:])
}

// Subject returns the NATS subject on which nodes are told that the device
// has mail: what the bus sees instead of the device.
func (h *Hub) Subject(acct relay.AccountID, dev uint32) string {
	return h.subject(h.hash(acct, dev))
}

// Subscribe implements relay.Hub. The first local subscriber of a device
// subscribes this node to the device's subject; the last cancel
// unsubscribes it.
func (h *Hub) Subscribe(acct relay.AccountID, dev uint32) (<-chan struct{}, func()) {
	var wake <-chan struct{}
	cancel := h.subscribe(acct, dev, func() (cancel func()) {
		wake, cancel = h.local.Subscribe(acct, dev)
		return cancel
	})
	return wake, cancel
}

// SubscribeFunc implements relay.FuncHub, subscribing as Subscribe does.
func (h *Hub) SubscribeFunc(acct relay.AccountID, dev uint32, wake func()) func() {
	return h.subscribe(acct, dev, func() func() { return h.local.SubscribeFunc(acct, dev, wake) })
}

// subscribe subscribes this node to the device's subject for its first
// local subscriber, then adds the local one with local.
func (h *Hub) subscribe(acct relay.AccountID, dev uint32, local func() (cancel func())) func() {
	k := h.hash(acct, dev)
	// subMu, not mu, is held while talking to the NATS client, which may
	// wait for a stuck connection (up to its write timeout): Notify and
	// the receiver take only mu and never wait for it.
	h.subMu.Lock()
	h.mu.Lock()
	d := h.subs[k]
	first := d == nil
	if first {
		d = &device{acct: acct, dev: dev}
		h.subs[k] = d
	}
	d.n++
	h.mu.Unlock()
	if first {
		sub, err := h.nc.ChanSubscribe(h.subject(k), h.in)
		if err != nil {
			h.log.Warn("subscribing to wake-ups failed; relying on the poll", "err", err)
		}
		h.mu.Lock()
		d.sub = sub
		h.mu.Unlock()
	}
	h.subMu.Unlock()
	cancel := local()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			h.subMu.Lock()
			defer h.subMu.Unlock()
			h.mu.Lock()
			var sub *nats.Subscription
			if d := h.subs[k]; d != nil {
				if d.n--; d.n == 0 {
					delete(h.subs, k)
					sub = d.sub
				}
			}
			h.mu.Unlock()
			if sub != nil {
				sub.Unsubscribe()
			}
		})
	}
}

// Notify implements relay.Hub: it wakes the device's subscribers on this
// node and queues a wake-up for the other nodes. It never blocks.
func (h *Hub) Notify(acct relay.AccountID, dev uint32) {
	h.local.Notify(acct, dev)
	k := h.hash(acct, dev)
	h.mu.Lock()
	_, queued := h.pending[k]
	full := !queued && len(h.pending) >= h.cfg.MaxPending
	if !queued && !full {
		h.pending[k] = struct{}{}
	}
	h.mu.Unlock()
	if full {
		h.dropped.Add(1)
		return
	}
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// wake wakes the local subscribers of the device named k, if any.
func (h *Hub) wake(k devHash) {
	h.mu.Lock()
	d := h.subs[k]
	var acct relay.AccountID
	var dev uint32
	if d != nil {
		acct, dev = d.acct, d.dev
	}
	h.mu.Unlock()
	if d != nil {
		h.local.Notify(acct, dev)
	}
}

// wakeAll wakes every local subscriber: hints sent while the bus was down
// are lost, so each delivering connection re-reads its mailbox.
func (h *Hub) wakeAll() {
	h.mu.Lock()
	devs := make([]*device, 0, len(h.subs))
	for _, d := range h.subs {
		devs = append(devs, d)
	}
	h.mu.Unlock()
	for _, d := range devs {
		h.local.Notify(d.acct, d.dev)
	}
}

// publishLoop publishes queued wake-ups until Close.
func (h *Hub) publishLoop() {
	defer h.wg.Done()
	// Two maps take turns: Notify fills one while this publishes the
	// other.
	spare := make(map[devHash]struct{})
	for {
		select {
		case <-h.kick:
		case <-h.stop:
			return
		}
		h.mu.Lock()
		batch := h.pending
		if len(batch) == 0 {
			h.mu.Unlock()
			continue
		}
		h.pending = spare
		h.mu.Unlock()
		for k := range batch {
			// Publish only buffers; the client's flusher writes. While
			// reconnecting it fills the reconnect buffer, then fails.
			if err := h.nc.Publish(h.subject(k), nil); err != nil {
				h.dropped.Add(1)
				continue
			}
			h.published.Add(1)
		}
		clear(batch)
		spare = batch
	}
}

// receiveLoop wakes local subscribers for wake-ups from other nodes.
func (h *Hub) receiveLoop() {
	defer h.wg.Done()
	prefix := h.cfg.Prefix + "."
	for {
		var m *nats.Msg
		select {
		case m = <-h.in:
		case <-h.stop:
			return
		}
		var k devHash
		s, ok := strings.CutPrefix(m.Subject, prefix)
		if !ok || hex.DecodedLen(len(s)) != hashLen {
			continue
		}
		if _, err := hex.Decode(k[:], []byte(s)); err != nil {
			continue
		}
		h.received.Add(1)
		h.wake(k)
	}
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	n := len(h.subs)
	h.mu.Unlock()
	return Stats{
		Published:    h.published.Load(),
		Dropped:      h.dropped.Load(),
		Received:     h.received.Load(),
		Reconnects:   h.reconnects.Load(),
		Subscribed:   n,
		SlowConsumer: h.slow.Load(),
	}
}

// Connected reports whether the hub is connected to NATS now.
func (h *Hub) Connected() bool { return h.nc.IsConnected() }

// Close drains nothing: it drops queued wake-ups, closes the connection to
// NATS and waits for the hub's goroutines. Subscribers keep their channels,
// which are no longer woken. It is safe to call more than once.
func (h *Hub) Close() error {
	h.closed.Do(func() {
		close(h.stop)
		h.nc.Close()
	})
	h.wg.Wait()
	return nil
}
