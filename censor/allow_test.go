package censor

import (
	"net/netip"
	"testing"
	"time"
)

func TestAllowPrefixes(t *testing.T) {
	cfg := Whitelist2025(1, time.Second, 10*time.Second, nil, nil)
	cfg.Initial = nil
	c := must(t, cfg)
	at := 10 * time.Second
	if got := c.Decide(at, flow("national", relayA)).Action; got != Drop {
		t.Fatalf("before AllowPrefixes: %v, want drop", got)
	}
	c.AllowPrefixes(netip.PrefixFrom(relayA.Addr(), 32))
	if got := c.Decide(at, flow("national", relayA)).Action; got != Allow {
		t.Errorf("allowed address: %v, want allow", got)
	}
	if got := c.Decide(at, flow("national", relayB)).Action; got != Drop {
		t.Errorf("other address: %v, want drop", got)
	}
	// Without a whitelist regime it changes nothing.
	cfg = RKN2018(1, time.Second)
	cfg.Initial = nil
	c = must(t, cfg)
	c.AllowPrefixes(netip.PrefixFrom(relayA.Addr(), 32))
	if got := c.Decide(at, flow("national", relayB)).Action; got != Allow {
		t.Errorf("rkn without whitelist: %v, want allow", got)
	}
}
