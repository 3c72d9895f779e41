package relay_test

import (
	"testing"
	"time"

	"samizdat/relay"
)

// deafHub loses every wake-up, like a bus that is down.
type deafHub struct{}

func (deafHub) Subscribe(relay.AccountID, uint32) (<-chan struct{}, func()) {
	return make(chan struct{}), func() {}
}
func (deafHub) Notify(relay.AccountID, uint32) {}

// TestDeliveryPoll checks that a lost wake-up only delays delivery: with a
// hub that loses every wake-up, the delivering connection finds the
// envelope by re-reading its mailbox every DeliveryPoll, and not sooner.
func TestDeliveryPoll(t *testing.T) {
	for _, tc := range []struct {
		name      string
		poll      time.Duration
		delivered bool
	}{
		{"short poll", 100 * time.Millisecond, true},
		{"poll longer than the test", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *relay.Config) {
				c.Hub = deafHub{}
				c.Limits.DeliveryPoll = tc.poll
			})
			alice := e.register("alice", 2)
			bob := e.register("bob", 2)
			bob.dev1().mustOK(startDelivery())
			expectQueueEmpty(t, bob.dev1())
			alice.dev1().mustOK(sendReq(bob, envID(1), "lost wake-up"))
			if tc.delivered {
				expectDeliveries(t, bob.dev1(), "lost wake-up")
			} else {
				bob.dev1().noPush(time.Second)
			}
		})
	}
}

func TestDeliveryPollDefault(t *testing.T) {
	if p := relay.DefaultLimits().DeliveryPoll; p <= 0 || p > time.Minute {
		t.Errorf("default DeliveryPoll %v: want a bound of at most a minute", p)
	}
}
