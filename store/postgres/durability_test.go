package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"samizdat/internal/leaktest"
	"samizdat/relay"
	"samizdat/store/postgres"
	"samizdat/store/postgres/pgtest"
	"samizdat/store/storetest"
)

// TestAcknowledgedSurviveKilledConnections has 32 goroutines append while
// the server terminates every connection of the store, three times, as a
// killed relay process would leave them. A store opened afterwards must
// hold every envelope whose Append returned nil, with the Seq it reported,
// and each mailbox's quota count must match what it holds (no half-applied
// batch).
func TestAcknowledgedSurviveKilledConnections(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	opts := postgres.Options{MaxMessages: 1 << 30, MaxBytes: 1 << 40, ExpireInterval: -1}
	s, err := postgres.Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const (
		appenders = 32
		devices   = 8
		kills     = 3
		between   = 400 // acknowledged appends before each kill and after the last
	)
	var (
		mu       sync.Mutex
		acked    = map[[16]byte]uint64{} // guarded by mu
		failed   int                     // guarded by mu
		progress = make(chan struct{}, appenders*4)
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	var acct relay.AccountID
	acct[0] = 0xc1
	for g := range appenders {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var envs []relay.Envelope
				for j := range 1 + i%3 {
					var id [16]byte
					copy(id[:], fmt.Sprintf("g%02d-i%06d-j%d", g, i, j))
					envs = append(envs, relay.Envelope{ID: id, Account: acct, Device: uint32((g + j) % devices), Content: make([]byte, 100)})
				}
				if err := s.Append(ctx, envs); err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					continue
				}
				mu.Lock()
				for _, e := range envs {
					acked[e.ID] = e.Seq
				}
				mu.Unlock()
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	admin := connect(t, url)
	wait := func(n int) {
		for got := 0; got < n; got++ {
			<-progress
		}
	}
	killed := 0
	for range kills {
		wait(between)
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "+
			"WHERE datname = current_database() AND pid <> pg_backend_pid()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		killed += n
	}
	wait(between)
	close(stop)
	wg.Wait()
	s.Close()
	t.Logf("%d envelopes acknowledged, %d appends failed, %d connections killed", len(acked), failed, killed)
	if killed == 0 {
		t.Fatal("no connection was killed")
	}

	s2, err := postgres.Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	stored := map[[16]byte]uint64{}
	for d := range uint32(devices) {
		envs, err := s2.Fetch(ctx, acct, d, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range envs {
			stored[e.ID] = e.Seq
		}
	}
	lost := 0
	for id, seq := range acked {
		if got, ok := stored[id]; !ok || got != seq {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged envelope %q: stored Seq %d (present %v), acknowledged Seq %d", id[:], got, ok, seq)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged envelopes lost", lost, len(acked))
	}
	var bad int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM mailbox_usage u WHERE u.count <>
		(SELECT count(*) FROM mailbox m WHERE m.account = u.account AND m.device = u.device) OR u.bytes <>
		(SELECT coalesce(sum(length(m.content)), 0) FROM mailbox m WHERE m.account = u.account AND m.device = u.device)`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d mailboxes' quota usage differs from what they hold", bad)
	}
}

// TestExpireLoopAndClose checks that the expiry loop deletes envelopes past
// retention on its own, and that Close stops every goroutine the store
// started.
func TestExpireLoopAndClose(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	admin := connect(t, url)
	before := runtime.NumGoroutine()
	clk := storetest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	s, err := postgres.Open(ctx, url, postgres.Options{ExpireInterval: 5 * time.Millisecond, Retention: time.Hour, Now: clk.Now, SharedRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	var acct relay.AccountID
	acct[0] = 1
	if err := s.Append(ctx, []relay.Envelope{{Account: acct, Device: 1, Content: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	n := -1
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM mailbox").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if n != 0 {
		t.Errorf("%d envelopes past retention left after a minute of a 5 ms expiry loop", n)
	}
	s.Close()
	leaktest.AtMost(t, before)
	if _, err := s.Fetch(ctx, acct, 1, 0, 10); !errors.Is(err, postgres.ErrClosed) {
		t.Errorf("Fetch after Close = %v, want ErrClosed", err)
	}
}
