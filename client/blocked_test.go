package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/client"
	"samizdat/dialer"
	"samizdat/manifest"
	"samizdat/manifest/channel/channeltest"
	"samizdat/relay"
	"samizdat/store/sqlite"
	"samizdat/transport/tcp"
)

// blockedNet is a relay listening on several endpoints, each behind a
// blocker proxy, and a mirror channel for newer manifests.
type blockedNet struct {
	keys    relay.Keys
	srv     *relay.Server
	proxies []*blocktest.Proxy
	mirror  *channeltest.Mirror
	serial  uint64
}

func startBlockedRelay(t testing.TB, endpoints int) *blockedNet {
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
	srv, err := relay.New(relay.Config{Store: st, NoiseKey: keys.Noise,
		ServerCertificate: keys.ServerCertificate, ServerCertificateKey: keys.ServerCertificateKey})
	if err != nil {
		t.Fatal(err)
	}
	b := blocktest.New()
	n := &blockedNet{keys: keys, srv: srv, mirror: channeltest.NewMirror("mirror.example")}
	var wg sync.WaitGroup
	for range endpoints {
		l, err := tcp.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); srv.Serve(ctx, l) }()
		p, err := b.Add(l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		n.proxies = append(n.proxies, p)
	}
	t.Cleanup(func() {
		cancel()
		b.Close()
		srv.Close()
		wg.Wait()
		st.Close()
		n.mirror.Close()
	})
	return n
}

// placeIn returns an operator's inviter token that places its holder in
// cohort c of cohorts (slot cohorts+c-1: slot 0 means none).
func (n *blockedNet) placeIn(t testing.TB, c, cohorts uint32) []byte {
	t.Helper()
	tok, err := n.srv.OperatorInvite(uint64(cohorts+c-1), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sign returns a newer manifest naming the endpoints behind proxies idx.
func (n *blockedNet) sign(t testing.TB, idx ...int) []byte {
	t.Helper()
	n.serial++
	var eps []manifest.Endpoint
	for _, i := range idx {
		eps = append(eps, manifest.Endpoint{Transport: "tcp", Address: n.proxies[i].Addr()})
	}
	m := &manifest.Manifest{
		Network: "test", Serial: n.serial, Issued: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour),
		Relays:    []manifest.Relay{{ID: n.keys.RelayID, NoiseKey: n.keys.Noise.Public, Endpoints: eps}},
		TrustRoot: n.keys.TrustRoot.Public.Bytes(),
		Channels:  []manifest.Channel{{Kind: "https", URL: n.mirror.URL("/manifest"), TLSPin: n.mirror.Pin()}},
	}
	blob, err := manifest.Sign(m, n.keys.Network)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func (n *blockedNet) invite(t testing.TB, idx ...int) manifest.Invite {
	return manifest.Invite{NetworkKey: n.keys.Network.Public().(ed25519.PublicKey), Manifest: n.sign(t, idx...)}
}

// dialLog records, per user, the endpoints connected through.
type dialLog struct {
	mu        sync.Mutex
	connected []string
	classes   map[dialer.FailureClass]int
	suspects  int // replacement races for a quiet connection
	onConnect func(addr string)
	all       []dialer.Event
}

func (l *dialLog) add(e dialer.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, e)
	switch e.Kind {
	case dialer.EventConnected:
		l.connected = append(l.connected, e.Candidate.Endpoint.Address)
		if l.onConnect != nil {
			l.onConnect(e.Candidate.Endpoint.Address)
		}
	case dialer.EventSuspect:
		l.suspects++
	case dialer.EventFailure:
		if l.classes == nil {
			l.classes = map[dialer.FailureClass]int{}
		}
		l.classes[e.Class]++
	}
}

func (l *dialLog) events() []dialer.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

func (l *dialLog) suspected() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.suspects
}

func (l *dialLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.connected) == 0 {
		return ""
	}
	return l.connected[len(l.connected)-1]
}

func waitUntil(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newBlockedUser(t testing.TB, inv manifest.Invite, name string, log *dialLog) *user {
	t.Helper()
	u := &user{wake: make(chan struct{}, 1)}
	// The default liveness settings: what is measured is what ships.
	cfg := client.Config{Home: t.TempDir(), OnEvent: u.onEvent, OnDial: log.add}
	c, err := client.Init(context.Background(), cfg, inv, name)
	if err != nil {
		t.Fatalf("init %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	u.Client = c
	return u
}

// TestChatAcrossBlock: a chat goes on while the endpoint both users are on
// is blocked, first silently (drop, noticed by the keepalive), then by
// resets; the clients move to the other endpoint by themselves and no
// message is lost or shown twice.
func TestChatAcrossBlock(t *testing.T) {
	n := startBlockedRelay(t, 2)
	inv := n.invite(t, 0, 1)
	var alog, blog dialLog
	alice := newBlockedUser(t, inv, "alice", &alog)
	bob := newBlockedUser(t, inv, "bob", &blog)
	alice.receive(t)
	bob.receive(t)
	ctx := context.Background()
	waitUntil(t, "both connected", patience, func() bool { return client.ConnAddr(alice.Client) != "" && client.ConnAddr(bob.Client) != "" })

	sent := 0
	send := func(k int) {
		for range k {
			sent++
			if _, err := alice.Send(ctx, "bob", fmt.Sprintf("message %d", sent)); err != nil {
				t.Fatalf("send %d: %v", sent, err)
			}
		}
	}
	send(5)
	for round, mode := range []blocktest.Mode{blocktest.Drop, blocktest.Reset} {
		// Block the endpoint bob's connection is on, and let the other
		// through. (The endpoint bob last dialled may be another: a
		// sealed send, such as a receipt, dials a connection of its own,
		// and on a busy machine a race can put it on the other endpoint.)
		var cur int
		waitUntil(t, fmt.Sprintf("round %d: bob connected", round), patience, func() bool {
			addr := client.ConnAddr(bob.Client)
			for i, p := range n.proxies {
				if addr == p.Addr() {
					cur = i
					return true
				}
			}
			return false
		})
		n.proxies[1-cur].Set(blocktest.Pass)
		suspects := blog.suspected()
		n.proxies[cur].Set(mode)
		start := time.Now()
		waitUntil(t, fmt.Sprintf("round %d (%s): bob moves", round, mode), patience, func() bool {
			return client.ConnAddr(bob.Client) == n.proxies[1-cur].Addr()
		})
		t.Logf("%s: bob reconnected after %v", mode, time.Since(start).Round(time.Millisecond))
		if mode == blocktest.Drop {
			// The connection moves when an overdue answer makes it
			// suspect (the race is recorded before the new one connects).
			if blog.suspected() == suspects {
				t.Fatalf("bob moved off a silently dropped endpoint without suspecting it")
			}
		}
		send(5)
	}
	got := bob.waitFor(t, client.EventMessage, sent)
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show up
	got = bob.waitFor(t, client.EventMessage, sent)
	seen := map[string]bool{}
	for _, e := range got {
		if seen[e.Text] {
			t.Errorf("shown twice: %q", e.Text)
		}
		seen[e.Text] = true
	}
	if len(got) != sent || len(seen) != sent {
		t.Fatalf("bob saw %d messages (%d distinct), want %d", len(got), len(seen), sent)
	}
}

// TestReceiveFetchesNewerManifest: every endpoint the client knows is
// blocked; the mirror channel serves a newer manifest naming a new
// endpoint, and the client carries on through it, keeping the manifest.
func TestReceiveFetchesNewerManifest(t *testing.T) {
	n := startBlockedRelay(t, 3)
	inv := n.invite(t, 0, 1)
	var log dialLog
	alice := newBlockedUser(t, inv, "alice", &log)
	alice.receive(t)
	waitUntil(t, "connected", patience, func() bool { return log.last() != "" })

	newer := n.sign(t, 1, 2)
	n.mirror.Put("/manifest", newer)
	n.proxies[0].Set(blocktest.Reset)
	n.proxies[1].Set(blocktest.Reset)
	waitUntil(t, "connected through the new endpoint", patience, func() bool {
		return log.last() == n.proxies[2].Addr()
	})
	if _, err := alice.Send(context.Background(), "alice", "still here"); err != nil {
		t.Fatal(err)
	}
	// A manifest pushed later that rolls back is refused.
	if ok, err := alice.UpdateManifest(context.Background(), inv.Manifest); ok || err != nil {
		t.Fatalf("rollback adopted: %v %v", ok, err)
	}
}

// TestInitThroughChannels: the invite's only endpoint is blocked before
// the first run; Init fetches a newer manifest from the invite's mirror
// channel and registers through it.
func TestInitThroughChannels(t *testing.T) {
	n := startBlockedRelay(t, 2)
	inv := n.invite(t, 0)
	n.proxies[0].Set(blocktest.Reset)
	n.mirror.Put("/manifest", n.sign(t, 1))
	var log dialLog
	alice := newBlockedUser(t, inv, "alice", &log)
	if got := log.last(); got != n.proxies[1].Addr() {
		t.Fatalf("registered via %q", got)
	}
	if _, err := alice.Send(context.Background(), "alice", "hello me"); err != nil {
		t.Fatal(err)
	}
}
