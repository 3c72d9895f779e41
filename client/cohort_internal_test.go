package client

import (
	"testing"

	"samizdat/manifest"
)

// inviteCohort names the one cohort an invite's manifest has endpoints
// of, and none when it has several or only endpoints for everyone.
func TestInviteCohort(t *testing.T) {
	m := func(cohorts ...uint32) *manifest.Manifest {
		var eps []manifest.Endpoint
		for _, c := range cohorts {
			eps = append(eps, manifest.Endpoint{Transport: "tcp", Address: "192.0.2.1:443", Cohort: c})
		}
		return &manifest.Manifest{Cohorts: 4, Relays: []manifest.Relay{{Endpoints: eps}}}
	}
	for _, tc := range []struct {
		cohorts []uint32
		want    uint32
	}{{[]uint32{0}, 0}, {[]uint32{0, 3, 3}, 3}, {[]uint32{3, 0}, 3}, {[]uint32{0, 1, 2}, 0}} {
		if got := inviteCohort(m(tc.cohorts...)); got != tc.want {
			t.Errorf("endpoints of cohorts %v: cohort %d, want %d", tc.cohorts, got, tc.want)
		}
	}
}
