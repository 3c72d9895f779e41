package dialer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/manifest/channel/channeltest"
)

// TestRunRefreshFromChannels: every endpoint the client knows gets
// blocked; the mirror is down, but the DoH channel serves a newer signed
// manifest with a new endpoint, and the client carries on through it.
func TestRunRefreshFromChannels(t *testing.T) {
	r := newTestRelay(t)
	ps, cs := blocked(t, r, 3)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	mirror := channeltest.NewMirror("mirror.example")
	defer mirror.Close()
	doh := channeltest.NewDoH("dns.example")
	defer doh.Close()
	const txtName = "m.network.example"
	channels := []manifest.Channel{
		{Kind: "https", URL: mirror.URL("/m.bin"), TLSPin: mirror.Pin()},
		{Kind: "doh", URL: doh.URL(), Name: txtName, TLSPin: doh.Pin()},
	}
	sign := func(serial uint64, eps ...Candidate) []byte {
		m := &manifest.Manifest{Network: "test.example", Serial: serial, Issued: time.Now().Add(-time.Minute),
			Expires: time.Now().Add(time.Hour), Channels: channels}
		rel := manifest.Relay{ID: "r1", NoiseKey: r.key.Public}
		for _, c := range eps {
			rel.Endpoints = append(rel.Endpoints, c.Endpoint)
		}
		m.Relays = []manifest.Relay{rel}
		blob, err := manifest.Sign(m, priv)
		if err != nil {
			t.Fatal(err)
		}
		return blob
	}
	k, err := manifest.OpenKeeper(filepath.Join(t.TempDir(), "manifest"), pub, "test.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Offer(sign(1, cs[0], cs[1]), time.Now()); err != nil {
		t.Fatal(err)
	}
	mirror.Fail("/m.bin", 503)

	source := func() []Candidate { return CandidatesFrom(k.Current().ForCohort(0)) }
	refreshes := 0
	refresh := func(ctx context.Context) error {
		refreshes++
		m, errs := channel.FetchAll(ctx, channel.FromManifest(k.Current(), nil), k, time.Now())
		if m == nil {
			return errors.Join(errs...)
		}
		return nil
	}

	var log eventLog
	cfg := Config{Local: clientKey(t), Events: log.add, Memory: NewMemory(), Stagger: 50 * time.Millisecond, MinUptime: time.Millisecond, RefreshAfter: time.Second}
	connected := make(chan string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runInBackground(ctx, cfg, source, refresh, keepaliveSession(300*time.Millisecond, connected))
	if got := waitConnected(t, connected, 10*time.Second); got == ps[2].Addr() {
		t.Fatalf("first connection via %s", got)
	}
	// The operator moves the network: a newer manifest retires the first
	// endpoint and adds a third; only the DoH channel carries it.
	if err := doh.SetBlob(txtName, sign(2, cs[1], cs[2])); err != nil {
		t.Fatal(err)
	}
	ps[1].Set(blocktest.Drop)
	ps[0].Set(blocktest.Reset)
	select {
	case got := <-connected:
		if got != ps[2].Addr() {
			t.Fatalf("carried on via %s, want %s; events %v", got, ps[2].Addr(), log.all())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("stuck; events %v", log.all())
	}
	if s := k.Current().Serial; s != 2 {
		t.Fatalf("keeper holds serial %d", s)
	}
	cancel()
	<-done
	if refreshes < 1 {
		t.Errorf("no refresh")
	}
	for _, e := range log.all() {
		if e.Kind == EventBackoff {
			t.Errorf("backed off although a channel answered")
		}
	}
}
