package endpoints

import (
	"context"
	"io"
	"net"

	"samizdat/manifest"
	"samizdat/transport/tcp"
	"samizdat/transport/wss"
)

// opened is a listening endpoint: ln goes to the relay's Serve, and extra
// (if any) is closed once Serve has returned.
type opened struct {
	ln    net.Listener
	extra io.Closer
}

// An opener starts listening for one endpoint. It may fill in fields of
// pub that only the transport knows (a TLS pin). ctx ends when the
// endpoint is retired.
type opener func(ctx context.Context, m *Manager, s Spec, pub *manifest.Endpoint) (opened, error)

// openers by transport; each transport plugs in here.
var openers = map[string]opener{
	TCP: openTCP,
	WSS: openWSS,
}

func openTCP(ctx context.Context, _ *Manager, s Spec, _ *manifest.Endpoint) (opened, error) {
	ln, err := tcp.Listen(ctx, s.Listen)
	if err != nil {
		return opened{}, err
	}
	return opened{ln: ln}, nil
}

// openWSS listens for TLS + WebSocket with the relay's self-signed TLS
// identity, and pins its key in the manifest unless the spec names a pin.
func openWSS(ctx context.Context, m *Manager, s Spec, pub *manifest.Endpoint) (opened, error) {
	id, err := m.tlsIdentity()
	if err != nil {
		return opened{}, err
	}
	if pub.TLSPin == nil {
		pub.TLSPin = id.pin
	}
	if pub.Host == "" {
		pub.Host = pub.SNI
	}
	ln, err := wss.Listen(ctx, s.Listen, wss.ServerConfig{TLS: id.config(s.SNI), Path: pub.Path, Secret: pub.Secret})
	if err != nil {
		return opened{}, err
	}
	return opened{ln: ln}, nil
}
