package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/transport/tcp"
)

// handshakeCounter is an Observer that counts handshake results.
type handshakeCounter struct {
	relay.Observer
	mu sync.Mutex
	n  map[string]int // guarded by mu
}

func (h *handshakeCounter) Handshake(_, result string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[result]++
}

func (h *handshakeCounter) Connections(string, int)  {}
func (h *handshakeCounter) MessagesIn(string, int)   {}
func (h *handshakeCounter) MessageOut(time.Duration) {}
func (h *handshakeCounter) RateLimited(string)       {}

func (h *handshakeCounter) get(result string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[result]
}

// loopback returns 127.0.0.i as a local address to dial from.
func loopback(i int) *net.TCPAddr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i))} }

// Thousands of peers that connect and never speak, from many source
// addresses, do not keep real clients out: while they come, real clients
// keep connecting, registering, sending and receiving.
func TestSilentPeersDoNotStarveClients(t *testing.T) {
	const (
		silentTotal = 3000 // silent connections in all
		sources     = 16   // 127.0.0.10 ... 127.0.0.25
		dialers     = 8
		maxRounds   = 200
	)
	obs := &handshakeCounter{n: map[string]int{}}
	e := newEnv(t, func(c *relay.Config) {
		// Sixteen sources can each hold their 8 slots only twice over:
		// the flood fills every slot all the time.
		c.Limits.MaxHandshakes = 64
		c.Limits.HandshakesPerSource = 8
		c.Observer = obs
	})
	alice := e.register("alice", 0)
	bob := e.register("bob", 0)

	var dialed, held atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; dialed.Add(1) <= silentTotal; i += dialers {
				select {
				case <-stop:
					return
				default:
				}
				d := net.Dialer{LocalAddr: loopback(10 + i%sources), Timeout: 5 * time.Second}
				c, err := d.Dial("tcp", e.addr)
				if err != nil {
					continue
				}
				held.Add(1)
				wg.Add(1)
				go func() { // say nothing; hang up when the relay does or the test ends
					defer wg.Done()
					done := make(chan struct{})
					go func() {
						select {
						case <-stop:
						case <-done:
						}
						c.Close()
					}()
					io.Copy(io.Discard, c)
					close(done)
				}()
				time.Sleep(time.Millisecond) // pace the flood over a few seconds
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	// Real clients begin once the flood holds every slot, and keep going
	// until it has made all its connections.
	deadline := time.Now().Add(60 * time.Second)
	for held.Load() < 2*64 {
		if time.Now().After(deadline) {
			t.Fatalf("the flood made only %d connections", held.Load())
		}
		time.Sleep(time.Millisecond)
	}
	rounds := 0
	for ; rounds < maxRounds && (rounds < 5 || dialed.Load() < silentTotal); rounds++ {
		text := fmt.Sprintf("round %d", rounds)
		a := e.dial(alice.devices[1].noise)
		a.mustOK(sendReq(bob, envID(rounds), text))
		b := e.dial(bob.devices[1].noise)
		b.mustOK(startDelivery())
		expectDeliveries(t, b, text)
		b.mustOK(ack(envID(rounds)))
		if rounds%5 == 0 { // a new user, through an anonymous connection
			e.register(fmt.Sprintf("user%d", rounds), 0)
		}
		a.nc.Close()
		b.nc.Close()
	}
	shed, evicted := obs.get("shed"), obs.get("evicted")
	t.Logf("%d rounds of real clients among %d silent connections from %d sources: %d shed, %d evicted",
		rounds, held.Load(), sources, shed, evicted)
	if shed+evicted == 0 {
		t.Fatalf("the flood never filled the handshake slots (%d silent connections)", held.Load())
	}
}

// A source may hold only so many anonymous connections; other sources
// are not affected, and a closed one frees its place.
func TestAnonymousConnectionsPerSource(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) { c.Limits.AnonymousPerSource = 3 })
	var held []*client
	for range 3 {
		c := e.dialFrom(newKey(t), loopback(5))
		c.mustOK(ping())
		held = append(held, c)
	}
	if reason := e.dialFrom(newKey(t), loopback(5)).waitClosed(); reason != "too many anonymous connections from this address" {
		t.Fatalf("a fourth anonymous connection from one source: closed with %q", reason)
	}
	e.dialFrom(newKey(t), loopback(6)).mustOK(ping())

	// A registered device's connection does not count, and a closed
	// anonymous connection frees its place.
	e.register("alice", 0).dev1().mustOK(ping())
	held[0].nc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for !pingFrom(t, e, loopback(5)) {
		if time.Now().After(deadline) {
			t.Fatal("a closed anonymous connection did not free its place")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pingFrom makes an anonymous connection from the local address from and
// reports whether the relay answers a ping on it (false: it closed it).
func pingFrom(t *testing.T, e *env, from *net.TCPAddr) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := tcp.Dialer{Dialer: net.Dialer{LocalAddr: from}}.Dial(ctx, e.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := noisechan.Client(ctx, raw, newKey(t), e.relayKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	wire.WriteFrame(nc, &wire.Frame{Body: &wire.Frame_Request{Request: &wire.Request{Id: 1, Op: &wire.Request_Ping{Ping: &wire.Ping{}}}}})
	f, err := wire.ReadFrame(nc)
	return err == nil && f.GetResponse().GetPong() != nil
}

// A handshake begun while more than half of the slots are taken gets the
// shorter budget; one begun before keeps the longer.
func TestHandshakeBudgetUnderPressure(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) {
		c.Limits.MaxHandshakes = 4
		c.Limits.HandshakeTimeout = 10 * time.Minute
		c.Limits.PressureHandshakeTimeout = 100 * time.Millisecond
	})
	silent := make([]net.Conn, 3)
	for i := range silent {
		d := net.Dialer{LocalAddr: loopback(30 + i)}
		c, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent[i] = c
	}
	// The third began with 3 of 4 slots taken: the relay hangs up soon.
	silent[2].SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.Copy(io.Discard, silent[2]); err != nil {
		t.Fatalf("the relay did not close a silent connection under pressure: %v", err)
	}
	// The first began alone: it still has its ten minutes.
	silent[0].SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var ne net.Error
	if _, err := silent[0].Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a handshake begun without pressure ended early: %v", err)
	}
}
