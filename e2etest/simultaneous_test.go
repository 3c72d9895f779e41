package e2etest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/manifest"
)

// TestSimultaneousSessionStart: pairs of fresh clients start sessions with
// each other at the same moment (each fetches the other's bundle and sends
// PreKeySignalMessages before anything arrives) and keep chatting. Every
// message the relay acknowledged must be delivered exactly once; none may be
// dropped as undecryptable. This once lost the first answers of each side
// ("duplicate message: spqr: message key already requested"), see
// session.TestSimultaneousInitiation.
func TestSimultaneousSessionStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	const (
		pairs   = 3
		perSide = 20
	)
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	startRelayProc(t, bin, data, freeAddr(t))
	inv, err := manifest.ReadInvite(filepath.Join(data, "invite.txt"))
	if err != nil {
		t.Fatal(err)
	}

	delivered := &counter{counts: map[string]int{}}
	var undecryptable atomic.Int64
	start := func(name string) *client.Client {
		c, err := client.Init(ctx, client.Config{Home: filepath.Join(dir, name), PreKeyBatch: 10, OnEvent: func(e client.Event) {
			switch e.Kind {
			case client.EventMessage:
				delivered.add(name + "<" + e.Peer + ":" + e.Text)
			case client.EventUndecryptable:
				undecryptable.Add(1)
				t.Logf("%s: %v", name, e.Err)
			}
		}}, inv, name)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); c.Receive(rctx) }()
		t.Cleanup(func() { stop(); <-done; c.Close() })
		return c
	}
	type side struct {
		c        *client.Client
		name, to string
	}
	var sides []side
	for i := range pairs {
		a, b := fmt.Sprint("alice", i), fmt.Sprint("bobby", i)
		ca, cb := start(a), start(b)
		sides = append(sides, side{ca, a, b}, side{cb, b, a})
	}
	// Both clients of a pair are registered before either sends, so each
	// finds the other's bundle and opens its own session.
	var ready sync.WaitGroup
	ready.Add(len(sides))
	var wg sync.WaitGroup
	for _, s := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			ready.Wait()
			for j := range perSide {
				if _, err := s.c.Send(ctx, s.to, fmt.Sprint("m", j)); err != nil {
					t.Errorf("%s send %d: %v", s.name, j, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	want := 2 * pairs * perSide
	if !eventually(func() bool { return len(delivered.snapshot()) == want || undecryptable.Load() > 0 }) {
		t.Fatalf("%d of %d messages delivered", len(delivered.snapshot()), want)
	}
	if n := undecryptable.Load(); n != 0 {
		t.Fatalf("%d acknowledged messages dropped as undecryptable", n)
	}
	for _, s := range sides {
		for j := range perSide {
			key := s.to + "<" + s.name + ":" + fmt.Sprint("m", j)
			if n := delivered.snapshot()[key]; n != 1 {
				t.Errorf("%s's message %d to %s delivered %d times", s.name, j, s.to, n)
			}
		}
	}
}
