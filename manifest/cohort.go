package manifest

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
)

// cohortLabel separates cohort hashes from any other hash of a device key.
const cohortLabel = "samizdat cohort v1\x00"

// CohortPlaceholder in a channel's URL, name or path is replaced by the
// client's cohort number by ForCohort, so that each cohort can fetch its
// own manifest (one listing only that cohort's endpoints) from its own URL
// or DNS name.
const CohortPlaceholder = "{cohort}"

// Slot is where a user sits among the cohorts: a 64-bit number the relay
// assigns to an account when it registers and stores with its devices.
// The cohort under a manifest of n cohorts is Slot.Cohort(n), so the
// operator may change n without reassigning anyone (it reshuffles the
// cohorts, but every member of an invitation tree stays with the others).
//
// How the relay assigns slots, and what that buys against a censor:
//
//   - A user who joins through a personal invite (`samizdat invite`)
//     takes the inviter's slot: an invitation tree sits in one cohort.
//     The invite carries a token the relay sealed for the inviter
//     (relay/invitation); the relay checks it and that the inviting
//     device still exists, and refuses the registration otherwise.
//   - A user who joins through the relay's own invite (a root invite,
//     without a token) gets a slot from a keyed hash of its device's
//     Noise key under the relay's secret (HMAC-SHA256): nobody without
//     the secret can predict it, so drawing device keys offline steers
//     nothing; only registering again draws again.
//   - A device registered before slots existed keeps the cohort it had:
//     its slot is KeySlot of its Noise key, the keyless hash cohorts used
//     to be (the relay and the client both fall back on it where no slot
//     was stored).
//
// Before, the cohort was that keyless hash, and a censor generated device
// keys until it had a device in every cohort. Now a censor account lands
// where the relay puts it: in the cohort of the user who invited it (it
// burns that user's cohort, which it could read anyway through that user)
// or, through root invites, in a cohort it cannot choose. To sit in all n
// cohorts through root invites it needs n·H(n) registrations on average
// (coupon collecting: 54 for 16 cohorts; 16 accounts reach 10.3 cohorts
// on average, 48 still miss one with probability 0.55), each paying the
// registration limits (a token of its address's budget, or
// relay/regwork's proof of work through a shared proxy). What it still gets: every cohort that one of
// its accounts lands in, and the cohorts of every user who invites it;
// what the operator gets back is the time those registrations take and
// the chance to spot accounts that register from root invites in bulk.
//
// CohortPlaceholder, ForCohort and per-cohort manifests are unchanged:
// what cohorts buy is still only as strong as the way cohort-specific
// endpoints reach clients (the relay pushes each device its cohort's
// manifest, by the slot it stored).
type Slot uint64

// Cohort returns the cohort, 1 to n, of slot s, or 0 when n is 0 (the
// network uses no cohorts): s mod n, plus 1.
func (s Slot) Cohort(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return uint32(uint64(s)%uint64(n)) + 1
}

// KeySlot is the slot of a device registered before the relay assigned
// slots: the first 8 bytes of SHA-256("samizdat cohort v1" || 0x00 ||
// deviceKey), big-endian. It is keyless, so whoever picks the key picks
// the slot; the relay never assigns it to a new account.
func KeySlot(deviceKey []byte) Slot {
	h := sha256.New()
	h.Write([]byte(cohortLabel))
	h.Write(deviceKey)
	sum := h.Sum(nil)
	return Slot(binary.BigEndian.Uint64(sum[:8]))
}

// CohortOf returns the cohort, 1 to n, that the keyless hash of deviceKey
// gives (KeySlot(deviceKey).Cohort(n)), or 0 when n is 0: the cohort of a
// device registered before the relay assigned slots. New devices take the
// cohort of the slot the relay assigned them (see Slot).
func CohortOf(deviceKey []byte, n uint32) uint32 { return KeySlot(deviceKey).Cohort(n) }

// CohortOf returns the cohort under m of the client in slot s: s.Cohort(m.Cohorts).
func (m *Manifest) CohortOf(s Slot) uint32 { return s.Cohort(m.Cohorts) }

// ForCohort returns a copy of m with only the endpoints of cohort c and
// cohort 0; relays left without endpoints are dropped. Channels are kept,
// with CohortPlaceholder replaced by c. The result is for dialing; it is
// not meant to be signed again.
func (m *Manifest) ForCohort(c uint32) *Manifest {
	out := *m
	out.Relays = nil
	for _, r := range m.Relays {
		var eps []Endpoint
		for _, e := range r.Endpoints {
			if e.Cohort == 0 || e.Cohort == c {
				eps = append(eps, e)
			}
		}
		if len(eps) > 0 {
			r.Endpoints = eps
			out.Relays = append(out.Relays, r)
		}
	}
	out.Channels = nil
	n := strconv.FormatUint(uint64(c), 10)
	for _, ch := range m.Channels {
		ch.URL = strings.ReplaceAll(ch.URL, CohortPlaceholder, n)
		ch.Name = strings.ReplaceAll(ch.Name, CohortPlaceholder, n)
		ch.Path = strings.ReplaceAll(ch.Path, CohortPlaceholder, n)
		out.Channels = append(out.Channels, ch)
	}
	return &out
}
