package sqlite_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/relay"
	"samizdat/store/sqlite"
	"samizdat/store/storetest"
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
			storetest.RunConcurrent(b, 64, func() error {
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
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "relay.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	acct, dev := storetest.PrepareBundles(b, s)
	before := s.Stats()
	storetest.BenchTakeBundle(b, s, acct, dev)
	st := s.Stats()
	b.ReportMetric(float64(st.Writes-before.Writes)/float64(max(st.Commits-before.Commits, 1)), "writes/commit")
}

// BenchmarkDrain measures draining one device's backlog of 1 KiB envelopes
// the way the relay delivers it: Fetch a page of 100 after the cursor, then
// Ack the page.
//
//	go test ./store/sqlite -run '^$' -bench Drain -benchtime 10000x
func BenchmarkDrain(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "relay.db"), sqlite.Options{MaxMessages: 1 << 30, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchDrain(b, s)
}
