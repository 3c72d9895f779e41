package client_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"samizdat/bus/natsbus"
	"samizdat/bus/natsbus/natstest"
	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/store/sqlite"
	"samizdat/transport/tcp"
)

// startNodes starts two relay nodes with the same keys and store, on one
// NATS bus, and returns an invite naming only the first and one naming
// only the second.
func startNodes(t testing.TB, limits relay.Limits) (invA, invB manifest.Invite) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns, err := natstest.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	keys, err := relay.GenerateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "relay.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var invs []manifest.Invite
	for range 2 {
		hub, err := natsbus.New(natsbus.Config{URL: ns.URL(), Key: []byte("0123456789abcdef0123456789abcdef")})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := relay.New(relay.Config{Store: st, Hub: hub, NoiseKey: keys.Noise, Limits: limits,
			ServerCertificate: keys.ServerCertificate, ServerCertificateKey: keys.ServerCertificateKey})
		if err != nil {
			t.Fatal(err)
		}
		l, err := tcp.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.Serve(ctx, relay.NamedListener(l, "tcp"))
		}()
		t.Cleanup(func() {
			srv.Close()
			<-done
			hub.Close()
		})
		inv, err := keys.Invite("test", []manifest.Endpoint{{Transport: "tcp", Address: l.Addr().String()}}, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		invs = append(invs, inv)
	}
	return invs[0], invs[1]
}

// TestLinkAcrossNodes: bob's phone is connected to one relay node and his
// new laptop reaches only another; the pairing goes over the bus between
// them, the laptop is linked and gets what alice sends.
func TestLinkAcrossNodes(t *testing.T) {
	ctx := context.Background()
	invA, invB := startNodes(t, relay.Limits{})
	bob := &user{wake: make(chan struct{}, 1)}
	c, err := client.Init(ctx, client.Config{Home: t.TempDir(), OnEvent: bob.onEvent, PingInterval: time.Second}, invB, "bob")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bob.Client = c
	alice := &user{wake: make(chan struct{}, 1)}
	if alice.Client, err = client.Init(ctx, client.Config{Home: t.TempDir(), OnEvent: alice.onEvent, PingInterval: time.Second}, invA, "alice"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })

	laptop := &user{wake: make(chan struct{}, 1)}
	p, err := client.StartLink(ctx, client.Config{Home: t.TempDir(), OnEvent: laptop.onEvent, PingInterval: time.Second}, invA)
	if err != nil {
		t.Fatal(err)
	}
	// Without the bus the approval finds no pairing: bounded waits.
	wctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	approved := make(chan error, 1)
	go func() {
		_, err := bob.ApproveLink(wctx, p.Code())
		approved <- err
	}()
	if laptop.Client, err = p.Wait(wctx, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { laptop.Close() })
	if err := <-approved; err != nil {
		t.Fatalf("approving through the other node: %v", err)
	}
	if laptop.DeviceID() != 2 || laptop.Username() != "bob" {
		t.Fatalf("linked as %s device %d", laptop.Username(), laptop.DeviceID())
	}
	laptop.receive(t)
	bob.receive(t)
	if _, err := alice.Send(ctx, "bob", "to both"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*user{bob, laptop} {
		if ev := u.waitFor(t, client.EventMessage, 1)[0]; ev.Text != "to both" {
			t.Fatalf("device %d got %q", u.DeviceID(), ev.Text)
		}
	}
}

// BenchmarkLinkNodes links a device with 1,000 messages of history with
// the approving device on the same relay node as the new one (nodes=1)
// and on another node of the same bus (nodes=2), in one run: the cost of
// carrying the rendezvous over NATS.
func BenchmarkLinkNodes(b *testing.B) {
	for _, nodes := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			ctx := context.Background()
			invA, invB := startNodes(b, relay.Limits{MaxDevices: 127, PreKeyUploads: relay.Unlimited, Lookups: relay.Unlimited})
			inv := invA
			if nodes == 2 {
				inv = invB
			}
			bob, err := client.Init(ctx, client.Config{Home: b.TempDir()}, inv, "bob")
			if err != nil {
				b.Fatal(err)
			}
			defer bob.Close()
			st := bob.DB().Store()
			now := time.Now()
			for i := range 1000 {
				var eid [16]byte
				copy(eid[:], fmt.Sprintf("%016d", i))
				if _, err := st.AddMessage(ctx, clientdb.Message{EnvelopeID: eid, Peer: "alice", Body: fmt.Sprintf("message %d, of a typical length for a chat line", i),
					SentAt: now, At: now, Status: clientdb.StatusReceived}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				p, err := client.StartLink(ctx, client.Config{Home: b.TempDir()}, invA)
				if err != nil {
					b.Fatal(err)
				}
				approved := make(chan error, 1)
				go func() {
					_, err := bob.ApproveLink(ctx, p.Code())
					approved <- err
				}()
				c, err := p.Wait(ctx, 0)
				if err != nil {
					b.Fatal(err)
				}
				if err := <-approved; err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.Close()
				b.StartTimer()
			}
		})
	}
}
