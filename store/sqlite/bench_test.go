package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/relay"
	"samizdat/store/sqlite"
)

// BenchmarkAppend measures durable appends of one 1 KiB envelope from 64
// concurrent goroutines, with group commit and with the baseline that
// commits each Append alone, in the same run:
//
//	go test ./store/sqlite -run '^$' -bench Append -benchtime 3000x
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name string
		opts sqlite.Options
	}{
		{"group", sqlite.Options{}},
		{"group-2ms", sqlite.Options{FlushInterval: 2 * time.Millisecond}},
		{"single", sqlite.Options{MaxBatch: 1}},
		{"group-relaxed", sqlite.Options{RelaxedSync: true}},
		{"single-relaxed", sqlite.Options{MaxBatch: 1, RelaxedSync: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.opts.MaxMessages = 1 << 30
			c.opts.MaxBytes = 1 << 40
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "relay.db"), c.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var next atomic.Uint64
			content := make([]byte, 1024)
			runConcurrent(b, 64, func() error {
				n := int(next.Add(1))
				e := env(1, uint32(n%64), n, 0)
				e.Content = content
				return s.Append(context.Background(), []relay.Envelope{e})
			})
			st := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "writes/commit")
		})
	}
}

// BenchmarkTakeBundle measures prekey fetches by 64 concurrent fetchers of
// one device's bundle, and checks that no one-time key is handed out twice:
//
//	go test ./store/sqlite -run '^$' -bench TakeBundle -benchtime 3000x
func BenchmarkTakeBundle(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "relay.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var a relay.Account
	a.ID[0] = 1
	a.Username = "bob"
	a.IdentityKey = make([]byte, 33)
	d := relay.Device{Account: a.ID, ID: 1, NoiseKey: [32]byte{1}}
	if err := s.CreateAccount(ctx, a, d); err != nil {
		b.Fatal(err)
	}
	sig := make([]byte, 64)
	if err := s.SetSignedPreKey(ctx, a.ID, 1, relay.SignedPreKey{ID: 1, PublicKey: make([]byte, 33), Signature: sig}); err != nil {
		b.Fatal(err)
	}
	if err := s.SetLastResortKyberPreKey(ctx, a.ID, 1, relay.SignedPreKey{ID: 1 << 30, PublicKey: make([]byte, 1569), Signature: sig}); err != nil {
		b.Fatal(err)
	}
	// As many one-time keys as fetches, uploaded in chunks of 100 as a client would.
	for i := 0; i < b.N; i += 100 {
		var ec []relay.OneTimePreKey
		var ky []relay.SignedPreKey
		for j := i; j < min(i+100, b.N); j++ {
			ec = append(ec, relay.OneTimePreKey{ID: uint32(j + 1), PublicKey: make([]byte, 33)})
			ky = append(ky, relay.SignedPreKey{ID: uint32(j + 1), PublicKey: make([]byte, 1569), Signature: sig})
		}
		if err := s.AddPreKeys(ctx, a.ID, 1, ec, ky); err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := make(map[uint32]bool, b.N)
	dups := 0
	before := s.Stats()
	b.ResetTimer()
	runConcurrent(b, 64, func() error {
		bundle, err := s.TakeBundle(ctx, a.ID, 1)
		if err != nil {
			return err
		}
		if bundle.PreKey == nil {
			return fmt.Errorf("ran out of one-time keys")
		}
		mu.Lock()
		if seen[bundle.PreKey.ID] {
			dups++
		}
		seen[bundle.PreKey.ID] = true
		mu.Unlock()
		return nil
	})
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fetches/s")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(float64(st.Writes-before.Writes)/float64(max(st.Commits-before.Commits, 1)), "writes/commit")
	if dups > 0 {
		b.Errorf("%d one-time keys handed out twice", dups)
	}
}

// runConcurrent runs op b.N times from g goroutines.
func runConcurrent(b *testing.B, g int, op func() error) {
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	var once sync.Once
	start := time.Now()
	b.ResetTimer()
	for range g {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := op(); err != nil {
					once.Do(func() { b.Error(err) })
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	_ = start
}

// BenchmarkDrain measures draining one device's backlog of 1 KiB envelopes
// the way the relay delivers it: Fetch a page of 100 after the cursor, then
// Ack the page.
//
//	go test ./store/sqlite -run '^$' -bench Drain -benchtime 10000x
func BenchmarkDrain(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "relay.db"), sqlite.Options{MaxMessages: 1 << 30, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	content := make([]byte, 1024)
	for i := 0; i < b.N; i += 500 {
		var envs []relay.Envelope
		for j := i; j < min(i+500, b.N); j++ {
			e := env(1, 1, j, 0)
			e.Content = content
			envs = append(envs, e)
		}
		if err := s.Append(ctx, envs); err != nil {
			b.Fatal(err)
		}
	}
	var a relay.AccountID
	a[0] = 1
	b.ResetTimer()
	n := 0
	for after := uint64(0); ; {
		page, err := s.Fetch(ctx, a, 1, after, 100)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		ids := make([][16]byte, len(page))
		for i, e := range page {
			ids[i] = e.ID
		}
		if err := s.Ack(ctx, a, 1, ids); err != nil {
			b.Fatal(err)
		}
		n += len(page)
		after = page[len(page)-1].Seq
	}
	b.StopTimer()
	if n != b.N {
		b.Fatalf("drained %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
