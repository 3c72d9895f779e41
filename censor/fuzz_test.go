package censor

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzInspect feeds untrusted first packets through every DPI rule.
func FuzzInspect(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: web.telegram.org:80\r\n\r\n"), "")
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0, 0}, "t.me")
	f.Add(append([]byte{0x00, 0x60}, make([]byte, 96)...), "")
	cfg := Probing2023(1, time.Second)
	cfg.Throttle = []ThrottleRule{{Name: "t", SNISubstring: "t.co", RateBytesPerSec: Throttle2021}}
	c, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	c.List(NameEntry(KindDomainMask, "telegram.org", 0, "t"))
	f.Fuzz(func(t *testing.T, first []byte, sni string) {
		if len(first) > 1024 {
			first = first[:1024]
		}
		fl := Flow{Client: "c", ISP: "national", Dst: netip.MustParseAddrPort("192.0.2.1:443"), SNI: sni, First: first}
		v := c.Inspect(time.Hour, fl)
		if v.Action > Throttle {
			t.Fatalf("bad action %d", v.Action)
		}
		if h := HTTPHost(first); h != strings.ToLower(h) || strings.Contains(h, "\r\n") {
			t.Fatalf("bad host %q", h)
		}
		c.FlowClosed(time.Hour, fl, 1, 1)
	})
}
