package relay

import (
	"net"
	"time"
)

// Observer is told what the relay does, for metrics (package
// relay/metrics implements it). Its methods run on hot paths: they must be
// fast, safe for concurrent use and never block. They are given kinds,
// transports and counts only: never keys, contents, usernames, account ids
// or addresses.
type Observer interface {
	// Handshake: a connection on a listener of transport (see
	// NamedListener) finished its Noise handshake: result is "ok",
	// "failed", "shed" (dropped unanswered: too many in progress, in all
	// or from its source) or "evicted" (its slot given to a peer from a
	// less busy source).
	Handshake(transport, result string)
	// Connections: delta (+1 or -1) established connections of transport.
	Connections(transport string, delta int)
	// MessagesIn: n envelopes stored for delivery, one per recipient
	// device; kind is "send", "sealed" or "multi" (multi-recipient sends).
	MessagesIn(kind string, n int)
	// MessageOut: one envelope pushed to its device, latency after it was
	// stored (a redelivery after a reconnect counts again).
	MessageOut(latency time.Duration)
	// RateLimited: a request refused by the limit of kind ("msg",
	// "sealed", "multi", "rbytes", "psealed", "reg", "prekeys", "fetch",
	// "lookup"), or a registration through a shared proxy asked for its
	// proof of work ("regwork").
	RateLimited(kind string)
}

// CommitObserver is told about each group commit a store makes, for
// metrics: how long the commit took (its transaction and fsync), how many
// writes it carried, and its error. It must be fast and never block.
type CommitObserver interface {
	ObserveCommit(took time.Duration, writes int, err error)
}

// nopObserver is the Observer of a Server configured without one.
type nopObserver struct{}

func (nopObserver) Handshake(string, string) {}
func (nopObserver) Connections(string, int)  {}
func (nopObserver) MessagesIn(string, int)   {}
func (nopObserver) MessageOut(time.Duration) {}
func (nopObserver) RateLimited(string)       {}

// NamedListener labels l with the transport it serves ("tcp", "wss",
// "front", ...) for the Observer; Serve counts connections on a listener
// that is not labelled as "unknown".
func NamedListener(l net.Listener, transport string) net.Listener {
	return namedListener{l, transport, false}
}

// ProxiedListener is NamedListener for a listener whose connections come
// through a shared proxy, such as a fronted origin's: their remote address
// is the CDN edge's, shared by every user behind it, so the per-source
// limits (Limits.HandshakesPerSource, AnonymousPerSource) do not cap it.
func ProxiedListener(l net.Listener, transport string) net.Listener {
	return namedListener{l, transport, true}
}

type namedListener struct {
	net.Listener
	transport string
	proxied   bool
}

// proxiedListener reports whether l was made by ProxiedListener.
func proxiedListener(l net.Listener) bool {
	n, ok := l.(namedListener)
	return ok && n.proxied
}

// transportOf returns the transport label of a listener.
func transportOf(l net.Listener) string {
	if n, ok := l.(namedListener); ok && n.transport != "" {
		return n.transport
	}
	return "unknown"
}
