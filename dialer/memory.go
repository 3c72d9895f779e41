package dialer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"samizdat/clock"
	"samizdat/internal/atomicfile"
)

// Memory remembers, per network, what happened to each candidate: when it
// last connected and how fast, when it last failed and how. Order uses it
// to try first what worked before on the network the device is on now.
//
// A "network" is an opaque id the caller chooses for where the device is
// (a hash of the Wi-Fi name or the mobile operator, or "default"): a
// block on one ISP says nothing about another. Memory is persisted to a
// small JSON file after every change; it holds candidate keys (relay,
// transport, address, front names) and timings, never secrets.
//
// Its methods are safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	path    string                        // "" = not persisted
	network string                        // guarded by mu
	nets    map[string]map[string]*record // guarded by mu: network -> candidate key -> record
	err     error                         // guarded by mu: the last save error
	gen     uint64                        // guarded by mu: changes made so far
	now     func() time.Time

	saveMu sync.Mutex // serializes writing the file, outside mu
	saved  uint64     // guarded by saveMu: the gen last written
}

// record is what the memory keeps about one candidate on one network.
type record struct {
	LastSuccess time.Time    `json:"last_success,omitzero"`
	LatencyMs   float64      `json:"latency_ms,omitempty"` // moving average of connect times
	Successes   int          `json:"successes,omitempty"`
	LastFailure time.Time    `json:"last_failure,omitzero"`
	LastClass   FailureClass `json:"last_class,omitempty"`
	Failures    int          `json:"failures,omitempty"` // consecutive, reset by a success
}

type memoryFile struct {
	Version  int                           `json:"version"`
	Networks map[string]map[string]*record `json:"networks"`
}

const (
	memoryVersion = 1
	// maxRecords bounds the records kept per network; the stalest go first.
	maxRecords = 512
	// forgetAfter is how long a failure counts against a candidate; after
	// it the candidate is as good as untried (blocks get lifted, networks
	// change).
	forgetAfter = 24 * time.Hour
)

// DefaultNetwork is the network id to use when the caller cannot tell
// networks apart.
const DefaultNetwork = "default"

// NewMemory returns a memory that is not persisted, on network
// DefaultNetwork.
func NewMemory() *Memory {
	return &Memory{network: DefaultNetwork, nets: map[string]map[string]*record{}, now: time.Now}
}

// SetClock makes the memory read the time from c (clock.Real until then).
// Call it before the memory is used.
func (m *Memory) SetClock(c clock.Clock) { m.now = clock.Or(c).Now }

// OpenMemory loads the memory persisted at path (a missing file is an
// empty memory) and selects network. Changes are written back to path
// atomically.
func OpenMemory(path, network string) (*Memory, error) {
	m := NewMemory()
	m.path = path
	if network != "" {
		m.network = network
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dialer: read memory: %w", err)
	}
	var f memoryFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != memoryVersion {
		// A damaged or foreign file costs only ordering hints: start over.
		return m, nil
	}
	for n, recs := range f.Networks {
		clean := map[string]*record{}
		for k, r := range recs {
			if r != nil {
				clean[k] = r
			}
		}
		m.nets[n] = clean
	}
	return m, nil
}

// SetNetwork switches to another network's history (creating it empty).
func (m *Memory) SetNetwork(network string) {
	if network == "" {
		network = DefaultNetwork
	}
	m.mu.Lock()
	m.network = network
	m.mu.Unlock()
}

// Network returns the current network id.
func (m *Memory) Network() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.network
}

// Err returns the last error saving the memory, or nil.
func (m *Memory) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

func (m *Memory) rec(key string) *record {
	recs := m.nets[m.network]
	if recs == nil {
		recs = map[string]*record{}
		m.nets[m.network] = recs
	}
	r := recs[key]
	if r == nil {
		r = &record{}
		recs[key] = r
		m.prune(recs)
	}
	return r
}

// prune drops the stalest records beyond maxRecords.
func (m *Memory) prune(recs map[string]*record) {
	if len(recs) <= maxRecords {
		return
	}
	type kv struct {
		k string
		t time.Time
	}
	var all []kv
	for k, r := range recs {
		t := r.LastSuccess
		if r.LastFailure.After(t) {
			t = r.LastFailure
		}
		all = append(all, kv{k, t})
	}
	slices.SortFunc(all, func(a, b kv) int { return a.t.Compare(b.t) })
	for _, e := range all[:len(all)-maxRecords] {
		delete(recs, e.k)
	}
}

// Success records that c connected after latency.
func (m *Memory) Success(c Candidate, latency time.Duration) {
	m.mu.Lock()
	r := m.rec(c.Key())
	ms := float64(latency) / float64(time.Millisecond)
	if r.Successes == 0 || r.LatencyMs == 0 {
		r.LatencyMs = ms
	} else {
		r.LatencyMs = 0.7*r.LatencyMs + 0.3*ms
	}
	r.Successes++
	r.Failures = 0
	r.LastSuccess = m.now()
	m.changedLocked()
}

// Failure records that c failed with class. Cancelled attempts are not
// held against a candidate and are ignored.
func (m *Memory) Failure(c Candidate, class FailureClass) {
	if class == ClassCanceled || class == "" {
		return
	}
	m.mu.Lock()
	r := m.rec(c.Key())
	r.Failures++
	r.LastFailure = m.now()
	r.LastClass = class
	m.changedLocked()
}

// LastTrouble returns when something last went wrong on the current
// network: the newest failure of any candidate there (a drop, a timeout,
// a reset, ...; cancelled attempts are never recorded), or the zero time.
// Liveness pings faster for a while after it.
func (m *Memory) LastTrouble() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var last time.Time
	for _, r := range m.nets[m.network] {
		if r.LastFailure.After(last) {
			last = r.LastFailure
		}
	}
	return last
}

// Order returns cands sorted for the next race on the current network:
//  1. candidates whose last outcome was a success, most recent first (the
//     faster first when equally recent, to the second);
//  2. candidates never tried here (or whose failures are older than a
//     day), in the given order;
//  3. candidates whose last outcome was a failure: fewest consecutive
//     failures first, then the longest ago. A drop or a timeout ranks
//     before a reset or a refusal, which look like deliberate blocks.
//
// The sort is stable and cands is not modified.
func (m *Memory) Order(cands []Candidate) []Candidate {
	m.mu.Lock()
	now := m.now()
	recs := m.nets[m.network]
	type item struct {
		c    Candidate
		tier int
		r    record
	}
	items := make([]item, len(cands))
	for i, c := range cands {
		it := item{c: c, tier: 1}
		if r := recs[c.Key()]; r != nil {
			it.r = *r
			switch {
			case !r.LastSuccess.IsZero() && !r.LastFailure.After(r.LastSuccess):
				it.tier = 0
			case !r.LastFailure.IsZero() && now.Sub(r.LastFailure) < forgetAfter:
				it.tier = 2
			}
		}
		items[i] = it
	}
	m.mu.Unlock()
	slices.SortStableFunc(items, func(a, b item) int {
		if a.tier != b.tier {
			return a.tier - b.tier
		}
		switch a.tier {
		case 0:
			as, bs := a.r.LastSuccess.Truncate(time.Second), b.r.LastSuccess.Truncate(time.Second)
			if c := bs.Compare(as); c != 0 {
				return c
			}
			switch {
			case a.r.LatencyMs < b.r.LatencyMs:
				return -1
			case a.r.LatencyMs > b.r.LatencyMs:
				return 1
			}
		case 2:
			if a.r.Failures != b.r.Failures {
				return a.r.Failures - b.r.Failures
			}
			if sa, sb := severity(a.r.LastClass), severity(b.r.LastClass); sa != sb {
				return sa - sb
			}
			return a.r.LastFailure.Compare(b.r.LastFailure)
		}
		return 0
	})
	out := make([]Candidate, len(items))
	for i, it := range items {
		out[i] = it.c
	}
	return out
}

// severity ranks failure classes by how much they look like a lasting,
// deliberate block.
func severity(c FailureClass) int {
	switch c {
	case ClassDropped, ClassTimeout, ClassOther:
		return 0
	case ClassHandshake, ClassHTTP, ClassDNS:
		return 1
	default: // reset, refused, tls, probe-like, unsupported
		return 2
	}
}

// changedLocked unlocks m.mu, which the caller holds after changing the
// memory, and writes the memory to its file, atomically. The write is
// done outside m.mu so that readers (Order, LastTrouble) do not wait for
// the disk; a write overtaken by a newer one is skipped.
func (m *Memory) changedLocked() {
	if m.path == "" {
		m.mu.Unlock()
		return
	}
	m.gen++
	gen := m.gen
	b, err := json.Marshal(memoryFile{Version: memoryVersion, Networks: m.nets})
	m.mu.Unlock()
	if err == nil {
		m.saveMu.Lock()
		if gen > m.saved {
			if err = atomicfile.Write(m.path, b, 0o600); err == nil {
				m.saved = gen
			}
		}
		m.saveMu.Unlock()
	}
	if err != nil {
		m.mu.Lock()
		m.err = fmt.Errorf("dialer: save memory: %w", err)
		m.mu.Unlock()
	}
}
