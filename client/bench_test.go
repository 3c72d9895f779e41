package client_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/dialer"
)

// BenchmarkReconnect measures, for a client with the default settings
// receiving from a real relay with two endpoints behind blockers, the
// time from blocking the endpoint it is on to its next connection through
// the other, over b.N blocks at random points of the ping cycle. With
// reset the block is noticed at once; with drop only an overdue answer
// notices it: the first block at the calm cadence, the later ones at the
// alert cadence (the network has seen trouble). Run with e.g.
// -benchtime=40x; it reports the median, p99 and max in ms.
func BenchmarkReconnect(b *testing.B) {
	for _, mode := range []blocktest.Mode{blocktest.Reset, blocktest.Drop} {
		b.Run(mode.String(), func(b *testing.B) {
			n := startBlockedRelay(b, 2)
			inv := n.invite(b, 0, 1)
			connected := make(chan string, 16)
			log := &dialLog{onConnect: func(a string) { connected <- a }}
			alice := newBlockedUser(b, inv, "alice", log)
			// Init connected once; Receive's connection is the first one.
			<-connected
			alice.receive(b)
			byAddr := map[string]int{n.proxies[0].Addr(): 0, n.proxies[1].Addr(): 1}
			cur := byAddr[<-connected]
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				every := dialer.DefaultCalm
				if i > 0 && mode == blocktest.Drop {
					every = dialer.DefaultAlert
				}
				time.Sleep(100*time.Millisecond + rand.N(every))
				n.proxies[1-cur].Set(blocktest.Pass)
				start := time.Now()
				n.proxies[cur].Set(mode)
				select {
				case a := <-connected:
					times = append(times, time.Since(start))
					if byAddr[a] == cur {
						b.Fatalf("reconnected through the blocked endpoint")
					}
					cur = byAddr[a]
				case <-time.After(dialer.DefaultDead + 30*time.Second):
					b.Fatalf("no reconnection")
				}
			}
			b.StopTimer()
			slices.Sort(times)
			q := func(p float64) float64 {
				return float64(times[int(p*float64(len(times)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(q(0.5), "median-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
		})
	}
}
