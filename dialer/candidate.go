package dialer

import (
	"strings"

	"samizdat/manifest"
)

// Candidate is one way to reach the network: a relay (its id and pinned
// Noise key) through one of its endpoints (transport, address and, for
// the web-like transports, the SNI, Host and path that make up a front).
type Candidate struct {
	RelayID  string
	RelayKey [32]byte
	Endpoint manifest.Endpoint
}

// Key names the candidate in the memory and in events: relay, transport,
// address, and the front (SNI, Host, path) when there is one. It never
// includes the endpoint's secret.
func (c Candidate) Key() string {
	var b strings.Builder
	b.WriteString(c.RelayID)
	b.WriteByte('|')
	b.WriteString(c.Endpoint.Transport)
	b.WriteString("://")
	b.WriteString(c.Endpoint.Address)
	if c.Endpoint.SNI != "" || c.Endpoint.Host != "" || c.Endpoint.Path != "" {
		b.WriteString("|sni=")
		b.WriteString(c.Endpoint.SNI)
		b.WriteString("|host=")
		b.WriteString(c.Endpoint.Host)
		b.WriteString("|path=")
		b.WriteString(c.Endpoint.Path)
	}
	return b.String()
}

// String is Key.
func (c Candidate) String() string { return c.Key() }

// CandidatesFrom lists every (relay, endpoint) of m: first the ordinary
// endpoints, then the standby ones (manifest.Endpoint.Standby), which a
// race reaches only when those before them fail or are slow, and which
// the Memory's order keeps after ordinary endpoints that are as good.
// Within each group relays are interleaved (the first endpoint of every
// relay, then the second, ...) so that a race spreads over relays early.
// The caller picks the cohort first (m.ForCohort).
func CandidatesFrom(m *manifest.Manifest) []Candidate {
	if m == nil {
		return nil
	}
	var out []Candidate
	for _, standby := range []bool{false, true} {
		for i := 0; ; i++ {
			more := false
			for _, r := range m.Relays {
				if i < len(r.Endpoints) {
					more = true
					if e := r.Endpoints[i]; e.Standby == standby {
						out = append(out, Candidate{RelayID: r.ID, RelayKey: r.NoiseKey, Endpoint: e})
					}
				}
			}
			if !more {
				break
			}
		}
	}
	return out
}
