package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
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
)

// conn is one client connection after the Noise handshake.
type conn struct {
	s      *Server
	nc     *noisechan.Conn
	id     uint64
	addr   string // source host, for rate limits; not logged above debug
	log    *slog.Logger
	ctx    context.Context // canceled when the connection closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // request handlers and the delivery loop
	sem    chan struct{}  // bounds concurrent request handlers

	wmu     sync.Mutex // serializes writes with their deadlines
	wclosed bool       // no more writes; guarded by wmu

	mu         sync.Mutex
	dev        *Device // nil while anonymous; guarded by mu
	delivering bool    // StartDelivery seen; guarded by mu

	mfWake chan struct{} // a new manifest awaits pushing (capacity 1)

	closeOnce sync.Once
	throttle  bucket // ConnFrames, read loop only
}

// serveConn runs the handshake and then the protocol on raw, accepted on a
// listener of transport, until either side ends it.
func (s *Server) serveConn(raw net.Conn, transport string) {
	id := s.nextID.Add(1)
	log := s.log.With("conn", id)
	addr := hostOf(raw.RemoteAddr())

	hctx, hcancel := context.WithTimeout(s.ctx, s.lim.HandshakeTimeout)
	raw.SetDeadline(time.Now().Add(s.lim.HandshakeTimeout))
	nc, err := noisechan.Server(hctx, raw, s.cfg.NoiseKey, s.cfg.Prologue)
	hcancel()
	<-s.hs
	if err != nil {
		s.obs.Handshake(transport, "failed")
		raw.Close()
		log.Debug("handshake failed", "err", err)
		return
	}
	raw.SetDeadline(time.Time{})
	s.obs.Handshake(transport, "ok")
	s.obs.Connections(transport, 1)
	defer s.obs.Connections(transport, -1)

	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{
		s:      s,
		nc:     nc,
		id:     id,
		addr:   addr,
		log:    log,
		ctx:    ctx,
		cancel: cancel,
		sem:    make(chan struct{}, s.lim.MaxInFlight),
		mfWake: make(chan struct{}, 1),
	}
	c.throttle = bucket{rate: s.lim.ConnFrames, tokens: s.lim.ConnFrames.Burst, last: time.Now()}
	defer func() {
		c.closeWith("", nil)
		c.wg.Wait()
		s.removeReceiver(c)
		if d := c.device(); d != nil {
			s.release(c, deviceKey{d.Account, d.ID})
		}
		log.Debug("connection closed")
	}()

	// When the server shuts down, say so. (When the connection ends for
	// another reason, closeWith has already run and this does nothing.)
	stop := context.AfterFunc(ctx, func() { c.closeWith(reasonShutdown, closingPush(reasonShutdown)) })
	defer stop()

	d, err := s.store.DeviceByNoiseKey(ctx, nc.RemoteStatic())
	switch {
	case err == nil:
		c.authenticate(d)
		log.Debug("device connected")
	case errors.Is(err, ErrNotFound):
		log.Debug("anonymous connection")
	default:
		log.Error("looking up device", "err", err)
		c.closeWith(reasonInternal, closingPush(reasonInternal))
		return
	}
	c.readLoop()
}

// hostOf returns the host part of a network address, or the whole address
// when it has none.
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// device returns the authenticated device, or nil.
func (c *conn) device() *Device {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dev
}

// authenticate binds the connection to d and replaces d's older connection.
func (c *conn) authenticate(d Device) {
	c.mu.Lock()
	c.dev = &d
	c.mu.Unlock()
	if old := c.s.claim(c, deviceKey{d.Account, d.ID}); old != nil {
		old.log.Debug("replaced by a newer connection", "by", c.id)
		// Closing may wait for the old connection's current write; do not
		// hold up this one.
		c.s.wg.Add(1)
		go func() {
			defer c.s.wg.Done()
			old.closeWith(reasonReplaced, &wire.Push{Body: &wire.Push_Replaced{Replaced: &wire.Replaced{}}})
		}()
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
		// A write in progress may be stuck on a peer that does not read;
		// cut it short instead of waiting out its deadline.
		c.nc.SetWriteDeadline(time.Now().Add(250 * time.Millisecond))
		c.wmu.Lock()
		if final != nil && !c.wclosed {
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_ = wire.WriteFrame(c.nc, &wire.Frame{Body: &wire.Frame_Push{Push: final}})
		}
		c.wclosed = true
		c.wmu.Unlock()
		c.cancel()
		c.nc.Close()
		if reason != "" {
			c.log.Debug("closing connection", "reason", reason)
		}
	})
}

// write sends one frame; a failure closes the connection.
func (c *conn) write(f *wire.Frame) error {
	c.wmu.Lock()
	if c.wclosed {
		c.wmu.Unlock()
		return errConnClosed
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.lim.WriteTimeout))
	err := wire.WriteFrame(c.nc, f)
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
		c.nc.SetReadDeadline(time.Now().Add(c.s.lim.ReadTimeout))
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
// why when it is still listening.
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case c.ctx.Err() != nil:
		c.closeWith("", nil)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.closeWith("peer closed", nil)
	case errors.As(err, &ne) && ne.Timeout():
		c.log.Debug("idle connection; closing")
		c.closeWith(reasonIdle, closingPush(reasonIdle))
	default:
		// Oversized frame, failed decryption or a broken stream: the
		// error names the kind, never the bytes.
		c.log.Info("read failed; closing", "err", err)
		c.closeWith(reasonReadFailed, closingPush(reasonReadFailed))
	}
}

// wait applies the connection's frame rate limit, sleeping until a token
// is available. It returns false if the connection closed meanwhile.
func (c *conn) wait() bool {
	d := c.throttle.take(time.Now())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
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
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.rate.Burst, b.tokens+el*b.rate.PerSecond)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate.PerSecond * float64(time.Second))
}

// dispatch handles req: requests that change the connection's state in
// order, the rest concurrently (bounded by MaxInFlight).
func (c *conn) dispatch(req *wire.Request) {
	switch req.Op.(type) {
	case *wire.Request_Register:
		c.answer(req)
		return
	case *wire.Request_StartDelivery:
		c.startDelivery(req.Id)
		return
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.ctx.Done():
		return
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
		return c.handle(c.ctx, req)
	}()
	c.respond(req.Id, resp)
	if panicked {
		c.closeWith(reasonInternal, closingPush(reasonInternal))
	}
}

// startDelivery answers StartDelivery and starts the delivery loop once.
func (c *conn) startDelivery(id uint64) {
	c.mu.Lock()
	d, already := c.dev, c.delivering
	if d != nil {
		c.delivering = true
	}
	c.mu.Unlock()
	if d == nil {
		c.respond(id, unauthenticated())
		return
	}
	if err := c.respond(id, ok()); err != nil || already {
		return
	}
	// The manifest goes out before the backlog, so a client learns of
	// moved endpoints first thing.
	c.s.addReceiver(c)
	blob, gen := c.s.currentManifest(c.nc.RemoteStatic())
	if blob != nil {
		if err := c.push(&wire.Push{Body: &wire.Push_Manifest{Manifest: blob}}); err != nil {
			return
		}
	}
	c.wg.Add(2)
	go c.pushManifests(gen)
	go c.deliver(deviceKey{d.Account, d.ID})
}

// pushManifests pushes the server's manifest whenever it changes from
// generation sent, until the connection ends.
func (c *conn) pushManifests(sent uint64) {
	defer c.wg.Done()
	for {
		select {
		case <-c.mfWake:
		case <-c.ctx.Done():
			return
		}
		blob, gen := c.s.currentManifest(c.nc.RemoteStatic())
		if gen == sent {
			continue
		}
		sent = gen
		if blob == nil {
			continue
		}
		if err := c.push(&wire.Push{Body: &wire.Push_Manifest{Manifest: blob}}); err != nil {
			return
		}
	}
}

// deliver pushes the device's backlog in Seq order, then QueueEmpty, then
// whatever arrives, until the connection ends. Envelopes stay stored until
// acknowledged, so a connection that ends early loses nothing.
func (c *conn) deliver(k deviceKey) {
	defer c.wg.Done()
	wake, cancel := c.s.hub.Subscribe(k.acct, k.dev)
	defer cancel()
	poll := time.NewTicker(c.s.lim.DeliveryPoll)
	defer poll.Stop()
	var cursor uint64
	sentEmpty := false
	for {
		envs, err := c.s.store.Fetch(c.ctx, k.acct, k.dev, cursor, c.s.lim.DeliveryBatch)
		if err != nil {
			if c.ctx.Err() == nil {
				c.log.Error("fetching mailbox", "err", err)
				c.closeWith(reasonInternal, closingPush(reasonInternal))
			}
			return
		}
		for i := range envs {
			if err := c.push(&wire.Push{Body: &wire.Push_Delivery{Delivery: envelopeToWire(&envs[i])}}); err != nil {
				return
			}
			c.s.obs.MessageOut(c.s.now().Sub(envs[i].ServerTime))
			cursor = envs[i].Seq
		}
		if len(envs) == c.s.lim.DeliveryBatch {
			continue
		}
		if !sentEmpty {
			if err := c.push(&wire.Push{Body: &wire.Push_QueueEmpty{QueueEmpty: &wire.QueueEmpty{}}}); err != nil {
				return
			}
			sentEmpty = true
		}
		select {
		case <-wake:
		case <-poll.C:
		case <-c.ctx.Done():
			return
		}
	}
}

// envelopeToWire converts a stored envelope for delivery.
func envelopeToWire(e *Envelope) *wire.Envelope {
	w := &wire.Envelope{
		Id:              append([]byte(nil), e.ID[:]...),
		Type:            e.Type,
		Timestamp:       e.Timestamp,
		ServerTimestamp: uint64(max(e.ServerTime.UnixMilli(), 0)),
		Content:         e.Content,
	}
	if !e.Sealed {
		w.SourceAccount = append([]byte(nil), e.SourceAccount[:]...)
		w.SourceDevice = e.SourceDevice
	}
	return w
}
