package webui

import (
	"context"
	"crypto/rand"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/store/sqlite"
	"samizdat/transport/tcp"
)

// startRelay serves a relay on loopback until the test ends and returns
// its invite.
func startRelay(t *testing.T) manifest.Invite {
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
	srv, err := relay.New(relay.Config{Store: st, NoiseKey: keys.Noise, ServerCertificate: keys.ServerCertificate, ServerCertificateKey: keys.ServerCertificateKey})
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
		cancel()
		srv.Close()
		<-done
		st.Close()
	})
	inv, err := keys.Invite("test", []manifest.Endpoint{{Transport: "tcp", Address: l.Addr().String()}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestAdminChangesRefused checks the page's group rename, group admin and
// channel admin: a member who is not an admin is refused, as is a bad
// name, and a refusal changes nothing.
func TestAdminChangesRefused(t *testing.T) {
	inv := startRelay(t)
	ctx := context.Background()
	events := make(chan client.Event, 64)
	open := func(name string, onEvent func(client.Event)) *client.Client {
		c, err := client.Init(ctx, client.Config{Home: t.TempDir(), OnEvent: onEvent, PingInterval: time.Second}, inv, name)
		if err != nil {
			t.Fatalf("init %s: %v", name, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice := open("alice", nil)
	bob := open("bob", func(e client.Event) {
		select {
		case events <- e:
		default:
		}
	})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); bob.Receive(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	if _, err := alice.CreateGroup(ctx, "team", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	code, err := alice.CreateChannel(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinChannel(ctx, code, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(time.Minute)
	for {
		if _, err := bob.GroupByName(ctx, "team"); err == nil {
			break
		}
		select {
		case <-events:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("bob never received the group")
		}
	}

	post := func(c *client.Client, path, body string) int {
		s, err := New(Config{Addr: testAddr}, c)
		if err != nil {
			t.Fatal(err)
		}
		hdr := map[string]string{"Content-Type": "application/json", "X-CSRF-Token": s.csrf}
		return request(t, s, "POST", path, testAddr, signIn(t, s), hdr, body).Code
	}
	for what, tc := range map[string]struct {
		c          *client.Client
		path, body string
	}{
		"rename by a member":        {bob, "/api/group", `{"action":"rename","name":"team","newName":"ours"}`},
		"admin by a member":         {bob, "/api/group", `{"action":"admin","name":"team","members":["bob"]}`},
		"rename to a bad name":      {alice, "/api/group", `{"action":"rename","name":"team","newName":"<b>x</b>"}`},
		"rename to no name":         {alice, "/api/group", `{"action":"rename","name":"team","newName":""}`},
		"admin of a stranger":       {alice, "/api/group", `{"action":"admin","name":"team","members":["carol"]}`},
		"admin of two":              {alice, "/api/group", `{"action":"admin","name":"team","members":["bob","alice"]}`},
		"channel admin by a reader": {bob, "/api/channel", `{"action":"admin","name":"news","user":"alice"}`},
		"channel admin, no channel": {alice, "/api/channel", `{"action":"admin","name":"nope","user":"bob"}`},
	} {
		if code := post(tc.c, tc.path, tc.body); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", what, code)
		}
	}
	for _, c := range []*client.Client{alice, bob} {
		g, err := c.GroupByName(ctx, "team")
		if err != nil {
			t.Fatalf("%s: the group is gone: %v", c.Username(), err)
		}
		for _, m := range g.Members {
			if m.Admin != (m.Username == "alice") {
				t.Errorf("%s: %s admin=%v after refusals", c.Username(), m.Username, m.Admin)
			}
		}
	}
	chs, err := bob.Channels(ctx)
	if err != nil || len(chs) != 1 || chs[0].Admin {
		t.Fatalf("bob's channels after refusals: %+v %v", chs, err)
	}
	// The admin's own changes pass.
	if code := post(alice, "/api/group", `{"action":"admin","name":"team","members":["bob"]}`); code != http.StatusOK {
		t.Fatalf("admin by the admin: %d", code)
	}
	if code := post(alice, "/api/group", `{"action":"rename","name":"team","newName":"ours"}`); code != http.StatusOK {
		t.Fatalf("rename by the admin: %d", code)
	}
	if _, err := alice.GroupByName(ctx, "ours"); err != nil {
		t.Fatalf("renamed group: %v", err)
	}
}
