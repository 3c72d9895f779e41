// Package tcp is the plain TCP transport: fastest, and identifiable by
// anyone watching the wire. Confidentiality and authentication come from
// the Noise channel above it. A relay's listener is wrapped in Guard, so
// that a probe's bytes do not decide where a failed handshake ends.
package tcp

import (
	"context"
	"fmt"
	"net"

	"samizdat/transport"
)

// Dialer dials TCP endpoints ("host:port"). The zero value is ready to use;
// set Dialer's fields (timeout, keepalive, local address) to tune it.
type Dialer struct {
	Dialer net.Dialer
}

var _ transport.Dialer = Dialer{}
var _ transport.Dialer = (*Dialer)(nil)

// Dial connects to address over TCP, honoring ctx's deadline and
// cancellation.
func (d Dialer) Dial(ctx context.Context, address string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("tcp: %w", err)
	}
	return c, nil
}

// Listen listens for TCP connections on addr ("host:port"; port 0 picks a
// free port, see the listener's Addr).
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcp: %w", err)
	}
	return l, nil
}
