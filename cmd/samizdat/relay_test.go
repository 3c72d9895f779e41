package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/transport/tcp"
	"samizdat/transport/wss"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
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

var listenLine = regexp.MustCompile(`relay (\S+) listening on (\S+)\n`)

// startRelay runs `samizdat relay` in process until the returned stop is
// called; it returns the listening address.
func startRelay(t *testing.T, args ...string) (addr string, out *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, &env{stdout: out, stderr: &syncBuffer{}}, append([]string{"relay"}, args...)) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listenLine.FindStringSubmatch(out.String()); m != nil {
			addr = m[2]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("relay exited with %d: %s", code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("relay did not start: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	code := 0
	stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return addr, out, stop
}

func TestRelayCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	addr, out, stop := startRelay(t, "--data", dir, "--listen", "127.0.0.1:0", "--network", "testnet")
	invitePath := filepath.Join(dir, "invite.txt")
	if !strings.Contains(out.String(), "invite written to "+invitePath) || !strings.Contains(out.String(), "created relay keys") {
		t.Fatalf("output: %s", out.String())
	}
	inv, err := manifest.ReadInvite(invitePath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Verify(inv.Manifest, inv.NetworkKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m.Network != "testnet" || len(m.Relays) != 1 || !m.Relays[0].Endpoints[0].Equal(manifest.Endpoint{Transport: "tcp", Address: addr}) || len(m.TrustRoot) != 33 {
		t.Fatalf("manifest: %v", m)
	}

	// A client that joins with the invite reaches the relay.
	ping := func(addr string, relayKey [32]byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		raw, err := tcp.Dialer{}.Dial(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := noisechan.GenerateKeyPair(nil)
		nc, err := noisechan.Client(ctx, raw, key, relayKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		exchangePing(t, nc)
	}
	ping(addr, m.Relays[0].NoiseKey)
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	// A restart keeps the keys and rewrites the invite for the new port.
	invOut := filepath.Join(t.TempDir(), "inv.txt")
	addr2, out2, _ := startRelay(t, "--data", dir, "--listen", "127.0.0.1:0", "--invite-out", invOut)
	if strings.Contains(out2.String(), "created relay keys") {
		t.Fatal("keys created again")
	}
	inv2, err := manifest.ReadInvite(invOut)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := manifest.Verify(inv2.Manifest, inv2.NetworkKey, time.Now())
	if err != nil || !inv2.NetworkKey.Equal(inv.NetworkKey) || m2.Relays[0].NoiseKey != m.Relays[0].NoiseKey {
		t.Fatalf("restart changed the keys: %v", err)
	}
	ping(addr2, m2.Relays[0].NoiseKey)
	if fi, err := os.Stat(filepath.Join(dir, "keys.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file mode: %v", err)
	}
}

func TestRelayCommandUsage(t *testing.T) {
	if code, _, errOut := runCLI(t, "relay", "--nonsense"); code != 2 || !strings.Contains(errOut, "usage: samizdat relay") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "relay", "extra"); code != 2 {
		t.Fatalf("exit %d", code)
	}
}

// inviteSerial reads the invite at path and returns its manifest.
func inviteManifest(t *testing.T, path string) *manifest.Manifest {
	t.Helper()
	inv, err := manifest.ReadInvite(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Verify(inv.Manifest, inv.NetworkKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRelayEndpointsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	_, out, _ := startRelay(t, "--data", dir, "--listen", "tcp://127.0.0.1:0?name=a", "--listen", "tcp://127.0.0.1:0?name=b")
	addrs := listenLine.FindAllStringSubmatch(out.String(), -1)
	if len(addrs) != 2 {
		t.Fatalf("output: %s", out.String())
	}
	invitePath := filepath.Join(dir, "invite.txt")
	m1 := inviteManifest(t, invitePath)
	if len(m1.Relays[0].Endpoints) != 2 {
		t.Fatalf("manifest: %v", m1)
	}

	code, lout, errOut := runCLI(t, "relay", "endpoints", "list", "--data", dir)
	if code != 0 || !strings.Contains(lout, "a\tflag\ttcp\tlisten="+addrs[0][2]) || !strings.Contains(lout, "b\tflag\ttcp") {
		t.Fatalf("list: %d %s %s", code, lout, errOut)
	}
	code, rout, errOut := runCLI(t, "relay", "endpoints", "retire", "a", "--data", dir)
	if code != 0 || !strings.Contains(rout, "retired a") {
		t.Fatalf("retire: %d %s %s", code, rout, errOut)
	}
	m2 := inviteManifest(t, invitePath)
	if m2.Serial <= m1.Serial || len(m2.Relays[0].Endpoints) != 1 || m2.Relays[0].Endpoints[0].Address != addrs[1][2] {
		t.Fatalf("after retire: %v", m2)
	}
	if c, err := net.DialTimeout("tcp", addrs[0][2], time.Second); err == nil {
		c.Close()
		t.Fatal("retired endpoint still listens")
	}
	code, aout, errOut := runCLI(t, "relay", "endpoints", "--data", dir, "add", "tcp://127.0.0.1:0?name=c", "--json")
	if code != 0 || !strings.Contains(aout, `"name": "c"`) {
		t.Fatalf("add: %d %s %s", code, aout, errOut)
	}
	if m3 := inviteManifest(t, invitePath); m3.Serial <= m2.Serial || len(m3.Relays[0].Endpoints) != 2 {
		t.Fatalf("after add: %v", m3)
	}

	// Refusals and mistakes.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"retire", "nonesuch"}, 1, "no endpoint"},
		{[]string{"add", "carrier-pigeon://127.0.0.1:1"}, 2, "unknown transport"},
		{[]string{"frobnicate"}, 2, "unknown operation"},
		{[]string{"list", "extra"}, 2, "takes no argument"},
		{[]string{"reload"}, 1, "no config file"},
	} {
		code, _, errOut := runCLI(t, append([]string{"relay", "endpoints", "--data", dir}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d: %s", tc.args, code, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "relay", "endpoints", "list", "--data", t.TempDir()); code != 1 || !strings.Contains(errOut, "is the relay running") {
		t.Errorf("no relay: %d %s", code, errOut)
	}
}

// A real SIGHUP makes the relay re-read its config file.
func TestRelaySIGHUP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	cfg := filepath.Join(t.TempDir(), "endpoints.json")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"network": "hupnet", "endpoints": [{"name": "x", "transport": "tcp", "listen": "127.0.0.1:0"}]}`)
	_, out, _ := startRelay(t, "--data", dir, "--config", cfg)
	invitePath := filepath.Join(dir, "invite.txt")
	m1 := inviteManifest(t, invitePath)
	if m1.Network != "hupnet" || len(m1.Relays[0].Endpoints) != 1 {
		t.Fatalf("manifest: %v", m1)
	}
	write(`{"network": "hupnet", "endpoints": [
		{"name": "x", "transport": "tcp", "listen": "127.0.0.1:0"},
		{"name": "y", "transport": "tcp", "listen": "127.0.0.1:0", "address": "192.0.2.9:443"}]}`)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "reloaded: 2 endpoints") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	m2 := inviteManifest(t, invitePath)
	if m2.Serial <= m1.Serial || len(m2.Relays[0].Endpoints) != 2 || m2.Relays[0].Endpoints[1].Address != "192.0.2.9:443" {
		t.Fatalf("after SIGHUP: %v", m2)
	}
}

func TestRelayCommandWSS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	_, out, _ := startRelay(t, "--data", dir, "--listen", "tcp://127.0.0.1:0", "--listen", "wss://127.0.0.1:0?sni=www.example.org")
	if !strings.Contains(out.String(), "listening on wss://127.0.0.1:") {
		t.Fatalf("output: %s", out.String())
	}
	m := inviteManifest(t, filepath.Join(dir, "invite.txt"))
	var ep manifest.Endpoint
	for _, e := range m.Relays[0].Endpoints {
		if e.Transport == "wss" {
			ep = e
		}
	}
	if ep.SNI != "www.example.org" || len(ep.Secret) != 32 || len(ep.TLSPin) != 32 {
		t.Fatalf("wss endpoint: %v", ep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := wss.Dial(ctx, wss.ClientConfig{Address: ep.Address, SNI: ep.SNI, Host: ep.Host, Path: ep.Path, Secret: ep.Secret, TLSPin: ep.TLSPin})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := noisechan.GenerateKeyPair(nil)
	nc, err := noisechan.Client(ctx, raw, key, m.Relays[0].NoiseKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	exchangePing(t, nc)
}
