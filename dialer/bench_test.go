package dialer

import (
	"context"
	"flag"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"samizdat/blocktest"
)

var benchKeepalive = flag.Duration("keepalive", time.Second,
	"keepalive timeout for BenchmarkReconnect (the client's default is 15s)")

// BenchmarkReconnect measures the time from blocking the endpoint a
// client is connected on to the client's next completed handshake on the
// other endpoint, over b.N blocks, alternating endpoints. With reset the
// block is noticed at once; with drop only the keepalive notices it, so
// the time is dominated by the keepalive timeout (-keepalive; the design's
// default is 15 s). Run with e.g. -benchtime=200x; it reports the median,
// p99 and max in ms.
func BenchmarkReconnect(b *testing.B) {
	for _, mode := range []blocktest.Mode{blocktest.Reset, blocktest.Drop} {
		b.Run(mode.String(), func(b *testing.B) { benchReconnect(b, mode, *benchKeepalive) })
	}
}

func benchReconnect(b *testing.B, mode blocktest.Mode, keepalive time.Duration) {
	r := newTestRelay(b)
	ps, cs := blocked(b, r, 2)
	// Connections here last from 100 ms (see the sleep below); MinUptime
	// below that keeps Run's guard against peers that hang up at once out
	// of the measurement.
	var log eventLog
	cfg := Config{Local: clientKey(b), Memory: NewMemory(), AttemptTimeout: 5 * time.Second, MinUptime: 50 * time.Millisecond, Events: log.add}
	connected := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, func() []Candidate { return cs }, nil, keepaliveSession(keepalive, connected))
	}()
	defer func() { cancel(); <-done }()

	byAddr := map[string]int{ps[0].Addr(): 0, ps[1].Addr(): 1}
	cur := byAddr[<-connected]
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		// Block at a random point of the keepalive cycle.
		time.Sleep(100*time.Millisecond + rand.N(keepalive/3))
		ps[1-cur].Set(blocktest.Pass)
		start := time.Now()
		log.mu.Lock()
		log.ev = log.ev[:0]
		log.mu.Unlock()
		ps[cur].Set(mode)
		select {
		case a := <-connected:
			took := time.Since(start)
			times = append(times, took)
			if took > 2*keepalive+time.Second {
				b.Logf("slow reconnection (%v): %v", took, log.all())
			}
			next := byAddr[a]
			if next == cur {
				b.Fatalf("reconnected through the blocked endpoint")
			}
			cur = next
		case <-time.After(keepalive + 30*time.Second):
			b.Fatalf("no reconnection")
		}
	}
	b.StopTimer()
	slices.Sort(times)
	q := func(p float64) float64 {
		i := int(p * float64(len(times)-1))
		return float64(times[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.5), "median-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
