package metrics_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/relay/metrics"
	"samizdat/store/sqlite"
	"samizdat/transport/tcp"
)

// syncBuffer is a bytes.Buffer for a logger used from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestScrapeAfterConversation runs a real relay with metrics on an admin
// listener, has two clients talk through it (and one of them hit a rate
// limit), then scrapes /metrics and /healthz: the counters moved, and
// neither the metrics nor the relay's debug logs hold a username, a
// message body or a key.
func TestScrapeAfterConversation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := relay.GenerateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "relay.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(st.MailboxDepth)
	st.ObserveCommits(m)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := relay.New(relay.Config{
		Store: st, NoiseKey: keys.Noise, Logger: log, Observer: m,
		ServerCertificate: keys.ServerCertificate, ServerCertificateKey: keys.ServerCertificateKey,
		// One lookup per device, then refusals: a rate limit to count.
		Limits: relay.Limits{Lookups: relay.Rate{Burst: 1, PerSecond: 0.0001}},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tcp.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		srv.Close()
		wg.Wait()
		st.Close()
	}()
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(ctx, relay.NamedListener(l, "tcp")) }()

	al, err := metrics.ListenAdmin("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	health := func(ctx context.Context) error { _, _, err := st.MailboxDepth(ctx); return err }
	wg.Add(1)
	go func() { defer wg.Done(); metrics.Serve(ctx, al, m.Handler(health, log)) }()
	base := "http://" + al.Addr().String()

	inv, err := keys.Invite("test", []manifest.Endpoint{{Transport: "tcp", Address: l.Addr().String()}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const (
		aliceName = "alice_metrics_7q"
		bobName   = "bob_metrics_9z"
		body      = "the heron flies at midnight 4242"
		reply     = "understood, the heron 9191"
	)
	alice, aliceMsgs := newClient(t, inv, aliceName)
	bob, bobMsgs := newClient(t, inv, bobName)
	receive(t, alice)
	receive(t, bob)
	if _, err := alice.Send(ctx, bobName, body); err != nil {
		t.Fatal(err)
	}
	waitText(t, bobMsgs, body)
	if _, err := bob.Send(ctx, aliceName, reply); err != nil {
		t.Fatal(err)
	}
	waitText(t, aliceMsgs, reply)
	// Alice's only lookup went to bob; the next is refused.
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = alice.Send(sctx, "carol_metrics_1x", "never sent")
	scancel()
	if err == nil {
		t.Fatalf("a send needing a second lookup went through")
	}

	page := get(t, base+"/metrics")
	for _, c := range []struct {
		series string
		least  float64
	}{
		{`samizdat_relay_handshakes_total{result="ok",transport="tcp"}`, 4}, // 2 registrations, 2 receive loops
		{`samizdat_relay_connections{transport="tcp"}`, 2},
		{`samizdat_relay_messages_in_total{kind="send"}`, 1},   // alice's first message
		{`samizdat_relay_messages_in_total{kind="sealed"}`, 1}, // bob knows her access key
		{`samizdat_relay_messages_out_total`, 2},
		{`samizdat_relay_delivery_latency_seconds_count`, 2},
		{`samizdat_relay_rate_limited_total{kind="lookup"}`, 1},
		{`samizdat_store_commit_seconds_count`, 4},
		{`samizdat_store_commit_batch_size_count`, 4},
		{`samizdat_relay_mailbox_envelopes`, 0},
		{`samizdat_relay_mailbox_bytes`, 0},
	} {
		v, ok := value(page, c.series)
		if !ok {
			t.Errorf("no series %s", c.series)
			continue
		}
		if v < c.least {
			t.Errorf("%s = %v, want at least %v", c.series, v, c.least)
		}
	}
	if got := get(t, base+"/healthz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("healthz: %q", got)
	}

	// Nothing secret or personal in what an operator sees.
	var secrets []string
	add := func(what string, b []byte) {
		secrets = append(secrets, what+" hex", hex.EncodeToString(b), what+" base64", base64.StdEncoding.EncodeToString(b),
			what+" base64url", base64.RawURLEncoding.EncodeToString(b))
	}
	add("relay noise private key", keys.Noise.Private[:])
	add("relay noise public key", keys.Noise.Public[:])
	for _, name := range []string{aliceName, bobName} {
		a, err := st.AccountByUsername(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		add(name+" identity key", a.IdentityKey)
		add(name+" access key", a.UnidentifiedAccessKey)
		add(name+" account id", a.ID[:])
		devs, err := st.Devices(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			add(name+" device noise key", d.NoiseKey[:])
		}
	}
	for _, s := range []string{aliceName, bobName, "carol_metrics_1x", body, reply, "heron"} {
		secrets = append(secrets, s, s)
	}
	logText := logs.String()
	if !strings.Contains(logText, "rate limited") {
		t.Errorf("the relay's debug log is not the one under test: %.200s", logText)
	}
	for i := 0; i < len(secrets); i += 2 {
		what, s := secrets[i], secrets[i+1]
		if strings.Contains(page, s) {
			t.Errorf("/metrics holds the %s", what)
		}
		if strings.Contains(logText, s) {
			t.Errorf("the relay's log holds the %s", what)
		}
	}
}

func newClient(t *testing.T, inv manifest.Invite, name string) (*client.Client, <-chan string) {
	t.Helper()
	texts := make(chan string, 16)
	cfg := client.Config{Home: t.TempDir(), OnEvent: func(e client.Event) {
		if e.Kind == client.EventMessage {
			texts <- e.Text
		}
	}}
	c, err := client.Init(context.Background(), cfg, inv, name)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, texts
}

func receive(t *testing.T, c *client.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Receive(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitText(t *testing.T, texts <-chan string, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case got := <-texts:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("message not delivered")
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

// value returns the value of series (name and labels exactly as the text
// format writes them) on page.
func value(page, series string) (float64, bool) {
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func TestListenAdminRefusesPublicAddresses(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.org:0"} {
		if l, err := metrics.ListenAdmin(addr, false); !errors.Is(err, metrics.ErrNotLoopback) {
			if l != nil {
				l.Close()
			}
			t.Errorf("ListenAdmin(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		l, err := metrics.ListenAdmin(addr, false)
		if err != nil {
			t.Errorf("ListenAdmin(%q): %v", addr, err)
			continue
		}
		l.Close()
	}
	// Allowed explicitly, on a loopback address so the test stays local.
	l, err := metrics.ListenAdmin("127.0.0.2:0", true)
	if err != nil {
		t.Fatalf("with anyAddress: %v", err)
	}
	l.Close()
}

func TestHealthzFails(t *testing.T) {
	m := metrics.New(nil)
	l, err := metrics.ListenAdmin("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- metrics.Serve(ctx, l, m.Handler(func(context.Context) error { return errors.New("store down: secret detail") }, nil))
	}()
	resp, err := http.Get("http://" + l.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(b), "secret") {
		t.Errorf("unhealthy: %s %q", resp.Status, b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
