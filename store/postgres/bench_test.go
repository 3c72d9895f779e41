package postgres_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"samizdat/relay"
	"samizdat/store/postgres"
	"samizdat/store/postgres/pgtest"
	"samizdat/store/storetest"
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
			storetest.RunConcurrent(b, 64, func() error {
				n := int(next.Add(1))
				return s.Append(context.Background(), []relay.Envelope{storetest.BenchEnvelope(uint32(n%64), n, content)})
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
			var acct relay.AccountID
			acct[0] = 1
			storetest.RunConcurrentEach(b, 64, func(g int) func() error {
				var cursor uint64
				return func() error {
					n := int(next.Add(1))
					if err := s.Append(ctx, []relay.Envelope{storetest.BenchEnvelope(uint32(g), n, content)}); err != nil {
						return err
					}
					page, err := s.Fetch(ctx, acct, uint32(g), cursor, 100)
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
					cursor = page[len(page)-1].Seq
					return s.Ack(ctx, acct, uint32(g), ids)
				}
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
//	go test ./store/postgres -run '^$' -bench TakeBundle -benchtime 5000x
func BenchmarkTakeBundle(b *testing.B) {
	s := openBench(b, postgres.Options{MaxConns: 64})
	acct, dev := storetest.PrepareBundles(b, s)
	storetest.BenchTakeBundle(b, s, acct, dev)
}

// BenchmarkDrain measures draining one device's backlog of 1 KiB envelopes
// the way the relay delivers it: Fetch a page of 100 after the cursor, then
// Ack the page.
//
//	go test ./store/postgres -run '^$' -bench Drain -benchtime 10000x
func BenchmarkDrain(b *testing.B) {
	storetest.BenchDrain(b, openBench(b, postgres.Options{}))
}

// BenchmarkDeviceByNoiseKey measures the lookup every new connection
// makes, for an unknown key (an anonymous connection: the common case for
// sealed sends) and a known one, from 16 goroutines:
//
//	scripts/pg.sh run go test ./store/postgres -run '^$' -bench DeviceByNoiseKey
func BenchmarkDeviceByNoiseKey(b *testing.B) {
	s := openBench(b, postgres.Options{})
	ctx := context.Background()
	var known [32]byte
	known[0] = 1
	acct := relay.Account{ID: relay.AccountID{1}, Username: "bench", IdentityKey: make([]byte, 33)}
	if err := s.CreateAccount(ctx, acct, relay.Device{ID: 1, RegistrationID: 1, NoiseKey: known}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		key  func(n uint64) [32]byte
		want error
	}{
		{"unknown", func(n uint64) [32]byte { var k [32]byte; k[0] = 2; binary.BigEndian.PutUint64(k[1:], n); return k }, relay.ErrNotFound},
		{"known", func(uint64) [32]byte { return known }, nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			var next atomic.Uint64
			storetest.RunConcurrent(b, 16, func() error {
				_, err := s.DeviceByNoiseKey(ctx, c.key(next.Add(1)))
				if !errors.Is(err, c.want) {
					return fmt.Errorf("DeviceByNoiseKey: %v, want %v", err, c.want)
				}
				return nil
			})
		})
	}
}
