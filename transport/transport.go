// Package transport names what the relay and the client need from a
// transport: a way to open a raw byte stream to an endpoint (Dialer) and a
// way to accept them (Listener). Transports (tcp, and later wss, fronted
// HTTPS, ...) live in subpackages; the Noise channel (package noisechan)
// runs on top of whatever stream they give, so a transport needs no
// security of its own beyond resisting identification and blocking.
package transport

import (
	"context"
	"net"
)

// Dialer opens a raw stream to an endpoint address; Noise runs on top.
type Dialer interface {
	// Dial connects to address, whose form the transport defines (for tcp,
	// host:port). It returns when the stream is usable or ctx ends. The
	// caller owns and closes the returned conn.
	Dial(ctx context.Context, address string) (net.Conn, error)
}

// Listener accepts raw streams; it is net.Listener.
type Listener = net.Listener

// NetDial opens a network connection, as net.Dialer.DialContext does. Every
// transport reaches the network only through one, so that a test harness
// (or a censorship lab) can map addresses onto loopback and refuse the
// rest. A nil NetDial means a plain net.Dialer.
type NetDial func(ctx context.Context, network, address string) (net.Conn, error)

// Dial calls d, or a zero net.Dialer when d is nil.
func (d NetDial) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if d == nil {
		var nd net.Dialer
		return nd.DialContext(ctx, network, address)
	}
	return d(ctx, network, address)
}
