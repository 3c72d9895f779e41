package channel_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/manifest/channel/channeltest"
	"samizdat/transport"
)

var (
	netKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	netPub   = netKey.Public().(ed25519.PublicKey)
	otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	now      = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
)

type edit func(*manifest.Manifest)

func serial(n uint64) edit { return func(m *manifest.Manifest) { m.Serial = n } }

// sign returns a signed manifest for the network "example.net".
func sign(t testing.TB, edits ...edit) []byte {
	t.Helper()
	m := &manifest.Manifest{
		Network: "example.net",
		Serial:  1,
		Issued:  now.Add(-time.Hour),
		Expires: now.Add(30 * 24 * time.Hour),
		Relays: []manifest.Relay{{
			ID:        "relay-1",
			NoiseKey:  [32]byte{1, 2, 3},
			Endpoints: []manifest.Endpoint{{Transport: "tcp", Address: "127.0.0.1:7443"}},
		}},
	}
	key := netKey
	for _, e := range edits {
		e(m)
	}
	if m.Network == "forged" { // signal to sign with another key
		m.Network = "example.net"
		key = otherKey
	}
	blob, err := manifest.Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

var forged edit = func(m *manifest.Manifest) { m.Network = "forged" }

// big pads a manifest with endpoints until its blob exceeds about n bytes.
func big(n int) edit {
	return func(m *manifest.Manifest) {
		for i := 0; i*80 < n; i++ {
			if i%manifest.MaxEndpoints == 0 {
				m.Relays = append(m.Relays, manifest.Relay{ID: fmt.Sprintf("r%d", i), NoiseKey: [32]byte{byte(i), byte(i >> 8), 1}})
			}
			r := &m.Relays[len(m.Relays)-1]
			r.Endpoints = append(r.Endpoints, manifest.Endpoint{
				Transport: "wss", Address: fmt.Sprintf("10.%d.%d.1:443", i>>8, i&255),
				SNI: "www.example.com", Path: "/chat", Secret: bytes.Repeat([]byte{byte(i)}, 32),
			})
		}
	}
}

// mapDial is a NetDial that maps names to loopback addresses, refuses
// everything else, and counts its calls.
type mapDial struct {
	addrs map[string]string
	calls atomic.Int32
}

var _ transport.NetDial = (&mapDial{}).dial

func (d *mapDial) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.calls.Add(1)
	to, ok := d.addrs[address]
	if !ok {
		return nil, fmt.Errorf("test: %s is not reachable", address)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, to)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHTTPS(t *testing.T) {
	mir := channeltest.NewMirror("mirror.example")
	defer mir.Close()
	blob := sign(t, serial(7))
	inv, err := manifest.MarshalInvite(manifest.Invite{NetworkKey: netPub, Manifest: blob})
	if err != nil {
		t.Fatal(err)
	}
	mir.Put("/m.bin", blob)
	mir.Put("/m.txt", []byte(base64.StdEncoding.EncodeToString(blob)+"\n"))
	mir.Put("/invite.txt", inv)
	mir.Put("/big", make([]byte, manifest.MaxInviteSize+1))
	mir.Put("/html", []byte("<html>hello</html>"))
	mir.Fail("/down", http.StatusServiceUnavailable)

	ctx := ctxT(t)
	for _, p := range []string{"/m.bin", "/m.txt", "/invite.txt"} {
		got, err := channel.HTTPS(mir.URL(p), mir.Pin(), nil).Fetch(ctx)
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("%s: %v", p, err)
		}
	}
	tests := []struct {
		path string
		pin  []byte
		want error
	}{
		{"/missing", mir.Pin(), channel.ErrNotFound},
		{"/down", mir.Pin(), channel.ErrBadResponse},
		{"/big", mir.Pin(), channel.ErrBadResponse},
		{"/html", mir.Pin(), channel.ErrBadResponse},
		{"/m.bin", bytes.Repeat([]byte{1}, 32), channel.ErrTLSPin},
	}
	for _, tt := range tests {
		if _, err := channel.HTTPS(mir.URL(tt.path), tt.pin, nil).Fetch(ctx); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.path, err, tt.want)
		}
	}
	// Without a pin the roots decide: the test certificate is unknown to
	// the system, trusted once it is a root.
	if _, err := channel.HTTPS(mir.URL("/m.bin"), nil, nil).Fetch(ctx); err == nil {
		t.Fatal("self-signed certificate accepted without a pin")
	}
	channel.SetTestRoots(mir.CertPool())
	defer channel.SetTestRoots(nil)
	if got, err := channel.HTTPS(mir.URL("/m.bin"), nil, nil).Fetch(ctx); err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("with roots: %v", err)
	}
	// Names go through the NetDial, and so does nothing else.
	d := &mapDial{addrs: map[string]string{"mirror.example:443": mir.Addr()}}
	if got, err := channel.HTTPS("https://mirror.example/m.bin", nil, d.dial).Fetch(ctx); err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("by name: %v", err)
	}
	if _, err := channel.HTTPS("https://other.example/m.bin", nil, d.dial).Fetch(ctx); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("unmapped name: %v", err)
	}
	if d.calls.Load() != 2 {
		t.Fatalf("%d dials", d.calls.Load())
	}
	if _, err := channel.HTTPS("http://mirror.example/m.bin", nil, d.dial).Fetch(ctx); err == nil {
		t.Fatal("plain http accepted")
	}
}

func TestFront(t *testing.T) {
	cdn := channeltest.NewMirror("cdn.example")
	defer cdn.Close()
	blob := sign(t, serial(3))
	cdn.Put("/m.bin", blob)
	cdn.RequireHost("hidden-mirror.example")
	d := &mapDial{addrs: map[string]string{"203.0.113.9:443": cdn.Addr()}}
	ep := manifest.Endpoint{Transport: "front", Address: "203.0.113.9:443", SNI: "cdn.example", Host: "hidden-mirror.example", TLSPin: cdn.Pin()}
	ctx := ctxT(t)
	got, err := channel.Front(ep, "/m.bin", d.dial).Fetch(ctx)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("front: %v", err)
	}
	reqs := cdn.Requests()
	if last := reqs[len(reqs)-1]; last.SNI != "cdn.example" || last.Host != "hidden-mirror.example" || last.Path != "/m.bin" {
		t.Fatalf("the edge saw %+v", last)
	}
	// The edge's certificate is checked for the front name without a pin.
	channel.SetTestRoots(cdn.CertPool())
	defer channel.SetTestRoots(nil)
	ep.TLSPin = nil
	if _, err := channel.Front(ep, "/m.bin", d.dial).Fetch(ctx); err != nil {
		t.Fatalf("front with roots: %v", err)
	}
	ep.SNI = "elsewhere.example"
	if _, err := channel.Front(ep, "/m.bin", d.dial).Fetch(ctx); err == nil {
		t.Fatal("certificate accepted for a name it does not have")
	}
	ep.SNI, ep.Host = "cdn.example", "unknown.example"
	if _, err := channel.Front(ep, "/m.bin", d.dial).Fetch(ctx); !errors.Is(err, channel.ErrNotFound) {
		t.Fatalf("unknown host: %v", err)
	}
}

func TestDoH(t *testing.T) {
	res := channeltest.NewDoH("dns.example")
	defer res.Close()
	ctx := ctxT(t)
	small := sign(t, serial(4))
	large := sign(t, serial(5), big(40000))
	if len(large) < 40000 {
		t.Fatalf("large blob is %d bytes", len(large))
	}
	for _, tt := range []struct {
		name string
		blob []byte
	}{{"m.example.net", small}, {"big.m.example.net", large}} {
		if err := res.SetBlob(tt.name, tt.blob); err != nil {
			t.Fatal(err)
		}
		for _, src := range []channel.Source{
			channel.DoH(res.URL(), tt.name, res.Pin(), nil),
			channel.DoHPost(res.URL(), tt.name, res.Pin(), nil),
			channel.DoH(res.URL(), strings.ToUpper(tt.name)+".", res.Pin(), nil),
		} {
			got, err := src.Fetch(ctx)
			if err != nil || !bytes.Equal(got, tt.blob) {
				t.Fatalf("%s: %v", src.Name(), err)
			}
		}
	}
	var methods []string
	for _, r := range res.Requests() {
		methods = append(methods, r.Method)
	}
	if !strings.Contains(strings.Join(methods, " "), "POST") || !strings.Contains(strings.Join(methods, " "), "GET") {
		t.Fatalf("methods %v", methods)
	}

	fetch := func(name string) error {
		_, err := channel.DoH(res.URL(), name, res.Pin(), nil).Fetch(ctx)
		return err
	}
	if err := fetch("nowhere.example.net"); !errors.Is(err, channel.ErrNotFound) {
		t.Fatalf("nxdomain: %v", err)
	}
	res.SetRcode("m.example.net", dns.RcodeServerFailure)
	if err := fetch("m.example.net"); !errors.Is(err, channel.ErrBadResponse) || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Fatalf("servfail: %v", err)
	}
	res.SetRcode("m.example.net", 0)
	res.SetTXT("poison.example.net", [][]string{{"1/2:AAAA"}, {"1/2:BBBB"}})
	if err := fetch("poison.example.net"); !errors.Is(err, channel.ErrBadResponse) {
		t.Fatalf("conflicting records: %v", err)
	}
	res.SetTXT("spf.example.net", [][]string{{"v=spf1 -all"}})
	if err := fetch("spf.example.net"); !errors.Is(err, channel.ErrNotFound) {
		t.Fatalf("foreign records only: %v", err)
	}
	res.Garbage([]byte("<html>blocked</html>"))
	if err := fetch("m.example.net"); !errors.Is(err, channel.ErrBadResponse) {
		t.Fatalf("garbage: %v", err)
	}
	res.Garbage(nil)
	res.FailHTTP(http.StatusForbidden)
	if err := fetch("m.example.net"); !errors.Is(err, channel.ErrBadResponse) {
		t.Fatalf("http 403: %v", err)
	}
	res.FailHTTP(0)
	if err := fetch("m.example.net"); err != nil {
		t.Fatalf("restored: %v", err)
	}
	// The resolver is reached through the NetDial too.
	d := &mapDial{addrs: map[string]string{"dns.example:443": res.Addr()}}
	if _, err := channel.DoH("https://dns.example/dns-query", "m.example.net", res.Pin(), d.dial).Fetch(ctx); err != nil || d.calls.Load() != 1 {
		t.Fatalf("by name: %v (%d dials)", err, d.calls.Load())
	}
	// The largest blob the encoding allows fits in one DNS message.
	largest := bytes.Repeat([]byte{0xfe}, channel.MaxTXTRecords*channel.TXTChunk/4*3)
	if err := res.SetBlob("largest.example.net", largest); err != nil {
		t.Fatal(err)
	}
	if got, err := channel.DoH(res.URL(), "largest.example.net", res.Pin(), nil).Fetch(ctx); err != nil || !bytes.Equal(got, largest) {
		t.Fatalf("largest: %v", err)
	}
	if err := res.SetBlob("huge", append(largest, 0)); err == nil {
		t.Fatal("a blob too big for DNS was split")
	}
}

func TestSplitJoinTXT(t *testing.T) {
	for _, n := range []int{1, 2, 190, 191, 192, 2999, 3000, 3001, 10000, 47000} {
		blob := bytes.Repeat([]byte{0xa5, 0x5a, 0x01}, n)[:n]
		recs, err := channel.SplitTXT(blob)
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		for _, r := range recs {
			for _, s := range r {
				if len(s) > 255 || len(s) == 0 {
					t.Fatalf("%d: string of %d bytes", n, len(s))
				}
			}
		}
		// Any order, with duplicates and foreign records mixed in.
		mixed := [][]string{{"v=spf1 -all"}}
		for i := len(recs) - 1; i >= 0; i-- {
			mixed = append(mixed, recs[i], recs[i])
		}
		got, err := channel.JoinTXT(mixed)
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("%d bytes in %d records: %v", n, len(recs), err)
		}
	}
	bare := base64.StdEncoding.EncodeToString([]byte("hello manifest"))
	tests := []struct {
		name string
		recs [][]string
		want error
	}{
		{"bare", [][]string{{bare[:10], bare[10:]}}, nil},
		{"nothing", nil, channel.ErrNotFound},
		{"foreign only", [][]string{{"v=spf1 -all"}, {"key:value"}}, channel.ErrNotFound},
		{"missing", [][]string{{"1/3:AAAA"}, {"3/3:AAAA"}}, channel.ErrBadResponse},
		{"counts disagree", [][]string{{"1/2:AAAA"}, {"2/3:AAAA"}}, channel.ErrBadResponse},
		{"index zero", [][]string{{"0/2:AAAA"}}, channel.ErrBadResponse},
		{"index beyond", [][]string{{"3/2:AAAA"}}, channel.ErrBadResponse},
		{"too many", [][]string{{"1/999:AAAA"}}, channel.ErrBadResponse},
		{"empty chunk", [][]string{{"1/1:"}}, channel.ErrBadResponse},
		{"not base64", [][]string{{"1/1:!!!!"}}, channel.ErrBadResponse},
		{"two bare", [][]string{{"AAAA"}, {"BBBB"}}, channel.ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := channel.JoinTXT(tt.recs)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestImport(t *testing.T) {
	blob := sign(t, serial(2))
	inv, _ := manifest.MarshalInvite(manifest.Invite{NetworkKey: netPub, Manifest: blob})
	std := base64.StdEncoding.EncodeToString(blob)
	url := base64.RawURLEncoding.EncodeToString(blob)
	wrapped := ""
	for i := 0; i < len(std); i += 60 {
		wrapped += "  " + std[i:min(i+60, len(std))] + "\r\n"
	}
	for name, text := range map[string][]byte{
		"invite": inv, "raw": blob, "base64": []byte(std), "base64url": []byte(url), "wrapped": []byte(wrapped),
		"invite with text before": append([]byte("Here is the new address list:\n\n"), inv...),
	} {
		got, err := channel.Import(text)
		if err != nil || !bytes.Equal(got, blob) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, text := range map[string][]byte{
		"empty": nil, "spaces": []byte("  \n"), "words": []byte("hello, world"), "mixed alphabets": []byte("ab+c-d"),
		"broken invite": inv[:len(inv)-60], "too big": bytes.Repeat([]byte("A"), manifest.MaxInviteSize+1),
		"binary": {0xff, 0x00},
	} {
		if _, err := channel.Import(text); !errors.Is(err, channel.ErrBadImport) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// File and Text sources.
	path := filepath.Join(t.TempDir(), "invite.txt")
	os.WriteFile(path, inv, 0o644)
	ctx := ctxT(t)
	for _, src := range []channel.Source{channel.File(path), channel.Text([]byte(wrapped))} {
		if got, err := src.Fetch(ctx); err != nil || !bytes.Equal(got, blob) {
			t.Errorf("%s: %v", src.Name(), err)
		}
	}
	if _, err := channel.File(path + ".missing").Fetch(ctx); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// stub is a Source returning fixed bytes or an error, or blocking until
// its context ends.
type stub struct {
	name  string
	blob  []byte
	err   error
	block bool
}

func (s stub) Name() string { return s.name }
func (s stub) Fetch(ctx context.Context) ([]byte, error) {
	if s.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.blob, s.err
}

// reporting is a Source that calls done when its Fetch returns.
type reporting struct {
	channel.Source
	done func()
}

func (r reporting) Fetch(ctx context.Context) ([]byte, error) {
	defer r.done()
	return r.Source.Fetch(ctx)
}

// expiring is a context whose deadline passes when expire is called: Done
// closes and Err says context.DeadlineExceeded.
type expiring struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newExpiring() *expiring {
	return &expiring{Context: context.Background(), done: make(chan struct{})}
}

func (e *expiring) expire()               { e.once.Do(func() { close(e.done) }) }
func (e *expiring) Done() <-chan struct{} { return e.done }
func (e *expiring) Err() error {
	select {
	case <-e.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func keeper(t *testing.T, start uint64) *manifest.Keeper {
	t.Helper()
	k, err := manifest.OpenKeeper(filepath.Join(t.TempDir(), "manifest"), netPub, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	if start > 0 {
		if _, err := k.Offer(sign(t, serial(start)), now); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func TestFetchAll(t *testing.T) {
	mir := channeltest.NewMirror()
	defer mir.Close()
	res := channeltest.NewDoH()
	defer res.Close()
	mir.Put("/7", sign(t, serial(7)))
	if err := res.SetBlob("m.example.net", sign(t, serial(9), big(20000))); err != nil {
		t.Fatal(err)
	}
	k := keeper(t, 5)
	sources := []channel.Source{
		channel.HTTPS(mir.URL("/7"), mir.Pin(), nil),
		channel.DoH(res.URL(), "m.example.net", res.Pin(), nil),
		stub{name: "forged", blob: sign(t, serial(100), forged)},
		stub{name: "expired", blob: sign(t, serial(50), func(m *manifest.Manifest) { m.Expires = now.Add(-time.Second) })},
		stub{name: "other network", blob: sign(t, serial(60), func(m *manifest.Manifest) { m.Network = "example.org" })},
		stub{name: "old", blob: sign(t, serial(3))},
		stub{name: "garbage", blob: []byte("garbage")},
		stub{name: "down", err: errors.New("connection reset")},
		channel.HTTPS(mir.URL("/missing"), mir.Pin(), nil),
		stub{name: "blackhole", block: true},
	}
	// The context's deadline passes once every source but the blackhole
	// has answered, however long a busy machine takes for that.
	ctx := newExpiring()
	var answered sync.WaitGroup
	watched := slices.Clone(sources)
	for i, src := range watched {
		if s, ok := src.(stub); !ok || !s.block {
			answered.Add(1)
			watched[i] = reporting{src, answered.Done}
		}
	}
	go func() { answered.Wait(); ctx.expire() }()
	type result struct {
		m    *manifest.Manifest
		errs []error
	}
	fetched := make(chan result, 1)
	go func() { m, errs := channel.FetchAll(ctx, watched, k, now); fetched <- result{m, errs} }()
	var m *manifest.Manifest
	var errs []error
	select {
	case r := <-fetched:
		m, errs = r.m, r.errs
	case <-time.After(time.Minute):
		t.Fatal("FetchAll outlived its context")
	}
	if m == nil || m.Serial != 9 || k.Current().Serial != 9 {
		t.Fatalf("got %v, keeper at %d", m, k.Current().Serial)
	}
	if len(errs) != len(sources) {
		t.Fatalf("%d errors for %d sources", len(errs), len(sources))
	}
	want := []error{
		manifest.ErrRollback, // 7 lost to 9, or was accepted first
		nil,
		manifest.ErrBadSignature,
		manifest.ErrExpired,
		manifest.ErrWrongNetwork,
		manifest.ErrRollback,
		manifest.ErrMalformed,
		errors.New("connection reset"),
		channel.ErrNotFound,
		context.DeadlineExceeded,
	}
	for i, w := range want {
		switch {
		case i == 0 && errs[0] == nil: // the mirror answered before the resolver
		case w == nil && errs[i] != nil:
			t.Errorf("%s: %v", sources[i].Name(), errs[i])
		case w != nil && (errs[i] == nil || !errors.Is(errs[i], w) && !strings.Contains(errs[i].Error(), w.Error())):
			t.Errorf("%s: got %v, want %v", sources[i].Name(), errs[i], w)
		case errs[i] != nil && !strings.HasPrefix(errs[i].Error(), sources[i].Name()+": "):
			t.Errorf("error not named: %v", errs[i])
		}
	}
	// Nothing newer: nil manifest, the keeper unchanged.
	m, errs = channel.FetchAll(ctxT(t), sources[:2], k, now)
	if m != nil || !errors.Is(errs[0], manifest.ErrRollback) || !errors.Is(errs[1], manifest.ErrRollback) {
		t.Fatalf("second round: %v %v", m, errs)
	}
	// In-band push goes through the same keeper.
	if m, err := channel.Push(k, sign(t, serial(10)), now); err != nil || m.Serial != 10 {
		t.Fatalf("push: %v", err)
	}
	if _, err := channel.Push(k, sign(t, serial(8)), now); !errors.Is(err, manifest.ErrRollback) || !strings.Contains(err.Error(), "serial 8 is not newer than 10") {
		t.Fatalf("push rollback: %v", err)
	}
}

// A client with every relay endpoint blocked learns new ones from the
// channels its manifest names, per cohort.
func TestFromManifest(t *testing.T) {
	mir := channeltest.NewMirror("mirror.example")
	defer mir.Close()
	res := channeltest.NewDoH("dns.example")
	defer res.Close()
	cdn := channeltest.NewMirror("cdn.example")
	defer cdn.Close()
	cdn.RequireHost("hidden.example")
	d := &mapDial{addrs: map[string]string{
		"mirror.example:443": mir.Addr(),
		"dns.example:443":    res.Addr(),
		"198.51.100.1:443":   cdn.Addr(),
	}}
	channels := []manifest.Channel{
		{Kind: "https", URL: "https://mirror.example/c{cohort}/m", TLSPin: mir.Pin()},
		{Kind: "doh", URL: "https://dns.example/dns-query", Name: "c{cohort}.m.example.net", TLSPin: res.Pin()},
		{Kind: "front", Address: "198.51.100.1:443", SNI: "cdn.example", Host: "hidden.example", Path: "/c{cohort}/m", TLSPin: cdn.Pin()},
		{Kind: "pigeon", URL: "https://pigeon.example/"},
	}
	withChannels := func(m *manifest.Manifest) { m.Channels = channels; m.Cohorts = 4 }
	k := keeper(t, 0)
	if _, err := k.Offer(sign(t, serial(1), withChannels), now); err != nil {
		t.Fatal(err)
	}
	cur := k.Current().ForCohort(3)
	srcs := channel.FromManifest(cur, d.dial)
	if len(srcs) != 3 {
		t.Fatalf("%d sources", len(srcs))
	}
	for i, s := range []channel.Source{srcs[0], srcs[1], srcs[2]} {
		if !strings.Contains(s.Name(), "c3") {
			t.Errorf("source %d: %s", i, s.Name())
		}
	}
	// Each channel alone carries the new manifest.
	for i := range srcs {
		blob := sign(t, serial(uint64(10+i)), withChannels)
		switch i {
		case 0:
			mir.Put("/c3/m", blob)
		case 1:
			res.SetBlob("c3.m.example.net", blob)
		case 2:
			cdn.Put("/c3/m", blob)
		}
		m, errs := channel.FetchAll(ctxT(t), srcs, k, now)
		if m == nil || m.Serial != uint64(10+i) || errs[i] != nil {
			t.Fatalf("channel %d: %v %v", i, m, errs)
		}
	}
	if channel.FromManifest(nil, nil) != nil {
		t.Fatal("sources from nil")
	}
}
