// Package metrics exposes what a relay does as Prometheus metrics and
// serves them, with a health check, on an admin listener.
//
// A Metrics is a relay.Observer (connections and handshakes per listener
// transport, envelopes in and out, delivery latency, rate-limit refusals)
// and a relay.CommitObserver (the store's group commits: latency and batch
// size); it also reads the aggregate mailbox depth from a store that can
// tell it. Every series is labelled only by transport, kind or outcome:
// metrics never carry keys, contents, usernames, account ids or
// addresses, so an operator can share a dashboard without sharing who
// talks to whom.
//
// ListenAdmin refuses addresses other than loopback unless asked to: the
// endpoint is for the operator's own scraper, and a censor who reaches it
// learns the relay's load and its traffic's rhythm.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"samizdat/relay"
)

// DepthFunc returns how many envelopes and bytes of content all mailboxes
// hold together (store/sqlite's Store.MailboxDepth).
type DepthFunc func(ctx context.Context) (envelopes, bytes int64, err error)

// depthTimeout bounds the mailbox depth query of one scrape.
const depthTimeout = 2 * time.Second

// Metrics is the relay's metrics in a registry of their own. Its methods
// are safe for concurrent use.
type Metrics struct {
	reg        *prometheus.Registry
	handshakes *prometheus.CounterVec
	conns      *prometheus.GaugeVec
	in         *prometheus.CounterVec
	out        prometheus.Counter
	latency    prometheus.Histogram
	limited    *prometheus.CounterVec
	commitTime prometheus.Histogram
	batch      prometheus.Histogram
	commitErrs prometheus.Counter
}

var (
	_ relay.Observer       = (*Metrics)(nil)
	_ relay.CommitObserver = (*Metrics)(nil)
)

// New returns the metrics, with Go runtime and process metrics beside
// them. depth, if not nil, is asked for the mailbox depth at each scrape.
func New(depth DepthFunc) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samizdat_relay_handshakes_total",
			Help: "Noise handshakes by listener transport and result (ok, failed, shed).",
		}, []string{"transport", "result"}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "samizdat_relay_connections",
			Help: "Established connections by listener transport.",
		}, []string{"transport"}),
		in: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samizdat_relay_messages_in_total",
			Help: "Envelopes stored for delivery (one per recipient device), by kind (send, sealed, multi).",
		}, []string{"kind"}),
		out: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "samizdat_relay_messages_out_total",
			Help: "Envelopes pushed to their devices (redeliveries after a reconnect count again).",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "samizdat_relay_delivery_latency_seconds",
			Help: "Time from an envelope being stored to its push to the device.",
			// 1 ms to ~9 h: live chat, then offline devices catching up.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 13),
		}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samizdat_relay_rate_limited_total",
			Help: "Requests refused by a rate limit, by kind (msg, sealed, multi, rbytes, reg, prekeys, fetch, lookup).",
		}, []string{"kind"}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "samizdat_store_commit_seconds",
			Help:    "Duration of the store's group commits (statements, commit and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100 µs to 3.3 s
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "samizdat_store_commit_batch_size",
			Help:    "Writes carried by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12), // 1 to 2048
		}),
		commitErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "samizdat_store_commit_errors_total",
			Help: "Group commits that failed.",
		}),
	}
	m.reg.MustRegister(m.handshakes, m.conns, m.in, m.out, m.latency, m.limited, m.commitTime, m.batch, m.commitErrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if depth != nil {
		m.reg.MustRegister(depthCollector{depth})
	}
	return m
}

// Registry returns the registry the metrics live in, for callers that add
// their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handshake implements relay.Observer.
func (m *Metrics) Handshake(transport, result string) {
	m.handshakes.WithLabelValues(transport, result).Inc()
}

// Connections implements relay.Observer.
func (m *Metrics) Connections(transport string, delta int) {
	m.conns.WithLabelValues(transport).Add(float64(delta))
}

// MessagesIn implements relay.Observer.
func (m *Metrics) MessagesIn(kind string, n int) { m.in.WithLabelValues(kind).Add(float64(n)) }

// MessageOut implements relay.Observer.
func (m *Metrics) MessageOut(latency time.Duration) {
	m.out.Inc()
	m.latency.Observe(max(latency, 0).Seconds())
}

// RateLimited implements relay.Observer.
func (m *Metrics) RateLimited(kind string) { m.limited.WithLabelValues(kind).Inc() }

// ObserveCommit implements relay.CommitObserver.
func (m *Metrics) ObserveCommit(took time.Duration, writes int, err error) {
	if err != nil {
		m.commitErrs.Inc()
		return
	}
	m.commitTime.Observe(took.Seconds())
	m.batch.Observe(float64(writes))
}

// depthCollector reads the mailbox depth at scrape time: the store holds
// the truth, also across restarts and for nodes sharing a database.
type depthCollector struct{ depth DepthFunc }

var (
	depthEnvelopes = prometheus.NewDesc("samizdat_relay_mailbox_envelopes",
		"Envelopes waiting in all mailboxes together.", nil, nil)
	depthBytes = prometheus.NewDesc("samizdat_relay_mailbox_bytes",
		"Bytes of content waiting in all mailboxes together.", nil, nil)
)

func (d depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthEnvelopes
	ch <- depthBytes
}

func (d depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), depthTimeout)
	defer cancel()
	n, b, err := d.depth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(depthEnvelopes, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(depthEnvelopes, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(depthBytes, prometheus.GaugeValue, float64(b))
}
