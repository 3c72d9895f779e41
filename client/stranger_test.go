package client_test

import (
	"context"
	"strings"
	"testing"

	"samizdat/client"
	"samizdat/relay"
)

// A stranger's message the client cannot attribute must not stop delivery:
// a claimed name the relay refuses to look up, or a lookup budget spent by
// strangers, leaves the message shown under an unverified name and acked,
// and what follows it is delivered.
func TestStrangerCannotStopDelivery(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits relay.Limits
		claims []string // what each stranger claims to be, in sending order
	}{
		{"name the relay refuses", relay.Limits{}, []string{"ab"}},
		{"name with bad characters", relay.Limits{}, []string{"mal lory!"}},
		{"lookup budget spent", relay.Limits{Lookups: relay.Rate{Burst: 1, PerSecond: 0.0001}}, []string{"", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startRelayWith(t, tc.limits)
			bob := newUser(t, n, "bob", nil)
			alice := newUser(t, n, "alice", nil)
			ctx := context.Background()
			for i, claim := range tc.claims {
				s := newUser(t, n, []string{"mallory", "eve"}[i], nil)
				if claim != "" {
					client.ClaimUsername(s.Client, claim)
				}
				if _, err := s.Send(ctx, "bob", "from a stranger"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := alice.Send(ctx, "bob", "behind them"); err != nil {
				t.Fatal(err)
			}
			bob.receive(t)
			got := bob.waitFor(t, client.EventMessage, len(tc.claims)+1)
			if last := got[len(got)-1]; last.Text != "behind them" {
				t.Fatalf("last message %q", last.Text)
			}
			if !strings.HasPrefix(got[len(got)-2].Peer, "unknown-") {
				t.Errorf("the unverifiable stranger is shown as %q", got[len(got)-2].Peer)
			}
		})
	}
}
