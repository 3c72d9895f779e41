package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"samizdat/noisechan"
	"samizdat/relay/wire"
)

// errPeerClosed is returned for requests on a closed connection.
var errPeerClosed = errors.New("loadgen: connection closed")

// pushFunc handles a push from the relay; it runs on the peer's reader
// goroutine and must be quick.
type pushFunc func(p *peer, push *wire.Push)

// peer is a wire-level load client: one Noise channel to the relay, a
// reader goroutine that routes responses to callbacks by request id and
// pushes to onPush.
type peer struct {
	nc     *noisechan.Conn
	onPush pushFunc

	wmu sync.Mutex // serializes frame writes

	mu    sync.Mutex
	next  uint64                          // guarded by mu
	waits map[uint64]func(*wire.Response) // guarded by mu
	dead  bool                            // guarded by mu

	done chan struct{} // closed when the reader ends
	err  error         // the reader's error; set before done closes

	acks *acker // nil unless startAcks ran
}

// dialPeer connects to the relay at addr (from local, if not nil) and
// completes the Noise handshake as the device with key.
//
// With acks, the peer acknowledges delivered envelopes (onPush must call
// p.acks.add for each).
func dialPeer(ctx context.Context, addr string, local *net.TCPAddr, key noisechan.KeyPair, relayKey [32]byte, onPush pushFunc, acks bool) (*peer, error) {
	nc, err := dialPeerConn(ctx, addr, local, key, relayKey)
	if err != nil {
		return nil, err
	}
	p := &peer{nc: nc, onPush: onPush, waits: make(map[uint64]func(*wire.Response)), done: make(chan struct{})}
	if acks {
		p.startAcks()
	}
	go p.readLoop()
	return p, nil
}

// dialPeerConn connects to the relay at addr (from local, if not nil) and
// completes the Noise handshake as the device with key.
func dialPeerConn(ctx context.Context, addr string, local *net.TCPAddr, key noisechan.KeyPair, relayKey [32]byte) (*noisechan.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	d := net.Dialer{}
	if local != nil {
		d.LocalAddr = local
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loadgen: dial: %w", err)
	}
	nc, err := noisechan.Client(ctx, raw, key, relayKey, nil)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("loadgen: handshake: %w", err)
	}
	return nc, nil
}

// ping pings on c, a connection without a reader of its own, and reads
// (passing over pushes) until the pong, all by deadline.
func ping(c *noisechan.Conn, deadline time.Time) error {
	c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	req := &wire.Request{Id: 2, Op: &wire.Request_Ping{Ping: &wire.Ping{}}}
	if err := wire.WriteFrame(c, &wire.Frame{Body: &wire.Frame_Request{Request: req}}); err != nil {
		return err
	}
	for {
		f, err := wire.ReadFrame(c)
		if err != nil {
			return err
		}
		if r := f.GetResponse(); r != nil && r.Id == req.Id {
			if r.GetPong() == nil {
				return fmt.Errorf("loadgen: ping answered with %v", r)
			}
			return nil
		}
	}
}

func (p *peer) readLoop() {
	defer close(p.done)
	for {
		b, err := p.nc.ReadFrame()
		if err != nil {
			p.fail(err)
			return
		}
		f, err := wire.Unmarshal(b)
		if err != nil {
			p.fail(err)
			return
		}
		switch body := f.Body.(type) {
		case *wire.Frame_Response:
			p.mu.Lock()
			cb := p.waits[body.Response.Id]
			delete(p.waits, body.Response.Id)
			p.mu.Unlock()
			if cb != nil {
				cb(body.Response)
			}
		case *wire.Frame_Push:
			if p.onPush != nil {
				p.onPush(p, body.Push)
			}
		}
	}
}

// fail ends every waiting request with a nil response.
func (p *peer) fail(err error) {
	p.mu.Lock()
	p.err = err
	p.dead = true
	waits := p.waits
	p.waits = make(map[uint64]func(*wire.Response))
	p.mu.Unlock()
	for _, cb := range waits {
		cb(nil)
	}
}

// start sends req; cb gets its response, or nil if the connection ends
// first. cb runs on the reader goroutine (or the caller's, on error).
func (p *peer) start(req *wire.Request, cb func(*wire.Response)) error {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return errPeerClosed
	}
	p.next++
	req.Id = p.next
	p.waits[req.Id] = cb
	p.mu.Unlock()
	p.wmu.Lock()
	err := wire.WriteFrame(p.nc, &wire.Frame{Body: &wire.Frame_Request{Request: req}})
	p.wmu.Unlock()
	if err != nil {
		p.mu.Lock()
		_, mine := p.waits[req.Id]
		delete(p.waits, req.Id)
		p.mu.Unlock()
		if !mine {
			return nil // the reader failed it already and called cb
		}
		return fmt.Errorf("loadgen: write: %w", err)
	}
	return nil
}

// call sends req and waits for its response.
func (p *peer) call(ctx context.Context, req *wire.Request) (*wire.Response, error) {
	ch := make(chan *wire.Response, 1)
	if err := p.start(req, func(r *wire.Response) { ch <- r }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r == nil {
			return nil, errPeerClosed
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// callOK is call that also wants status OK.
func (p *peer) callOK(ctx context.Context, req *wire.Request) (*wire.Response, error) {
	r, err := p.call(ctx, req)
	if err != nil {
		return nil, err
	}
	if r.Status != wire.Status_OK {
		return r, fmt.Errorf("loadgen: %T: status %v", req.Op, r.Status)
	}
	return r, nil
}

func (p *peer) close() {
	if p.acks != nil {
		p.acks.stop()
	}
	p.nc.Close()
	<-p.done
}

// acker acknowledges delivered envelopes in batches, as a client does:
// whenever 128 are pending or 5 ms after the first.
type acker struct {
	p       *peer
	mu      sync.Mutex
	pending [][]byte // guarded by mu
	kick    chan struct{}
	quit    chan struct{}
	stopped chan struct{}

	reqMu    sync.Mutex
	reqDone  *sync.Cond // signalled when inflight drops
	inflight int        // Ack requests awaiting their response; guarded by reqMu
	failed   int        // acks not answered OK; guarded by reqMu
}

// startAcks starts p's acker, before the reader starts.
func (p *peer) startAcks() *acker {
	a := &acker{p: p, kick: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
	a.reqDone = sync.NewCond(&a.reqMu)
	p.acks = a
	go a.loop()
	return a
}

// add queues an envelope id for acknowledgement.
func (a *acker) add(id []byte) {
	a.mu.Lock()
	a.pending = append(a.pending, id)
	n := len(a.pending)
	a.mu.Unlock()
	if n == 1 || n >= 128 {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

func (a *acker) loop() {
	defer close(a.stopped)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-a.quit:
			return
		case <-a.kick:
		}
		a.mu.Lock()
		n := len(a.pending)
		a.mu.Unlock()
		if n > 0 && n < 128 {
			t.Reset(5 * time.Millisecond)
			select {
			case <-t.C:
			case <-a.kick:
				t.Stop()
			case <-a.quit:
				return
			}
		}
		a.flush()
	}
}

// flush sends every pending id in Acks of at most 1000.
func (a *acker) flush() {
	a.mu.Lock()
	ids := a.pending
	a.pending = nil
	a.mu.Unlock()
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		batch := ids[:n]
		ids = ids[n:]
		a.reqMu.Lock()
		a.inflight++
		a.reqMu.Unlock()
		err := a.p.start(&wire.Request{Op: &wire.Request_Ack{Ack: &wire.Ack{EnvelopeIds: batch}}}, func(r *wire.Response) {
			a.answered(r != nil && r.Status == wire.Status_OK)
		})
		if err != nil {
			a.answered(false)
		}
	}
}

// answered records the end of one Ack request.
func (a *acker) answered(ok bool) {
	a.reqMu.Lock()
	a.inflight--
	if !ok {
		a.failed++
	}
	a.reqMu.Unlock()
	a.reqDone.Broadcast()
}

// settle flushes what is pending and waits for every Ack's response.
func (a *acker) settle() int {
	a.flush()
	a.reqMu.Lock()
	defer a.reqMu.Unlock()
	for a.inflight > 0 {
		a.reqDone.Wait()
	}
	return a.failed
}

func (a *acker) stop() {
	select {
	case <-a.quit:
	default:
		close(a.quit)
	}
	<-a.stopped
}
