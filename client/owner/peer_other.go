//go:build !linux

package owner

import "net"

// checkPeer relies on the socket's mode (0600) where the system does not
// say who the peer is.
func checkPeer(net.Conn) error { return nil }
