package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

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

	mismatch *wire.DeviceMismatch // with MISMATCHED_DEVICES
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
	nc *noisechan.Conn

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

	lastFrame atomic.Int64 // unix nanoseconds of the last frame read (or the start)
}

// lastFrameTime returns when the last frame arrived from the relay.
func (rc *relayConn) lastFrameTime() time.Time { return time.Unix(0, rc.lastFrame.Load()) }

func newRelayConn(nc *noisechan.Conn) *relayConn {
	rc := &relayConn{
		nc:       nc,
		pending:  make(map[uint64]chan *wire.Response),
		pushWake: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	rc.lastFrame.Store(time.Now().UnixNano())
	go rc.readLoop()
	return rc
}

func (rc *relayConn) readLoop() {
	var err error
	for {
		var f *wire.Frame
		f, err = wire.ReadFrame(rc.nc)
		if err != nil {
			break
		}
		rc.lastFrame.Store(time.Now().UnixNano())
		switch b := f.Body.(type) {
		case *wire.Frame_Response:
			rc.mu.Lock()
			ch := rc.pending[b.Response.Id]
			delete(rc.pending, b.Response.Id)
			rc.mu.Unlock()
			if ch != nil {
				ch <- b.Response
			}
		case *wire.Frame_Push:
			rc.mu.Lock()
			switch p := b.Push.Body.(type) {
			case *wire.Push_Closing:
				rc.closing = p.Closing.GetReason()
			case *wire.Push_Replaced:
				rc.replaced = true
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
	rc.nc.Close()
	close(rc.done)
	rc.wake()
}

var errReplaced = fmt.Errorf("%w: another connection of this device replaced this one", ErrDisconnected)

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
	ch := make(chan *wire.Response, 1)
	rc.mu.Lock()
	if rc.err != nil {
		err := rc.err
		rc.mu.Unlock()
		return nil, err
	}
	rc.nextID++
	req.Id = rc.nextID
	rc.pending[req.Id] = ch
	rc.mu.Unlock()

	rc.wmu.Lock()
	rc.nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	err := wire.WriteFrame(rc.nc, &wire.Frame{Body: &wire.Frame_Request{Request: req}})
	rc.wmu.Unlock()
	if err != nil {
		rc.fail(err)
		return nil, rc.Err()
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, rc.Err()
		}
		if resp.Status != wire.Status_OK {
			return resp, &StatusError{Op: op, Status: resp.Status, Reason: resp.Reason,
				RetryAfter: time.Duration(resp.RetryAfterMs) * time.Millisecond, mismatch: resp.GetMismatch()}
		}
		return resp, nil
	case <-ctx.Done():
		rc.mu.Lock()
		delete(rc.pending, req.Id)
		rc.mu.Unlock()
		return nil, ctx.Err()
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
