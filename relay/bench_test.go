package relay_test

import (
	"context"
	"path/filepath"
	"testing"

	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/store/sqlite"
)

func unlimited(c *relay.Config) {
	u := relay.Unlimited
	c.Limits = relay.Limits{ConnFrames: u, Messages: u, SealedMessages: u, RecipientBytes: u,
		Registrations: u, PreKeyUploads: u, PreKeyFetches: u, Lookups: u, MaxInFlight: 256}
}

// BenchmarkSendDeliver measures durable 1 KiB sends on the SQLite store,
// pipelined 256 deep on one connection, each delivered to the recipient.
// Run briefly: go test -run X -bench SendDeliver -benchtime 5000x ./relay
func BenchmarkSendDeliver(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "relay.db"), sqlite.Options{MaxMessages: 1 << 30, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e := newEnvStore(b, st, unlimited)
	alice := e.register("alice", 0)
	bob := e.register("bob", 0)
	bob.dev1().mustOK(startDelivery())
	if p := bob.dev1().nextPush(); p.GetQueueEmpty() == nil {
		b.Fatal("no queue empty")
	}
	content := string(make([]byte, 1024))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range b.N {
			<-bob.dev1().pushes
		}
	}()
	b.ResetTimer()
	window := make(chan (<-chan *wire.Response), 256)
	go func() {
		for i := range b.N {
			window <- alice.dev1().start(sendReq(bob, envID(i), content))
		}
		close(window)
	}()
	for ch := range window {
		if r := <-ch; r.Status != wire.Status_OK {
			b.Fatalf("send: %v %s", r.Status, r.Reason)
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}
