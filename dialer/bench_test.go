package dialer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"samizdat/blocktest"
)

// BenchmarkReconnect measures the time from blocking the endpoint a
// client is connected on to the client's next completed handshake on the
// other endpoint, over b.N blocks, alternating endpoints, with the
// default Liveness policy and hedged redials (RunHedged), as the client
// uses them:
//
//   - reset: the block resets the connection, so it is noticed at once;
//   - drop: the block blackholes it, so only a missing answer notices it.
//     The memory keeps the history, so after the first block the client
//     pings at the alert cadence (the network is being censored);
//   - drop-calm: the same, but each connection starts on a network with
//     no history, so every block is a first one, at the calm cadence.
//
// Each block lands at a random point of the ping cycle. Run with e.g.
// -benchtime=40x; it reports the median, p99 and max in ms.
func BenchmarkReconnect(b *testing.B) {
	for _, mode := range []string{"reset", "drop", "drop-calm"} {
		b.Run(mode, func(b *testing.B) { benchReconnect(b, mode) })
	}
}

func benchReconnect(b *testing.B, mode string) {
	r := newTestRelay(b)
	ps, cs := blocked(b, r, 2)
	block, calm := blocktest.Drop, mode == "drop-calm"
	if mode == "reset" {
		block = blocktest.Reset
	}
	lv := Liveness{}.WithDefaults()
	// Connections here last from 100 ms (see the sleep below); MinUptime
	// below that keeps Run's guard against peers that hang up at once out
	// of the measurement.
	var log eventLog
	mem := NewMemory()
	cfg := Config{Local: clientKey(b), Memory: mem, AttemptTimeout: 5 * time.Second, MinUptime: 50 * time.Millisecond, Events: log.add}
	connected := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunHedged(ctx, cfg, func() []Candidate { return cs }, nil, liveSession(lv, mem, connected))
	}()
	defer func() { cancel(); <-done }()

	byAddr := map[string]int{ps[0].Addr(): 0, ps[1].Addr(): 1}
	cur := byAddr[<-connected]
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if calm {
			mem.SetNetwork(fmt.Sprintf("calm-%d", i))
		}
		every := lv.Calm
		if t := mem.LastTrouble(); !t.IsZero() && time.Since(t) < lv.AlertFor {
			every = lv.Alert
		}
		// Block at a random point of the ping cycle.
		time.Sleep(100*time.Millisecond + rand.N(every))
		ps[1-cur].Set(blocktest.Pass)
		start := time.Now()
		log.mu.Lock()
		log.ev = log.ev[:0]
		log.mu.Unlock()
		ps[cur].Set(block)
		select {
		case a := <-connected:
			took := time.Since(start)
			times = append(times, took)
			if took > every+lv.MinDeadline+time.Second {
				b.Logf("slow reconnection (%v): %v", took, log.all())
			}
			next := byAddr[a]
			if next == cur {
				b.Fatalf("reconnected through the blocked endpoint")
			}
			cur = next
		case <-time.After(lv.Dead + 30*time.Second):
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
