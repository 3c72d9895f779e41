package natsbus_test

import (
	"runtime"
	"testing"
	"time"

	"samizdat/relay"
)

// BenchmarkNotify measures what a sender's node spends on one wake-up: the
// local wake, the keyed hash and the queueing (publishing is the
// publisher goroutine's).
func BenchmarkNotify(b *testing.B) {
	ns := startNATS(b, 0)
	h := newHub(b, ns.URL(), nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Notify(account(i%4096), 1)
		i++
	}
}

// BenchmarkSubscribe measures the memory and time one connected device
// costs a node: its local subscription and its NATS subscription.
func BenchmarkSubscribe(b *testing.B) {
	ns := startNATS(b, 0)
	h := newHub(b, ns.URL(), nil)
	b.ReportAllocs()
	cancels := make([]func(), 0, 1<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	i := 0
	for b.Loop() {
		_, c := h.Subscribe(account(i), 1)
		cancels = append(cancels, c)
		i++
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	// What stays allocated per subscribed device (the cancel funcs'
	// slice, 8 B each, included).
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(i), "retained-B/device")
	for _, c := range cancels {
		c()
	}
}

// BenchmarkWakeAcross measures a wake-up from one node to another through
// the NATS server, one at a time: Notify on a, the subscriber on b woken.
func BenchmarkWakeAcross(b *testing.B) {
	ns := startNATS(b, 0)
	a, c := newHub(b, ns.URL(), nil), newHub(b, ns.URL(), nil)
	w, cancel := c.Subscribe(account(1), 1)
	defer cancel()
	for ns.Subscriptions() < 1 {
		time.Sleep(time.Millisecond)
	}
	var acct relay.AccountID = account(1)
	for b.Loop() {
		a.Notify(acct, 1)
		<-w
	}
}
