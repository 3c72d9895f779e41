package relay_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/store/sqlite"
)

// TestHandoffExactlyOnce: envelopes handed straight to a delivering
// connection, while the connection also re-reads its mailbox all the time
// (DeliveryPoll 1 ms) and acknowledges some of them, each reach it exactly
// once; after a reconnect, exactly the unacknowledged ones come again, once.
// Without the poll (an hour) every one still comes at once.
func TestHandoffExactlyOnce(t *testing.T) {
	for _, st := range []struct {
		name string
		poll time.Duration
		open func(t *testing.T) relay.Store
	}{
		{"memstore", time.Millisecond, func(t *testing.T) relay.Store { return newMemstore(t, 0) }},
		// Without the poll to catch what a handoff might miss.
		{"memstore, no poll", time.Hour, func(t *testing.T) relay.Store { return newMemstore(t, 0) }},
		{"sqlite", time.Millisecond, func(t *testing.T) relay.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "relay.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	} {
		t.Run(st.name, func(t *testing.T) {
			e := newEnvStore(t, st.open(t), func(c *relay.Config) { c.Limits.DeliveryPoll = st.poll })
			senders := []*user{e.register("alice", 1), e.register("carol", 1)}
			bob := e.register("bob", 1)
			bob.dev1().mustOK(startDelivery())
			expectQueueEmpty(t, bob.dev1())

			const each = 150
			var wg sync.WaitGroup
			for s, u := range senders {
				wg.Go(func() {
					var waits []<-chan *wire.Response
					for i := range each {
						waits = append(waits, u.dev1().start(sendReq(bob, envID(s*each+i), fmt.Sprint(s*each+i))))
					}
					for _, w := range waits {
						select {
						case r := <-w:
							if r.Status != wire.Status_OK {
								t.Errorf("send: %v %s", r.Status, r.Reason)
							}
						case <-time.After(patience):
							t.Error("send: no response")
							return
						}
					}
				})
			}
			// Take every delivery, acknowledging every other one in
			// batches as they come.
			seen := map[string]int{}
			var acks, unacked [][]byte
			for len(seen) < len(senders)*each {
				d := bob.dev1().nextPush().GetDelivery()
				if d == nil {
					continue // QueueEmpty comes once only, and only first
				}
				seen[string(d.Content)]++
				if seen[string(d.Content)] > 1 {
					t.Fatalf("%q delivered twice", d.Content)
				}
				if len(seen)%2 == 0 {
					acks = append(acks, d.Id)
				} else {
					unacked = append(unacked, d.Id)
				}
				if len(acks) == 16 {
					bob.dev1().mustOK(ack(acks...))
					acks = nil
				}
			}
			wg.Wait()
			if len(acks) > 0 {
				bob.dev1().mustOK(ack(acks...))
			}
			bob.dev1().noPush(300 * time.Millisecond) // ~300 reads of the mailbox: nothing again

			// A new connection gets what was not acknowledged, once.
			bob.dev1().nc.Close()
			c := e.dial(bob.devices[1].noise)
			c.mustOK(startDelivery())
			again := map[string]bool{}
			for {
				p := c.nextPush()
				if p.GetQueueEmpty() != nil {
					break
				}
				d := p.GetDelivery()
				if d == nil || again[string(d.Id)] {
					t.Fatalf("after reconnecting: push %v (a repeat, or not a delivery)", p)
				}
				again[string(d.Id)] = true
			}
			if len(again) != len(unacked) {
				t.Fatalf("after reconnecting: %d deliveries, want the %d unacknowledged", len(again), len(unacked))
			}
			for _, id := range unacked {
				if !again[string(id)] {
					t.Fatalf("unacknowledged %q not delivered again", id)
				}
			}
			c.noPush(100 * time.Millisecond)
		})
	}
}

// TestHandoffAfterBacklog: a device that starts delivery while messages
// keep coming gets its backlog first, in order, and QueueEmpty before any
// envelope handed to its connection; nothing twice.
func TestHandoffAfterBacklog(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) { c.Limits.DeliveryPoll = time.Hour })
	alice := e.register("alice", 1)
	carol := e.register("carol", 1)
	bob := e.register("bob", 1)
	const backlog = 50
	for i := range backlog {
		alice.dev1().mustOK(sendReq(bob, envID(i), fmt.Sprint("backlog ", i)))
	}
	stop, going := make(chan struct{}), make(chan struct{})
	sent := make(chan int, 1)
	go func() { // live messages throughout the start of delivery
		n := 0
		defer func() { sent <- n }()
		defer func() {
			if n == 0 {
				close(going)
			}
		}()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := carol.dev1().call(sendReq(bob, envID(1000+n), fmt.Sprint("live ", n))); r.Status != wire.Status_OK {
				t.Errorf("live send: %v", r.Status)
				return
			}
			if n++; n == 1 {
				close(going)
			}
		}
	}()
	<-going
	bob.dev1().mustOK(startDelivery())
	seen := map[string]bool{}
	next, empty := 0, false
	for !empty || len(seen) < backlog+5 {
		p := bob.dev1().nextPush()
		if p.GetQueueEmpty() != nil {
			if empty || next != backlog {
				t.Fatalf("QueueEmpty after %d of the %d backlog messages (again: %v)", next, backlog, empty)
			}
			empty = true
			continue
		}
		d := p.GetDelivery()
		if d == nil {
			continue
		}
		text := string(d.Content)
		if seen[text] {
			t.Fatalf("%q twice", text)
		}
		seen[text] = true
		if next < backlog {
			if want := fmt.Sprint("backlog ", next); text != want {
				t.Fatalf("push %d: %q, want %q (the backlog first, in order)", len(seen), text, want)
			}
			next++
		}
	}
	close(stop)
	n := <-sent
	for len(seen) < backlog+n { // every live message, once
		d := bob.dev1().nextPush().GetDelivery()
		if d == nil || seen[string(d.Content)] {
			t.Fatalf("after QueueEmpty: %v", d)
		}
		seen[string(d.Content)] = true
	}
	bob.dev1().noPush(100 * time.Millisecond)
}
