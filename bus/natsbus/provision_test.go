package natsbus_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"samizdat/relay"
	"samizdat/relay/wire"
)

// TestRendezvousAcrossHubs: one hub serves a rendezvous, another asks it
// and listens for the answers; the bus never carries the rendezvous id,
// a rendezvous nobody serves is ErrNotFound, and a message goes only to a
// rendezvous address.
func TestRendezvousAcrossHubs(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := newHub(t, ns.URL(), nil), newHub(t, ns.URL(), nil)
	ctx := context.Background()
	id := []byte("rv-secret-id")
	if _, err := b.AskRendezvous(ctx, id, relay.RendezvousAsk{}); !errors.Is(err, relay.ErrNotFound) {
		t.Fatalf("asking a rendezvous nobody serves: %v", err)
	}
	// A watcher of the whole bus, while the rendezvous is served (it would
	// otherwise stand for a node that never answers).
	watcher, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	seen := make(chan *nats.Msg, 64)
	wsub, err := watcher.ChanSubscribe(">", seen)
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}

	asks := make(chan relay.RendezvousAsk, 4)
	stop, err := a.ServeRendezvous(id, func(ask relay.RendezvousAsk) relay.RendezvousReply {
		asks <- ask
		if !ask.Send {
			return relay.RendezvousReply{Hello: []byte("hello")}
		}
		return relay.RendezvousReply{Status: wire.Status_CONFLICT, Message: "taken"}
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := b.AskRendezvous(ctx, id, relay.RendezvousAsk{}); err != nil || string(r.Hello) != "hello" {
		t.Fatalf("join: %+v, %v", r, err)
	}
	got := make(chan []byte, 1)
	addr, unlisten, err := b.ListenRendezvous(func(blob []byte) { got <- blob })
	if err != nil {
		t.Fatal(err)
	}
	defer unlisten()
	if r, err := b.AskRendezvous(ctx, id, relay.RendezvousAsk{Send: true, From: addr, Blob: []byte("offer")}); err != nil || r.Status != wire.Status_CONFLICT || r.Message != "taken" {
		t.Fatalf("send: %+v, %v", r, err)
	}
	if ask := <-asks; ask.Send {
		t.Fatalf("first ask %+v", ask)
	}
	if ask := <-asks; !ask.Send || ask.From != addr || string(ask.Blob) != "offer" {
		t.Fatalf("second ask %+v", ask)
	}
	// An ask whose From is no rendezvous address is refused before serve.
	if r, err := b.AskRendezvous(ctx, id, relay.RendezvousAsk{Send: true, From: "samizdat.other", Blob: []byte("x")}); err != nil || r.Status != wire.Status_BAD_REQUEST {
		t.Fatalf("send from a foreign address: %+v, %v", r, err)
	}
	if err := a.TellRendezvous(addr, []byte("keys")); err != nil {
		t.Fatal(err)
	}
	select {
	case blob := <-got:
		if string(blob) != "keys" {
			t.Fatalf("listener got %q", blob)
		}
	case <-time.After(patience):
		t.Fatal("the message never reached the listening hub")
	}
	if err := a.TellRendezvous("samizdat.wake.elsewhere", []byte("x")); err == nil {
		t.Fatal("TellRendezvous sent to an address that is not a rendezvous's")
	}
	wsub.Unsubscribe()
	if err := watcher.Flush(); err != nil { // the server has the unsubscription
		t.Fatal(err)
	}
	stop()
	if _, err := b.AskRendezvous(ctx, id, relay.RendezvousAsk{}); !errors.Is(err, relay.ErrNotFound) {
		t.Fatalf("asking a rendezvous no longer served: %v", err)
	}

	for len(seen) > 0 {
		m := <-seen
		for _, leak := range []string{string(id), hex.EncodeToString(id), hex.EncodeToString(id[:4])} {
			if strings.Contains(m.Subject, leak) || strings.Contains(string(m.Data), leak) {
				t.Errorf("the bus carried the rendezvous id: subject %q", m.Subject)
			}
		}
	}
}
