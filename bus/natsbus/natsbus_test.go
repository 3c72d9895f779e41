package natsbus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"samizdat/bus/natsbus"
	"samizdat/bus/natsbus/natstest"
	"samizdat/client"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/store/memstore"
	"samizdat/transport/tcp"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func startNATS(t testing.TB, port int) *natstest.Server {
	t.Helper()
	ns, err := natstest.Start(port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	return ns
}

func newHub(t testing.TB, url string, mod func(*natsbus.Config)) *natsbus.Hub {
	t.Helper()
	cfg := natsbus.Config{URL: url, Key: testKey, ReconnectWait: 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	h, err := natsbus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func account(i int) relay.AccountID {
	var a relay.AccountID
	copy(a[:], fmt.Sprintf("account-%d", i))
	return a
}

// patience bounds every wait for something that must happen. A wait ends
// as soon as it happens, so only a failing test waits this long; a busy
// machine can take seconds.
const patience = time.Minute

// waitFor polls cond until it holds or patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func woken(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(patience):
		t.Fatalf("%s was not woken", what)
	}
}

func notWoken(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s was woken", what)
	default:
	}
}

// serverSubs waits until the NATS server holds want subscriptions.
func serverSubs(t *testing.T, ns *natstest.Server, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d subscriptions on the server", want), func() bool { return ns.Subscriptions() == want })
}

func TestWakeAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	base := ns.Subscriptions()
	a := newHub(t, ns.URL(), nil)
	b := newHub(t, ns.URL(), nil)

	localA, cancelLocal := a.Subscribe(account(1), 1)
	defer cancelLocal()
	remote1, cancel1 := b.Subscribe(account(1), 1)
	defer cancel1()
	remote2, cancel2 := b.Subscribe(account(1), 2) // another device of the same account
	defer cancel2()
	serverSubs(t, ns, base+3)

	a.Notify(account(1), 1)
	woken(t, localA, "the local subscriber")
	woken(t, remote1, "the subscriber on the other node")
	// The same device's wake-up is not echoed back to a (NoEcho): its
	// local subscriber was woken once, directly.
	waitFor(t, "the wake-up to be counted", func() bool { return b.Stats().Received == 1 })
	notWoken(t, localA, "the local subscriber (a second time)")
	notWoken(t, remote2, "another device")

	// And back: b stores for device 2, only b's subscriber of it wakes.
	b.Notify(account(1), 2)
	woken(t, remote2, "device 2's subscriber")
	notWoken(t, remote1, "device 1's subscriber")
	if st := a.Stats(); st.Received != 0 || st.Published != 1 || st.Dropped != 0 {
		t.Errorf("a's stats: %+v", st)
	}
}

func TestSubjectHidesDevice(t *testing.T) {
	ns := startNATS(t, 0)
	base := ns.Subscriptions()
	a := newHub(t, ns.URL(), nil)
	other := newHub(t, ns.URL(), func(c *natsbus.Config) { c.Key = []byte("another relay's key, 32 bytes..") })

	watcher, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	seen := make(chan *nats.Msg, 16)
	if _, err := watcher.ChanSubscribe(">", seen); err != nil {
		t.Fatal(err)
	}
	serverSubs(t, ns, base+1)

	acct := account(7)
	a.Notify(acct, 3)
	var m *nats.Msg
	select {
	case m = <-seen:
	case <-time.After(patience):
		t.Fatal("the wake-up never reached the bus")
	}
	if m.Subject != a.Subject(acct, 3) {
		t.Errorf("published on %q, Subject says %q", m.Subject, a.Subject(acct, 3))
	}
	if !strings.HasPrefix(m.Subject, natsbus.DefaultPrefix+".") || len(m.Subject) != len(natsbus.DefaultPrefix)+1+20 {
		t.Errorf("subject %q: want the prefix and 20 hex digits", m.Subject)
	}
	for _, leak := range []string{hex.EncodeToString(acct[:]), hex.EncodeToString(acct[:4]), "account"} {
		if strings.Contains(strings.ToLower(m.Subject), leak) {
			t.Errorf("subject %q contains %q", m.Subject, leak)
		}
	}
	if len(m.Data) != 0 || len(m.Header) != 0 {
		t.Errorf("wake-up carries %d bytes and %d headers, want none", len(m.Data), len(m.Header))
	}
	if a.Subject(acct, 3) == other.Subject(acct, 3) {
		t.Error("two keys give the same subject")
	}
	if a.Subject(acct, 3) == a.Subject(acct, 4) || a.Subject(acct, 3) == a.Subject(account(8), 3) {
		t.Error("two devices share a subject")
	}
}

func TestSubscriptionsFollowSubscribers(t *testing.T) {
	ns := startNATS(t, 0)
	base := ns.Subscriptions()
	h := newHub(t, ns.URL(), nil)
	_, c1 := h.Subscribe(account(1), 1)
	w2, c2 := h.Subscribe(account(1), 1)
	_, c3 := h.Subscribe(account(2), 1)
	serverSubs(t, ns, base+2) // one per device, not per subscriber
	if n := h.Stats().Subscribed; n != 2 {
		t.Errorf("Subscribed = %d, want 2", n)
	}
	c1()
	c1() // twice is fine
	time.Sleep(50 * time.Millisecond)
	if n := ns.Subscriptions(); n != base+2 {
		t.Errorf("after one of two subscribers left: %d subscriptions, want %d", n, base+2)
	}
	h.Notify(account(1), 1)
	woken(t, w2, "the remaining subscriber")
	c2()
	c3()
	serverSubs(t, ns, base)
	if n := h.Stats().Subscribed; n != 0 {
		t.Errorf("Subscribed = %d, want 0", n)
	}
}

func TestReconnect(t *testing.T) {
	ns := startNATS(t, 0)
	port := ns.Port()
	a := newHub(t, ns.URL(), nil)
	b := newHub(t, ns.URL(), nil)
	w, cancel := b.Subscribe(account(1), 1)
	defer cancel()
	waitFor(t, "b's subscription", func() bool { return ns.Subscriptions() >= 1 })

	ns.Close()
	waitFor(t, "the hubs to notice", func() bool { return !a.Connected() && !b.Connected() })
	// While the bus is down, local wake-ups still work and Notify returns.
	a.Notify(account(1), 1)
	b.Notify(account(1), 1)
	woken(t, w, "a local subscriber while the bus is down")

	ns2 := startNATS(t, port)
	waitFor(t, "the hubs to reconnect", func() bool { return a.Stats().Reconnects >= 1 && b.Stats().Reconnects >= 1 })
	// Hints sent while the bus was down may be lost: every local
	// subscriber is woken once after the reconnect.
	woken(t, w, "a subscriber after the reconnect")
	// The subscription is restored on the new server.
	waitFor(t, "the restored subscription", func() bool { return ns2.Subscriptions() >= 1 })
	a.Notify(account(1), 1)
	woken(t, w, "the subscriber on the other node, after the reconnect")
}

func TestNotifyNeverBlocks(t *testing.T) {
	// Nothing listens here: the hub keeps trying to connect.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + l.Addr().String()
	l.Close()
	h := newHub(t, url, func(c *natsbus.Config) { c.MaxPending = 16 })
	if h.Connected() {
		t.Fatal("connected to nothing")
	}
	w, cancel := h.Subscribe(account(1), 1)
	defer cancel()
	for i := range 100000 {
		h.Notify(account(i), 1)
	}
	woken(t, w, "the local subscriber")
	waitFor(t, "dropped hints to be counted", func() bool { return h.Stats().Dropped > 0 })
	if st := h.Stats(); st.Published+st.Dropped > 100000 {
		t.Errorf("stats %+v count more hints than were sent", st)
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []natsbus.Config{
		{Key: testKey},
		{URL: "nats://user:secretpw@127.0.0.1:notaport", Key: testKey},
		{URL: "nats://127.0.0.1:4222,nats://user:secretpw@[::1", Key: testKey},
		{URL: "nats://127.0.0.1:1", Key: []byte("short")},
		{URL: "nats://127.0.0.1:1", Key: testKey, Prefix: "a.>"},
		{URL: "nats://127.0.0.1:1", Key: testKey, Prefix: "trailing."},
	} {
		h, err := natsbus.New(cfg)
		if err == nil {
			h.Close()
			t.Errorf("New(%+v) succeeded", cfg.Prefix)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// node is a relay.Server with its own hub, serving on loopback.
type node struct {
	srv  *relay.Server
	hub  *natsbus.Hub
	addr string
}

func startNode(t *testing.T, st relay.Store, keys relay.Keys, natsURL string, poll time.Duration) *node {
	t.Helper()
	hub := newHub(t, natsURL, nil)
	srv, err := relay.New(relay.Config{
		Store: st, NoiseKey: keys.Noise,
		ServerCertificate: keys.ServerCertificate, ServerCertificateKey: keys.ServerCertificateKey,
		Hub:    hub,
		Limits: relay.Limits{Registrations: relay.Unlimited, DeliveryPoll: poll},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tcp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, relay.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return &node{srv: srv, hub: hub, addr: ln.Addr().String()}
}

// inviteTo is an invite that lists only n, so a client lands on that node.
func inviteTo(t *testing.T, keys relay.Keys, n *node) manifest.Invite {
	t.Helper()
	inv, err := keys.Invite("natsbus-test", []manifest.Endpoint{{Transport: "tcp", Address: n.addr}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestRelayNodes runs two relay servers on one store, each with its own
// hub: a message stored by one node reaches a device connected to the
// other, woken over the bus (the poll is an hour, so only a wake-up can
// deliver it), and with the bus down, by the poll alone.
func TestRelayNodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		busDown bool
		poll    time.Duration
	}{
		{"wake-up over the bus", false, time.Hour},
		{"bus down, poll", true, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ns := startNATS(t, 0)
			st := memstore.New(memstore.Options{})
			t.Cleanup(func() { st.Close() })
			keys, err := relay.GenerateKeys(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			n1 := startNode(t, st, keys, ns.URL(), tc.poll)
			n2 := startNode(t, st, keys, ns.URL(), tc.poll)

			dir := t.TempDir()
			got := make(chan string, 16)
			ready := make(chan struct{}, 1)
			cfg := func(name string, on func(client.Event)) client.Config {
				return client.Config{Home: filepath.Join(dir, name), PreKeyBatch: 5, NoReceipts: true, OnEvent: on,
					RequestTimeout: 5 * time.Second, DialTimeout: 2 * time.Second}
			}
			alice, err := client.Init(ctx, cfg("alice", nil), inviteTo(t, keys, n1), "alice")
			if err != nil {
				t.Fatal(err)
			}
			defer alice.Close()
			bob, err := client.Init(ctx, cfg("bob", func(e client.Event) {
				switch e.Kind {
				case client.EventMessage:
					got <- e.Text
				case client.EventQueueEmpty:
					select {
					case ready <- struct{}{}:
					default:
					}
				}
			}), inviteTo(t, keys, n2), "bob")
			if err != nil {
				t.Fatal(err)
			}
			defer bob.Close()
			rctx, stop := context.WithCancel(ctx)
			recvDone := make(chan struct{})
			go func() { defer close(recvDone); bob.Receive(rctx) }()
			defer func() { stop(); <-recvDone }()
			// Bob's delivery loop has read his empty mailbox and waits.
			select {
			case <-ready:
			case <-time.After(patience):
				t.Fatal("bob's backlog never ended")
			}
			waitFor(t, "bob's subscription on the bus", func() bool {
				return n2.hub.Stats().Subscribed == 1 && ns.Subscriptions() >= 1
			})
			if tc.busDown {
				ns.Close()
				waitFor(t, "the hubs to notice", func() bool { return !n1.hub.Connected() && !n2.hub.Connected() })
			}
			for i := range 3 {
				text := fmt.Sprintf("hello %d", i)
				if _, err := alice.Send(ctx, "bob", text); err != nil {
					t.Fatal(err)
				}
				select {
				case g := <-got:
					if g != text {
						t.Fatalf("bob got %q, want %q", g, text)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("bob never got %q", text)
				}
			}
			if !tc.busDown {
				if st := n2.hub.Stats(); st.Received == 0 {
					t.Errorf("node 2 received no wake-ups: %+v", st)
				}
			}
		})
	}
}

// TestConcurrentSubscribers subscribes, notifies and cancels from many
// goroutines on a few devices at once; afterwards no subscription is left,
// here or on the server.
func TestConcurrentSubscribers(t *testing.T) {
	ns := startNATS(t, 0)
	base := ns.Subscriptions()
	h := newHub(t, ns.URL(), nil)
	other := newHub(t, ns.URL(), nil)
	done := make(chan struct{})
	for g := range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				w, cancel := h.Subscribe(account(i%5), uint32(g%3))
				other.Notify(account(i%5), uint32(g%3))
				h.Notify(account(i%5), uint32(g%3))
				select {
				case <-w: // h's own Notify woke it, at least
				case <-time.After(patience):
					t.Error("a subscriber was not woken by its own node")
				}
				cancel()
			}
		}()
	}
	for range 16 {
		<-done
	}
	if n := h.Stats().Subscribed; n != 0 {
		t.Errorf("Subscribed = %d after every cancel", n)
	}
	serverSubs(t, ns, base)
}

// TestSubscribeFunc checks the relay.FuncHub side: a function subscriber
// is woken from another node, shares the device's one NATS subscription
// with a channel subscriber, and is not called after its cancel.
func TestSubscribeFunc(t *testing.T) {
	ns := startNATS(t, 0)
	base := ns.Subscriptions()
	a := newHub(t, ns.URL(), nil)
	b := newHub(t, ns.URL(), nil)
	fn := make(chan struct{}, 8)
	cancelFn := b.SubscribeFunc(account(1), 1, func() { fn <- struct{}{} })
	w, cancelCh := b.Subscribe(account(1), 1)
	defer cancelCh()
	serverSubs(t, ns, base+1)

	a.Notify(account(1), 1)
	woken(t, fn, "the function subscriber on the other node")
	woken(t, w, "the channel subscriber on the other node")
	cancelFn()
	cancelFn()
	serverSubs(t, ns, base+1) // the channel subscriber keeps it
	a.Notify(account(1), 1)
	woken(t, w, "the channel subscriber again")
	notWoken(t, fn, "the canceled function subscriber")
}
