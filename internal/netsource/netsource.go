// Package netsource names where a connection comes from, for limits kept
// per source: one key per IPv4 address, and per IPv6 /64 (one
// subscriber's prefix, which one user can fill with addresses). The relay's
// caps on handshakes and anonymous connections and the transports' token
// replay quotas key on it alike, so no limit can be dodged by rotating
// addresses inside one prefix.
package netsource

import (
	"net"
	"net/netip"
)

// Key names the source at address a: its IP, or for IPv6 its /64. An
// address that is not an IP (an in-memory network's name) is its own key,
// without a port.
func Key(a net.Addr) string {
	if a == nil {
		return ""
	}
	s := a.String()
	if ap, err := netip.ParseAddrPort(s); err == nil {
		ip := ap.Addr().Unmap()
		if ip.Is6() {
			p, _ := ip.Prefix(64)
			return p.String()
		}
		return ip.String()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}
