package fleet

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"samizdat/censor"
	"samizdat/lab/vnet"
)

// Standby endpoints and mirrors (Operator.Standby, samizdat only).
//
// Every cohort keeps one standby endpoint, in a provider none of its
// other endpoints is in (else at least outside their prefixes), listed
// in its manifests with the standby mark: clients dial it only after the
// others, and one cut off from them already knows it, before any new
// manifest reaches them. When an endpoint of the cohort is due for a
// move and the standby is not blocked, the standby is promoted in its
// place (no new address: the Move says Promoted) and a new standby is
// drawn, budget permitting. Each cohort also keeps a second mirror in
// another provider than its first. Every standby address is paid from
// MovesPerMinute like a move and counted among the moves; the draws come
// from a generator of their own (seeded by Config.Seed), so that they
// leave the plan's other draws as they would have been.

// standbyTransport is the transport of the standby endpoints drawn at
// start: wss, which also passes where a censor fingerprints Noise over
// tcp.
const standbyTransport = "wss"

// standbyRand returns the generator of the standby draws.
func standbyRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x5ba4db7))
}

// avoid returns a prefix filter that refuses the providers of addrs when
// another provider is left, and else the plan prefixes that hold one of
// addrs; listed refuses prefixes the published registry lists networks
// in, where possible.
func (f *Fleet) avoid(addrs []netip.Addr, mon *monitor) []func(vnet.Prefix) bool {
	providers := map[string]bool{}
	var holds []netip.Prefix
	for _, a := range addrs {
		if p, ok := f.cfg.Plan.PrefixOf(a); ok {
			providers[p.Provider] = true
			holds = append(holds, p.Prefix)
		}
	}
	otherProvider := func(p vnet.Prefix) bool { return !providers[p.Provider] && !mon.prefixListed(p.Prefix) }
	otherPrefix := func(p vnet.Prefix) bool {
		return !slices.ContainsFunc(holds, p.Prefix.Overlaps) && !mon.prefixListed(p.Prefix)
	}
	return []func(vnet.Prefix) bool{otherProvider, otherPrefix, nil}
}

// drawStandby draws an address with role that mon does not see listed,
// away from addrs (see avoid), from the standby generator.
func (f *Fleet) drawStandby(mon *monitor, role, label string, addrs []netip.Addr) (netip.AddrPort, error) {
	for _, match := range f.avoid(addrs, mon) {
		for try := 0; try < moveTries; try++ {
			a, err := f.cfg.Plan.AllocWith(f.standbyRng, role, label, match)
			if err != nil {
				break // nothing matches: a looser filter
			}
			if cand := netip.AddrPortFrom(a.Addr, relayPort); !mon.listedAddr(cand.Addr()) {
				return cand, nil
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("%w for a standby in %d draws", errNoFreeAddress, moveTries)
}

// cohortAddrs returns the addresses of cohort c's endpoints, standby
// included.
func (f *Fleet) cohortAddrs(c uint32) []netip.Addr {
	var out []netip.Addr
	for _, e := range f.eps {
		if e.cohort == c && e.transport != "front" {
			out = append(out, e.virt.Addr())
		}
	}
	return out
}

// standbyOf returns cohort c's standby endpoint, or nil.
func (f *Fleet) standbyOf(c uint32) *endpoint {
	for _, e := range f.eps {
		if e.cohort == c && e.standby {
			return e
		}
	}
	return nil
}

// addStandby opens a standby endpoint of transport for cohort c at a new
// address away from the cohort's others; commit (or Start) then
// announces it.
func (f *Fleet) addStandby(now censor.Time, mon *monitor, c uint32, transport string) (Move, error) {
	virt, err := f.drawStandby(mon, vnet.RoleRelay, fmt.Sprintf("%s/c%d-standby", f.cfg.Strategy, c), f.cohortAddrs(c))
	if err != nil {
		return Move{}, err
	}
	if _, err := f.newSpec(transport, c, virt); err != nil {
		return Move{}, err
	}
	e := f.eps[len(f.eps)-1]
	e.standby, e.spec.Standby = true, true
	return Move{At: now, Strategy: f.cfg.Strategy, New: virt, Transport: transport,
		Reason: fmt.Sprintf("standby for cohort %d", c)}, nil
}

// promote puts the unblocked standby of e's cohort in e's place: the
// standby loses its mark and e is retired. It reports false when the
// cohort has no standby or it is blocked too.
func (f *Fleet) promote(now censor.Time, mon *monitor, e *endpoint, reason string) (Move, bool) {
	s := f.standbyOf(e.cohort)
	if s == nil || s == e {
		return Move{}, false
	}
	if blocked, _, _ := mon.blocked(s.virt); blocked {
		return Move{}, false
	}
	s.standby, s.spec.Standby = false, false
	f.eps = slices.DeleteFunc(f.eps, func(x *endpoint) bool { return x == e })
	return Move{At: now, Strategy: f.cfg.Strategy, Old: e.virt, New: s.virt, Transport: e.transport,
		Reason: reason + "; standby promoted", Promoted: true}, true
}

// spent counts the moves that took a new address.
func spent(moves []Move) int {
	n := 0
	for _, m := range moves {
		if !m.Promoted {
			n++
		}
	}
	return n
}

// moveStandby replaces the blocked standby endpoint e by a new one, drawn
// away from the cohort's other endpoints.
func (f *Fleet) moveStandby(now censor.Time, mon *monitor, e *endpoint, reason string) (Move, error) {
	var others []netip.Addr
	for _, a := range f.cohortAddrs(e.cohort) {
		if a != e.virt.Addr() {
			others = append(others, a)
		}
	}
	virt, err := f.drawStandby(mon, vnet.RoleRelay, fmt.Sprintf("%s/c%d-standby", f.cfg.Strategy, e.cohort), append(others, e.virt.Addr()))
	if err != nil {
		return Move{}, err
	}
	if _, err := f.newSpec(e.transport, e.cohort, virt); err != nil {
		return Move{}, err
	}
	n := f.eps[len(f.eps)-1]
	n.standby, n.spec.Standby = true, true
	f.eps = slices.DeleteFunc(f.eps, func(x *endpoint) bool { return x == e })
	return Move{At: now, Strategy: f.cfg.Strategy, Old: e.virt, New: virt, Transport: e.transport, Reason: reason}, nil
}

// cohortOf returns the cohort of the live endpoint at a (0 if none).
func (f *Fleet) cohortOf(a netip.AddrPort) uint32 {
	for _, e := range f.eps {
		if e.virt == a && e.transport != "front" {
			return e.cohort
		}
	}
	return 0
}
