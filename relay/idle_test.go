package relay_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"samizdat/internal/leaktest"
	"samizdat/relay"
)

// TestIdleConnectionsHoldOneGoroutine checks that a delivering connection
// with nothing to do costs the relay one goroutine (its reader), and that
// such connections still get their mail and manifests, in order, and
// answer pings.
func TestIdleConnectionsHoldOneGoroutine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hub     func() relay.Hub
		perConn int // relay goroutines per idle delivering connection
	}{
		{"func hub", func() relay.Hub { return relay.NewLocalHub() }, 1},
		// A Hub without SubscribeFunc costs one more, forwarding its
		// channel's wake-ups.
		{"channel hub", func() relay.Hub { return chanOnlyHub{relay.NewLocalHub()} }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *relay.Config) { c.Hub = tc.hub() })
			// Once a connection is answered, Serve runs with its helpers.
			e.dial(newKey(t)).mustOK(ping())
			before := runtime.NumGoroutine()
			const n = 12
			var users []*user
			for i := range n {
				u := e.register(fmt.Sprintf("idle%02d", i), 1)
				u.dev1().mustOK(startDelivery())
				expectQueueEmpty(t, u.dev1())
				u.dev1().mustOK(ping())
				users = append(users, u)
			}
			// Each test client runs one reader goroutine of its own.
			want := before + n*(1+tc.perConn)
			leaktest.AtMost(t, want)

			// Mail and manifests still arrive, the worker starting for them.
			for i := 0; i < n; i += 2 {
				users[i+1].dev1().mustOK(sendReq(users[i], envID(i), fmt.Sprint("to ", i)))
			}
			for i := 0; i < n; i += 2 {
				expectDeliveries(t, users[i].dev1(), fmt.Sprint("to ", i))
			}
			e.srv.SetManifest([]byte("manifest 2"))
			for _, u := range users {
				if m := u.dev1().nextManifest(); !bytes.Equal(m, []byte("manifest 2")) {
					t.Fatalf("manifest %q", m)
				}
			}
			// The workers that delivered have ended.
			leaktest.AtMost(t, want)
		})
	}
}

// chanOnlyHub hides LocalHub's SubscribeFunc, leaving a plain Hub.
type chanOnlyHub struct{ h *relay.LocalHub }

func (c chanOnlyHub) Subscribe(acct relay.AccountID, dev uint32) (<-chan struct{}, func()) {
	return c.h.Subscribe(acct, dev)
}
func (c chanOnlyHub) Notify(acct relay.AccountID, dev uint32) { c.h.Notify(acct, dev) }
