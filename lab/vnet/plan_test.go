package vnet

import (
	"errors"
	"net/netip"
	"testing"
)

func testPrefixes() []Prefix {
	return []Prefix{
		{Prefix: netip.MustParsePrefix("52.28.0.0/16"), Provider: "AWS", Region: "eu-central-1", Service: "EC2"},
		{Prefix: netip.MustParsePrefix("52.0.0.0/11"), Provider: "AWS", Region: "GLOBAL", Service: "AMAZON"},
		{Prefix: netip.MustParsePrefix("35.190.0.0/17"), Provider: "Google Cloud", Region: "us"},
		{Prefix: netip.MustParsePrefix("2a05:d000::/25"), Provider: "AWS", Region: "eu-west-1"},
	}
}

func TestPlanDeterministic(t *testing.T) {
	alloc := func(seed uint64) []netip.Addr {
		p, err := NewPlan(seed, testPrefixes())
		if err != nil {
			t.Fatal(err)
		}
		var out []netip.Addr
		for range 50 {
			a, err := p.Alloc("relay", "r", nil)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a.Addr)
		}
		return out
	}
	a, b, c := alloc(1), alloc(1), alloc(2)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different address %d: %v vs %v", i, a[i], b[i])
		}
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("different seeds gave the same plan")
	}
}

func TestPlanAlloc(t *testing.T) {
	p, err := NewPlan(7, testPrefixes())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	for i := range 500 {
		role := "bystander"
		var match func(Prefix) bool
		if i%2 == 0 {
			role = "relay"
			match = func(pr Prefix) bool { return pr.Service == "EC2" }
		}
		a, err := p.Alloc(role, "x", match)
		if err != nil {
			t.Fatal(err)
		}
		if seen[a.Addr] {
			t.Fatalf("address %v allocated twice", a.Addr)
		}
		seen[a.Addr] = true
		if !a.From.Prefix.Contains(a.Addr) || a.Addr == a.From.Prefix.Addr() {
			t.Fatalf("%v not a host in %v", a.Addr, a.From.Prefix)
		}
		if role == "relay" && a.From.Service != "EC2" {
			t.Fatalf("relay from %+v", a.From)
		}
		if IsLoopback(a.Addr) {
			t.Fatalf("loopback allocated: %v", a.Addr)
		}
		if got, ok := p.Lookup(a.Addr); !ok || got.Role != role {
			t.Fatalf("Lookup(%v) = %+v, %v", a.Addr, got, ok)
		}
	}
	if got := len(p.Addrs("relay")); got != 250 {
		t.Errorf("relays = %d", got)
	}
	if got := len(p.Addrs("")); got != 500 {
		t.Errorf("all = %d", got)
	}
	if _, err := p.Alloc("x", "x", func(Prefix) bool { return false }); !errors.Is(err, ErrNoPrefix) {
		t.Errorf("no match: %v", err)
	}
	if got := p.Providers(); len(got) != 2 || got[0] != "AWS" || got[1] != "Google Cloud" {
		t.Errorf("providers = %v", got)
	}
}

func TestPlanNearAndPrefixOf(t *testing.T) {
	p, err := NewPlan(3, testPrefixes())
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Alloc("relay", "r0", func(pr Prefix) bool { return pr.Service == "EC2" })
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := a.Addr.Prefix(24)
	for range 20 {
		b, err := p.Near(a.Addr, 24, "relay", "moved")
		if err != nil {
			t.Fatal(err)
		}
		if !blk.Contains(b.Addr) || b.Addr == a.Addr {
			t.Fatalf("Near(%v, 24) = %v", a.Addr, b.Addr)
		}
	}
	// wider than the prefix: clipped to the /16 it came from
	b, err := p.Near(a.Addr, 8, "relay", "moved")
	if err != nil || !netip.MustParsePrefix("52.28.0.0/16").Contains(b.Addr) {
		t.Errorf("Near clipped = %v, %v", b.Addr, err)
	}
	if pr, ok := p.PrefixOf(netip.MustParseAddr("52.28.1.1")); !ok || pr.Prefix.Bits() != 16 {
		t.Errorf("PrefixOf longest = %+v", pr)
	}
	if pr, ok := p.PrefixOf(netip.MustParseAddr("52.1.1.1")); !ok || pr.Prefix.Bits() != 11 {
		t.Errorf("PrefixOf = %+v", pr)
	}
	if _, ok := p.PrefixOf(netip.MustParseAddr("8.8.8.8")); ok {
		t.Error("PrefixOf outside the plan")
	}
	if _, err := p.Near(netip.MustParseAddr("8.8.8.8"), 24, "r", "r"); !errors.Is(err, ErrNotVirtual) {
		t.Errorf("Near outside: %v", err)
	}
}

func TestPlanExhaustion(t *testing.T) {
	p, err := NewPlan(1, []Prefix{{Prefix: netip.MustParsePrefix("198.51.100.0/30")}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // .1 and .2
		if _, err := p.Alloc("r", "r", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Alloc("r", "r", nil); !errors.Is(err, ErrExhausted) {
		t.Errorf("third alloc in a /30: %v", err)
	}
	if _, err := NewPlan(1, nil); !errors.Is(err, ErrBadPrefix) {
		t.Errorf("empty: %v", err)
	}
	if _, err := NewPlan(1, []Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}); !errors.Is(err, ErrBadPrefix) {
		t.Errorf("loopback prefix: %v", err)
	}
	if _, err := NewPlan(1, []Prefix{{}}); !errors.Is(err, ErrBadPrefix) {
		t.Errorf("invalid prefix: %v", err)
	}
}

func TestDefaultPrefixes(t *testing.T) {
	ps := DefaultPrefixes()
	if len(ps) < 100 {
		t.Fatalf("only %d default prefixes", len(ps))
	}
	p, err := NewPlan(1, ps)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Alloc("relay", "r", func(pr Prefix) bool { return pr.Region == "eu-central-1" })
	if err != nil || a.From.Provider != "AWS" || a.From.Service != "EC2" {
		t.Errorf("alloc = %+v, %v", a, err)
	}
}

// Claim records the address it is given, refuses one already allocated
// or outside its prefix, and leaves the plan's own draws as they were.
func TestPlanClaim(t *testing.T) {
	draw := func(claim bool) []netip.Addr {
		p, err := NewPlan(3, testPrefixes())
		if err != nil {
			t.Fatal(err)
		}
		var out []netip.Addr
		for i := range 20 {
			if claim && i == 5 {
				home := Prefix{Prefix: netip.MustParsePrefix("95.0.0.0/13"), Provider: "residential"}
				a, err := p.Claim(home, netip.MustParseAddr("95.1.2.3"), "home-bridge", "u1")
				if err != nil || a.Addr != netip.MustParseAddr("95.1.2.3") || a.Role != "home-bridge" || a.From.Provider != "residential" {
					t.Fatalf("Claim = %+v, %v", a, err)
				}
				if got, ok := p.Lookup(a.Addr); !ok || got != a {
					t.Errorf("Lookup(%v) = %+v, %v", a.Addr, got, ok)
				}
				if _, err := p.Claim(home, a.Addr, "home-bridge", "u2"); !errors.Is(err, ErrTaken) {
					t.Errorf("claiming it again: %v, want ErrTaken", err)
				}
				if _, err := p.Claim(home, netip.MustParseAddr("96.0.0.1"), "home-bridge", "u3"); !errors.Is(err, ErrBadPrefix) {
					t.Errorf("claiming outside the prefix: %v, want ErrBadPrefix", err)
				}
			}
			a, err := p.Alloc("relay", "r", nil)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a.Addr)
		}
		return out
	}
	without, with := draw(false), draw(true)
	for i := range without {
		if without[i] != with[i] {
			t.Fatalf("draw %d moved with a claim: %v, %v", i, without[i], with[i])
		}
	}
}
