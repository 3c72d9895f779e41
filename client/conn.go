package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"samizdat/clock"
	"samizdat/dialer"
	"samizdat/noisechan"
	"samizdat/relay/wire"
)

// ErrDisconnected means the connection to the relay ended before an answer
// came; the request may or may not have been carried out.
var ErrDisconnected = errors.New("client: disconnected from the relay")

// StatusError is a relay's refusal of a request.
type StatusError struct {
	Op         string
	Status     wire.Status
	Reason     string
	RetryAfter time.Duration

	mismatch      *wire.DeviceMismatch // with MISMATCHED_DEVICES
	multiMismatch *wire.MultiMismatch  // with MISMATCHED_DEVICES, to a multi-recipient send
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("relay refused %s: %s", e.Op, e.Status)
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %v", e.RetryAfter.Round(time.Millisecond))
	}
	return s
}

// Unwrap makes errors.Is(err, ErrDeviceRemoved) true for the relay's
// refusal of a removed device.
func (e *StatusError) Unwrap() error {
	if e.Status == wire.Status_DEVICE_REMOVED {
		return ErrDeviceRemoved
	}
	return nil
}

// transient reports whether the refusal may go away by itself.
func (e *StatusError) transient() bool {
	switch e.Status {
	case wire.Status_RATE_LIMITED, wire.Status_INTERNAL, wire.Status_QUOTA_EXCEEDED:
		return true
	}
	return false
}

// relayConn is one Noise channel to the relay with requests multiplexed by
// id: a reader goroutine routes responses to their callers and queues
// pushes (without bound, so a slow consumer never stalls responses).
type relayConn struct {
	nc   *noisechan.Conn
	clk  clock.Clock     // write deadlines
	mon  *dialer.Monitor // what went out and came back, for the keepalive
	link *dialer.Link    // to dialer.RunHedged, or nil for a connection made outside it

	wmu sync.Mutex // serializes frame writes

	mu       sync.Mutex
	nextID   uint64                         // guarded by mu
	pending  map[uint64]chan *wire.Response // guarded by mu
	pushes   []*wire.Push                   // guarded by mu
	pushWake chan struct{}                  // signalled when pushes grows or the conn ends
	err      error                          // guarded by mu; set once the conn ended
	done     chan struct{}
	closing  string // guarded by mu; the relay's Closing reason, if any
	replaced bool   // guarded by mu
	removed  bool   // the relay said this device was removed; guarded by mu
	// provision receives the messages of a pairing this connection
	// opened or joined (Push.provision), apart from the other pushes so
	// that a receive loop on the same connection does not take them.
	provision chan *wire.ProvisionMessage
}

// newRelayConn starts serving nc, watched by mon; link is nil unless
// dialer.RunHedged made the connection.
func newRelayConn(nc *noisechan.Conn, clk clock.Clock, mon *dialer.Monitor, link *dialer.Link) *relayConn {
	rc := &relayConn{
		nc:       nc,
		clk:      clk,
		mon:      mon,
		link:     link,
		pending:  make(map[uint64]chan *wire.Response),
		pushWake: make(chan struct{}, 1),
		done:     make(chan struct{}),
		// The relay carries at most 64 messages per pairing.
		provision: make(chan *wire.ProvisionMessage, 64),
	}
	go rc.readLoop()
	return rc
}

// heard tells the keepalive that a frame arrived (answering request id, if
// nonzero) and, if that ends a suspicion, tells Run to stop racing a
// replacement.
func (rc *relayConn) heard(id uint64) {
	var cleared bool
	if id != 0 {
		cleared = rc.mon.Answered(id)
	} else {
		cleared = rc.mon.Heard()
	}
	if cleared && rc.link != nil {
		rc.link.Healthy()
	}
}

func (rc *relayConn) readLoop() {
	var err error
	for {
		var f *wire.Frame
		f, err = wire.ReadFrame(rc.nc)
		if err != nil {
			break
		}
		switch b := f.Body.(type) {
		case *wire.Frame_Response:
			rc.heard(b.Response.Id)
			rc.mu.Lock()
			ch := rc.pending[b.Response.Id]
			delete(rc.pending, b.Response.Id)
			rc.mu.Unlock()
			if ch != nil {
				ch <- b.Response
			}
		case *wire.Frame_Push:
			rc.heard(0)
			rc.mu.Lock()
			switch p := b.Push.Body.(type) {
			case *wire.Push_Closing:
				rc.closing = p.Closing.GetReason()
			case *wire.Push_Replaced:
				rc.replaced = true
			case *wire.Push_Removed:
				rc.removed = true
			case *wire.Push_Provision:
				select {
				case rc.provision <- p.Provision:
				default: // more than the relay carries: not ours to keep
				}
			default:
				rc.pushes = append(rc.pushes, b.Push)
			}
			rc.mu.Unlock()
			rc.wake()
		}
	}
	rc.fail(err)
}

func (rc *relayConn) wake() {
	select {
	case rc.pushWake <- struct{}{}:
	default:
	}
}

// fail ends the connection with err (once).
func (rc *relayConn) fail(err error) {
	rc.mu.Lock()
	if rc.err != nil {
		rc.mu.Unlock()
		return
	}
	switch {
	case rc.removed:
		err = ErrDeviceRemoved
	case rc.ownReplacement() && rc.link.Moving():
		err = ErrMoved
	case rc.ownReplacement():
		err = errHandedOver
	case rc.replaced:
		err = errReplaced
	case rc.closing != "":
		err = fmt.Errorf("%w: relay closed the connection: %s", ErrDisconnected, rc.closing)
	case err == nil:
		err = ErrDisconnected
	default:
		err = fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	rc.err = err
	for id, ch := range rc.pending {
		close(ch)
		delete(rc.pending, id)
	}
	rc.mu.Unlock()
	// Waiters first: a transport's graceful close over a blackholed path
	// takes seconds (see dialer.RunHedged), and the session must not wait
	// for it to end and hand over to its replacement.
	close(rc.done)
	rc.wake()
	rc.nc.Close()
}

var errReplaced = fmt.Errorf("%w: another connection of this device replaced this one", ErrDisconnected)

// ErrMoved ends a connection whose endpoint a new manifest retired, once
// its replacement connected (make-before-break): the client was never
// without a connection.
var ErrMoved = fmt.Errorf("%w: moved to another endpoint before leaving the retired one", ErrDisconnected)

// errHandedOver ends a connection that the keepalive suspected once its
// replacement connected (the relay tells the old one it was replaced,
// which here is no reason to wait).
var errHandedOver = fmt.Errorf("%w: replaced by a new connection after the relay stopped answering", ErrDisconnected)

// ownReplacement reports whether dialer.RunHedged replaced this
// connection, or raced a replacement and the relay ended this one
// (guarded by mu) because that replacement connected: the relay tells a
// device's older connection it was replaced as soon as a newer one
// authenticates, which may come before RunHedged hands over.
func (rc *relayConn) ownReplacement() bool {
	if rc.link == nil {
		return false
	}
	select {
	case <-rc.link.Replaced():
		return true
	default:
		return rc.replaced && rc.link.Racing()
	}
}

// Err returns why the connection ended, or nil while it is up.
func (rc *relayConn) Err() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.err
}

// Close ends the connection.
func (rc *relayConn) Close() {
	rc.fail(errors.New("closed"))
}

// call sends req (its id is assigned here) and waits for the answer. A
// non-OK status comes back as a *StatusError along with the response.
func (rc *relayConn) call(ctx context.Context, op string, req *wire.Request) (*wire.Response, error) {
	return rc.start(op, req)(ctx)
}

// start sends req (its id is assigned here) and returns what waits for its
// answer, as call does. Requests started one after another are written in
// that order.
func (rc *relayConn) start(op string, req *wire.Request) func(context.Context) (*wire.Response, error) {
	_, ping := req.Op.(*wire.Request_Ping)
	ch := make(chan *wire.Response, 1)
	rc.mu.Lock()
	if rc.err != nil {
		err := rc.err
		rc.mu.Unlock()
		return func(context.Context) (*wire.Response, error) { return nil, err }
	}
	rc.nextID++
	req.Id = rc.nextID
	id := req.Id
	rc.pending[id] = ch
	rc.mon.Sent(id, ping)
	rc.mu.Unlock()

	rc.wmu.Lock()
	rc.nc.SetWriteDeadline(rc.clk.Now().Add(20 * time.Second))
	err := wire.WriteFrame(rc.nc, &wire.Frame{Body: &wire.Frame_Request{Request: req}})
	rc.wmu.Unlock()
	if err != nil {
		rc.fail(err)
		return func(context.Context) (*wire.Response, error) { return nil, rc.Err() }
	}
	return func(ctx context.Context) (*wire.Response, error) {
		select {
		case resp, ok := <-ch:
			if !ok {
				return nil, rc.Err()
			}
			if resp.Status != wire.Status_OK {
				return resp, &StatusError{Op: op, Status: resp.Status, Reason: resp.Reason,
					RetryAfter: time.Duration(resp.RetryAfterMs) * time.Millisecond, mismatch: resp.GetMismatch(),
					multiMismatch: resp.GetMultiMismatch()}
			}
			return resp, nil
		case <-ctx.Done():
			rc.mu.Lock()
			delete(rc.pending, id)
			rc.mu.Unlock()
			rc.mon.Abandoned(id)
			return nil, ctx.Err()
		}
	}
}

// nextPush waits for the next push, or returns the connection's error.
func (rc *relayConn) nextPush(ctx context.Context) (*wire.Push, error) {
	for {
		rc.mu.Lock()
		if len(rc.pushes) > 0 {
			p := rc.pushes[0]
			rc.pushes[0] = nil
			rc.pushes = rc.pushes[1:]
			rc.mu.Unlock()
			return p, nil
		}
		err := rc.err
		rc.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-rc.pushWake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
