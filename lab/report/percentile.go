package report

import (
	"math"
	"slices"
)

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of ms by the
// nearest-rank method: sort the values and take the one at rank
// ⌈p/100 · n⌉ (1-based), so the result is always one of the samples and
// p99 of fewer than 100 samples is the largest. p ≤ 0 gives the smallest
// sample, p ≥ 100 the largest. NaN samples are ignored; with no samples
// left the result is 0 (callers report counts beside it, so an empty
// distribution is visible). ms is not modified.
func Percentile(ms []float64, p float64) float64 {
	v := make([]float64, 0, len(ms))
	for _, x := range ms {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if math.IsNaN(p) || p <= 0 {
		return v[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(v))))
	rank = min(max(rank, 1), len(v))
	return v[rank-1]
}
