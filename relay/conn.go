package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"samizdat/noisechan"
	"samizdat/relay/wire"
)

// errConnClosed is returned by writes after the connection started closing.
var errConnClosed = errors.New("relay: connection closed")

// Reasons sent to a peer in the Closing push. They name the rule, never the
// peer's data.
const (
	reasonMalformed  = "malformed frame"
	reasonUnexpected = "unexpected frame: a client sends only requests"
	reasonIdle       = "idle timeout"
	reasonShutdown   = "relay shutting down"
	reasonReplaced   = "replaced by a newer connection of this device"
	reasonInternal   = "relay storage error"
	reasonReadFailed = "read failed"
	reasonAnonymous  = "too many anonymous connections from this address"
	// reasonAnonymousOld closes the oldest anonymous connection through
	// shared proxies for a newer one (Limits.AnonymousProxied).
	reasonAnonymousOld = "too many anonymous connections; this was the oldest"
)

// conn is one client connection after the Noise handshake.
//
// An idle connection costs one goroutine, the one reading it. Whatever
// else it does runs in goroutines that exist only while there is work:
// request handlers, and one delivery worker at a time that pushes
// manifests and mail when kicked (by the hub's wake-up, the server's poll
// loop or SetManifest) and ends when it has nothing left to send.
type conn struct {
	s         *Server
	nc        *noisechan.Conn
	id        uint64
	src       source             // where it comes from (for rate limits; not logged above debug), and whether per-source limits apply
	transport string             // the listener's transport, for metrics
	log       connLog            // the server's logger with this connection's id
	wg        sync.WaitGroup     // request handlers, the delivery worker and a wake-up forwarder
	sem       chan struct{}      // bounds concurrent request handlers; made by the read loop when first needed
	uploads   chan *wire.Request // UploadChunk requests, handled in order; made by the read loop when first needed

	wmu     sync.Mutex // serializes writes with their deadlines
	wclosed bool       // no more writes; guarded by wmu

	mu         sync.Mutex
	dev        *Device                // nil while anonymous; guarded by mu
	sealed     bucket                 // SealedMessages of an anonymous sender through a shared proxy; guarded by mu
	anon       bool                   // counted by Server.addAnonymous; guarded by mu
	removed    bool                   // the peer's key is a removed device's: refuse everything; guarded by mu
	delivering bool                   // StartDelivery seen; guarded by mu
	closed     bool                   // closing: start no more work; guarded by mu
	armed      bool                   // the delivery worker may start; guarded by mu
	working    bool                   // a delivery worker runs; guarded by mu
	pending    kicks                  // work for the delivery worker; guarded by mu
	handed     []Envelope             // committed envelopes handed to the worker (handoff.go); guarded by mu
	subs       map[ChannelID]struct{} // channels subscribed to (ReadChannel); guarded by mu
	notices    map[ChannelID]notice   // new posts to tell of: the newest per channel; guarded by mu
	noticing   bool                   // a goroutine pushes notices; guarded by mu
	// The context of the work in progress (request handlers, the
	// delivery worker), made when work begins and dropped when the last
	// ends, so that an idle connection holds none; closing cancels it.
	wctx    context.Context    // guarded by mu
	wcancel context.CancelFunc // guarded by mu
	wrefs   int                // work holding wctx; guarded by mu

	// Delivery state, set up by startDelivery on the read goroutine
	// before the worker is armed, then used by one worker at a time.
	dk        deviceKey
	cursor    uint64       // Seq of the last envelope pushed by a read of the mailbox
	pushed    []uint64     // Seqs after the cursor pushed by handoff, ascending (handoff.go)
	sentEmpty bool         // QueueEmpty pushed
	mfSent    uint64       // generation of the last manifest pushed
	unsub     func()       // cancels the hub subscription; read goroutine only
	lastRead  atomic.Int64 // when the worker last read the mailbox, as Server.clock

	closeOnce sync.Once
	throttle  bucket // ConnFrames, read loop only
}

// kicks are the kinds of work a delivery worker is started for.
type kicks uint8

const (
	kickMail     kicks = 1 << iota // the mailbox may have new envelopes
	kickManifest                   // the server's manifest may have changed
	kickWoken                      // with kickMail: the hub woke the device (not the poll)
	kickHanded                     // envelopes were handed to the connection (conn.handed)
)

// connLog logs through the server's logger with the connection's id, as
// Logger.With would, without building a Logger per connection.
type connLog struct{ c *conn }

func (l connLog) Debug(msg string, args ...any) { l.log(slog.LevelDebug, msg, args) }
func (l connLog) Info(msg string, args ...any)  { l.log(slog.LevelInfo, msg, args) }
func (l connLog) Warn(msg string, args ...any)  { l.log(slog.LevelWarn, msg, args) }
func (l connLog) Error(msg string, args ...any) { l.log(slog.LevelError, msg, args) }

func (l connLog) log(level slog.Level, msg string, args []any) {
	lg, ctx := l.c.s.log, context.Background()
	if !lg.Enabled(ctx, level) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:]) // skip Callers, log and Debug/Info/...
	r := slog.NewRecord(time.Now(), level, msg, pcs[0])
	r.Add("conn", l.c.id)
	r.Add(args...)
	_ = lg.Handler().Handle(ctx, r)
}

// serveConn runs the handshake and then the protocol on raw, accepted on a
// listener of transport from src, until either side ends it. h is raw's
// handshake slot; pressure says the handshake gets the shorter budget.
func (s *Server) serveConn(raw net.Conn, transport string, src source, h *handshake, pressure bool) {
	if c := s.accept(raw, transport, src, h, pressure); c != nil {
		c.serve()
	}
}

// accept runs the handshake on raw and returns the new connection, or nil
// when there is none.
func (s *Server) accept(raw net.Conn, transport string, src source, h *handshake, pressure bool) *conn {
	id := s.nextID.Add(1)

	// The deadline bounds the handshake; s.ctx aborts it on Close. (No
	// timer per handshake: a stopped one lingers until it would have
	// fired.)
	budget := s.lim.HandshakeTimeout
	if pressure {
		budget = s.lim.PressureHandshakeTimeout
	}
	deadline := s.clk.Now().Add(budget)
	raw.SetDeadline(deadline)
	var nc *noisechan.Conn
	var err error
	if fc, ok := raw.(firstChecker); ok {
		nc, err = noisechan.ServerChecked(s.ctx, raw, s.cfg.NoiseKey, s.cfg.Prologue, func(m noisechan.FirstMessage) error {
			return fc.CheckFirst(m.Ephemeral, m.Sent)
		})
	} else {
		nc, err = noisechan.ServerKeepOpen(s.ctx, raw, s.cfg.NoiseKey, s.cfg.Prologue)
	}
	if err != nil {
		// Still on its slot, so a held probe counts against the caps.
		reject(s.ctx, raw, deadline)
	}
	if s.hs.release(h) {
		// Its slot went to a peer from a less busy source.
		s.obs.Handshake(transport, "evicted")
		if nc != nil {
			nc.Close()
		}
		raw.Close()
		s.log.Debug("handshake slot taken back for another source", "conn", id)
		return nil
	}
	if err != nil {
		s.obs.Handshake(transport, "failed")
		raw.Close()
		s.log.Debug("handshake failed", "conn", id, "err", err)
		return nil
	}
	raw.SetDeadline(time.Time{})
	s.obs.Handshake(transport, "ok")

	c := &conn{
		s:         s,
		nc:        nc,
		id:        id,
		src:       src,
		transport: transport,
	}
	c.log = connLog{c}
	c.throttle = bucket{rate: s.lim.ConnFrames, tokens: s.lim.ConnFrames.Burst, last: s.clk.Now()}
	c.sealed = bucket{rate: s.lim.SealedMessages, tokens: s.lim.SealedMessages.Burst, last: s.clk.Now()}
	// Server.Close closes every connection in s.conns; one that comes
	// after it closes itself here.
	if !s.addConn(c) {
		c.closeWith(reasonShutdown, closingPush(reasonShutdown))
		return nil
	}
	s.obs.Connections(transport, 1)
	return c
}

// serve runs the protocol until the connection ends, then cleans up. Its
// goroutine spends an idle connection's life waiting in readLoop, so the
// frames below it are kept small: the stack shrinks to fit.
func (c *conn) serve() {
	defer c.finish()
	if c.identify() {
		c.readLoop()
	}
}

// countAnonymous counts c among the anonymous connections, closing the
// oldest through shared proxies when c takes its place; it closes c and
// returns false when c's source has too many.
func (c *conn) countAnonymous() bool {
	ok, evict := c.s.addAnonymous(c)
	if evict != nil {
		evict.log.Debug("oldest anonymous connection through a shared proxy; closing it for a newer one")
		evict.closeLater(reasonAnonymousOld, closingPush(reasonAnonymousOld))
	}
	if !ok {
		c.log.Debug("too many anonymous connections from its source; closing")
		c.closeWith(reasonAnonymous, closingPush(reasonAnonymous))
	}
	return ok
}

// identify looks up the device by its Noise key; it returns false when
// the connection had to close.
func (c *conn) identify() bool {
	ctx := c.begin()
	defer c.end()
	d, err := c.s.store.DeviceByNoiseKey(ctx, c.nc.RemoteStatic())
	switch {
	case err == nil:
		c.authenticate(d)
		c.noteSeen(d)
		c.log.Debug("device connected")
	case errors.Is(err, ErrDeviceRemoved):
		// Counted as anonymous (it is one now), and told at once; its
		// requests are answered DEVICE_REMOVED.
		if !c.countAnonymous() {
			return false
		}
		c.mu.Lock()
		c.anon, c.removed = true, true
		c.mu.Unlock()
		c.log.Debug("removed device connected")
		if c.push(removedPush()) != nil {
			return false
		}
	case errors.Is(err, ErrNotFound):
		if !c.countAnonymous() {
			return false
		}
		c.mu.Lock()
		c.anon = true
		c.mu.Unlock()
		c.log.Debug("anonymous connection")
	default:
		c.log.Error("looking up device", "err", err)
		c.closeWith(reasonInternal, closingPush(reasonInternal))
		return false
	}
	return true
}

// finish closes the connection, waits for its goroutines and forgets it.
func (c *conn) finish() {
	c.closeWith("", nil)
	if c.unsub != nil {
		c.unsub()
	}
	c.unsubscribeChannels()
	c.s.prov.drop(c)
	c.wg.Wait()
	c.s.removeConn(c)
	c.mu.Lock()
	anon := c.anon
	c.anon = false
	c.mu.Unlock()
	if anon {
		c.s.removeAnonymous(c)
	}
	if d := c.device(); d != nil {
		c.s.release(c, deviceKey{d.Account, d.ID})
	}
	c.s.obs.Connections(c.transport, -1)
	c.log.Debug("connection closed")
}

// rejecter is a connection that ends a failed handshake the way its
// transport wants a prober to see it (transport/tcp's GuardedConn: not at
// once, and not where the prober's bytes decide).
type rejecter interface {
	// Reject closes the connection, at a point and time of the
	// transport's choosing (notBefore is the handshake's deadline), or
	// when ctx ends; it returns once it is closed.
	Reject(ctx context.Context, notBefore time.Time)
}

// firstChecker is a connection whose transport refuses replayed first
// handshake messages (transport/tcp's GuardedConn).
type firstChecker interface {
	// CheckFirst returns an error if a first message with this ephemeral
	// key and time must not be answered.
	CheckFirst(ephemeral [32]byte, sent time.Time) error
}

// reject ends raw after a failed handshake.
func reject(ctx context.Context, raw net.Conn, notBefore time.Time) {
	if r, ok := raw.(rejecter); ok {
		r.Reject(ctx, notBefore)
		return
	}
	raw.Close()
}

// device returns the authenticated device, or nil.
func (c *conn) device() *Device {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dev
}

// begin returns the context for a piece of work on the connection, which
// must call end when done. The context is canceled when the connection
// closes (at once if it has).
func (c *conn) begin() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wctx == nil {
		c.wctx, c.wcancel = context.WithCancel(context.Background())
		if c.closed {
			c.wcancel()
		}
	}
	c.wrefs++
	return c.wctx
}

// end ends a piece of work begun with begin.
func (c *conn) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wrefs--; c.wrefs == 0 {
		c.wcancel()
		c.wctx, c.wcancel = nil, nil
	}
}

// closing reports whether the connection has begun to close.
func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// authenticate binds the connection to d and replaces d's older connection.
func (c *conn) authenticate(d Device) {
	c.mu.Lock()
	c.dev = &d
	anon := c.anon
	c.anon = false
	c.mu.Unlock()
	if anon {
		c.s.removeAnonymous(c)
	}
	if old := c.s.claim(c, deviceKey{d.Account, d.ID}); old != nil {
		old.log.Debug("replaced by a newer connection", "by", c.id)
		old.closeLater(reasonReplaced, &wire.Push{Body: &wire.Push_Replaced{Replaced: &wire.Replaced{}}})
	}
}

// closingPush is the last frame of a connection the relay ends.
func closingPush(reason string) *wire.Push {
	return &wire.Push{Body: &wire.Push_Closing{Closing: &wire.Closing{Reason: reason}}}
}

// closeWith ends the connection once: it writes final (if any) within a
// short deadline, then closes the channel and cancels the connection's
// context. It must not be called while holding wmu.
func (c *conn) closeWith(reason string, final *wire.Push) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		if c.wcancel != nil {
			c.wcancel()
		}
		c.mu.Unlock()
		// A write in progress may be stuck on a peer that does not read;
		// cut it short instead of waiting out its deadline.
		c.nc.SetWriteDeadline(c.s.clk.Now().Add(250 * time.Millisecond))
		c.wmu.Lock()
		if final != nil && !c.wclosed {
			c.nc.SetWriteDeadline(c.s.clk.Now().Add(time.Second))
			_ = wire.WriteFrame(c.nc, &wire.Frame{Body: &wire.Frame_Push{Push: final}})
		}
		c.wclosed = true
		c.wmu.Unlock()
		c.nc.Close()
		if reason != "" {
			c.log.Debug("closing connection", "reason", reason)
		}
	})
}

// closeLater runs closeWith in a goroutine of the server's: closing may
// wait for the connection's current write (a peer that does not read
// holds it up for a moment), and the caller need not.
func (c *conn) closeLater(reason string, final *wire.Push) {
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		c.closeWith(reason, final)
	}()
}

// write sends one frame; a failure closes the connection.
func (c *conn) write(f *wire.Frame) error {
	b, err := wire.Marshal(f)
	if err != nil {
		return err
	}
	return c.writeFrame(b)
}

// writeFrame writes a marshalled frame (one made once for many
// connections, such as a channel notice).
func (c *conn) writeFrame(b []byte) error {
	frames := [1][]byte{b}
	return c.writeFrames(frames[:])
}

// writeFrames writes marshalled frames one after another, in as few writes
// to the socket as noisechan allows.
func (c *conn) writeFrames(frames [][]byte) error {
	c.wmu.Lock()
	if c.wclosed {
		c.wmu.Unlock()
		return errConnClosed
	}
	c.nc.SetWriteDeadline(c.s.clk.Now().Add(c.s.lim.WriteTimeout))
	err := c.nc.WriteFrames(frames)
	c.wmu.Unlock()
	if err != nil {
		c.log.Debug("write failed", "err", err)
		c.closeWith("write failed", nil)
	}
	return err
}

func (c *conn) push(p *wire.Push) error {
	return c.write(&wire.Frame{Body: &wire.Frame_Push{Push: p}})
}

func (c *conn) respond(id uint64, r *wire.Response) error {
	r.Id = id
	return c.write(&wire.Frame{Body: &wire.Frame_Response{Response: r}})
}

// readLoop reads requests until the connection ends, handling each.
func (c *conn) readLoop() {
	for {
		c.nc.SetReadDeadline(c.s.clk.Now().Add(c.s.lim.ReadTimeout))
		b, err := c.nc.ReadFrame()
		if err != nil {
			c.readFailed(err)
			return
		}
		f, err := wire.Unmarshal(b)
		if err != nil {
			c.log.Info("malformed frame; closing", "size", len(b))
			c.closeWith(reasonMalformed, closingPush(reasonMalformed))
			return
		}
		req := f.GetRequest()
		if req == nil {
			c.log.Info("unexpected frame; closing")
			c.closeWith(reasonUnexpected, closingPush(reasonUnexpected))
			return
		}
		if !c.wait() {
			return
		}
		c.dispatch(req)
	}
}

// readFailed closes the connection after a failed read, telling the peer
// why when it is still listening. Ordinary ends of a connection (the peer
// hung up, reset it or went quiet) are logged at debug level; a peer that
// broke the channel's rules, and errors of another kind, at info.
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case c.closing():
		c.closeWith("", nil)
	case errors.As(err, &ne) && ne.Timeout():
		c.log.Debug("idle connection; closing")
		c.closeWith(reasonIdle, closingPush(reasonIdle))
	case errors.Is(err, noisechan.ErrDecrypt), errors.Is(err, noisechan.ErrProtocol), errors.Is(err, noisechan.ErrFrameTooLarge):
		// Oversized frame, failed decryption or broken framing: the error
		// names the kind, never the bytes.
		c.log.Info("protocol violation; closing", "err", err)
		c.closeWith(reasonReadFailed, closingPush(reasonReadFailed))
	case disconnected(err):
		c.log.Debug("peer disconnected", "err", err)
		c.closeWith("", nil)
	default:
		c.log.Info("read failed; closing", "err", withoutAddresses(err))
		c.closeWith(reasonReadFailed, closingPush(reasonReadFailed))
	}
}

// withoutAddresses drops the addresses a *net.OpError names ("read tcp
// RELAY->CLIENT: ..."), keeping the cause, so that a client's address
// never reaches a log above debug level.
func withoutAddresses(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return fmt.Errorf("%s: %w", op.Op, op.Err)
	}
	return err
}

// disconnected reports whether err is how a read ends when the peer goes
// away: it closed the stream (at a frame boundary or within a frame), reset
// it, or its network went, or the stream was closed here.
func disconnected(err error) bool {
	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, net.ErrClosed,
		syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.ETIMEDOUT,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// wait applies the connection's frame rate limit, sleeping until a token
// is available. It returns false if the connection closed meanwhile.
func (c *conn) wait() bool {
	d := c.throttle.take(c.s.clk.Now())
	if d <= 0 {
		return true
	}
	ctx := c.begin()
	defer c.end()
	t := c.s.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// bucket is an in-memory token bucket for one connection. It is not safe
// for concurrent use.
type bucket struct {
	rate   Rate
	tokens float64
	last   time.Time
}

// take spends one token, going into debt if needed, and returns how long
// to wait until the debt is repaid.
func (b *bucket) take(now time.Time) time.Duration {
	if b.rate.unlimited() || b.rate.PerSecond <= 0 {
		return 0
	}
	b.refill(now)
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate.PerSecond * float64(time.Second))
}

// refill adds the tokens earned since the last take or spend.
func (b *bucket) refill(now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.rate.Burst, b.tokens+el*b.rate.PerSecond)
	}
	b.last = now
}

// spend takes one token if there is one; otherwise it reports how long
// until there is, and takes nothing.
func (b *bucket) spend(now time.Time) (bool, time.Duration) {
	if b.rate.unlimited() {
		return true, 0
	}
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	if b.rate.PerSecond <= 0 {
		return false, -1
	}
	return false, time.Duration((1 - b.tokens) / b.rate.PerSecond * float64(time.Second))
}

// dispatch handles req: requests that change the connection's state in
// order, the rest concurrently (bounded by MaxInFlight). A ping is
// answered at once on the read goroutine: it is cheap, and an idle
// connection's keepalive then starts no goroutine.
func (c *conn) dispatch(req *wire.Request) {
	switch req.Op.(type) {
	case *wire.Request_Register, *wire.Request_Ping:
		c.answer(req)
		return
	case *wire.Request_StartDelivery:
		c.startDelivery(req.Id)
		return
	case *wire.Request_UploadChunk:
		c.queueUpload(req) // in order (relay/blobs.go)
		return
	}
	if c.sem == nil {
		c.sem = make(chan struct{}, c.s.lim.MaxInFlight)
	}
	select {
	case c.sem <- struct{}{}:
	default:
		ctx := c.begin()
		select {
		case c.sem <- struct{}{}:
			c.end()
		case <-ctx.Done():
			c.end()
			return
		}
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.sem }()
		c.answer(req)
	}()
}

// answer handles req and responds. A bug that panics ends only this
// connection, not the relay.
func (c *conn) answer(req *wire.Request) {
	panicked := false
	resp := func() (resp *wire.Response) {
		defer func() {
			if p := recover(); p != nil {
				c.log.Error("panic handling a request", "op", fmt.Sprintf("%T", req.Op), "stack", string(debug.Stack()))
				resp, panicked = fail(wire.Status_INTERNAL, "relay error"), true
			}
		}()
		ctx := c.begin()
		defer c.end()
		return c.handle(ctx, req)
	}()
	c.respond(req.Id, resp)
	switch {
	case panicked:
		c.closeWith(reasonInternal, closingPush(reasonInternal))
	case resp.Status == wire.Status_DEVICE_REMOVED:
		c.closeWith(reasonRemoved, removedPush())
	}
}

// startDelivery answers StartDelivery and starts delivery once.
func (c *conn) startDelivery(id uint64) {
	c.mu.Lock()
	d, already, removed := c.dev, c.delivering, c.removed
	if d != nil {
		c.delivering = true
	}
	c.mu.Unlock()
	if removed {
		c.respond(id, deviceRemoved())
		c.closeWith(reasonRemoved, nil)
		return
	}
	if d == nil {
		c.respond(id, unauthenticated())
		return
	}
	if err := c.respond(id, ok()); err != nil || already {
		return
	}
	// The manifest goes out before the backlog, so a client learns of
	// moved endpoints first thing. Kicks that come meanwhile wait for
	// the worker to be armed below.
	c.s.addReceiver(c)
	blob, gen := c.s.currentManifest(*d)
	if blob != nil {
		if err := c.push(&wire.Push{Body: &wire.Push_Manifest{Manifest: blob}}); err != nil {
			return
		}
	}
	c.mfSent = gen
	c.dk = deviceKey{d.Account, d.ID}
	if fh, ok := c.s.hub.(FuncHub); ok {
		c.unsub = fh.SubscribeFunc(d.Account, d.ID, c.mailWake)
	} else {
		wake, cancel := c.s.hub.Subscribe(d.Account, d.ID)
		c.unsub = cancel
		c.wg.Add(1)
		go c.forwardWakes(wake)
	}
	c.lastRead.Store(c.s.clock())
	// The backlog, armed with it, so that the worker's first read (and
	// QueueEmpty) comes before any envelope handed to the connection.
	c.mu.Lock()
	c.armed = true
	c.kickLocked(kickMail)
	c.mu.Unlock()
}

// forwardWakes turns a plain Hub's wake-ups into kicks until the
// connection ends.
func (c *conn) forwardWakes(wake <-chan struct{}) {
	defer c.wg.Done()
	ctx := c.begin()
	defer c.end()
	for {
		select {
		case <-wake:
			c.kick(kickMail | kickWoken)
		case <-ctx.Done():
			return
		}
	}
}

// mailWake is the hub's callback.
func (c *conn) mailWake() { c.kick(kickMail | kickWoken) }

// kick records work for the delivery worker and starts the worker unless
// it runs already (it then picks the work up before it ends). It never
// blocks.
func (c *conn) kick(k kicks) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kickLocked(k)
}

// kickLocked is kick with c.mu held.
func (c *conn) kickLocked(k kicks) {
	if c.closed {
		return
	}
	c.pending |= k
	if !c.armed || c.working {
		return
	}
	c.working = true
	c.wg.Add(1)
	go c.work()
}

// work is the delivery worker: it does the kicked work until none is
// left, then ends.
func (c *conn) work() {
	defer c.wg.Done()
	ctx := c.begin()
	defer c.end()
	for {
		c.mu.Lock()
		k := c.pending
		c.pending = 0
		if k == 0 || c.closed {
			c.working = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if k&kickManifest != 0 && !c.pushManifest() {
			return
		}
		if k&kickMail != 0 {
			before := c.cursor
			if !c.deliver(ctx) {
				return
			}
			if k&kickWoken != 0 && c.cursor == before && !c.stillDevice(ctx) {
				return
			}
		}
		if k&kickHanded != 0 && !c.pushHanded(ctx, c.takeHanded()) {
			return
		}
	}
}

// pushManifest pushes the server's manifest if it changed since the last
// one pushed. It returns false when the connection failed.
func (c *conn) pushManifest() bool {
	d := c.device()
	if d == nil {
		return true
	}
	blob, gen := c.s.currentManifest(*d)
	if gen == c.mfSent {
		return true
	}
	c.mfSent = gen
	if blob == nil {
		return true
	}
	return c.push(&wire.Push{Body: &wire.Push_Manifest{Manifest: blob}}) == nil
}

// takeKick reports whether k is pending and clears it.
func (c *conn) takeKick(k kicks) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.pending&k != 0
	c.pending &^= k
	return was
}

// deliver pushes the device's mail from the cursor in Seq order, then
// QueueEmpty the first time the mailbox runs dry; later calls push what
// arrived since. Envelopes stay stored until acknowledged, so a
// connection that ends early loses nothing. It returns false when the
// connection failed.
func (c *conn) deliver(ctx context.Context) bool {
	for {
		envs, err := c.s.store.Fetch(ctx, c.dk.acct, c.dk.dev, c.cursor, c.s.lim.DeliveryBatch)
		if err != nil {
			if !c.closing() {
				c.log.Error("fetching mailbox", "err", err)
				c.closeWith(reasonInternal, closingPush(reasonInternal))
			}
			return false
		}
		var out []*Envelope
		for i := range envs {
			if !c.readPast(envs[i].Seq) { // else handed to the connection and pushed already
				out = append(out, &envs[i])
			}
		}
		if !c.pushDeliveries(out) {
			return false
		}
		if len(envs) > 0 {
			c.cursor = envs[len(envs)-1].Seq
		}
		if len(envs) < c.s.lim.DeliveryBatch {
			c.pushed = c.pushed[:0]
			break
		}
		// A long backlog does not hold up a new manifest.
		if c.takeKick(kickManifest) && !c.pushManifest() {
			return false
		}
	}
	if !c.sentEmpty {
		if err := c.push(&wire.Push{Body: &wire.Push_QueueEmpty{QueueEmpty: &wire.QueueEmpty{}}}); err != nil {
			return false
		}
		c.sentEmpty = true
	}
	// Without wake-ups, Server.pollLoop has the mailbox read again after
	// DeliveryPoll.
	c.lastRead.Store(c.s.clock())
	return true
}

// pushDeliveries pushes envs, in as few writes as their size allows. It
// returns false when the connection failed.
func (c *conn) pushDeliveries(envs []*Envelope) bool {
	if len(envs) == 0 {
		return true
	}
	frames := make([][]byte, len(envs))
	for i, e := range envs {
		b, err := wire.Marshal(&wire.Frame{Body: &wire.Frame_Push{Push: &wire.Push{Body: &wire.Push_Delivery{Delivery: envelopeToWire(e)}}}})
		if err != nil {
			c.log.Error("marshalling a delivery", "err", err)
			c.closeWith(reasonInternal, closingPush(reasonInternal))
			return false
		}
		frames[i] = b
	}
	if c.writeFrames(frames) != nil {
		return false
	}
	now := c.s.now()
	for _, e := range envs {
		c.s.obs.MessageOut(now.Sub(e.ServerTime))
	}
	return true
}

// millis is t in milliseconds since the epoch as the wire carries it: 0
// for the zero time (and any other before 1970).
func millis(t time.Time) uint64 { return uint64(max(t.UnixMilli(), 0)) }

// envelopeToWire converts a stored envelope for delivery.
func envelopeToWire(e *Envelope) *wire.Envelope {
	w := &wire.Envelope{
		Id:              append([]byte(nil), e.ID[:]...),
		Type:            e.Type,
		Timestamp:       e.Timestamp,
		ServerTimestamp: millis(e.ServerTime),
		Content:         e.Content,
	}
	if !e.Sealed {
		w.SourceAccount = append([]byte(nil), e.SourceAccount[:]...)
		w.SourceDevice = e.SourceDevice
	}
	return w
}
