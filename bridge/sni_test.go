package bridge

import (
	"bytes"
	"testing"
	"time"
)

// TestSNIFor: each bridge key gives a server name of its own, the same
// every time; a bridge started without a name sends it, and its offers
// carry it.
func TestSNIFor(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	na, nb := SNIFor(a), SNIFor(b)
	if na != SNIFor(bytes.Clone(a)) {
		t.Errorf("SNIFor is not stable: %q then %q", na, SNIFor(a))
	}
	if na == nb {
		t.Errorf("two keys, one name %q", na)
	}
	if len(na) != len("www.")+10+len(".com") || na[:4] != "www." || na[len(na)-4:] != ".com" {
		t.Errorf("SNIFor = %q, want www. + 10 letters + .com", na)
	}
	for _, r := range na[4 : len(na)-4] {
		if r < 'a' || r > 'z' {
			t.Errorf("SNIFor = %q: %q is not a letter", na, r)
		}
	}

	s := startBridge(t, Config{})
	if got, want := s.Issuer().SNI, SNIFor(s.cfg.Key); got != want {
		t.Errorf("a bridge given no name sends %q, want its own %q", got, want)
	}
	o, _ := allow(t, s, s.Addrs()[0].String(), time.Now().Add(time.Hour))
	if err := o.Check("net", time.Now()); err != nil || o.SNI != s.Issuer().SNI {
		t.Errorf("its offer: SNI %q, check %v", o.SNI, err)
	}
	if other := startBridge(t, Config{}); other.Issuer().SNI == s.Issuer().SNI {
		t.Errorf("two bridges send the same name %q", s.Issuer().SNI)
	}
}
