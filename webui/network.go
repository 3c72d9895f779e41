package webui

import (
	"context"
	"fmt"
	"sync"
	"time"

	"samizdat/client"
	"samizdat/dialer"
)

// pathHistory is how many of the dialer's recent events the network page
// shows.
const pathHistory = 200

// pathEvent is one dialer event as the network page shows it: never a
// secret (dialer.Candidate.Key leaves them out).
type pathEvent struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"` // attempt, failure, connected, dropped, refresh, backoff, suspect, move
	Endpoint string    `json:"endpoint,omitempty"`
	Class    string    `json:"class,omitempty"` // a failure's class: tcp-timeout, reset, refused, tls, ...
	Millis   int64     `json:"ms,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// netState is what the server learned from the dialer and the client's
// connection events: the recent path history and the current path.
type netState struct {
	mu        sync.Mutex
	events    []pathEvent // guarded by mu; oldest first, at most pathHistory
	up        bool        // guarded by mu; connected to the relay
	via       dialer.Candidate
	took      time.Duration // the race that connected
	raced     int           // failed attempts in the race that connected
	failed    int           // failed attempts since the last connection
	everUp    bool
	lastClass string
}

// Dial takes one of the dialer's events (pass it from Config.OnDial).
func (s *Server) Dial(ev dialer.Event) {
	n := &s.net
	n.mu.Lock()
	pe := pathEvent{At: ev.Time, Kind: ev.Kind, Class: string(ev.Class), Millis: ev.Elapsed.Milliseconds()}
	if ev.Candidate.Endpoint.Transport != "" {
		pe.Endpoint = ev.Candidate.Endpoint.Transport + "://" + ev.Candidate.Endpoint.Address
	}
	if ev.Err != nil {
		pe.Error = ev.Err.Error()
	}
	if pe.At.IsZero() {
		pe.At = time.Now()
	}
	n.events = append(n.events, pe)
	if len(n.events) > pathHistory {
		n.events = n.events[len(n.events)-pathHistory:]
	}
	switch ev.Kind {
	case dialer.EventFailure:
		n.failed++
		n.lastClass = string(ev.Class)
	case dialer.EventConnected:
		n.up, n.everUp, n.via, n.took = true, true, ev.Candidate, ev.Elapsed
		n.raced, n.failed = n.failed, 0
	case dialer.EventDropped:
		n.up = false
	}
	n.mu.Unlock()
	s.hub.publish(update{Kind: "status"})
}

// connected records the client's own view (EventConnected/Disconnected).
func (n *netState) connected(up bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !up {
		n.up = false
	}
}

// status is the status line and what it is made of.
type status struct {
	Line      string `json:"line"`
	State     string `json:"state"` // connected, connecting, offline
	Transport string `json:"transport,omitempty"`
	Cohort    uint32 `json:"cohort"`
	Bridge    string `json:"bridge,omitempty"` // whose bridge carries the connection
	Outbox    int    `json:"outbox"`
	Failures  int    `json:"failures"`
}

// status says how the client is connected right now.
func (s *Server) status(ctx context.Context, c *client.Client) status {
	n := &s.net
	n.mu.Lock()
	snap := pathSnapshot{up: n.up, everUp: n.everUp, transport: n.via.Endpoint.Transport, took: n.took, failed: n.failed, lastClass: n.lastClass}
	if n.up {
		snap.failed = n.raced
	}
	addr := n.via.Endpoint.Address
	n.mu.Unlock()
	outbox := 0
	if out, err := c.Outbox(ctx); err == nil {
		outbox = len(out)
	}
	bridge := ""
	if snap.up {
		if offers, peers, err := c.BridgeOffers(ctx); err == nil {
			for i, o := range offers {
				if o.Address == addr {
					bridge = peers[i]
				}
			}
		}
	}
	return statusOf(snap, c.Cohort(), outbox, bridge)
}

// pathSnapshot is what the status line is made of, from the dialer.
type pathSnapshot struct {
	up, everUp bool
	transport  string        // of the connection's endpoint
	took       time.Duration // the race that connected
	failed     int           // failed attempts: in the race that connected, if up; else since the last connection
	lastClass  string        // the last failure's class
}

// statusOf writes the status line: connected (and how, through whose
// bridge), connecting, or offline with what waits in the outbox.
func statusOf(p pathSnapshot, cohort uint32, outbox int, bridge string) status {
	st := status{Cohort: cohort, Outbox: outbox, Failures: p.failed, Bridge: bridge}
	if p.up {
		st.State, st.Transport = "connected", p.transport
		switch {
		case bridge != "":
			st.Line = fmt.Sprintf("blocked on this network — reconnected through %s's bridge in %.1f s", bridge, p.took.Seconds())
		case p.failed > 0:
			st.Line = fmt.Sprintf("connected via %s, cohort %d, after %d failed attempt(s) (%s) in %.1f s", p.transport, cohort, p.failed, p.lastClass, p.took.Seconds())
		default:
			st.Line = fmt.Sprintf("connected via %s, cohort %d", p.transport, cohort)
		}
		return st
	}
	if !p.everUp && p.failed == 0 {
		st.State, st.Line = "connecting", "connecting…"
	} else {
		st.State, st.Line = "offline", "offline"
		if p.lastClass != "" {
			st.Line += fmt.Sprintf(" (last failure: %s)", p.lastClass)
		}
	}
	if outbox > 0 {
		st.Line += fmt.Sprintf(": %d message(s) waiting to go out", outbox)
	}
	return st
}

// paths returns the recent path history, newest first.
func (n *netState) paths() []pathEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]pathEvent, len(n.events))
	for i, e := range n.events {
		out[len(out)-1-i] = e
	}
	return out
}
