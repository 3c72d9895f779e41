package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/relay"
)

// BenchmarkLink measures linking a device (StartLink, ApproveLink, Wait)
// through a relay on loopback, with the approving device's history empty
// and with 10,000 messages of it to hand over: the difference is the cost
// of the state. Run with -benchtime=5x (an account has at most 127
// devices).
func BenchmarkLink(b *testing.B) {
	for _, history := range []int{0, 10000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			ctx := context.Background()
			n := startRelayWith(b, relay.Limits{MaxDevices: 127, PreKeyUploads: relay.Unlimited, Lookups: relay.Unlimited})
			bob := newUser(b, n, "bob", nil)
			st := bob.DB().Store()
			now := time.Now()
			for i := range history {
				var eid [16]byte
				copy(eid[:], fmt.Sprintf("%016d", i))
				if _, err := st.AddMessage(ctx, clientdb.Message{EnvelopeID: eid, Peer: "alice", Body: fmt.Sprintf("message %d, of a typical length for a chat line", i),
					SentAt: now, At: now, Status: clientdb.StatusReceived}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				c := linkDevice(b, bob.Client, client.Config{Home: b.TempDir()})
				b.StopTimer()
				h, err := c.History(ctx, "alice", history+1)
				if err != nil || len(h) != history {
					b.Fatalf("linked device holds %d messages, %v; want %d", len(h), err, history)
				}
				c.Close()
				b.StartTimer()
			}
		})
	}
}
