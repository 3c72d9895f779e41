package lab

import (
	"net/netip"
	"testing"
	"time"

	"samizdat/censor"
)

func TestHistoryLetsSetupThrough(t *testing.T) {
	// A whitelist from lab time 0 with nothing allowed: every flow dropped.
	cen, err := censor.New(censor.Whitelist2025(1, censor.DefaultHour, 0, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	h := newHistory(cen)
	f := censor.Flow{Client: "c", ISP: "national", Dst: netip.MustParseAddrPort("52.58.1.10:443"), First: []byte("hello")}
	if v := h.Decide(0, f); v.Action != censor.Allow {
		t.Errorf("setup: decide %v, want allow", v.Action)
	}
	if v := h.Inspect(0, f); v.Action != censor.Allow {
		t.Errorf("setup: inspect %v, want allow", v.Action)
	}
	h.end()
	if v := h.Decide(time.Second, f); v.Action != censor.Drop {
		t.Errorf("run: decide %v, want the censor's drop", v.Action)
	}
	if v := h.Inspect(time.Second, f); v.Action != censor.Drop {
		t.Errorf("run: inspect %v, want the censor's drop", v.Action)
	}
}
