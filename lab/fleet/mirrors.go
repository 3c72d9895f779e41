package fleet

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"samizdat/censor"
	"samizdat/lab/vnet"
	"samizdat/manifest"
	"samizdat/manifest/channel/channeltest"
	"samizdat/relay/endpoints"
)

// TransportMirror is the Move.Transport of a cohort mirror's move.
const TransportMirror = "mirror"

// mirrorBackoff is how long after a move a cohort mirror waits before it
// may move again; each further move soon after the last doubles it (up
// to 64 times). A mirror listed again as soon as it is announced sits in
// a cohort the censor has clients in: moving it at once again would only
// spend the operator's budget of addresses on the censor's list.
const mirrorBackoff = 3 * time.Second

// cohortMirror is one samizdat cohort's own manifest mirror: an HTTPS
// server at a virtual address that only its cohort's manifests (and so
// the invites its users hand out) list, by address, with a pinned key.
type cohortMirror struct {
	cohort  uint32
	srv     *channeltest.Mirror
	virt    netip.AddrPort
	since   censor.Time // when the operator first saw it blocked, if blocked
	blocked bool
	moved   censor.Time // its last move; with streak and hold, the backoff
	streak  int         // moves in a row, each soon after the one before
	hold    censor.Time // no move before this
}

// startMirrors starts a mirror for every cohort, each at an address drawn
// from a prefix where the published registry lists no network, that no
// watched ISP blocks at lab time 0; with Operator.Standby, a second one
// for every cohort in another provider (see standby.go).
func (f *Fleet) startMirrors() error {
	mon := f.monitor(0)
	for c := uint32(1); c <= f.cohorts; c++ {
		ln, err := f.cfg.Net.ListenLoopback("127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("fleet: cohort mirror: %w", err)
		}
		m := &cohortMirror{cohort: c, srv: channeltest.NewMirrorOn(ln)}
		f.mirrors = append(f.mirrors, m)
		// Under a whitelist nothing is unblocked; the mirror still starts.
		virt, err := f.drawMirror(mon, c)
		if errors.Is(err, errNoFreeAddress) && virt.IsValid() {
			err = nil
		}
		if err != nil {
			return err
		}
		if err := mapTo(f.cfg.Net, virt, m.srv.Addr()); err != nil {
			return err
		}
		m.virt = virt
	}
	if !f.cfg.Operator.Standby {
		return nil
	}
	// A standby mirror per cohort, away from its first one's provider.
	for _, first := range slices.Clone(f.mirrors) {
		ln, err := f.cfg.Net.ListenLoopback("127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("fleet: cohort mirror: %w", err)
		}
		m := &cohortMirror{cohort: first.cohort, srv: channeltest.NewMirrorOn(ln)}
		f.mirrors = append(f.mirrors, m)
		virt, err := f.drawStandby(mon, vnet.RoleMirror, fmt.Sprintf("%s/c%d-mirror-standby", f.cfg.Strategy, m.cohort), []netip.Addr{first.virt.Addr()})
		if err != nil {
			return err
		}
		if err := mapTo(f.cfg.Net, virt, m.srv.Addr()); err != nil {
			return err
		}
		m.virt = virt
		f.pending = append(f.pending, Move{At: 0, Strategy: f.cfg.Strategy, New: virt, Transport: TransportMirror,
			Reason: fmt.Sprintf("standby mirror for cohort %d", m.cohort)})
	}
	return nil
}

// errNoFreeAddress means every address drawn was listed or blocked.
var errNoFreeAddress = errors.New("fleet: no unlisted, unblocked address")

// drawMirror draws an address for cohort c's mirror that mon sees as
// neither listed in the registry nor blocked, from a prefix where the
// registry lists no network if there is one. When every draw is listed
// or blocked it returns the last one with errNoFreeAddress.
func (f *Fleet) drawMirror(mon *monitor, c uint32) (netip.AddrPort, error) {
	var cand netip.AddrPort
	label := fmt.Sprintf("%s/c%d-mirror", f.cfg.Strategy, c)
	unlisted := func(p vnet.Prefix) bool { return !mon.prefixListed(p.Prefix) }
	for try := 0; try < moveTries; try++ {
		a, err := f.cfg.Plan.Alloc(vnet.RoleMirror, label, unlisted)
		if errors.Is(err, vnet.ErrNoPrefix) {
			// The registry touches every prefix: any unlisted address.
			unlisted = nil
			a, err = f.cfg.Plan.Alloc(vnet.RoleMirror, label, nil)
		}
		if err != nil {
			continue
		}
		cand = netip.AddrPortFrom(a.Addr, relayPort)
		if !mon.listedAddr(cand.Addr()) {
			return cand, nil
		}
	}
	return cand, fmt.Errorf("%w for cohort %d's mirror in %d draws", errNoFreeAddress, c, moveTries)
}

// mirrorChannels are the cohort mirrors as channels of the endpoint
// config: each only in its cohort's manifests.
func (f *Fleet) mirrorChannels() []endpoints.Channel {
	var out []endpoints.Channel
	for _, m := range f.mirrors {
		out = append(out, endpoints.Channel{Kind: "https", URL: "https://" + m.virt.String() + f.cohortPath(m.cohort),
			TLSPin: hex.EncodeToString(m.srv.Pin()), Cohort: m.cohort})
	}
	return out
}

// publishMirrors serves each cohort's current manifest on its mirror.
func (f *Fleet) publishMirrors() {
	for _, m := range f.mirrors {
		m.srv.Put(f.cohortPath(m.cohort), f.cohortBlob(m.cohort))
	}
}

// checkMirrors returns the mirrors blocked for ReactionDelay at now and
// not held back (mirrorBackoff).
func (f *Fleet) checkMirrors(now censor.Time, mon *monitor) (due []*cohortMirror, reasons map[*cohortMirror]string) {
	reasons = map[*cohortMirror]string{}
	for _, m := range f.mirrors {
		blocked, since, reason := mon.blocked(m.virt)
		if !blocked {
			m.blocked = false
			continue
		}
		if !m.blocked {
			m.blocked, m.since = true, since
		}
		if now-m.since >= f.cfg.Operator.ReactionDelay.D() && now >= m.hold {
			due = append(due, m)
			reasons[m] = reason
		}
	}
	return due, reasons
}

// moveMirror moves m to a new unlisted, unblocked address: the server is
// mapped there at once and its old address is unmapped; commit then
// announces it in the cohort's next manifest.
func (f *Fleet) moveMirror(now censor.Time, mon *monitor, m *cohortMirror, reason string) (Move, error) {
	virt, err := f.drawMirror(mon, m.cohort)
	if err != nil {
		return Move{}, err
	}
	if err := mapTo(f.cfg.Net, virt, m.srv.Addr()); err != nil {
		return Move{}, err
	}
	old := m.virt
	f.cfg.Net.Unmap("tcp", old)
	if m.hold > 0 && now-m.moved <= 4*(mirrorBackoff<<m.streak) {
		m.streak = min(m.streak+1, 6)
	} else {
		m.streak = 0
	}
	m.virt, m.blocked, m.moved, m.hold = virt, false, now, now+mirrorBackoff<<m.streak
	return Move{At: now, Strategy: f.cfg.Strategy, Old: old, New: virt, Transport: TransportMirror, Reason: reason}, nil
}

// CohortMirror returns the virtual address of cohort c's own mirror, or
// the zero AddrPort when the fleet has none for c.
func (f *Fleet) CohortMirror(c uint32) netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.mirrors {
		if m.cohort == c {
			return m.virt
		}
	}
	return netip.AddrPort{}
}

// InviteFor returns the invite the n-th new user receives: new users
// are invited by existing ones, so it is a personal invite from a user of
// the inviter's cohort as the fleet started: the cohort's manifest (its
// endpoints, the shared channels and the cohort's own mirror) and a token
// the relay sealed that places its holder in that cohort. Strategies
// without cohorts hand out Invite to everyone.
func (f *Fleet) InviteFor(n int) manifest.Invite {
	if f.cohorts == 0 || len(f.invites) == 0 {
		return f.invite
	}
	return f.invites[InviteCohort(n, f.cohorts)-1]
}

// InviteCohort is the cohort, 1 to cohorts, of the user who invites the
// n-th new user: a fixed hash of n (SplitMix64), so inviters spread over
// the cohorts evenly and independently of which cohorts the censor's
// enumeration clients sit in (1, 2, ...).
func InviteCohort(n int, cohorts uint32) uint32 {
	x := uint64(n) + 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return 1 + uint32((x^x>>31)%uint64(cohorts))
}

// cohortInvites records the invites of every cohort and the endpoint
// addresses of all invites the fleet hands out.
func (f *Fleet) cohortInvites() error {
	m, err := manifest.Open(f.invite.Manifest, f.invite.NetworkKey)
	if err != nil {
		return fmt.Errorf("fleet: own manifest: %w", err)
	}
	f.builtIn = manifestAddrs(m)
	for c := uint32(1); c <= f.cohorts; c++ {
		// The token stands for the inviter's: it places its holder in
		// cohort c (slot cohorts+c-1; 0 would mean no slot).
		tok, err := f.srv.OperatorInvite(uint64(f.cohorts+c-1), f.cfg.Net.Clock().Now().Add(inviteLifetime))
		if err != nil {
			return fmt.Errorf("fleet: cohort %d's invite: %w", c, err)
		}
		inv := manifest.Invite{NetworkKey: f.invite.NetworkKey, Manifest: f.cohortBlob(c), Inviter: tok}
		m, err := manifest.Open(inv.Manifest, inv.NetworkKey)
		if err != nil {
			return fmt.Errorf("fleet: cohort %d's manifest: %w", c, err)
		}
		f.invites = append(f.invites, inv)
		for _, a := range manifestAddrs(m) {
			if !slices.Contains(f.builtIn, a) {
				f.builtIn = append(f.builtIn, a)
			}
		}
	}
	slices.SortFunc(f.builtIn, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return nil
}

// inviteLifetime is how long the cohorts' invites stay valid: longer than
// any run.
const inviteLifetime = 365 * 24 * time.Hour
