package lab

import (
	"maps"
	"slices"
	"testing"

	"samizdat/lab/scenario"
)

// Partners (clients 2i and 2i+1) land on ISPs independently: they share
// one about as often as two clients drawn at random (the sum of the
// squared shares, 0.225 for the 2018 defaults), not always, as contiguous
// blocks made them. The counts still follow the shares, and the placement
// is a function of the seed.
func TestPartnersISPsIndependent(t *testing.T) {
	sc, err := scenario.Builtin("rkn-2018")
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	same := 0.0
	for _, sh := range sc.ISPShares() {
		same += sh.Share * sh.Share
	}
	for _, seed := range []int64{1, 2018} {
		got := clientISPs(sc, seed, "u", n)
		if want := sc.ClientISPs(n); !maps.Equal(count(got), count(want)) {
			t.Errorf("seed %d: counts %v, want %v", seed, count(got), count(want))
		}
		if again := clientISPs(sc, seed, "u", n); !slices.Equal(got, again) {
			t.Errorf("seed %d: placement differs between calls", seed)
		}
		shared := 0
		for i := 0; i+1 < n; i += 2 {
			if got[i] == got[i+1] {
				shared++
			}
		}
		// 1000 pairs: the binomial's standard deviation is about 0.013.
		if frac := float64(shared) / (n / 2); frac < same-0.07 || frac > same+0.07 {
			t.Errorf("seed %d: %.3f of pairs share an ISP, want about %.3f", seed, frac, same)
		}
	}
	if a, b := clientISPs(sc, 1, "u", 100), clientISPs(sc, 2, "u", 100); slices.Equal(a, b) {
		t.Error("two seeds gave the same placement")
	}
}

func count(isps []string) map[string]int {
	out := map[string]int{}
	for _, s := range isps {
		out[s]++
	}
	return out
}
