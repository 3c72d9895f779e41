package lab

import (
	"net/netip"
	"sync/atomic"

	"samizdat/censor"
)

// history is the Decider the virtual network asks. While the world is
// built it lets everything through: the regular clients registered before
// the censorship began, as Telegram's users had in April 2018 (under a
// DPI preset that blocks Noise from the first packet, none could register
// otherwise). Once the run starts, every question goes to the censor.
type history struct {
	cen   *censor.Censor
	setup atomic.Bool
}

var (
	_ censor.Decider  = (*history)(nil)
	_ censor.Observer = (*history)(nil)
)

func newHistory(c *censor.Censor) *history {
	h := &history{cen: c}
	h.setup.Store(true)
	return h
}

// end ends the setup: from now on the censor decides.
func (h *history) end() { h.setup.Store(false) }

func (h *history) Decide(now censor.Time, f censor.Flow) censor.Verdict {
	if h.setup.Load() {
		return censor.Verdict{}
	}
	return h.cen.Decide(now, f)
}

func (h *history) Inspect(now censor.Time, f censor.Flow) censor.Verdict {
	if h.setup.Load() {
		return censor.Verdict{}
	}
	return h.cen.Inspect(now, f)
}

func (h *history) Resolve(now censor.Time, isp, name string) ([]netip.Addr, bool) {
	return h.cen.Resolve(now, isp, name)
}

func (h *history) FlowClosed(now censor.Time, f censor.Flow, up, down int64) {
	if h.setup.Load() {
		return
	}
	h.cen.FlowClosed(now, f, up, down)
}
