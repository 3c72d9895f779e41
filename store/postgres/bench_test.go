package postgres_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"samizdat/relay"
	"samizdat/store/postgres"
	"samizdat/store/postgres/pgtest"
)

func openBench(b *testing.B, opts postgres.Options) *postgres.Store {
	b.Helper()
	if opts.MaxMessages == 0 {
		opts.MaxMessages, opts.MaxBytes = 1<<30, 1<<40
	}
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(b), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchEnv(dev uint32, n int, content []byte) relay.Envelope {
	e := relay.Envelope{Device: dev, Content: content}
	e.Account[0] = 1
	binary.BigEndian.PutUint64(e.ID[8:], uint64(n))
	return e
}

// runConcurrent runs op b.N times from g goroutines.
func runConcurrent(b *testing.B, g int, op func() error) {
	runConcurrentG(b, g, func() func() error { return op })
}

// BenchmarkAppend measures durable appends of one 1 KiB envelope from 64
// concurrent goroutines to 64 devices: group commit with two writers (the
// default), with one, and the baseline that commits each Append alone, in
// the same run, against the server SAMIZDAT_PG_URL names:
//
//	eval "$(scripts/pg.sh start)"
//	go test ./store/postgres -run '^$' -bench Append -benchtime 20000x
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name string
		opts postgres.Options
	}{
		{"group", postgres.Options{}},
		{"group-1writer", postgres.Options{Writers: 1}},
		{"group-4writers", postgres.Options{Writers: 4}},
		{"single", postgres.Options{MaxBatch: 1, Writers: 16}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := openBench(b, c.opts)
			var next atomic.Uint64
			content := make([]byte, 1024)
			runConcurrent(b, 64, func() error {
				n := int(next.Add(1))
				return s.Append(context.Background(), []relay.Envelope{benchEnv(uint32(n%64), n, content)})
			})
			st := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "writes/commit")
		})
	}
}

// BenchmarkRelay1to1 is the store's share of 1:1 relaying: 64 goroutines
// each append a 1 KiB envelope to their own device, fetch it from the
// cursor and ack it, as the relay does per message delivered.
//
//	go test ./store/postgres -run '^$' -bench Relay1to1 -benchtime 20000x
func BenchmarkRelay1to1(b *testing.B) {
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openBench(b, postgres.Options{Writers: writers})
			ctx := context.Background()
			var next atomic.Uint64
			content := make([]byte, 1024)
			cursors := make([]uint64, 64)
			var acct relay.AccountID
			acct[0] = 1
			runConcurrentIdx(b, 64, func(g int) error {
				n := int(next.Add(1))
				if err := s.Append(ctx, []relay.Envelope{benchEnv(uint32(g), n, content)}); err != nil {
					return err
				}
				page, err := s.Fetch(ctx, acct, uint32(g), cursors[g], 100)
				if err != nil {
					return err
				}
				if len(page) == 0 {
					return fmt.Errorf("appended envelope not fetched")
				}
				ids := make([][16]byte, len(page))
				for i, e := range page {
					ids[i] = e.ID
				}
				cursors[g] = page[len(page)-1].Seq
				return s.Ack(ctx, acct, uint32(g), ids)
			})
			st := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "writes/commit")
		})
	}
}

// runConcurrentIdx is runConcurrent with each goroutine's index.
func runConcurrentIdx(b *testing.B, g int, op func(g int) error) {
	var idx atomic.Int64
	runConcurrentG(b, g, func() func() error {
		i := int(idx.Add(1) - 1)
		return func() error { return op(i) }
	})
}

// runConcurrentG runs b.N operations from g goroutines, each running the
// operation mk made for it.
func runConcurrentG(b *testing.B, g int, mk func() func() error) {
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	var once sync.Once
	b.ResetTimer()
	for range g {
		op := mk()
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
}

// BenchmarkTakeBundle measures prekey fetches by 64 concurrent fetchers of
// one device's bundle, and checks that no one-time key is handed out twice:
//
//	go test ./store/postgres -run '^$' -bench TakeBundle -benchtime 5000x
func BenchmarkTakeBundle(b *testing.B) {
	ctx := context.Background()
	s := openBench(b, postgres.Options{MaxConns: 64})
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
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fetches/s")
	b.ReportMetric(float64(dups), "duplicates")
	if dups > 0 {
		b.Errorf("%d one-time keys handed out twice", dups)
	}
}

// BenchmarkDrain measures draining one device's backlog of 1 KiB envelopes
// the way the relay delivers it: Fetch a page of 100 after the cursor, then
// Ack the page.
//
//	go test ./store/postgres -run '^$' -bench Drain -benchtime 10000x
func BenchmarkDrain(b *testing.B) {
	ctx := context.Background()
	s := openBench(b, postgres.Options{})
	content := make([]byte, 1024)
	for i := 0; i < b.N; i += 500 {
		var envs []relay.Envelope
		for j := i; j < min(i+500, b.N); j++ {
			envs = append(envs, benchEnv(1, j, content))
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
