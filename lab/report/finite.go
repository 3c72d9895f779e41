package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// finite returns r, or when some figure is NaN or infinite (which JSON
// cannot hold) a copy with those figures written as 0 and a failed
// invariant naming them. r itself is never modified.
func finite(r *Report) *Report {
	var bad []string
	fix := func(v *float64, name string) {
		if math.IsNaN(*v) || math.IsInf(*v, 0) {
			bad = append(bad, fmt.Sprintf("%s=%v", name, *v))
			*v = 0
		}
	}
	c := *r
	c.Strategies = make(map[string]Strategy, len(r.Strategies))
	for _, n := range slices.Sorted(maps.Keys(r.Strategies)) {
		st := r.Strategies[n]
		fix(&st.DeliveryRatio, n+".delivery_ratio")
		fix(&st.LatencyP50MS, n+".latency_p50_ms")
		fix(&st.LatencyP99MS, n+".latency_p99_ms")
		fix(&st.ReconnectP50MS, n+".reconnect_p50_ms")
		fix(&st.ReconnectP99MS, n+".reconnect_p99_ms")
		fix(&st.Availability, n+".availability")
		if st.ColdStartMS != nil {
			v := *st.ColdStartMS
			fix(&v, n+".cold_start_ms")
			st.ColdStartMS = &v
		}
		st.ReconnectMS = slices.Clone(st.ReconnectMS)
		for i := range st.ReconnectMS {
			fix(&st.ReconnectMS[i], fmt.Sprintf("%s.reconnect_ms[%d]", n, i))
		}
		c.Strategies[n] = st
	}
	if r.Strategies == nil {
		c.Strategies = nil
	}
	fix(&c.Censor.CollateralRatio, "censor.collateral_ratio")
	c.Timeline = slices.Clone(r.Timeline)
	for i := range c.Timeline {
		smp := &c.Timeline[i]
		if smp.Connected == nil {
			continue
		}
		conn := make(map[string]float64, len(smp.Connected))
		for _, n := range slices.Sorted(maps.Keys(smp.Connected)) {
			v := smp.Connected[n]
			fix(&v, fmt.Sprintf("timeline[%d].connected.%s", i, n))
			conn[n] = v
		}
		smp.Connected = conn
	}
	c.Targets = slices.Clone(r.Targets)
	for i := range c.Targets {
		fix(&c.Targets[i].Got, fmt.Sprintf("targets[%d].got", i))
	}
	if len(bad) == 0 {
		return r
	}
	const show = 5
	detail := strings.Join(bad[:min(show, len(bad))], ", ")
	if len(bad) > show {
		detail += fmt.Sprintf(" and %d more", len(bad)-show)
	}
	c.Invariants = append(slices.Clone(r.Invariants), Check{
		Name: "figures are finite", OK: false,
		Detail: "written as 0 in report.json: " + detail,
	})
	return &c
}
