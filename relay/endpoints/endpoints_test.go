package endpoints_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/endpoints"
	"samizdat/relay/regwork"
	"samizdat/relay/wire"
	"samizdat/session/curve"
	"samizdat/session/kem"
	"samizdat/store/memstore"
)

// testRelay is a relay server with keys, for a Manager to run.
type testRelay struct {
	srv  *relay.Server
	keys relay.Keys
	dir  string
}

func newRelay(t *testing.T) *testRelay {
	t.Helper()
	keys, err := relay.GenerateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	srv, err := relay.New(relay.Config{Store: st, NoiseKey: keys.Noise, ServerCertificate: keys.ServerCertificate,
		ServerCertificateKey: keys.ServerCertificateKey, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := filepath.Join(t.TempDir(), "relay")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return &testRelay{srv: srv, keys: keys, dir: dir}
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func (r *testRelay) start(t *testing.T, mod func(*endpoints.Options), listen ...string) *endpoints.Manager {
	t.Helper()
	opts := endpoints.Options{Dir: r.dir, Server: r.srv, Keys: r.keys, Network: "testnet", Logger: testLogger()}
	for _, l := range listen {
		s, err := endpoints.ParseURL(l)
		if err != nil {
			t.Fatal(err)
		}
		opts.Listen = append(opts.Listen, s)
	}
	if mod != nil {
		mod(&opts)
	}
	m, err := endpoints.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func (r *testRelay) verify(t *testing.T, blob []byte) *manifest.Manifest {
	t.Helper()
	m, err := manifest.VerifyNetwork(blob, r.keys.Network.Public().(ed25519.PublicKey), "testnet", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// addresses returns the addresses of m's endpoints.
func addresses(m *manifest.Manifest) []string {
	var out []string
	for _, e := range m.Relays[0].Endpoints {
		out = append(out, e.Transport+"="+e.Address)
	}
	return out
}

// rawClient is a registered device on a Noise channel, reading frames.
type rawClient struct {
	t      *testing.T
	nc     *noisechan.Conn
	pushes chan *wire.Push
	resps  chan *wire.Response
	done   chan struct{}
	nextID uint64
	slot   manifest.Slot // the cohort slot the relay assigned at registration
}

// dialer opens a raw stream to an endpoint.
type dialer func(ctx context.Context) (net.Conn, error)

func tcpTo(addr string) dialer {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

func dialRaw(t *testing.T, dial dialer, relayKey [32]byte, key noisechan.KeyPair) (*rawClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	nc, err := noisechan.Client(ctx, raw, key, relayKey, nil)
	if err != nil {
		return nil, err
	}
	c := &rawClient{t: t, nc: nc, pushes: make(chan *wire.Push, 100), resps: make(chan *wire.Response, 100), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			f, err := wire.ReadFrame(nc)
			if err != nil {
				return
			}
			switch b := f.Body.(type) {
			case *wire.Frame_Push:
				c.pushes <- b.Push
			case *wire.Frame_Response:
				c.resps <- b.Response
			}
		}
	}()
	t.Cleanup(func() { nc.Close(); <-c.done })
	return c, nil
}

func (c *rawClient) call(op *wire.Request) *wire.Response {
	c.t.Helper()
	r := c.try(op)
	if r.Status != wire.Status_OK {
		c.t.Fatalf("%T: %v %s", op.Op, r.Status, r.Reason)
	}
	return r
}

// try is call that takes any status.
func (c *rawClient) try(op *wire.Request) *wire.Response {
	c.t.Helper()
	c.nextID++
	op.Id = c.nextID
	if err := wire.WriteFrame(c.nc, &wire.Frame{Body: &wire.Frame_Request{Request: op}}); err != nil {
		c.t.Fatal(err)
	}
	select {
	case r := <-c.resps:
		return r
	case <-time.After(10 * time.Second):
		c.t.Fatal("no response")
	}
	return nil
}

// nextManifest returns the next pushed manifest, skipping QueueEmpty.
func (c *rawClient) nextManifest() []byte {
	c.t.Helper()
	for {
		select {
		case p := <-c.pushes:
			if b := p.GetManifest(); b != nil {
				return b
			}
		case <-time.After(10 * time.Second):
			c.t.Fatal("no manifest pushed")
		}
	}
}

// register makes a device and starts delivery on a fresh connection to addr.
func register(t *testing.T, addr string, relayKey [32]byte, name string) *rawClient {
	t.Helper()
	return registerVia(t, tcpTo(addr), relayKey, name)
}

// registerVia is register over any transport.
func registerVia(t *testing.T, dial dialer, relayKey [32]byte, name string) *rawClient {
	t.Helper()
	noise, err := noisechan.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return registerKey(t, dial, relayKey, name, noise)
}

// registerKey is registerVia with a given device key.
func registerKey(t *testing.T, dial dialer, relayKey [32]byte, name string, noise noisechan.KeyPair) *rawClient {
	t.Helper()
	c, err := dialRaw(t, dial, relayKey, noise)
	if err != nil {
		t.Fatal(err)
	}
	ik, _ := curve.GenerateKeyPair(rand.Reader)
	spk, _ := curve.GenerateKeyPair(rand.Reader)
	spkSig, _ := ik.Private.Sign(rand.Reader, spk.Public.Bytes())
	kk, _ := kem.GenerateKeyPair(rand.Reader)
	kkSig, _ := ik.Private.Sign(rand.Reader, kk.Public.Bytes())
	reg := &wire.Register{
		Username:              name,
		IdentityKey:           ik.Public.Bytes(),
		RegistrationId:        7,
		NoiseStaticKey:        noise.Public[:],
		SignedPreKey:          &wire.SignedPreKey{Id: 1, PublicKey: spk.Public.Bytes(), Signature: spkSig},
		LastResortKyberPreKey: &wire.KyberPreKey{Id: 1, PublicKey: kk.Public.Bytes(), Signature: kkSig},
		UnidentifiedAccessKey: make([]byte, 16),
	}
	r := c.try(&wire.Request{Op: &wire.Request_Register{Register: reg}})
	if r.Status != wire.Status_OK {
		// Through a CDN the relay asks for a proof of work, as a client
		// does it.
		if r.Status != wire.Status_UNAUTHORIZED || r.WorkBits == 0 {
			t.Fatalf("register: %v %s", r.Status, r.Reason)
		}
		if reg.Work, err = regwork.Solve(context.Background(), relayKey, noise.Public, int(r.WorkBits)); err != nil {
			t.Fatal(err)
		}
		r = c.call(&wire.Request{Op: &wire.Request_Register{Register: reg}})
	}
	c.slot = manifest.Slot(r.GetRegistered().GetSlot())
	c.call(&wire.Request{Op: &wire.Request_StartDelivery{StartDelivery: &wire.StartDelivery{}}})
	return c
}

func canDial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestRetireThroughAdminPushesManifest(t *testing.T) {
	r := newRelay(t)
	m := r.start(t, nil, "tcp://127.0.0.1:0?name=a", "tcp://127.0.0.1:0?name=b")
	sock := filepath.Join(r.dir, endpoints.SocketFile)
	if err := m.ServeAdmin(sock); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v", fi.Mode(), err)
	}
	if err := m.ServeAdmin(sock); !errors.Is(err, endpoints.ErrSocketInUse) {
		t.Fatalf("second admin socket: %v", err)
	}
	list := m.List()
	if len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
		t.Fatalf("list: %+v", list)
	}
	addrA, addrB := list[0].Listen, list[1].Listen
	firstBlob := m.Manifest()
	first := r.verify(t, firstBlob)
	if got := addresses(first); len(got) != 2 {
		t.Fatalf("manifest endpoints %v", got)
	}

	// Clients on both endpoints get the current manifest on StartDelivery.
	var clients []*rawClient
	for i, addr := range []string{addrA, addrB, addrA} {
		c := register(t, addr, r.keys.Noise.Public, "user"+string(rune('a'+i)))
		if got := r.verify(t, c.nextManifest()); got.Serial != first.Serial {
			t.Fatalf("pushed serial %d, want %d", got.Serial, first.Serial)
		}
		clients = append(clients, c)
	}

	// Retire a through the admin socket.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := endpoints.Call(ctx, sock, endpoints.Request{Op: endpoints.OpRetire, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Serial <= first.Serial || resp.Endpoint == nil || resp.Endpoint.Name != "a" || len(resp.Endpoints) != 1 {
		t.Fatalf("retire: %+v", resp)
	}
	if canDial(addrA) {
		t.Fatal("retired listener still accepts")
	}
	if !canDial(addrB) {
		t.Fatal("other listener closed")
	}

	// Every connected client, including those that came through a, gets
	// the new manifest, and a keeper takes it.
	for i, c := range clients {
		blob := c.nextManifest()
		k, err := manifest.OpenKeeper(filepath.Join(t.TempDir(), "m"), r.keys.Network.Public().(ed25519.PublicKey), "testnet")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Offer(firstBlob, time.Now()); err != nil {
			t.Fatal(err)
		}
		got, err := k.Offer(blob, time.Now())
		if err != nil || got.Serial != resp.Serial {
			t.Fatalf("client %d: pushed %v, %v; want serial %d", i, got, err, resp.Serial)
		}
		if eps := addresses(got); len(eps) != 1 || eps[0] != "tcp="+addrB {
			t.Fatalf("client %d: endpoints %v", i, eps)
		}
	}

	// The files follow: invite, manifest, serial.
	inv, err := manifest.ReadInvite(filepath.Join(r.dir, "invite.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.verify(t, inv.Manifest); got.Serial != resp.Serial {
		t.Fatalf("invite serial %d", got.Serial)
	}
	if b, err := os.ReadFile(filepath.Join(r.dir, endpoints.ManifestFile)); err != nil || r.verify(t, b).Serial != resp.Serial {
		t.Fatalf("manifest file: %v", err)
	}

	// Retiring the last endpoint is refused; nothing changes.
	if _, err := endpoints.Call(ctx, sock, endpoints.Request{Op: endpoints.OpRetire, Name: addrB}); !errors.Is(err, endpoints.ErrAdmin) {
		t.Fatalf("retiring the last endpoint: %v", err)
	}
	if m.Serial() != resp.Serial || !canDial(addrB) {
		t.Fatal("refused retire changed something")
	}

	// Add one back through the socket.
	spec, err := endpoints.ParseURL("tcp://127.0.0.1:0?name=c&cohort=0")
	if err != nil {
		t.Fatal(err)
	}
	resp2, err := endpoints.Call(ctx, sock, endpoints.Request{Op: endpoints.OpAdd, Spec: &spec})
	if err != nil {
		t.Fatal(err)
	}
	if resp2.Serial <= resp.Serial || resp2.Endpoint == nil || !canDial(resp2.Endpoint.Listen) {
		t.Fatalf("add: %+v", resp2)
	}
	for _, c := range clients {
		if got := r.verify(t, c.nextManifest()); got.Serial != resp2.Serial || len(got.Relays[0].Endpoints) != 2 {
			t.Fatalf("after add: %v", got)
		}
	}
	// Listing changes nothing.
	if resp3, err := endpoints.Call(ctx, sock, endpoints.Request{Op: endpoints.OpList}); err != nil || resp3.Serial != resp2.Serial || len(resp3.Endpoints) != 2 {
		t.Fatalf("list: %+v %v", resp3, err)
	}

	// A restart keeps what the admin did and never reuses a serial.
	m.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	m2 := r.start(t, nil, "tcp://127.0.0.1:0?name=a", "tcp://127.0.0.1:0?name=b")
	var names []string
	for _, i := range m2.List() {
		names = append(names, i.Name+"/"+i.Source)
	}
	if strings.Join(names, " ") != "b/flag c/admin" {
		t.Fatalf("after restart: %v", names)
	}
	if m2.Serial() <= resp2.Serial {
		t.Fatalf("serial %d after restart, had %d", m2.Serial(), resp2.Serial)
	}
	if err := m2.Restore("a"); err != nil {
		t.Fatal(err)
	}
	if len(m2.List()) != 3 {
		t.Fatalf("restore: %+v", m2.List())
	}
}

func TestReloadConfig(t *testing.T) {
	r := newRelay(t)
	cfgPath := filepath.Join(r.dir, "endpoints.json")
	write := func(s string) {
		if err := os.WriteFile(cfgPath, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"manifest_ttl": "48h", "endpoints": [
		{"name": "one", "transport": "tcp", "listen": "127.0.0.1:0", "address": "192.0.2.1:7001"},
		{"name": "two", "transport": "tcp", "listen": "127.0.0.1:0"}
	]}`)
	m := r.start(t, func(o *endpoints.Options) { o.ConfigFile = cfgPath })
	c := register(t, m.List()[0].Listen, r.keys.Noise.Public, "alice")
	first := r.verify(t, c.nextManifest())
	if got := addresses(first); len(got) != 2 || got[0] != "tcp=192.0.2.1:7001" || first.Cohorts != 0 ||
		first.Expires.Sub(first.Issued) != 48*time.Hour {
		t.Fatalf("manifest: %v %v", got, first)
	}
	oneListen := m.List()[0].Listen

	// Reloading an unchanged file changes nothing.
	if err := m.Reload(); err != nil || m.Serial() != first.Serial {
		t.Fatalf("reload: %v, serial %d", err, m.Serial())
	}
	// A broken file changes nothing either.
	write(`{"endpoints": [{"transport": "carrier-pigeon", "listen": "127.0.0.1:0"}]}`)
	if err := m.Reload(); !errors.Is(err, endpoints.ErrConfig) || m.Serial() != first.Serial || len(m.List()) != 2 {
		t.Fatalf("reload of a bad file: %v", err)
	}

	// Retire one, change two's public address, add three.
	write(`{"endpoints": [
		{"name": "two", "transport": "tcp", "listen": "127.0.0.1:0", "address": "192.0.2.2:7002"},
		{"name": "three", "transport": "tcp", "listen": "127.0.0.1:0"}
	], "channels": [{"kind": "https", "url": "https://mirror.example/m.bin"}]}`)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	got := r.verify(t, c.nextManifest())
	if got.Serial <= first.Serial || got.Serial != m.Serial() {
		t.Fatalf("serial %d after %d", got.Serial, first.Serial)
	}
	if eps := addresses(got); len(eps) != 2 || eps[1] != "tcp=192.0.2.2:7002" {
		t.Fatalf("endpoints after reload: %v", eps)
	}
	if len(got.Channels) != 1 || got.Channels[0].URL != "https://mirror.example/m.bin" {
		t.Fatalf("channels after reload: %v", got.Channels)
	}
	// A change of channels alone re-signs too.
	write(`{"endpoints": [
		{"name": "two", "transport": "tcp", "listen": "127.0.0.1:0", "address": "192.0.2.2:7002"},
		{"name": "three", "transport": "tcp", "listen": "127.0.0.1:0"}
	]}`)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if got2 := r.verify(t, c.nextManifest()); got2.Serial <= got.Serial || len(got2.Channels) != 0 {
		t.Fatalf("after dropping the channel: %v", got2)
	}
	write(`{"endpoints": [], "channels": [{"kind": "gopher"}]}`)
	if err := m.Reload(); !errors.Is(err, endpoints.ErrConfig) {
		t.Fatalf("bad channel: %v", err)
	}
	if canDial(oneListen) {
		t.Fatal("retired listener still accepts")
	}
	// The client that came in through the retired endpoint is still
	// connected.
	c.call(&wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}})
}

// TestStandbyEndpoints: a standby endpoint is in the manifest from the
// start, marked, before anything needs it; promoting it (standby off in
// the config) re-signs the manifest without the mark and keeps its
// listener and the connections through it.
func TestStandbyEndpoints(t *testing.T) {
	r := newRelay(t)
	cfgPath := filepath.Join(r.dir, "endpoints.json")
	write := func(standby bool) {
		t.Helper()
		s := fmt.Sprintf(`{"endpoints": [
			{"name": "main", "transport": "tcp", "listen": "127.0.0.1:0", "address": "192.0.2.1:7001"},
			{"name": "spare", "transport": "tcp", "listen": "127.0.0.1:0", "address": "198.51.100.7:7001", "standby": %v}
		]}`, standby)
		if err := os.WriteFile(cfgPath, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(true)
	m := r.start(t, func(o *endpoints.Options) { o.ConfigFile = cfgPath })
	first := r.verify(t, m.Manifest())
	standby := func(man *manifest.Manifest) map[string]bool {
		out := map[string]bool{}
		for _, e := range man.Relays[0].Endpoints {
			out[e.Address] = e.Standby
		}
		return out
	}
	if got := standby(first); len(got) != 2 || got["192.0.2.1:7001"] || !got["198.51.100.7:7001"] {
		t.Fatalf("first manifest's standby marks: %v", got)
	}
	var spareListen string
	for _, i := range m.List() {
		if i.Name == "spare" {
			spareListen = i.Listen
		}
	}
	c := register(t, spareListen, r.keys.Noise.Public, "alice")
	c.nextManifest()

	write(false)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	got := r.verify(t, c.nextManifest())
	if got.Serial <= first.Serial {
		t.Fatalf("promotion did not re-sign: serial %d after %d", got.Serial, first.Serial)
	}
	if marks := standby(got); len(marks) != 2 || marks["198.51.100.7:7001"] {
		t.Fatalf("after promotion: %v", marks)
	}
	for _, i := range m.List() {
		if i.Name == "spare" && i.Listen != spareListen {
			t.Fatalf("promotion reopened the endpoint: %s, was %s", i.Listen, spareListen)
		}
	}
	if !canDial(spareListen) {
		t.Fatal("the promoted endpoint's listener closed")
	}
	// The client that came in through it is still connected.
	c.call(&wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}})
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want endpoints.Spec
		err  bool
	}{
		{in: "127.0.0.1:7443", want: endpoints.Spec{Name: "tcp://127.0.0.1:7443", Transport: "tcp", Listen: "127.0.0.1:7443"}},
		{in: "tcp://127.0.0.1:7001/", want: endpoints.Spec{Name: "tcp://127.0.0.1:7001", Transport: "tcp", Listen: "127.0.0.1:7001"}},
		{in: "tcp://127.0.0.1:7001", want: endpoints.Spec{Name: "tcp://127.0.0.1:7001", Transport: "tcp", Listen: "127.0.0.1:7001"}},
		{in: "wss://127.0.0.1:7443/chat?sni=example.org&name=w&cohort=3",
			want: endpoints.Spec{Name: "w", Transport: "wss", Listen: "127.0.0.1:7443", Path: "/chat", SNI: "example.org", Cohort: 3}},
		{in: "front://127.0.0.1:7080?address=198.51.100.1:443&sni=cdn.example&host=hidden.example",
			want: endpoints.Spec{Name: "front://127.0.0.1:7080", Transport: "front", Listen: "127.0.0.1:7080", Address: "198.51.100.1:443", SNI: "cdn.example", Host: "hidden.example"}},
		{in: "tcp://127.0.0.1:7002?cohort=4&standby=true",
			want: endpoints.Spec{Name: "tcp://127.0.0.1:7002", Transport: "tcp", Listen: "127.0.0.1:7002", Cohort: 4, Standby: true}},
		{in: "tcp://127.0.0.1:1?standby=maybe", err: true},
		{in: "udp://127.0.0.1:1", err: true},
		{in: "tcp://127.0.0.1", err: true},
		{in: "tcp://127.0.0.1:1?sni=x", err: true},
		{in: "tcp://127.0.0.1:1?bogus=1", err: true},
		{in: "wss://127.0.0.1:1?secret=short", err: true},
		{in: "wss://127.0.0.1:1?tls_pin=00", err: true},
		{in: "tcp://127.0.0.1:1?cohort=-1", err: true},
	} {
		got, err := endpoints.ParseURL(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v", tc.in, err)
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("%s: got %+v", tc.in, got)
		}
		if !tc.err {
			back, err := endpoints.ParseURL(got.URL())
			if err != nil || back != got {
				t.Errorf("%s: URL() = %s does not round-trip: %+v %v", tc.in, got.URL(), back, err)
			}
		}
	}
}

func TestCohortManifests(t *testing.T) {
	r := newRelay(t)
	m := r.start(t, nil, "tcp://127.0.0.1:0?name=p", "tcp://127.0.0.1:0?name=c1&cohort=1", "tcp://127.0.0.1:0?name=c2&cohort=2&address=192.0.2.2:2")
	public := r.verify(t, m.Manifest())
	pAddr := m.List()[2].Listen
	if got := addresses(public); public.Cohorts != 2 || len(got) != 1 || got[0] != "tcp="+pAddr {
		t.Fatalf("public manifest: %v %v", got, public)
	}
	if inv, err := manifest.ReadInvite(filepath.Join(r.dir, "invite.txt")); err != nil || r.verify(t, inv.Manifest).Serial != public.Serial {
		t.Fatalf("invite: %v", err)
	}
	if m.Serial() != public.Serial+1 {
		t.Fatalf("serial %d, public %d", m.Serial(), public.Serial)
	}
	// The relay places each device (not its key: a device cannot choose)
	// and pushes it the manifest of the cohort it stored for it.
	seen := map[uint32]bool{}
	for i := 0; len(seen) < 2; i++ {
		if i == 64 {
			t.Fatalf("64 registrations, cohorts %v: placement is not spread", seen)
		}
		key, _ := noisechan.GenerateKeyPair(rand.Reader)
		cl := registerKey(t, tcpTo(pAddr), r.keys.Noise.Public, fmt.Sprintf("user%d", i), key)
		c := cl.slot.Cohort(2)
		if cl.slot == 0 || manifest.KeySlot(key.Public[:]) == cl.slot {
			t.Fatalf("slot %d of a new device is its key's hash", cl.slot)
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		blob := cl.nextManifest()
		k, err := manifest.OpenKeeper(filepath.Join(t.TempDir(), "m"), r.keys.Network.Public().(ed25519.PublicKey), "testnet")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Offer(m.Manifest(), time.Now()); err != nil {
			t.Fatal(err)
		}
		got, err := k.Offer(blob, time.Now())
		if err != nil {
			t.Fatalf("cohort %d: keeper refused the pushed manifest: %v", c, err)
		}
		eps := got.Relays[0].Endpoints
		if got.Serial != public.Serial+1 || len(eps) != 2 || eps[0].Cohort+eps[1].Cohort != c || eps[0].Cohort*eps[1].Cohort != 0 {
			t.Fatalf("cohort %d: got %v", c, got)
		}
		if b, err := os.ReadFile(filepath.Join(r.dir, endpoints.CohortManifestFile(c))); err != nil || string(b) != string(blob) {
			t.Fatalf("cohort %d file: %v", c, err)
		}
	}
	// Without cohort endpoints the cohort files go away.
	if _, err := m.Retire("c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Retire("c2"); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(r.dir, "manifest-cohort-*")); len(files) != 0 {
		t.Fatalf("stale cohort files %v", files)
	}
	if got := r.verify(t, m.Manifest()); got.Cohorts != 0 || got.Serial != m.Serial() {
		t.Fatalf("after retiring: %v", got)
	}
}

// The manifest is re-signed when half of its lifetime has passed.
func TestManifestRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a refresh")
	}
	r := newRelay(t)
	m := r.start(t, func(o *endpoints.Options) { o.ManifestTTL = 2 * time.Second }, "tcp://127.0.0.1:0")
	first := r.verify(t, m.Manifest())
	c := register(t, m.List()[0].Listen, r.keys.Noise.Public, "alice")
	c.nextManifest()
	got := r.verify(t, c.nextManifest())
	if got.Serial <= first.Serial || !got.Expires.After(first.Expires) {
		t.Fatalf("refreshed %v after %v", got, first)
	}
}

// Admin commands, reloads and listings may run at once.
func TestConcurrentChanges(t *testing.T) {
	r := newRelay(t)
	cfgPath := filepath.Join(r.dir, "endpoints.json")
	if err := os.WriteFile(cfgPath, []byte(`{"endpoints": [{"name": "cfg", "transport": "tcp", "listen": "127.0.0.1:0"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	m := r.start(t, func(o *endpoints.Options) { o.ConfigFile = cfgPath }, "tcp://127.0.0.1:0?name=base")
	c := register(t, m.List()[0].Listen, r.keys.Noise.Public, "alice")
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			var err error
			for i := range 5 {
				name := "g" + string(rune('0'+g)) + string(rune('0'+i))
				s, _ := endpoints.ParseURL("tcp://127.0.0.1:0?name=" + name)
				if _, err = m.Add(s); err != nil {
					break
				}
				m.List()
				if g == 0 {
					if err = m.Reload(); err != nil {
						break
					}
				}
				if _, err = m.Retire(name); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(m.List()); n != 2 {
		t.Fatalf("%d endpoints left", n)
	}
	// The client converges on the newest manifest.
	want := m.Serial()
	for {
		got := r.verify(t, c.nextManifest())
		if got.Serial == want {
			break
		}
		if got.Serial > want {
			t.Fatalf("pushed serial %d above %d", got.Serial, want)
		}
	}
}

// A channel tagged with a cohort goes only into that cohort's manifest;
// untagged channels go into every manifest, and a reload that changes only
// a cohort's channel re-signs.
func TestCohortChannels(t *testing.T) {
	r := newRelay(t)
	cfgPath := filepath.Join(r.dir, "endpoints.json")
	write := func(mirror string) {
		t.Helper()
		cfg := `{"endpoints": [
			{"name": "p", "transport": "tcp", "listen": "127.0.0.1:0"},
			{"name": "c1", "transport": "tcp", "listen": "127.0.0.1:0", "cohort": 1},
			{"name": "c2", "transport": "tcp", "listen": "127.0.0.1:0", "cohort": 2}
		], "channels": [
			{"kind": "https", "url": "https://shared.example/m.bin"},
			{"kind": "https", "url": "https://` + mirror + `/m.bin", "cohort": 2}
		]}`
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("c2-mirror.example")
	m := r.start(t, func(o *endpoints.Options) { o.ConfigFile = cfgPath })
	urls := func(mf *manifest.Manifest) []string {
		var out []string
		for _, c := range mf.Channels {
			out = append(out, c.URL)
		}
		return out
	}
	cohortManifest := func(c uint32) *manifest.Manifest {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(r.dir, endpoints.CohortManifestFile(c)))
		if err != nil {
			t.Fatal(err)
		}
		return r.verify(t, b)
	}
	if got := urls(r.verify(t, m.Manifest())); !slices.Equal(got, []string{"https://shared.example/m.bin"}) {
		t.Fatalf("public manifest channels %v", got)
	}
	if got := urls(cohortManifest(1)); !slices.Equal(got, []string{"https://shared.example/m.bin"}) {
		t.Fatalf("cohort 1 channels %v", got)
	}
	if got := urls(cohortManifest(2)); !slices.Equal(got, []string{"https://shared.example/m.bin", "https://c2-mirror.example/m.bin"}) {
		t.Fatalf("cohort 2 channels %v", got)
	}
	before := m.Serial()
	write("c2-moved.example")
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	got := cohortManifest(2)
	if got.Serial <= before || !slices.Contains(urls(got), "https://c2-moved.example/m.bin") {
		t.Fatalf("after moving cohort 2's mirror: serial %d (was %d), %v", got.Serial, before, urls(got))
	}
}

// The refresh runs on the manager's clock: on a simulated one the
// manifest is re-signed once half its simulated lifetime has passed, and
// signed with simulated times.
func TestManifestRefreshSimClock(t *testing.T) {
	s := clock.NewSim(time.Time{})
	r := newRelay(t)
	m := r.start(t, func(o *endpoints.Options) { o.Clock = s }, "tcp://127.0.0.1:0")
	first, err := manifest.VerifyNetwork(m.Manifest(), r.keys.Network.Public().(ed25519.PublicKey), "testnet", s.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := s.Now().Add(endpoints.DefaultManifestTTL); !first.Expires.Equal(want) {
		t.Fatalf("first manifest expires %v, want %v", first.Expires, want)
	}
	t.Cleanup(s.Start())
	s.Sleep(endpoints.DefaultManifestTTL/2 - time.Minute)
	if m.Serial() != first.Serial {
		t.Fatalf("re-signed after %v of %v", endpoints.DefaultManifestTTL/2-time.Minute, endpoints.DefaultManifestTTL)
	}
	s.Sleep(2 * time.Minute)
	got, err := manifest.VerifyNetwork(m.Manifest(), r.keys.Network.Public().(ed25519.PublicKey), "testnet", s.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial <= first.Serial || !got.Expires.After(first.Expires) {
		t.Fatalf("after half the lifetime: serial %d expires %v; first: serial %d expires %v",
			got.Serial, got.Expires, first.Serial, first.Expires)
	}
}
