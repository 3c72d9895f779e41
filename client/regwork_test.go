package client_test

import (
	"sync/atomic"
	"testing"
	"time"

	"samizdat/relay"
)

// workAsked counts the registrations a relay asked for a proof of work.
type workAsked struct{ n atomic.Int64 }

func (*workAsked) Handshake(string, string) {}
func (*workAsked) Connections(string, int)  {}
func (*workAsked) MessagesIn(string, int)   {}
func (*workAsked) MessageOut(time.Duration) {}
func (w *workAsked) RateLimited(kind string) {
	if kind == "regwork" {
		w.n.Add(1)
	}
}

// TestInitDoesTheWork: through a relay listener whose clients' address is
// a CDN edge's, registration asks for a proof of work; Init does it and
// registers, for more users than one address may register at once.
func TestInitDoesTheWork(t *testing.T) {
	var asked workAsked
	n := startRelayOn(t, relay.Config{Observer: &asked, Limits: relay.Limits{
		Registrations:    relay.Rate{Burst: 1, PerSecond: 0.001},
		RegistrationWork: 12,
	}}, true)
	for _, name := range []string{"ana", "ben", "cid"} {
		newUser(t, n, name, nil)
	}
	if got := asked.n.Load(); got != 3 {
		t.Fatalf("the relay asked %d registrations for work, want 3 (every one)", got)
	}
}
