package endpoints

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"samizdat/manifest"
	"samizdat/transport/front"
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
	TCP:   openTCP,
	WSS:   openWSS,
	Front: openFront,
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
		pub.TLSPin = id.Pin()
	}
	if pub.Host == "" {
		pub.Host = pub.SNI
	}
	ln, err := wss.Listen(ctx, s.Listen, wss.ServerConfig{TLS: id.Config(s.SNI), Path: pub.Path, Secret: pub.Secret,
		Clock: m.opts.Clock})
	if err != nil {
		return opened{}, err
	}
	return opened{ln: ln}, nil
}

// openFront serves a fronted origin as plain HTTP on the listen address,
// for a CDN to forward the hidden host's requests to. Clients dial the CDN,
// so the spec must name its address and the Host the CDN routes on.
// Retiring it ends its tunnels too: they live inside the HTTP handler.
func openFront(ctx context.Context, m *Manager, s Spec, pub *manifest.Endpoint) (opened, error) {
	if s.Address == "" || s.Host == "" {
		return opened{}, configErrorf("a front endpoint needs the CDN's address and the host it routes on (?address=HOST:PORT&host=NAME)")
	}
	tl, err := tcp.Listen(ctx, s.Listen)
	if err != nil {
		return opened{}, err
	}
	o := front.NewOrigin(front.OriginConfig{Path: pub.Path, Secret: pub.Secret, Clock: m.opts.Clock})
	srv := &http.Server{
		Handler:           o,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go srv.Serve(tl)
	return opened{ln: originListener{o, tl.Addr()}, extra: srv}, nil
}

// originListener is a front origin with the address of its HTTP listener.
type originListener struct {
	*front.Origin
	addr net.Addr
}

func (l originListener) Addr() net.Addr { return l.addr }
