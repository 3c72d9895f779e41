package censor

import (
	"net/netip"
	"time"
)

// Time is lab time: the duration since the scenario started. The model never
// reads a wall clock; callers pass the current lab time into every decision.
type Time = time.Duration

// Flow describes one connection attempt as the censor sees it on the wire.
type Flow struct {
	Client string         // lab client id
	ISP    string         // the client's ISP
	Dst    netip.AddrPort // virtual destination
	Domain string         // the name the client resolved to reach Dst, if any
	SNI    string         // from the TLS ClientHello, if the first packet was one ("" otherwise)
	First  []byte         // the first bytes the client sent (up to 1 KiB), for fingerprints/heuristics
	UDP    bool           // QUIC and other UDP
}

// Action is what the censor does to a flow.
type Action uint8

// Actions, from least to most visible to the user.
const (
	Allow     Action = iota // deliver untouched
	Drop                    // silent blackhole: the client times out
	Reset                   // TCP RST (or ICMP unreachable for UDP)
	BlockPage               // HTTP 451-ish page, or a TLS alert for TLS flows
	Throttle                // deliver, but at Verdict.RateBytesPerSec
)

// String returns the action's lowercase name.
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Drop:
		return "drop"
	case Reset:
		return "reset"
	case BlockPage:
		return "blockpage"
	case Throttle:
		return "throttle"
	}
	return "unknown"
}

// Verdict is the censor's decision about a flow.
type Verdict struct {
	Action          Action
	RateBytesPerSec int    // for Throttle only
	Reason          string // which rule fired, for counters and reports
}

// Blocked reports whether the verdict stops the flow (anything but Allow and Throttle).
func (v Verdict) Blocked() bool { return v.Action != Allow && v.Action != Throttle }

// Decider is what the virtual network asks. Decide is called at connect time
// (First and SNI empty) and Inspect again once the first bytes are known.
// Resolve answers DNS for an ISP's subscribers; poisoned reports that the
// answer was forged. All methods are safe for concurrent use and
// deterministic for a given seed and lab time.
type Decider interface {
	Decide(now Time, f Flow) Verdict
	Inspect(now Time, f Flow) Verdict
	Resolve(now Time, isp, name string) (addrs []netip.Addr, poisoned bool)
}

// Observer is optionally implemented by a Decider that learns from finished
// flows, e.g. to schedule active probes of suspicious endpoints.
type Observer interface {
	FlowClosed(now Time, f Flow, bytesUp, bytesDown int64)
}
