package loadgen

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/lab/report"
	"samizdat/relay/wire"
)

// epoch is the zero of the send timestamps carried in message contents;
// senders and receivers share the process, so one monotonic clock.
var epoch = time.Now()

func sinceEpoch() time.Duration { return time.Since(epoch) }

// msgSize is the size of every message's content (design.md §8: 1 KiB
// envelopes).
const msgSize = 1024

// tracker counts deliveries by envelope id, finds duplicates and records
// send→deliver latency per phase. A message's content carries its phase
// and the time it was meant to be sent (so a late send counts its delay:
// no coordinated omission).
type tracker struct {
	next      atomic.Uint64
	delivered atomic.Int64

	mu     sync.Mutex
	seen   map[seenKey]struct{}   // guarded by mu
	stamps map[[16]byte]stamp     // ids sent to many devices at once; guarded by mu
	dups   int                    // guarded by mu
	lat    map[byte][]float64     // ms per delivery, by phase; guarded by mu
	last   map[byte]time.Duration // latest delivery per phase (since epoch); guarded by mu
}

// seenKey names one delivered copy: an envelope id, and for an id that
// many devices receive (see stamp) the receiving peer.
type seenKey struct {
	id [16]byte
	to *peer
}

// stamp is the phase and intended send time of a message whose content the
// receivers cannot read (a sealed sender v2 copy).
type stamp struct {
	phase byte
	at    time.Duration
}

func newTracker() *tracker {
	return &tracker{seen: make(map[seenKey]struct{}), stamps: make(map[[16]byte]stamp), lat: make(map[byte][]float64),
		last: make(map[byte]time.Duration)}
}

// multi returns a fresh envelope id for a message that goes to many
// devices under one id, sent in phase at time at: each device's copy counts
// once, and its latency is taken from at.
func (t *tracker) multi(phase byte, at time.Duration) []byte {
	id := make([]byte, 16)
	id[0] = phase
	binary.BigEndian.PutUint64(id[8:], t.next.Add(1))
	t.mu.Lock()
	t.stamps[[16]byte(id)] = stamp{phase, at}
	t.mu.Unlock()
	return id
}

// message returns a fresh envelope id and a 1 KiB content for phase,
// stamped with the intended send time at.
func (t *tracker) message(phase byte, at time.Duration) (id, content []byte) {
	id = make([]byte, 16)
	id[0] = phase
	binary.BigEndian.PutUint64(id[8:], t.next.Add(1))
	content = make([]byte, msgSize)
	content[0] = phase
	binary.BigEndian.PutUint64(content[8:], uint64(at))
	return id, content
}

// deliver records one envelope delivered to p; it returns false for a
// duplicate.
func (t *tracker) deliver(p *peer, e *wire.Envelope) bool {
	now := sinceEpoch()
	k := seenKey{}
	copy(k.id[:], e.Id)
	phase, at := byte(0), time.Duration(0)
	if len(e.Content) >= 16 {
		phase = e.Content[0]
		at = time.Duration(binary.BigEndian.Uint64(e.Content[8:]))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.stamps[k.id]; ok {
		phase, at, k.to = s.phase, s.at, p
	}
	if _, dup := t.seen[k]; dup {
		t.dups++
		return false
	}
	t.seen[k] = struct{}{}
	t.lat[phase] = append(t.lat[phase], float64(now-at)/float64(time.Millisecond))
	t.last[phase] = max(t.last[phase], now)
	t.delivered.Add(1)
	return true
}

// onPush is a pushFunc that tracks deliveries and acknowledges them.
func (t *tracker) onPush(p *peer, push *wire.Push) {
	if e := push.GetDelivery(); e != nil {
		t.deliver(p, e)
		if p.acks != nil {
			p.acks.add(e.Id)
		}
	}
}

// waitDelivered waits until n distinct envelopes have arrived in all.
func (t *tracker) waitDelivered(ctx context.Context, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for t.delivered.Load() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("loadgen: %d of %d messages delivered after %v", t.delivered.Load(), n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// phase returns a phase's deliveries, latencies (ms, sorted) and last
// delivery time.
func (t *tracker) phase(p byte) (n int, lat []float64, last time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lat = slices.Clone(t.lat[p])
	slices.Sort(lat)
	return len(lat), lat, t.last[p]
}

// pooled returns the latencies (ms, sorted) of the phases' deliveries
// together.
func (t *tracker) pooled(phases []byte) []float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return pool(t.lat, phases)
}

// p99s lists the p99 in ms of each group of phases pooled, in the order
// given: "4.1 5.6 12.0".
func (t *tracker) p99s(groups [][]byte) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(num(percentile(pool(t.lat, g), 99)))
	}
	return b.String()
}

// pool returns the samples of lat's phases together, sorted.
func pool(lat map[byte][]float64, phases []byte) []float64 {
	var all []float64
	for _, p := range phases {
		all = append(all, lat[p]...)
	}
	slices.Sort(all)
	return all
}

func (t *tracker) duplicates() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dups
}

// percentile is the lab report's nearest-rank percentile; NaN for no
// samples, so an empty distribution cannot pass for a fast one.
func percentile(ms []float64, p float64) float64 {
	if len(ms) == 0 {
		return math.NaN()
	}
	return report.Percentile(ms, p)
}

// counter counts request outcomes by status.
type counter struct {
	ok, limited, other, lost atomic.Int64
}

func (c *counter) record(r *wire.Response) {
	switch {
	case r == nil:
		c.lost.Add(1)
	case r.Status == wire.Status_OK:
		c.ok.Add(1)
	case r.Status == wire.Status_RATE_LIMITED:
		c.limited.Add(1)
	default:
		c.other.Add(1)
	}
}
