package censor

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samizdat/lab/labdata"
)

var (
	relayA = netip.MustParseAddrPort("52.58.1.10:443") // AWS eu-central-1 in 2018
	relayB = netip.MustParseAddrPort("52.58.7.20:443")
	other  = netip.MustParseAddrPort("192.0.2.7:443")
)

func must(t *testing.T, cfg Config) *Censor {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func flow(isp string, dst netip.AddrPort) Flow { return Flow{Client: "c1", ISP: isp, Dst: dst} }

func TestRegistryPublishes(t *testing.T) {
	r := Registry{Interval: 10 * time.Second}
	if err := r.Add(IPEntry(relayA.Addr(), 3*time.Second, "t")); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(CIDREntry(netip.MustParsePrefix("10.1.2.3/8"), 25*time.Second, "t")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at      Time
		version int64
		n       int
	}{
		{0, 0, 0},
		{9 * time.Second, 0, 0},
		{10 * time.Second, 1, 1},
		{29 * time.Second, 2, 1},
		{30 * time.Second, 3, 2},
	}
	for _, tt := range tests {
		v, _ := r.Published(tt.at)
		if got := len(r.Version(tt.at)); v != tt.version || got != tt.n {
			t.Errorf("at %v: version %d with %d entries, want %d with %d", tt.at, v, got, tt.version, tt.n)
		}
	}
	if got := r.Version(30 * time.Second)[1].Prefix.String(); got != "10.0.0.0/8" {
		t.Errorf("cidr not masked: %s", got)
	}
	if n := r.Remove(35*time.Second, func(e Entry) bool { return e.Kind == KindCIDR }); n != 1 {
		t.Fatalf("removed %d", n)
	}
	if got := len(r.Version(40 * time.Second)); got != 1 {
		t.Errorf("after removal %d entries, want 1", got)
	}
}

func TestRegistryRejectsBadEntries(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
	}{
		{"no kind", Entry{Name: "x"}},
		{"ip with prefix", Entry{Kind: KindIP, Prefix: netip.MustParsePrefix("10.0.0.0/8")}},
		{"cidr without prefix", Entry{Kind: KindCIDR}},
		{"empty domain", Entry{Kind: KindDomain, Name: " . "}},
		{"empty mask", Entry{Kind: KindDomainMask, Name: "*."}},
		{"unlisted first", Entry{Kind: KindDomain, Name: "a.b", Listed: 5, Unlisted: 2}},
	}
	for _, tt := range tests {
		var r Registry
		if err := r.Add(tt.e); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"duplicate isp", Config{ISPs: []ISP{{Name: "a"}, {Name: "a"}}}},
		{"empty isp name", Config{ISPs: []ISP{{}}}},
		{"compliance above 1", Config{ISPs: []ISP{{Name: "a", Compliance: 1.5}}}},
		{"negative delay", Config{ISPs: []ISP{{Name: "a", Delay: -1}}}},
		{"escalation without k", Config{Escalation: Escalation{Enabled: true}}},
		{"escalation level", Config{Escalation: Escalation{Enabled: true, K: 1, Levels: []int{4}}}},
		{"bad initial entry", Config{Initial: []Entry{{Kind: KindIP}}}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func TestNameMatching(t *testing.T) {
	tests := []struct {
		kind Kind
		name string
		host string
		want bool
	}{
		{KindDomain, "Example.org.", "example.org", true},
		{KindDomain, "example.org", "www.example.org", false},
		{KindDomainMask, "*.example.org", "example.org", true},
		{KindDomainMask, "*.example.org", "a.b.example.org", true},
		{KindDomainMask, "*.example.org", "badexample.org", false},
		{KindSNI, "t.me", "web.t.me", true},
		{KindSNI, "t.me", "at.me", false},
		{KindSNISubstring, "t.co", "microsoft.com", true}, // the 2021 collateral
		{KindSNISubstring, "t.co", "example.org", false},
	}
	for _, tt := range tests {
		e := NameEntry(tt.kind, tt.name, 0, "t")
		if err := e.normalize(); err != nil {
			t.Fatal(err)
		}
		if got := e.matchName(tt.host); got != tt.want {
			t.Errorf("%s %q vs %q: %v, want %v", tt.kind, tt.name, tt.host, got, tt.want)
		}
	}
}

func TestISPDelayAndMethod(t *testing.T) {
	cfg := Config{
		RegistryInterval: 10 * time.Second,
		ISPs: []ISP{
			{Name: "fast", Delay: 1 * time.Second, Compliance: 1, Method: MethodReset},
			{Name: "slow", Delay: 15 * time.Second, Compliance: 1, Method: MethodBlockPage},
			{Name: "drop", Compliance: 1},
		},
	}
	c := must(t, cfg)
	if err := c.List(IPEntry(relayA.Addr(), 2*time.Second, "regulator")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		isp  string
		at   Time
		want Action
	}{
		{"fast", 5 * time.Second, Allow},  // not yet published
		{"fast", 10 * time.Second, Allow}, // published at 10, applied at 11
		{"fast", 11 * time.Second, Reset},
		{"slow", 24 * time.Second, Allow},
		{"slow", 25 * time.Second, BlockPage},
		{"drop", 10 * time.Second, Drop},
		{"unknown-isp", 10 * time.Second, Drop},
	}
	for _, tt := range tests {
		if got := c.Decide(tt.at, flow(tt.isp, relayA)).Action; got != tt.want {
			t.Errorf("%s at %v: %v, want %v", tt.isp, tt.at, got, tt.want)
		}
	}
	if v := c.Decide(time.Minute, flow("fast", other)); v.Action != Allow {
		t.Errorf("unlisted address: %v", v)
	}
}

func TestCompliance(t *testing.T) {
	tests := []struct {
		compliance float64
		lo, hi     int
	}{{1, 1000, 1000}, {0.9, 860, 940}, {0.5, 450, 550}, {0, 0, 0}}
	for _, tt := range tests {
		cfg := Config{Seed: 7, ISPs: []ISP{{Name: "x", Compliance: tt.compliance}}}
		c := must(t, cfg)
		var dsts []netip.AddrPort
		for i := range 1000 {
			a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			dsts = append(dsts, netip.AddrPortFrom(a, 443))
			c.List(IPEntry(a, 0, "t"))
		}
		n := c.Collateral(time.Second, dsts)["x"]
		if n < tt.lo || n > tt.hi {
			t.Errorf("compliance %v: %d of 1000 applied", tt.compliance, n)
		}
	}
}

func TestDeterministicWithSeed(t *testing.T) {
	run := func(seed int64) string {
		cfg := Probing2023(seed, time.Second)
		cfg.Initial = nil
		c := must(t, cfg)
		r := mrand.New(mrand.NewPCG(1, 2))
		var sb strings.Builder
		for i := range 400 {
			first := make([]byte, 200)
			for j := range first {
				first[j] = byte(r.Uint32())
			}
			f := Flow{Client: fmt.Sprint("c", i%7), ISP: "national", Dst: relayA, First: first}
			fmt.Fprint(&sb, c.Inspect(Time(i)*time.Second, f).Action)
		}
		return sb.String()
	}
	a, b, d := run(1), run(1), run(2)
	if a != b {
		t.Fatal("same seed, different decisions")
	}
	if a == d {
		t.Error("different seeds, identical decisions")
	}
}

func TestDNSPoisoning(t *testing.T) {
	stub := netip.MustParseAddr("198.51.100.1")
	c := must(t, Config{
		ISPs:     []ISP{{Name: "p", Compliance: 1, PoisonDNS: true}, {Name: "clean", Compliance: 1}},
		StubAddr: stub,
	})
	c.SetName("Mirror.Example.org.", relayA.Addr())
	c.List(NameEntry(KindDomainMask, "*.example.org", 5*time.Second, "regulator"))
	tests := []struct {
		isp      string
		at       Time
		name     string
		want     netip.Addr
		poisoned bool
	}{
		{"p", time.Second, "mirror.example.org", relayA.Addr(), false},
		{"p", 5 * time.Second, "mirror.example.org", stub, true},
		{"clean", 5 * time.Second, "mirror.example.org", relayA.Addr(), false},
		{"p", 5 * time.Second, "unknown.test", netip.Addr{}, false},
	}
	for _, tt := range tests {
		addrs, poisoned := c.Resolve(tt.at, tt.isp, tt.name)
		var got netip.Addr
		if len(addrs) > 0 {
			got = addrs[0]
		}
		if got != tt.want || poisoned != tt.poisoned {
			t.Errorf("%s %s at %v: %v %v, want %v %v", tt.isp, tt.name, tt.at, got, poisoned, tt.want, tt.poisoned)
		}
	}
}

func awsProviders() []labdata.Prefix {
	return []labdata.Prefix{{Prefix: netip.MustParsePrefix("52.58.0.0/15"), Provider: "AWS", Region: "eu-central-1"}}
}

func TestEscalation(t *testing.T) {
	cfg := Config{
		ISPs:       []ISP{{Name: "x", Compliance: 1}},
		Providers:  awsProviders(),
		Escalation: Escalation{Enabled: true, K: 2, Levels: []int{20, 16}},
	}
	c := must(t, cfg)
	addrs := []string{"52.58.1.1", "52.58.1.2", "52.58.33.1", "52.58.65.1", "52.58.200.1", "192.0.2.1", "192.0.2.2", "192.0.2.3"}
	want := []string{"52.58.1.1/32", "52.58.1.2/32", "52.58.32.0/20", "52.58.64.0/20", "52.58.0.0/16", "192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"}
	for i, s := range addrs {
		e, ok := c.Block(Time(i), netip.MustParseAddr(s), "enumeration")
		if !ok || e.Prefix.String() != want[i] {
			t.Errorf("block %s: %v %v, want %s", s, e.Prefix, ok, want[i])
		}
	}
	if _, ok := c.Block(10, netip.MustParseAddr("52.58.2.2"), "x"); ok {
		t.Error("already covered address listed again")
	}
	if got := c.BlockedPrefixes(time.Hour); got != 3 {
		t.Errorf("blocked prefixes %d, want 3", got)
	}
	// 52.58.0.0/16 covers the first four entries: 65536 + 3 others.
	if got := c.BlockedAddresses(time.Hour); got != 65536+3 {
		t.Errorf("blocked addresses %d", got)
	}
}

func TestEscalationCap(t *testing.T) {
	cfg := Config{
		ISPs:       []ISP{{Name: "x", Compliance: 1}},
		Providers:  awsProviders(),
		Escalation: Escalation{Enabled: true, K: 1, Levels: []int{24, 16}, MaxBlocked: 1000},
	}
	c := must(t, cfg)
	want := []string{"52.58.1.1/32", "52.58.2.0/24", "52.58.3.1/32", "52.58.4.1/32"} // /16 would pass the cap
	for i, s := range []string{"52.58.1.1", "52.58.2.1", "52.58.3.1", "52.58.4.1"} {
		e, _ := c.Block(0, netip.MustParseAddr(s), "t")
		if e.Prefix.String() != want[i] {
			t.Errorf("block %s: %v, want %s", s, e.Prefix, want[i])
		}
	}
}

func TestEnumeration(t *testing.T) {
	tests := []struct {
		enabled bool
		at      Time
		want    Action
	}{
		{true, 4 * time.Second, Allow},
		{true, 5 * time.Second, Drop},
		{false, time.Hour, Allow},
	}
	for _, tt := range tests {
		c := must(t, Config{ISPs: []ISP{{Name: "x", Compliance: 1}}, Enumeration: Enumeration{Enabled: tt.enabled, Delay: 4 * time.Second}})
		c.Enumerate(time.Second, relayA.Addr())
		c.EnumerateName(time.Second, "mirror.example.org")
		if got := c.Decide(tt.at, flow("x", relayA)).Action; got != tt.want {
			t.Errorf("enabled %v at %v: %v, want %v", tt.enabled, tt.at, got, tt.want)
		}
		_, poisoned := c.Resolve(tt.at, "x", "mirror.example.org")
		if poisoned {
			t.Error("isp without PoisonDNS poisoned")
		}
	}
}

func clientHello(sni string) []byte {
	// A minimal record header, enough for IsTLSClientHello; the SNI travels
	// in Flow.SNI as the virtual network parses it.
	return append([]byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01}, make([]byte, 64)...)
}

func noiseFirst(n int) []byte {
	b := make([]byte, 2+n)
	binary.BigEndian.PutUint16(b, uint16(n))
	rand.Read(b[2:])
	for {
		if !feExempt(b[2:]) {
			return b
		}
		rand.Read(b[2:])
	}
}

func TestSNIAndHostRules(t *testing.T) {
	c := must(t, Config{ISPs: []ISP{
		{Name: "dpi", Compliance: 1, Method: MethodReset, DPI: true},
		{Name: "plain", Compliance: 1, Method: MethodReset},
	}})
	c.List(NameEntry(KindSNI, "telegram.org", 0, "regulator"))
	c.List(NameEntry(KindSNISubstring, "t.co", 0, "regulator"))
	tests := []struct {
		isp, sni string
		first    []byte
		want     Action
	}{
		{"dpi", "web.telegram.org", clientHello(""), Reset},
		{"dpi", "microsoft.com", clientHello(""), Reset},
		{"dpi", "example.net", clientHello(""), Allow},
		{"dpi", "", []byte("GET / HTTP/1.1\r\nHost: Telegram.org:80\r\n\r\n"), BlockPage},
		{"plain", "web.telegram.org", clientHello(""), Allow},
	}
	for _, tt := range tests {
		f := flow(tt.isp, other)
		f.SNI, f.First = tt.sni, tt.first
		if got := c.Inspect(time.Second, f).Action; got != tt.want {
			t.Errorf("%s sni %q: %v, want %v", tt.isp, tt.sni, got, tt.want)
		}
	}
}

func TestFingerprints(t *testing.T) {
	tests := []struct {
		name      string
		b         []byte
		tls, http bool
		noise, fe bool
	}{
		{"tls", clientHello("x"), true, false, false, false},
		{"http", []byte("POST /x HTTP/1.1\r\n"), false, true, false, false},
		{"noise ik 96", noiseFirst(96), false, false, true, true},
		{"noise ik 400", noiseFirst(400), false, false, true, true},
		{"noise ik short capture", noiseFirst(400)[:200], false, false, true, true},
		{"length mismatch", append(noiseFirst(96), 1, 2, 3), false, false, false, true},
		{"too short", noiseFirst(80), false, false, false, true},
		{"zeros", make([]byte, 200), false, false, false, false},
		{"empty", nil, false, false, false, false},
	}
	for _, tt := range tests {
		if got := IsTLSClientHello(tt.b); got != tt.tls {
			t.Errorf("%s: tls %v", tt.name, got)
		}
		if got := IsHTTPRequest(tt.b); got != tt.http {
			t.Errorf("%s: http %v", tt.name, got)
		}
		if got := LooksLikeNoiseIK(tt.b); got != tt.noise {
			t.Errorf("%s: noise %v", tt.name, got)
		}
		if got := FullyEncryptedSuspect(tt.b); got != tt.fe {
			t.Errorf("%s: fully encrypted %v", tt.name, got)
		}
	}
}

func TestFullyEncryptedExemptions(t *testing.T) {
	random := noiseFirst(200)[2:]
	withPrefix := func(p string) []byte { return append([]byte(p), random[len(p):]...) }
	tests := []struct {
		name   string
		b      []byte
		exempt bool
	}{
		{"random", random, false},
		{"ex1 low popcount", []byte(strings.Repeat("\x01\x02\x04\x81", 50)), true},
		{"ex1 high popcount", []byte(strings.Repeat("\xfe\xfd\xfb\x7f", 50)), true},
		{"ex2 printable prefix", withPrefix("abcdef"), true},
		{"ex2 five printable", withPrefix("abcde\x00"), false},
		{"ex3 mostly printable", append([]byte(strings.Repeat("a\x80", 60)), 'b', 'c', 'd', 'e'), true},
		{"ex4 printable run", append(slices.Clone(random[:100]), []byte(strings.Repeat("q", 21))...), true},
		{"ex5 tls", append([]byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01}, random[6:]...), true},
	}
	for _, tt := range tests {
		if got := feExempt(tt.b); got != tt.exempt {
			t.Errorf("%s: exempt %v, want %v", tt.name, got, tt.exempt)
		}
	}
}

func TestFullyEncryptedBlocksAFractionWithResidual(t *testing.T) {
	cfg := Config{Seed: 3, ISPs: []ISP{{Name: "x", Compliance: 1, DPI: true}},
		FullyEncrypted: FullyEncrypted{Enabled: true, BlockFraction: 0.26, Residual: 180 * time.Second}}
	c := must(t, cfg)
	blocked := 0
	for i := range 2000 {
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 443)
		f := Flow{Client: "c", ISP: "x", Dst: dst, First: noiseFirst(150)}
		if c.Inspect(0, f).Action == Drop {
			blocked++
			if v := c.Decide(179*time.Second, f); v.Action != Drop {
				t.Fatalf("no residual block: %v", v)
			}
			if v := c.Decide(180*time.Second, f); v.Action != Allow {
				t.Fatalf("residual block too long: %v", v)
			}
		}
	}
	if blocked < 440 || blocked > 600 {
		t.Errorf("blocked %d of 2000, want about 26%%", blocked)
	}
	f := Flow{Client: "c", ISP: "x", Dst: relayA, First: clientHello("a")}
	for range 100 {
		if c.Inspect(0, f).Action != Allow {
			t.Fatal("tls blocked by the heuristic")
		}
	}
}

func TestQUICAndThrottle(t *testing.T) {
	cfg := Config{
		ISPs: []ISP{{Name: "x", Compliance: 1, DPI: true}},
		QUIC: QUIC{Block: true, From: 10 * time.Second},
		Throttle: []ThrottleRule{
			{Name: "twitter", SNISubstring: "t.co", RateBytesPerSec: Throttle2021, From: 0},
			{Name: "net", Prefix: netip.MustParsePrefix("203.0.113.0/24"), RateBytesPerSec: 1000},
		},
	}
	c := must(t, cfg)
	udp := flow("x", relayA)
	udp.UDP = true
	dns := udp
	dns.Dst = netip.AddrPortFrom(relayA.Addr(), 53)
	tw := flow("x", relayA)
	tw.SNI, tw.First = "abs.twimg.t.co", clientHello("")
	tests := []struct {
		name string
		at   Time
		f    Flow
		want Action
		rate int
	}{
		{"quic before", 9 * time.Second, udp, Allow, 0},
		{"quic after", 10 * time.Second, udp, Drop, 0},
		{"udp 53", 10 * time.Second, dns, Allow, 0},
		{"sni throttle", 0, tw, Throttle, Throttle2021},
		{"prefix throttle", 0, flow("x", netip.MustParseAddrPort("203.0.113.9:443")), Throttle, 1000},
	}
	for _, tt := range tests {
		v := c.Inspect(tt.at, tt.f)
		if v.Action != tt.want || v.RateBytesPerSec != tt.rate {
			t.Errorf("%s: %+v, want %v at %d", tt.name, v, tt.want, tt.rate)
		}
	}
}

type fakeProber struct {
	mu     sync.Mutex
	proxy  map[netip.AddrPort]bool
	probed []netip.AddrPort
	seen   [][]byte
}

func (p *fakeProber) Probe(dst netip.AddrPort, first []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probed = append(p.probed, dst)
	p.seen = append(p.seen, first)
	return p.proxy[dst]
}

func TestActiveProbing(t *testing.T) {
	cfg := Config{
		ISPs:         []ISP{{Name: "x", Compliance: 1, DPI: true}, {Name: "nodpi", Compliance: 1}},
		Fingerprints: []Fingerprint{{Name: "noise-ik", Match: LooksLikeNoiseIK, Probe: true}},
		Probing:      Probing{Enabled: true, Delay: time.Second},
	}
	c := must(t, cfg)
	first := noiseFirst(120)
	for _, dst := range []netip.AddrPort{relayA, relayB} {
		f := flow("x", dst)
		f.First = first
		if v := c.Inspect(0, f); v.Action != Allow {
			t.Fatalf("noting fingerprint blocked: %v", v)
		}
	}
	plain := flow("nodpi", other)
	plain.First = []byte("GET / HTTP/1.1\r\n\r\n")
	c.FlowClosed(0, plain, 10, 10)
	p := &fakeProber{proxy: map[netip.AddrPort]bool{relayA: true}}
	if hits := c.RunProbes(500*time.Millisecond, p); len(hits) != 0 || len(p.probed) != 0 {
		t.Fatalf("probed before the delay: %v", p.probed)
	}
	if c.PendingProbes() != 2 {
		t.Fatalf("pending %d, want 2", c.PendingProbes())
	}
	hits := c.RunProbes(time.Second, p)
	if len(hits) != 1 || hits[0] != relayA || len(p.probed) != 2 || string(p.seen[0]) != string(first) {
		t.Fatalf("hits %v probed %v", hits, p.probed)
	}
	if c.Decide(2*time.Second, flow("x", relayA)).Action != Drop {
		t.Error("proxy not blocked after probe")
	}
	if c.Decide(2*time.Second, flow("x", relayB)).Action != Allow {
		t.Error("non-proxy blocked")
	}
	// Each endpoint is probed once.
	f := flow("x", relayB)
	f.First = first
	c.Inspect(3*time.Second, f)
	c.FlowClosed(3*time.Second, f, 1, 1)
	if c.PendingProbes() != 0 {
		t.Error("endpoint probed twice")
	}
}

func TestWhitelist(t *testing.T) {
	allowed := []netip.Prefix{netip.MustParsePrefix("52.58.0.0/16")}
	cfg := Whitelist2025(1, time.Second, 10*time.Second, allowed, []string{"gosuslugi.ru", "vk.com"})
	cfg.Initial = nil
	c := must(t, cfg)
	ok := flow("national", relayA)
	ok.SNI, ok.First = "m.vk.com", clientHello("")
	badName := ok
	badName.SNI = "cdn.example.org"
	noName := flow("national", relayA)
	noName.First = noiseFirst(100)
	tests := []struct {
		name string
		at   Time
		f    Flow
		want Action
	}{
		{"before", 5 * time.Second, flow("national", other), Allow},
		{"unlisted address", 10 * time.Second, flow("national", other), Drop},
		{"listed address and name", 10 * time.Second, ok, Allow},
		{"listed address, unlisted name", 10 * time.Second, badName, Drop},
	}
	for _, tt := range tests {
		if got := c.Inspect(tt.at, tt.f).Action; got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	col := c.Collateral(10*time.Second, []netip.AddrPort{relayA, relayB, other})
	if col["national"] != 1 || len(col) != len(cfg.ISPs) {
		t.Errorf("collateral %v", col)
	}
}

func TestCollateralPerISP(t *testing.T) {
	c := must(t, Config{
		RegistryInterval: time.Second,
		ISPs:             []ISP{{Name: "fast", Compliance: 1}, {Name: "late", Delay: time.Hour, Compliance: 1}},
	})
	c.List(CIDREntry(netip.MustParsePrefix("52.58.0.0/16"), 0, "regulator"))
	by := []netip.AddrPort{relayA, relayB, other}
	got := c.Collateral(time.Minute, by)
	if got["fast"] != 2 || got["late"] != 0 {
		t.Errorf("collateral a minute after a 0-listed entry: %v, want the late ISP not enforcing it before its hour", got)
	}
	c.List(CIDREntry(netip.MustParsePrefix("192.0.2.0/24"), time.Minute, "regulator"))
	got = c.Collateral(2*time.Minute, by)
	if got["fast"] != 3 || got["late"] != 0 {
		t.Errorf("collateral %v", got)
	}
	if got = c.Collateral(time.Hour, by); got["late"] != 2 {
		t.Errorf("collateral an hour in: %v, want the late ISP enforcing the 0-listed entry", got)
	}
	if got = c.Collateral(time.Hour+time.Minute, by); got["late"] != 3 {
		t.Errorf("collateral an hour and a minute in: %v, want the late ISP enforcing both", got)
	}
}

// TestBroken: the services broken for subscribers of at least one ISP,
// by the censor's verdicts, the same whenever asked.
func TestBroken(t *testing.T) {
	c := must(t, Config{
		RegistryInterval: time.Second,
		ISPs:             []ISP{{Name: "fast", Compliance: 1}, {Name: "late", Delay: time.Hour, Compliance: 1}},
	})
	by := []netip.AddrPort{relayA, relayB, other}
	if got := c.Broken(time.Minute, by); len(got) != 0 {
		t.Fatalf("nothing listed, broken %v", got)
	}
	c.List(CIDREntry(netip.MustParsePrefix("192.0.2.0/24"), 0, "regulator"))
	// Broken at the fast ISP only: still broken.
	for range 3 {
		got := c.Broken(time.Minute, by)
		if len(got) != 1 || got[0] != other.Addr() {
			t.Fatalf("broken %v, want [%v]", got, other.Addr())
		}
	}
}

func TestPresets(t *testing.T) {
	hour := DefaultHour
	for name, cfg := range map[string]Config{
		"rkn-2018":  RKN2018(1, 0),
		"sni-dpi":   SNIDPI(1, 0),
		"probing":   Probing2023(1, 0),
		"whitelist": Whitelist2025(1, 0, 0, nil, nil),
	} {
		c, err := New(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tg := c.BlockedAddresses(0)
		all := c.BlockedAddresses(48 * hour)
		// Telegram's own ranges (~10 k) at once, ~15.27 M a day later.
		if tg < 9000 || tg > 20000 || all < 15_000_000 || all > 16_000_000 {
			t.Errorf("%s: blocked %d at 0, %d after two days", name, tg, all)
		}
	}
	c, _ := New(RKN2018(1, 0))
	// 149.154.167.50 is a Telegram data-centre address; the small ISP
	// ignores a few entries but this one is a /22 it applies or not, seeded.
	dc := netip.MustParseAddrPort("149.154.167.50:443")
	if v := c.Decide(2*hour, flow("national", dc)); v.Action != Drop {
		t.Errorf("telegram at national isp: %v", v)
	}
	if v := c.Decide(2*hour, flow("mobile-a", dc)); v.Action != Reset {
		t.Errorf("telegram at mobile-a: %v", v)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := must(t, Probing2023(1, time.Second))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{52, 58, byte(i), byte(j)}), 443)
				f := Flow{Client: fmt.Sprint(i), ISP: "national", Dst: dst, First: noiseFirst(100)}
				c.Decide(Time(j), f)
				c.Inspect(Time(j), f)
				c.Resolve(Time(j), "national", "x.example")
				c.FlowClosed(Time(j), f, 1, 1)
				if j%50 == 0 {
					c.Enumerate(Time(j), dst.Addr())
					c.RunProbes(Time(j)+time.Hour, &fakeProber{})
				}
			}
		}()
	}
	wg.Wait()
	_ = c.Events()
	_ = c.Stats()
}

// Escalation counts moves per network: three addresses spread over two
// networks of one provider do not widen the block; a third inside one
// network does. ScopeBits narrows a wide announced prefix to its /16s.
func TestEscalationPerNetwork(t *testing.T) {
	aws := []labdata.Prefix{
		{Prefix: netip.MustParsePrefix("52.58.0.0/15"), Provider: "AWS"},
		{Prefix: netip.MustParsePrefix("54.0.0.0/15"), Provider: "AWS"},
	}
	tests := []struct {
		name  string
		scope int
		addrs []string
		want  []string
	}{
		{"announced prefix", 0,
			[]string{"52.58.1.1", "54.0.1.1", "52.59.1.1", "54.1.1.1", "52.58.9.9"},
			[]string{"52.58.1.1/32", "54.0.1.1/32", "52.59.1.1/32", "54.1.1.1/32", "52.58.0.0/20"}},
		{"per /16", 16,
			[]string{"52.58.1.1", "54.0.1.1", "52.59.1.1", "54.1.1.1", "52.58.9.9", "52.58.77.1"},
			[]string{"52.58.1.1/32", "54.0.1.1/32", "52.59.1.1/32", "54.1.1.1/32", "52.58.9.9/32", "52.58.64.0/20"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := must(t, Config{
				ISPs:       []ISP{{Name: "x", Compliance: 1}},
				Providers:  aws,
				Escalation: Escalation{Enabled: true, K: 2, ScopeBits: tt.scope, Levels: []int{20}},
			})
			for i, s := range tt.addrs {
				e, ok := c.Block(Time(i), netip.MustParseAddr(s), "enumeration")
				if !ok || e.Prefix.String() != tt.want[i] {
					t.Errorf("block %s: %v %v, want %s", s, e.Prefix, ok, tt.want[i])
				}
			}
		})
	}
	if _, err := New(Config{Escalation: Escalation{Enabled: true, K: 1, ScopeBits: 33}}); err == nil {
		t.Error("scope /33 accepted")
	}
}

// The regulator unlists the networks breaking the most services once the
// measured share passes the threshold, and no further; it leaves single
// addresses and spares the unlisted networks from escalation.
func TestRelieveUnlistsOverThreshold(t *testing.T) {
	cfg := Config{
		ISPs:       []ISP{{Name: "x", Compliance: 1}},
		Providers:  awsProviders(),
		Escalation: Escalation{Enabled: true, K: 1, Levels: []int{16}},
		Relief:     Relief{Enabled: true, Threshold: 0.25},
	}
	c := must(t, cfg)
	wide := CIDREntry(netip.MustParsePrefix("52.58.0.0/16"), 0, "regulator: cloud")
	narrow := CIDREntry(netip.MustParsePrefix("52.59.0.0/24"), 0, "regulator: cloud")
	for _, e := range []Entry{wide, narrow} {
		if err := c.List(e); err != nil {
			t.Fatal(err)
		}
	}
	c.Block(0, netip.MustParseAddr("192.0.2.9"), "enumeration")
	addr := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	// 10 services: 3 in the /16, 1 in the /24, 1 on the single address.
	broken := []netip.Addr{addr("52.58.1.1"), addr("52.58.2.2"), addr("52.58.3.3"), addr("52.59.0.7"), addr("192.0.2.9")}

	// At the threshold exactly (2 of 8 is 0.25): nothing.
	if got := c.Relieve(time.Second, broken[:2], 8); len(got) != 0 {
		t.Fatalf("unlisted at the threshold: %v", got)
	}
	got := c.Relieve(time.Second, broken, 10)
	if len(got) != 1 || got[0].Prefix != wide.Prefix {
		t.Fatalf("unlisted %v, want only %v (2 of 10 left broken is under 0.25)", got, wide.Prefix)
	}
	probe := func(a string) Action {
		return c.Decide(time.Minute, flow("x", netip.AddrPortFrom(addr(a), 443))).Action
	}
	if probe("52.58.1.1") != Allow || probe("52.59.0.7") != Drop || probe("192.0.2.9") != Drop {
		t.Errorf("after relief: /16 %v, /24 %v, single %v", probe("52.58.1.1"), probe("52.59.0.7"), probe("192.0.2.9"))
	}
	evs := c.Events()
	if last := evs[len(evs)-1]; last.What != "unlist" || last.Entry.Prefix != wide.Prefix || !strings.Contains(last.Detail, "5 of 10") {
		t.Errorf("last event %+v", last)
	}
	// Escalation no longer widens into the spared network.
	if e, ok := c.Block(2*time.Second, addr("52.58.200.1"), "enumeration"); !ok || e.Prefix.Bits() != 32 {
		t.Errorf("block inside the spared network: %v %v, want a single address", e.Prefix, ok)
	}
	// Only network entries go: with nothing but a single address left
	// covering the broken services, the share stays over the threshold.
	if got := c.Relieve(3*time.Second, []netip.Addr{addr("192.0.2.9"), addr("192.0.2.9")}, 2); len(got) != 0 {
		t.Errorf("unlisted %v for services broken by a single address", got)
	}
	// Disabled: never.
	off := must(t, Config{ISPs: []ISP{{Name: "x", Compliance: 1}}})
	off.List(wide)
	if got := off.Relieve(time.Second, broken, 5); got != nil {
		t.Errorf("relief disabled, unlisted %v", got)
	}
}

// The 2018 ISPs inspect no SNI: a name the censor's clients learned is
// poisoned in DNS but a TLS flow showing it passes; under sni-dpi it does not.
func TestRKN2018HasNoSNIDPI(t *testing.T) {
	for _, isp := range RKN2018(1, 0).ISPs {
		if isp.DPI {
			t.Errorf("rkn-2018 isp %s runs DPI", isp.Name)
		}
	}
	hello := Flow{Client: "c1", Dst: netip.MustParseAddrPort("203.0.113.5:443"), SNI: "mirror.example.org"}
	for _, tt := range []struct {
		name    string
		cfg     Config
		blocked bool
	}{{"rkn-2018", RKN2018(1, 0), false}, {"sni-dpi", SNIDPI(1, 0), true}} {
		c := must(t, tt.cfg)
		c.EnumerateName(0, "mirror.example.org")
		at := 48 * DefaultHour
		for _, isp := range tt.cfg.ISPs {
			f := hello
			f.ISP = isp.Name
			if got := c.Inspect(at, f).Blocked(); got != tt.blocked {
				t.Errorf("%s at %s: blocked %v, want %v", tt.name, isp.Name, got, tt.blocked)
			}
		}
	}
}

// Listing names the entry an ISP's subscribers hit for an address or a
// name, once that ISP enforces it, and counts nothing.
func TestListing(t *testing.T) {
	c := must(t, Config{
		RegistryInterval: 10 * time.Second,
		ISPs: []ISP{
			{Name: "fast", Delay: time.Second, Compliance: 1, PoisonDNS: true},
			{Name: "slow", Delay: 15 * time.Second, Compliance: 1},
		},
	})
	c.SetName("mirror.example.org", relayB.Addr())
	c.List(IPEntry(relayA.Addr(), 2*time.Second, "enumeration"))
	c.List(IPEntry(relayB.Addr(), 2*time.Second, "escalation"))
	c.List(NameEntry(KindDomain, "doh.example.org", 2*time.Second, "regulator"))
	tests := []struct {
		isp, host string
		at        Time
		want      string // the entry's reason; "" for none
	}{
		{"fast", relayA.Addr().String(), 5 * time.Second, ""}, // not published yet
		{"fast", relayA.Addr().String(), 11 * time.Second, "enumeration"},
		{"slow", relayA.Addr().String(), 11 * time.Second, ""}, // published, not enforced there yet
		{"slow", relayA.Addr().String(), 25 * time.Second, "enumeration"},
		{"fast", "mirror.example.org", 11 * time.Second, "escalation"}, // by the address it resolves to
		{"fast", "doh.example.org", 11 * time.Second, "regulator"},     // a poisoning ISP filters the name
		{"slow", "doh.example.org", 25 * time.Second, ""},              // this one neither poisons nor inspects
		{"fast", other.Addr().String(), time.Minute, ""},
	}
	for _, tt := range tests {
		e, ok := c.Listing(tt.at, tt.isp, tt.host)
		if got := e.Reason; ok != (tt.want != "") || got != tt.want {
			t.Errorf("%s %s at %v: %q %v, want %q", tt.isp, tt.host, tt.at, got, ok, tt.want)
		}
	}
	if s := c.Stats(); len(s) != 0 {
		t.Errorf("Listing counted verdicts: %v", s)
	}
}
