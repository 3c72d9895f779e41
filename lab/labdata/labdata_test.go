package labdata

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func sum(ps []Prefix) uint64 { return UnionSize(Prefixes(ps)) }

func TestEmbeddedCounts(t *testing.T) {
	type set = map[netip.Prefix]bool
	uniq := func(ps []Prefix) set {
		s := set{}
		for _, p := range ps {
			s[p.Prefix] = true
		}
		return s
	}
	early, late := AWS2018(), AWS2018Late()
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"aws 2018-04-05 prefixes", len(early), 1114},
		{"gcp prefixes", len(GCP()), 736},
		{"goog prefixes", len(Goog()), 73},
		{"zi dumps", len(ZIDumps()), 755},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	e, l := uniq(early), uniq(late)
	added := 0
	for p := range l {
		if !e[p] {
			added++
		}
	}
	if len(late)-len(early) != 31 || added != 21 {
		t.Errorf("between the aws snapshots %d entries, %d distinct prefixes added; want 31, 21", len(late)-len(early), added)
	}
	if n := sum(early); n < 30_000_000 || n > 32_000_000 {
		t.Errorf("aws 2018 addresses %d, want ~30.9 M", n)
	}
}

func TestRKN2018(t *testing.T) {
	bl := RKNBlocked()
	var tgp, allp []netip.Prefix
	clouds := 0
	for _, b := range bl {
		allp = append(allp, b.Prefix.Prefix)
		switch b.Group {
		case "telegram_own":
			tgp = append(tgp, b.Prefix.Prefix)
		case "cloud_collateral":
			clouds++
		default:
			t.Errorf("unknown group %q", b.Group)
		}
	}
	tg, all := UnionSize(tgp), UnionSize(allp)
	if tg < 9000 || clouds != 25 || all < 15_200_000 || all > 15_300_000 {
		t.Errorf("telegram %d, %d cloud blocks, %d in all", tg, clouds, all)
	}
}

func TestUnionSize(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		ps   []netip.Prefix
		want uint64
	}{
		{nil, 0},
		{[]netip.Prefix{p("10.0.0.0/8")}, 1 << 24},
		{[]netip.Prefix{p("10.0.0.0/8"), p("10.1.0.0/16"), p("10.0.0.1/32")}, 1 << 24},
		{[]netip.Prefix{p("10.0.0.0/24"), p("10.0.1.0/24"), p("2001:db8::/32")}, 512},
		{[]netip.Prefix{p("0.0.0.0/0")}, 1 << 32},
	}
	for _, tt := range tests {
		if got := UnionSize(tt.ps); got != tt.want {
			t.Errorf("%v: %d, want %d", tt.ps, got, tt.want)
		}
	}
}

func TestRegistryCadence(t *testing.T) {
	// The README: median gap between dumps 4 h.
	if g := MedianGap(ZIDumps()); g < 3*time.Hour || g > 5*time.Hour {
		t.Errorf("median gap %v, want about 4 h", g)
	}
}

func TestParsersRejectBadInput(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) error
		in    string
	}{
		{"aws not json", func(b []byte) error { _, err := ParseAWS(b); return err }, "{"},
		{"aws bad prefix", func(b []byte) error { _, err := ParseAWS(b); return err }, `{"prefixes":[{"ip_prefix":"1.2.3.4"}]}`},
		{"aws ipv6", func(b []byte) error { _, err := ParseAWS(b); return err }, `{"prefixes":[{"ip_prefix":"2001:db8::/32"}]}`},
		{"google empty prefix", func(b []byte) error { _, err := ParseGoogle(b, "G"); return err }, `{"prefixes":[{}]}`},
		{"rkn wrong count", func(b []byte) error { _, err := ParseRKN(b); return err }, "1.2.3.0/24;255;telegram_own;T;;;\n"},
		{"rkn few fields", func(b []byte) error { _, err := ParseRKN(b); return err }, "1.2.3.0/24;256\n"},
		{"zi no header", func(b []byte) error { _, err := ParseZIStats(b); return err }, "a,1,b,c,1,1,1,1,1,1\n"},
		{"zi negative", func(b []byte) error { _, err := ParseZIStats(b); return err },
			"commit,a,b,c,d,e,f,g,h,i\nx,1,t,t,-1,1,1,1,1,1\n"},
	}
	for _, tt := range tests {
		if err := tt.parse([]byte(tt.in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", tt.name, err)
		}
	}
	ps, err := ParseGoogle([]byte(`{"prefixes":[{"ipv6Prefix":"2001:db8::/32"},{"ipv4Prefix":"8.8.8.0/24","scope":"x"}]}`), "G")
	if err != nil || len(ps) != 1 || ps[0].Region != "x" || ps[0].Provider != "G" {
		t.Errorf("google: %v %v", ps, err)
	}
}
