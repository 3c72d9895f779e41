package relay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/transport/tcp"
)

// listenAlso serves e's relay on one more loopback listener and returns an
// env that dials it.
func (e *env) listenAlso() *env {
	e.t.Helper()
	ln, err := tcp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(context.Background(), ln) }()
	e.t.Cleanup(func() {
		e.srv.Close()
		if err := <-served; !errors.Is(err, relay.ErrServerClosed) {
			e.t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	e2 := *e
	e2.addr = ln.Addr().String()
	return &e2
}

// nextManifest skips QueueEmpty and returns the next pushed manifest.
func (c *client) nextManifest() []byte {
	c.t.Helper()
	for {
		p := c.nextPush()
		switch {
		case p.GetManifest() != nil:
			return p.GetManifest()
		case p.GetQueueEmpty() != nil:
		default:
			c.t.Fatalf("unexpected push %v", p)
		}
	}
}

func TestManifestPush(t *testing.T) {
	e := newEnv(t, nil)
	e2 := e.listenAlso()

	// Without a manifest nothing is pushed but QueueEmpty.
	alice := e.register("alice", 1)
	alice.dev1().mustOK(startDelivery())
	if p := alice.dev1().nextPush(); p.GetQueueEmpty() == nil {
		t.Fatalf("push %v", p)
	}
	alice.dev1().noPush(50 * time.Millisecond)

	// SetManifest reaches a receiving connection at once.
	e.srv.SetManifest([]byte("manifest 1"))
	if got := alice.dev1().nextManifest(); string(got) != "manifest 1" {
		t.Fatalf("pushed %q", got)
	}
	if got := e.srv.Manifest(); string(got) != "manifest 1" {
		t.Fatalf("Manifest() = %q", got)
	}

	// A connection through the other listener gets the current manifest
	// right after StartDelivery, before the backlog.
	bob := e2.register("bob", 1)
	alice.dev1().mustOK(sendReq(bob, envID(1), "hi"))
	bob.dev1().mustOK(startDelivery())
	if p := bob.dev1().nextPush(); string(p.GetManifest()) != "manifest 1" {
		t.Fatalf("first push %v, want the manifest", p)
	}
	if p := bob.dev1().nextPush(); p.GetDelivery() == nil {
		t.Fatalf("second push %v, want the delivery", p)
	}

	// An anonymous connection and one that has not started delivery get
	// nothing.
	anon := e.dial(newKey(t))
	carol := e.register("carol", 1)

	// Every receiving connection gets every new manifest, in order.
	for i := 2; i <= 5; i++ {
		e.srv.SetManifest(fmt.Appendf(nil, "manifest %d", i))
	}
	for _, c := range []*client{alice.dev1(), bob.dev1()} {
		last := 1
		for last < 5 {
			got := c.nextManifest()
			var n int
			if _, err := fmt.Sscanf(string(got), "manifest %d", &n); err != nil || n <= last {
				t.Fatalf("pushed %q after manifest %d", got, last)
			}
			last = n
		}
	}
	anon.noPush(50 * time.Millisecond)
	carol.dev1().noPush(0)

	// A nil manifest stops the pushes.
	e.srv.SetManifest(nil)
	carol.dev1().mustOK(startDelivery())
	if p := carol.dev1().nextPush(); p.GetQueueEmpty() == nil {
		t.Fatalf("push %v", p)
	}
	alice.dev1().noPush(50 * time.Millisecond)
	if e.srv.Manifest() != nil {
		t.Fatal("Manifest() not nil")
	}
}

// A manifest push reaches many connections at once, even while one of
// them does not read.
func TestManifestPushStuckPeer(t *testing.T) {
	// The stuck write would outlast the test's patience: pushes that
	// waited behind it would never arrive.
	e := newEnv(t, func(c *relay.Config) { c.Limits.WriteTimeout = time.Hour })
	stuck := e.register("stuck", 1)
	stuck.dev1().mustOK(startDelivery())
	// Stop reading: fill the connection with pushes until writes block.
	big := bytes.Repeat([]byte("x"), 60<<10)
	var users []*user
	for i := range 5 {
		u := e.register(fmt.Sprintf("user%d", i), 1)
		u.dev1().mustOK(startDelivery())
		users = append(users, u)
	}
	stuck.dev1().nc.SetReadDeadline(time.Now()) // the reader goroutine ends
	for i := range 20 {
		e.srv.SetManifest(append(big, byte(i)))
	}
	e.srv.SetManifest([]byte("final"))
	deadline := time.After(patience)
	for _, u := range users {
		for {
			var got []byte
			select {
			case p := <-u.dev1().pushes:
				got = p.GetManifest()
			case <-deadline:
				t.Fatal("manifest not pushed to every connection")
			}
			if string(got) == "final" {
				break
			}
		}
	}
}

// SetManifestFunc hands each device its own manifest.
func TestManifestPushPerDevice(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.register("alice", 1)
	bob := e.register("bob", 1)
	if alice.slot == 0 || alice.slot == bob.slot {
		t.Fatalf("slots %d and %d: want two nonzero", alice.slot, bob.slot)
	}
	e.srv.SetManifestFunc(func(k manifest.Slot) []byte {
		if k == alice.slot {
			return []byte("for alice")
		}
		return []byte("for others")
	})
	alice.dev1().mustOK(startDelivery())
	bob.dev1().mustOK(startDelivery())
	if got := alice.dev1().nextManifest(); string(got) != "for alice" {
		t.Fatalf("alice got %q", got)
	}
	if got := bob.dev1().nextManifest(); string(got) != "for others" {
		t.Fatalf("bob got %q", got)
	}
	if e.srv.Manifest() != nil {
		t.Fatal("Manifest() after SetManifestFunc")
	}
	e.srv.SetManifestFunc(func(k manifest.Slot) []byte {
		if k == alice.slot {
			return nil
		}
		return []byte("second")
	})
	if got := bob.dev1().nextManifest(); string(got) != "second" {
		t.Fatalf("bob got %q", got)
	}
	if p := alice.dev1().nextPush(); p.GetQueueEmpty() == nil {
		t.Fatalf("alice got %v", p)
	}
	alice.dev1().noPush(50 * time.Millisecond)
}
