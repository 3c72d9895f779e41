package loadgen

import (
	"math"
	"runtime/metrics"
)

// runStats reads what the Go runtime of this process (the relay and, in
// the scenarios that run them in-process, its load clients) says about how
// long runnable goroutines waited for a CPU and how many garbage
// collections ran, so that a scenario can tell waiting on the scheduler or
// the collector from waiting on the store.
type runStats struct {
	samples []metrics.Sample
}

func newRunStats() *runStats {
	return &runStats{samples: []metrics.Sample{
		{Name: "/sched/latencies:seconds"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}}
}

// runSnapshot is the runtime's counters at one moment.
type runSnapshot struct {
	buckets []float64 // the scheduling-latency histogram's boundaries (len(counts)+1)
	counts  []uint64  // goroutines that waited within each bucket, since the start
	gcs     uint64
}

func (r *runStats) read() runSnapshot {
	metrics.Read(r.samples)
	var s runSnapshot
	if v := r.samples[0].Value; v.Kind() == metrics.KindFloat64Histogram {
		h := v.Float64Histogram()
		s.buckets, s.counts = h.Buckets, append([]uint64(nil), h.Counts...)
	}
	if v := r.samples[1].Value; v.Kind() == metrics.KindUint64 {
		s.gcs = v.Uint64()
	}
	return s
}

// runTally adds up the runtime's counters over some stretches of time.
type runTally struct {
	buckets []float64
	counts  []uint64
	gcs     uint64
}

// add adds what happened between from and to.
func (t *runTally) add(from, to runSnapshot) {
	if len(to.counts) != len(from.counts) {
		return
	}
	if t.counts == nil {
		t.buckets, t.counts = to.buckets, make([]uint64, len(to.counts))
	}
	for i := range to.counts {
		t.counts[i] += to.counts[i] - from.counts[i]
	}
	t.gcs += to.gcs - from.gcs
}

// schedQuantile is the q-quantile (0 < q < 1) of the scheduling latencies
// tallied, in milliseconds: the upper bound of the histogram bucket it
// falls in (NaN without samples).
func (t *runTally) schedQuantile(q float64) float64 {
	var n uint64
	for _, c := range t.counts {
		n += c
	}
	if n == 0 {
		return math.NaN()
	}
	want := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range t.counts {
		seen += c
		if seen >= want {
			hi := t.buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = t.buckets[i]
			}
			return hi * 1000
		}
	}
	return math.NaN()
}
