package relay_test

import (
	"context"
	"path/filepath"
	"testing"

	"samizdat/store/sqlite"
)

// TestSQLiteRestart runs the relay on the embedded store, stops it with
// mail waiting, and checks that a new relay on the same database delivers
// the backlog in order.
func TestSQLiteRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	open := func() *sqlite.Store {
		st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st := open()
	e := newEnvStore(t, st, nil)
	alice := e.register("alice", 1)
	bob := e.register("bob", 2)
	if bs := alice.dev1().mustOK(fetch(bob.account, 1)).GetBundles().GetBundles(); len(bs) != 1 || bs[0].GetPreKey().GetId() != 1 {
		t.Fatalf("bundle: %v", bs)
	}
	for i, text := range []string{"one", "two", "three"} {
		alice.dev1().mustOK(sendReq(bob, envID(i), text))
	}
	e.srv.Close()
	st.Close()

	e2 := newEnvStore(t, open(), nil)
	c := e2.dial(bob.devices[1].noise)
	c.mustOK(startDelivery())
	expectDeliveries(t, c, "one", "two", "three")
	expectQueueEmpty(t, c)
	// Prekeys handed out before the restart stay handed out.
	a := e2.dial(alice.devices[1].noise)
	if bs := a.mustOK(fetch(bob.account, 1)).GetBundles().GetBundles(); len(bs) != 1 || bs[0].GetPreKey().GetId() != 2 {
		t.Fatalf("bundle after restart: %v", bs)
	}
	a.mustOK(sendReq(bob, envID(4), "live"))
	expectDeliveries(t, c, "live")
}
