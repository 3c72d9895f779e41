package dialer

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/manifest"
	"samizdat/noisechan"
)

// testRelay is a Noise server on any number of loopback listeners: it
// answers "ping" with "pong" and echoes anything else.
type testRelay struct {
	t    testing.TB
	key  noisechan.KeyPair
	mu   sync.Mutex
	ls   []net.Listener
	wg   sync.WaitGroup
	live map[net.Conn]bool
}

func newTestRelay(t testing.TB) *testRelay {
	kp, err := noisechan.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &testRelay{t: t, key: kp, live: map[net.Conn]bool{}}
	t.Cleanup(r.close)
	return r
}

// listen adds a TCP listener and returns its address.
func (r *testRelay) listen() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	r.serve(l)
	return l.Addr().String()
}

// serve accepts Noise channels on l (any transport's listener) until the
// relay closes.
func (r *testRelay) serve(l net.Listener) {
	r.mu.Lock()
	r.ls = append(r.ls, l)
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.live[c] = true
			r.mu.Unlock()
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer func() {
					r.mu.Lock()
					delete(r.live, c)
					r.mu.Unlock()
					c.Close()
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				nc, err := noisechan.Server(ctx, c, r.key, nil)
				cancel()
				if err != nil {
					return
				}
				for {
					f, err := nc.ReadFrame()
					if err != nil {
						return
					}
					if string(f) == "ping" {
						f = []byte("pong")
					}
					if nc.WriteFrame(f) != nil {
						return
					}
				}
			}()
		}
	}()
}

func (r *testRelay) liveConns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

func (r *testRelay) close() {
	r.mu.Lock()
	for _, l := range r.ls {
		l.Close()
	}
	for c := range r.live {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *testRelay) candidate(id, addr string) Candidate {
	return Candidate{RelayID: id, RelayKey: r.key.Public, Endpoint: manifest.Endpoint{Transport: "tcp", Address: addr}}
}

// blocked puts n endpoints of r behind a blocker and returns their
// proxies and candidates (addresses of the proxies).
func blocked(t testing.TB, r *testRelay, n int) ([]*blocktest.Proxy, []Candidate) {
	b := blocktest.New()
	t.Cleanup(func() { b.Close() })
	var ps []*blocktest.Proxy
	var cs []Candidate
	for range n {
		p, err := b.Add(r.listen())
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		cs = append(cs, r.candidate("r1", p.Addr()))
	}
	return ps, cs
}

func clientKey(t testing.TB) noisechan.KeyPair {
	kp, err := noisechan.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// eventLog collects events.
type eventLog struct {
	mu sync.Mutex
	ev []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.ev...)
}

// failures returns the failure classes seen for addr.
func (l *eventLog) failures(addr string) []FailureClass {
	var out []FailureClass
	for _, e := range l.all() {
		if e.Kind == EventFailure && e.Candidate.Endpoint.Address == addr {
			out = append(out, e.Class)
		}
	}
	return out
}

// keepaliveSession is a client session with the keepalive rule: a ping
// every timeout/3, and the connection is dead when no frame arrived for
// timeout. It reports each connection's remote address on connected and
// returns nil when the connection dies (so Run redials).
func keepaliveSession(timeout time.Duration, connected chan<- string) func(*noisechan.Conn) error {
	return func(nc *noisechan.Conn) error {
		connected <- nc.RemoteAddr().String()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(timeout / 3)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					nc.SetWriteDeadline(time.Now().Add(timeout))
					if nc.WriteFrame([]byte("ping")) != nil {
						nc.Close()
						return
					}
				case <-stop:
					return
				}
			}
		}()
		for {
			nc.SetReadDeadline(time.Now().Add(timeout))
			if _, err := nc.ReadFrame(); err != nil {
				return nil
			}
		}
	}
}

// liveSession is a client session under the liveness policy lv (see
// Monitor): it pings when the monitor says so, tells Run when the
// connection is suspect or healthy again, gives it up when dead, reports
// each connection's remote address on connected, and returns nil when the
// connection ends or is replaced.
func liveSession(lv Liveness, mem *Memory, connected chan<- string) func(*noisechan.Conn, *Link) error {
	return func(nc *noisechan.Conn, link *Link) error {
		connected <- nc.RemoteAddr().String()
		mon := lv.Monitor(mem, nil)
		var ping atomic.Uint64 // the ping in the air (one at a time)
		readErr := make(chan error, 1)
		go func() {
			for {
				f, err := nc.ReadFrame()
				if err != nil {
					readErr <- err
					return
				}
				var cleared bool
				if string(f) == "pong" {
					cleared = mon.Answered(ping.Load())
				} else {
					cleared = mon.Heard()
				}
				if cleared {
					link.Healthy()
				}
			}
		}()
		t := time.NewTimer(0)
		defer t.Stop()
		var ids uint64
		for {
			select {
			case <-readErr:
				return nil
			case <-link.Replaced():
				return nil
			case <-t.C:
			case <-mon.Wake():
				t.Stop()
			}
			v, doPing, next := mon.Check()
			switch v {
			case Dead:
				nc.Close()
				return nil
			case Suspect:
				link.Suspect()
			}
			if doPing {
				ids++
				ping.Store(ids)
				mon.Sent(ids, true)
				nc.SetWriteDeadline(time.Now().Add(lv.WithDefaults().Dead))
				if nc.WriteFrame([]byte("ping")) != nil {
					nc.Close()
					return nil
				}
			}
			t.Reset(next)
		}
	}
}
