package storetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"samizdat/relay"
)

// The benchmarks every implementation runs the same way, from its own
// Benchmark functions (each opens its store as it likes).

// RunConcurrent runs op b.N times in all from g goroutines, timing only
// that.
func RunConcurrent(b *testing.B, g int, op func() error) {
	RunConcurrentEach(b, g, func(int) func() error { return op })
}

// RunConcurrentEach is RunConcurrent where goroutine i runs mk(i).
func RunConcurrentEach(b *testing.B, g int, mk func(i int) func() error) {
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	var once sync.Once
	b.ResetTimer()
	for i := range g {
		op := mk(i)
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

// BenchEnvelope is envelope n of a benchmark, for device dev of account 1.
func BenchEnvelope(dev uint32, n int, content []byte) relay.Envelope {
	e := relay.Envelope{Device: dev, Content: content}
	e.Account[0] = 1
	binary.BigEndian.PutUint64(e.ID[8:], uint64(n))
	return e
}

// PrepareBundles registers a device with a signed prekey, a last-resort
// Kyber prekey and b.N one-time keys of each kind, uploaded in chunks of 100
// as a client would, for BenchTakeBundle.
func PrepareBundles(b *testing.B, s relay.Store) (relay.AccountID, uint32) {
	ctx := context.Background()
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
	return a.ID, 1
}

// BenchTakeBundle has 64 concurrent fetchers take b.N bundles of the device
// PrepareBundles made, reporting fetches/s and how many one-time keys were
// handed out twice (an error if any).
func BenchTakeBundle(b *testing.B, s relay.Store, acct relay.AccountID, dev uint32) {
	ctx := context.Background()
	var mu sync.Mutex
	seen := make(map[uint32]bool, b.N)
	dups := 0
	RunConcurrent(b, 64, func() error {
		bundle, err := s.TakeBundle(ctx, acct, dev)
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

// BenchDrain queues b.N 1 KiB envelopes for one device, then times draining
// them the way the relay delivers a backlog: Fetch a page of 100 after the
// cursor, then Ack the page. The store's quota must hold b.N envelopes.
func BenchDrain(b *testing.B, s relay.Store) {
	ctx := context.Background()
	content := make([]byte, 1024)
	for i := 0; i < b.N; i += 500 {
		var envs []relay.Envelope
		for j := i; j < min(i+500, b.N); j++ {
			envs = append(envs, BenchEnvelope(1, j, content))
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
