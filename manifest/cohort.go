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

// CohortOf returns the cohort, 1 to n, of the client whose device public
// key is deviceKey, or 0 when n is 0 (the network uses no cohorts). It is
// the first 8 bytes of SHA-256("samizdat cohort v1" || 0x00 || deviceKey),
// big-endian, mod n, plus 1.
//
// The trade-off: the hash has no secret, so a client computes its cohort
// offline, the relay and operator can compute it too without state, and it
// is stable for as long as the device key and n are. But nothing stops
// anyone from picking its cohort: a censor can generate keys until it has
// one in every cohort. What cohorts buy is therefore only as strong as the
// way cohort-specific endpoints reach clients. If one public manifest
// lists every cohort's endpoints, ForCohort only limits what an honest
// client dials (so traffic observation reveals less), not what a censor
// reading the blob learns. The operator gets the intended effect by signing
// one manifest per cohort (cohort 0's endpoints plus that cohort's) and
// handing it out in-band to registered devices of that cohort, and through
// per-cohort channels (CohortPlaceholder); then a censor learns a cohort's
// endpoints only by registering a device in it, which the relay can
// rate-limit, and endpoints it blocks cut off one cohort, not everyone.
// Changing n reshuffles every client's cohort.
func CohortOf(deviceKey []byte, n uint32) uint32 {
	if n == 0 {
		return 0
	}
	h := sha256.New()
	h.Write([]byte(cohortLabel))
	h.Write(deviceKey)
	sum := h.Sum(nil)
	return uint32(binary.BigEndian.Uint64(sum[:8])%uint64(n)) + 1
}

// CohortOf returns the cohort of the client with deviceKey in m: CohortOf(deviceKey, m.Cohorts).
func (m *Manifest) CohortOf(deviceKey []byte) uint32 { return CohortOf(deviceKey, m.Cohorts) }

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
