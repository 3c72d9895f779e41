package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
)

// Interval is one figure over several seeds: each seed's value (in the
// order of Report.Seeds), their mean, and the 95% confidence interval of
// the mean (Student's t with N-1 degrees of freedom; Low = High = Mean
// for one seed).
type Interval struct {
	Mean   float64   `json:"mean"`
	Low    float64   `json:"low"`
	High   float64   `json:"high"`
	Values []float64 `json:"values"`
}

// Aggregate combines the reports of one scenario run with several seeds:
// the result is the first report with every figure (every number of
// report.json outside its lists: strategies, censor, ...) replaced by its
// mean over the seeds (rounded for whole-number fields), Seeds naming the
// seeds, and Intervals giving, by the figure's path in report.json
// ("strategies.samizdat.delivery_ratio"), each seed's value, the mean and
// the 95% interval. Lists (timeline, events, targets, invariants, notes)
// are the first seed's. A single report comes back with its one-seed
// intervals.
func Aggregate(reps []*Report) (*Report, error) {
	if len(reps) == 0 {
		return nil, errors.New("report: nothing to aggregate")
	}
	trees := make([]map[string]any, len(reps))
	for i, r := range reps {
		if r.Scenario != reps[0].Scenario {
			return nil, fmt.Errorf("report: aggregating %s with %s", r.Scenario, reps[0].Scenario)
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("report: aggregating: %w", err)
		}
		if err := json.Unmarshal(b, &trees[i]); err != nil {
			return nil, fmt.Errorf("report: aggregating: %w", err)
		}
	}
	ivs := map[string]Interval{}
	collect(trees, "", ivs)
	delete(ivs, "seed") // not a figure: the combined report keeps the first
	// The combined report: the first one with the means in place.
	for path, iv := range ivs {
		setPath(trees[0], strings.Split(path, "."), iv.Mean)
	}
	b, err := json.Marshal(trees[0])
	if err != nil {
		return nil, fmt.Errorf("report: aggregating: %w", err)
	}
	out := new(Report)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("report: aggregating: %w", err)
	}
	out.Seed = reps[0].Seed // exact: the tree held it as a float64
	out.Seeds = make([]int64, len(reps))
	for i, r := range reps {
		out.Seeds[i] = r.Seed
	}
	out.Intervals = ivs
	return out, nil
}

// collect walks the objects of trees (one per seed) in step and records
// an Interval for every number found at the same path in all of them.
// Lists are not entered.
func collect(trees []map[string]any, prefix string, ivs map[string]Interval) {
	for k, v := range trees[0] {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		switch v.(type) {
		case float64:
			vals := make([]float64, 0, len(trees))
			for _, t := range trees {
				x, ok := t[k].(float64)
				if !ok {
					break
				}
				vals = append(vals, x)
			}
			if len(vals) == len(trees) {
				ivs[path] = NewInterval(vals)
			}
		case map[string]any:
			subs := make([]map[string]any, 0, len(trees))
			for _, t := range trees {
				m, ok := t[k].(map[string]any)
				if !ok {
					break
				}
				subs = append(subs, m)
			}
			if len(subs) == len(trees) {
				collect(subs, path, ivs)
			}
		}
	}
}

// setPath sets the number at path in tree to x, rounded where the
// report's field is a whole number (a count).
func setPath(tree map[string]any, path []string, x float64) {
	if whole(reflect.TypeFor[Report](), path) {
		x = math.Round(x)
	}
	for len(path) > 1 {
		m, ok := tree[path[0]].(map[string]any)
		if !ok {
			return
		}
		tree, path = m, path[1:]
	}
	tree[path[0]] = x
}

// whole reports whether the field of t at path (JSON names; a map takes
// one element of the path as its key) is an integer.
func whole(t reflect.Type, path []string) bool {
	for len(path) > 0 {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map:
			t, path = t.Elem(), path[1:]
			continue
		case reflect.Struct:
			found := false
			for i := range t.NumField() {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "" {
					name = f.Name
				}
				if name == path[0] {
					t, path, found = f.Type, path[1:], true
					break
				}
			}
			if !found {
				return false
			}
			continue
		}
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// NewInterval returns the mean of vals and its 95% confidence interval
// (Student's t with len(vals)-1 degrees of freedom).
func NewInterval(vals []float64) Interval {
	iv := Interval{Values: slices.Clone(vals)}
	n := float64(len(vals))
	if n == 0 {
		return iv
	}
	for _, v := range vals {
		iv.Mean += v
	}
	iv.Mean /= n
	iv.Low, iv.High = iv.Mean, iv.Mean
	if len(vals) < 2 {
		return iv
	}
	var ss float64
	for _, v := range vals {
		ss += (v - iv.Mean) * (v - iv.Mean)
	}
	half := tCrit95(len(vals)-1) * math.Sqrt(ss/(n-1)) / math.Sqrt(n)
	iv.Low, iv.High = iv.Mean-half, iv.Mean+half
	return iv
}

// t95 are the two-sided 95% critical values of Student's t for 1 to 30
// degrees of freedom.
var t95 = [...]float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// tCrit95 returns the two-sided 95% critical value of Student's t with
// df degrees of freedom (beyond 30, the tabled 2.000 up to 60, 1.980 up
// to 120, then the normal's 1.960).
func tCrit95(df int) float64 {
	switch {
	case df < 1:
		return math.NaN()
	case df <= len(t95):
		return t95[df-1]
	case df <= 60:
		return 2.000
	case df <= 120:
		return 1.980
	}
	return 1.960
}
