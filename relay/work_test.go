package relay_test

import (
	"context"
	"fmt"
	"testing"

	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/store/postgres"
	"samizdat/store/postgres/pgtest"
)

// TestRegistrationWorkSharedByNodes: two relay nodes on one PostgreSQL
// database count registrations through shared proxies together, so a
// censor who registers through one node finds the work grown at the other
// too, rather than each node asking for the base work of its own quiet
// count.
func TestRegistrationWorkSharedByNodes(t *testing.T) {
	const base = 6
	url := pgtest.NewDatabase(t)
	mod := func(c *relay.Config) {
		c.Limits.Registrations = relay.Rate{Burst: 10, PerSecond: 0.2}
		c.Limits.RegistrationWork = base
	}
	var nodes []*env
	for range 2 {
		st, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		nodes = append(nodes, startEnv(t, st, mod, true))
	}
	a, b := nodes[0], nodes[1]
	for i := range 40 {
		if r, _ := a.registerFronted(fmt.Sprintf("censor%02d", i)); r.Status != wire.Status_OK {
			t.Fatalf("registration %d at the first node: %v (%s)", i, r.Status, r.Reason)
		}
	}
	// 40 at once is four times Registrations.Burst: two bits more (one,
	// should the test take minutes), asked by the node that saw none.
	r, bits := b.registerFronted("elsewhere")
	if r.Status != wire.Status_OK {
		t.Fatalf("registration at the second node: %v (%s)", r.Status, r.Reason)
	}
	if bits < base+1 {
		t.Errorf("after 40 registrations through the first node the second asks %d bits; want more than the base %d", bits, base)
	}
}
