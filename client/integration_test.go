package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/session"
	"samizdat/session/curve"
	"samizdat/store/sqlite"
	"samizdat/transport/tcp"
)

// testNet is a relay on loopback with its SQLite store in a temporary
// directory.
type testNet struct {
	inv   manifest.Invite
	keys  relay.Keys
	store *sqlite.Store
}

func startRelay(t testing.TB) *testNet {
	t.Helper()
	return startRelayWith(t, relay.Limits{})
}

func startRelayWith(t testing.TB, limits relay.Limits) *testNet {
	t.Helper()
	return startRelayOn(t, relay.Config{Limits: limits}, false)
}

// startRelayOn starts a relay with cfg's limits and observer; proxied
// serves it as a fronted origin's listener is served (its clients'
// address is a CDN edge's, which all fronted users share).
func startRelayOn(t testing.TB, cfg relay.Config, proxied bool) *testNet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	keys, err := relay.GenerateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "relay.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(relay.Config{
		Store:                st,
		NoiseKey:             keys.Noise,
		ServerCertificate:    keys.ServerCertificate,
		ServerCertificateKey: keys.ServerCertificateKey,
		Limits:               cfg.Limits,
		Observer:             cfg.Observer,
		Blobs:                cfg.Blobs,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tcp.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := relay.NamedListener(l, "tcp")
	if proxied {
		ln = relay.ProxiedListener(l, "front")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		<-done
		st.Close()
	})
	inv, err := keys.Invite("test", []manifest.Endpoint{{Transport: "tcp", Address: l.Addr().String()}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &testNet{inv: inv, keys: keys, store: st}
}

// user is a client with its events collected.
type user struct {
	*client.Client
	mu     sync.Mutex
	events []client.Event
	wake   chan struct{}
}

func (u *user) onEvent(e client.Event) {
	u.mu.Lock()
	u.events = append(u.events, e)
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// patience bounds every wait for something that must happen. A wait ends
// as soon as it happens, so only a failing test waits this long; a busy
// machine can take seconds.
const patience = time.Minute

// waitFor waits until n events of kind have arrived and returns them.
func (u *user) waitFor(t *testing.T, kind client.EventKind, n int) []client.Event {
	t.Helper()
	deadline := time.After(patience)
	for {
		u.mu.Lock()
		var got []client.Event
		for _, e := range u.events {
			if e.Kind == kind {
				got = append(got, e)
			}
		}
		u.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-u.wake:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: waited for %d events of kind %d, have %d", u.Username(), n, kind, len(got))
		}
	}
}

func newUser(t testing.TB, n *testNet, name string, tweak func(*client.Config)) *user {
	t.Helper()
	u := &user{wake: make(chan struct{}, 1)}
	cfg := client.Config{Home: t.TempDir(), OnEvent: u.onEvent, PingInterval: time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := client.Init(context.Background(), cfg, n.inv, name)
	if err != nil {
		t.Fatalf("init %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	u.Client = c
	return u
}

// receive runs u's receive loop until the test ends.
func (u *user) receive(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.Receive(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func TestChat(t *testing.T) {
	n := startRelay(t)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	bob.receive(t)
	alice.receive(t)
	ctx := context.Background()

	sent, err := alice.Send(ctx, "bob", "hello bob")
	if err != nil {
		t.Fatal(err)
	}
	if sent.Status != clientdb.StatusSent {
		t.Errorf("status after send = %d", sent.Status)
	}
	got := bob.waitFor(t, client.EventMessage, 1)
	if got[0].Peer != "alice" || got[0].Text != "hello bob" {
		t.Fatalf("bob got %q from %q", got[0].Text, got[0].Peer)
	}
	if _, err := bob.Send(ctx, "alice", "hi alice"); err != nil {
		t.Fatal(err)
	}
	got = alice.waitFor(t, client.EventMessage, 1)
	if got[0].Peer != "bob" || got[0].Text != "hi alice" {
		t.Fatalf("alice got %q from %q", got[0].Text, got[0].Peer)
	}
	// Each side's message was confirmed by a delivery receipt.
	if d := alice.waitFor(t, client.EventDelivered, 1); d[0].EnvelopeID != sent.EnvelopeID {
		t.Fatal("receipt for another message")
	}
	bob.waitFor(t, client.EventDelivered, 1)
	h, err := alice.History(ctx, "bob", 10)
	if err != nil || len(h) != 2 || h[0].Status != clientdb.StatusDelivered || h[1].Body != "hi alice" {
		t.Fatalf("history %+v %v", h, err)
	}
	// Each now knows the other's access key: the rest goes sealed.
	if _, err := alice.Send(ctx, "bob", "sealed now"); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitFor(t, client.EventMessage, 2); got[1].Text != "sealed now" || got[1].Peer != "alice" {
		t.Fatalf("bob got %q from %q", got[1].Text, got[1].Peer)
	}
	if a, b := alice.Stats(), bob.Stats(); a.SentSealed == 0 || b.ReceivedSealed == 0 || a.ReceivedSealed == 0 {
		t.Fatalf("sealed sender unused: alice %+v, bob %+v", a, b)
	}

	sa, err := alice.Safety(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := bob.Safety(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if sa.Number != sb.Number || len(sa.Number) != 60+11 {
		t.Fatalf("safety numbers differ: %q %q", sa.Number, sb.Number)
	}

	if _, err := alice.Send(ctx, "nobody", "hello?"); !errors.Is(err, client.ErrNoSuchUser) {
		t.Fatalf("send to unknown user: %v", err)
	}
}

func TestOfflineBacklog(t *testing.T) {
	n := startRelay(t)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	ctx := context.Background()
	const count = 30
	for i := range count {
		if _, err := alice.Send(ctx, "bob", fmt.Sprint("message ", i)); err != nil {
			t.Fatal(err)
		}
	}
	bob.receive(t)
	got := bob.waitFor(t, client.EventMessage, count)
	bob.waitFor(t, client.EventQueueEmpty, 1)
	for i, e := range got[:count] {
		if want := fmt.Sprint("message ", i); e.Text != want || e.Peer != "alice" {
			t.Fatalf("message %d: %q from %q, want %q", i, e.Text, e.Peer, want)
		}
	}
	// The backlog came before the queue-empty marker.
	bob.mu.Lock()
	var order []client.EventKind
	for _, e := range bob.events {
		if e.Kind == client.EventMessage || e.Kind == client.EventQueueEmpty {
			order = append(order, e.Kind)
		}
	}
	bob.mu.Unlock()
	if order[count] != client.EventQueueEmpty {
		t.Fatalf("queue-empty marker at %v", order)
	}
	if st := bob.Stats(); st.Received != count || st.Undecryptable != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLastOneTimePreKeyRace(t *testing.T) {
	n := startRelay(t)
	// Bob uploads a single one-time prekey of each kind and never more.
	bob := newUser(t, n, "bob", func(c *client.Config) { c.PreKeyBatch = 1; c.PreKeyLowWater = -1 })
	senders := []*user{newUser(t, n, "alice", nil), newUser(t, n, "carol", nil), newUser(t, n, "dave", nil)}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, len(senders))
	for i, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Send(ctx, "bob", "hi from "+s.Username())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", senders[i].Username(), err)
		}
	}
	ec, kyber, err := bob.PreKeyCount(ctx)
	if err != nil || ec != 0 || kyber != 0 {
		t.Fatalf("relay still holds %d ec and %d kyber one-time keys (%v)", ec, kyber, err)
	}
	bob.receive(t)
	got := bob.waitFor(t, client.EventMessage, len(senders))
	from := map[string]bool{}
	for _, e := range got {
		from[e.Peer] = true
	}
	if len(from) != len(senders) {
		t.Fatalf("messages from %v", from)
	}
	if st := bob.Stats(); st.Undecryptable != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDeviceMismatch(t *testing.T) {
	n := startRelay(t)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	bob.receive(t)
	ctx := context.Background()
	if _, err := alice.Send(ctx, "bob", "before"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, client.EventMessage, 1)

	// Bob links a second device; Alice still believes he has one.
	bob2 := &user{wake: make(chan struct{}, 1)}
	c2 := linkDevice(t, bob.Client, client.Config{Home: t.TempDir(), OnEvent: bob2.onEvent})
	bob2.Client = c2
	if c2.DeviceID() != 2 || c2.AccountID() != bob.AccountID() {
		t.Fatalf("linked device %d", c2.DeviceID())
	}
	bob2.receive(t)

	if _, err := alice.Send(ctx, "bob", "after"); err != nil {
		t.Fatal(err)
	}
	for i, u := range []*user{bob, bob2} {
		got := u.waitFor(t, client.EventMessage, 2-i)
		if last := got[len(got)-1]; last.Text != "after" || last.Peer != "alice" {
			t.Fatalf("device %d got %q from %q", u.DeviceID(), last.Text, last.Peer)
		}
	}
	cts, err := alice.Contacts(ctx)
	if err != nil || len(cts) != 1 || len(cts[0].Devices) != 2 {
		t.Fatalf("alice's contacts %+v %v", cts, err)
	}
}

func uuidOf(id [16]byte) string {
	h := fmt.Sprintf("%x", id[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func TestIdentityChangeWarns(t *testing.T) {
	n := startRelay(t)
	alice := newUser(t, n, "alice", nil)
	bob := newUser(t, n, "bob", nil)
	bob.receive(t)
	ctx := context.Background()
	if _, err := alice.Send(ctx, "bob", "one"); err != nil {
		t.Fatal(err)
	}
	before, err := alice.Safety(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	// Make Alice remember another identity for Bob (as if the relay had
	// swapped keys on her first contact). Her session no longer matches
	// it, so her next message opens a new one from a fresh bundle.
	other, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bobAddr := session.Address{Name: uuidOf(bob.AccountID()), DeviceID: 1}
	err = alice.DB().Tx(ctx, func(s *clientdb.Store) error {
		if _, err := s.SaveIdentity(ctx, bobAddr, other.Public); err != nil {
			return err
		}
		return s.AcceptIdentity(ctx, bobAddr.Name)
	})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := alice.Safety(ctx, "bob"); s.Number == before.Number {
		t.Fatal("safety number did not change with the identity")
	}
	if _, err := alice.Send(ctx, "bob", "two"); err != nil {
		t.Fatal(err)
	}
	if ev := alice.waitFor(t, client.EventIdentityChanged, 1); ev[0].Peer != "bob" {
		t.Fatalf("warning about %q", ev[0].Peer)
	}
	after, err := alice.Safety(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if after.ChangedAt.IsZero() || after.Number != before.Number {
		t.Fatalf("after the change: %+v", after)
	}
	if err := alice.AcceptIdentity(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if s, _ := alice.Safety(ctx, "bob"); !s.ChangedAt.IsZero() {
		t.Fatal("accepted change still reported")
	}
	bob.waitFor(t, client.EventMessage, 2)
}

func TestPreKeyReplenish(t *testing.T) {
	n := startRelay(t)
	bob := newUser(t, n, "bob", func(c *client.Config) { c.PreKeyBatch = 4; c.PreKeyLowWater = 3 })
	bob.receive(t)
	ctx := context.Background()
	for _, name := range []string{"alice", "carol"} {
		u := newUser(t, n, name, nil)
		if _, err := u.Send(ctx, "bob", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	bob.waitFor(t, client.EventMessage, 2)
	// Two of four keys were taken; two is below the low-water mark, so a
	// new batch of four goes up.
	deadline := time.Now().Add(patience)
	for {
		ec, kyber, err := bob.PreKeyCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ec == 6 && kyber == 6 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay holds %d ec and %d kyber one-time keys, want 6 each", ec, kyber)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRateLimitedMessagesWaitInOrder(t *testing.T) {
	n := startRelayWith(t, relay.Limits{Messages: relay.Rate{Burst: 1, PerSecond: 0.001}})
	alice := newUser(t, n, "alice", func(c *client.Config) { c.NoSealedSender = true })
	newUser(t, n, "bob", nil)
	carol := newUser(t, n, "carol", nil)
	carol.receive(t)
	ctx := context.Background()
	if _, err := alice.Send(ctx, "bob", "one"); err != nil {
		t.Fatal(err)
	}
	var se *client.StatusError
	if _, err := alice.Send(ctx, "bob", "two"); !errors.As(err, &se) || se.RetryAfter <= 0 {
		t.Fatalf("second message to bob: %v", err)
	}
	// Bob's queue waits; Carol's message goes out.
	if _, err := alice.Send(ctx, "carol", "hi carol"); err != nil {
		t.Fatal(err)
	}
	carol.waitFor(t, client.EventMessage, 1)
	out, err := alice.Outbox(ctx)
	if err != nil || len(out) != 1 || out[0].Peer != "bob" || out[0].Attempts != 2 {
		t.Fatalf("outbox %+v %v", out, err)
	}
}

func TestInitRetriesAfterFailure(t *testing.T) {
	n := startRelay(t)
	ctx := context.Background()
	home := t.TempDir()
	if _, err := client.Open(ctx, client.Config{Home: home}); !errors.Is(err, client.ErrNotInitialized) {
		t.Fatalf("open before init: %v", err)
	}
	// An invite whose endpoint nobody answers: the keys are made, the
	// registration fails.
	dead, err := n.keys.Invite("test", []manifest.Endpoint{{Transport: "tcp", Address: "127.0.0.1:1"}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Init(ctx, client.Config{Home: home}, dead, "alice"); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("init against a dead endpoint: %v", err)
	}
	if _, err := client.Open(ctx, client.Config{Home: home}); !errors.Is(err, client.ErrNotInitialized) {
		t.Fatalf("open after failed init: %v", err)
	}
	c, err := client.Init(ctx, client.Config{Home: home}, n.inv, "alice")
	if err != nil {
		t.Fatalf("second init: %v", err)
	}
	c.Close()
	if _, err := client.Init(ctx, client.Config{Home: home}, n.inv, "alice"); !errors.Is(err, client.ErrAlreadyInitialized) {
		t.Fatalf("third init: %v", err)
	}
	c, err = client.Open(ctx, client.Config{Home: home})
	if err != nil || c.Username() != "alice" {
		t.Fatalf("open: %v", err)
	}
	defer c.Close()
	// Another user cannot take the name.
	if _, err := client.Init(ctx, client.Config{Home: t.TempDir()}, n.inv, "alice"); err == nil {
		t.Fatal("a second alice registered")
	}
}

func TestUpdateManifest(t *testing.T) {
	n := startRelay(t)
	alice := newUser(t, n, "alice", nil)
	ctx := context.Background()
	m, err := manifest.Verify(n.inv.Manifest, n.inv.NetworkKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sign := func(network string, at time.Time) []byte {
		inv, err := n.keys.Invite(network, m.Relays[0].Endpoints, at, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return inv.Manifest
	}
	for _, tc := range []struct {
		name string
		blob []byte
		ok   bool
		err  bool
	}{
		{"same serial", n.inv.Manifest, false, false},
		{"older", sign("test", time.Now().Add(-time.Minute)), false, false},
		{"other network", sign("other", time.Now().Add(time.Minute)), false, true},
		{"garbage", []byte("not a manifest"), false, true},
		{"newer", sign("test", time.Now().Add(time.Minute)), true, false},
	} {
		ok, err := alice.UpdateManifest(ctx, tc.blob)
		if ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%s: adopted %v, err %v", tc.name, ok, err)
		}
	}
	// The adopted manifest is used from now on, and kept.
	if _, err := alice.Send(ctx, "alice", "note to self"); err != nil {
		t.Fatal(err)
	}
}
