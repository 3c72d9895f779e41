package endpoints

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
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

// listen opens the listener of an endpoint at addr: Options.NetListen's,
// or a TCP socket.
func (m *Manager) listen(ctx context.Context, addr string) (net.Listener, error) {
	if m.opts.NetListen != nil {
		return m.opts.NetListen(ctx, addr)
	}
	return tcp.Listen(ctx, addr)
}

// openTCP listens for Noise over TCP; a connection whose handshake fails
// is closed at a point drawn from the node's seed and per connection
// (tcp.Guard), not where the prober's bytes make it close.
func openTCP(ctx context.Context, m *Manager, s Spec, _ *manifest.Endpoint) (opened, error) {
	d, err := m.disguise()
	if err != nil {
		return opened{}, err
	}
	ln, err := m.listen(ctx, s.Listen)
	if err != nil {
		return opened{}, err
	}
	return opened{ln: tcp.Guard(ln, tcp.GuardConfig{Secret: derive(d.seed, "tcp close point"), Clock: m.opts.Clock})}, nil
}

// openWSS listens for TLS + WebSocket with the relay's self-signed TLS
// identity, and pins its key in the manifest unless the spec names a pin.
func openWSS(ctx context.Context, m *Manager, s Spec, pub *manifest.Endpoint) (opened, error) {
	id, err := m.tlsIdentity()
	if err != nil {
		return opened{}, err
	}
	site, err := m.decoySite()
	if err != nil {
		return opened{}, err
	}
	tlsCfg := id.Config(s.SNI)
	ca := m.opts.Certificates != nil && pub.SNI != "" && m.opts.Certificates.Manages(pub.SNI)
	if ca {
		tlsCfg = withCertificates(tlsCfg, m.opts.Certificates)
	}
	switch {
	case ca:
		// Clients verify the CA's chain; a pin the spec names is announced.
	case pub.TLSPin == nil:
		pub.TLSPin = id.Pin()
	case s.Address == "" && !bytes.Equal(pub.TLSPin, id.Pin()):
		// Clients dial this listener itself, so they meet the relay's key.
		return opened{}, configErrorf("tls_pin is not the pin of the relay's TLS key, which clients dialing %s meet; leave it out, or give the address of what terminates TLS in front (?address=HOST:PORT)", s.Listen)
	}
	tl, err := m.listen(ctx, s.Listen)
	if err != nil {
		return opened{}, err
	}
	ln, err := wss.Serve(tl, wss.ServerConfig{TLS: tlsCfg, Path: pub.Path, Secret: pub.Secret,
		Decoy: site, Clock: m.opts.Clock, Files: m.mirrorFiles(*pub)})
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
	if pub.SNI == "" {
		// Clients name the CDN they dial, unless they dial it by IP.
		host, _, _ := net.SplitHostPort(s.Address)
		if net.ParseIP(host) != nil && pub.TLSPin == nil {
			return opened{}, configErrorf("a front endpoint whose address is an IP needs the front domain clients send in SNI (?sni=NAME) to check the CDN's certificate, or its tls_pin")
		}
		if net.ParseIP(host) == nil {
			pub.SNI = host
		}
	}
	site, err := m.decoySite()
	if err != nil {
		return opened{}, err
	}
	tl, err := m.listen(ctx, s.Listen)
	if err != nil {
		return opened{}, err
	}
	o := front.NewOrigin(front.OriginConfig{Path: pub.Path, Secret: pub.Secret, Decoy: site, Clock: m.opts.Clock})
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

// wssNames fills in the SNI and Host that clients of a wss endpoint send
// when its spec names neither: the name of the address they dial, or for
// an IP address no SNI and the Host header a browser would send.
func wssNames(pub *manifest.Endpoint) {
	host, port, err := net.SplitHostPort(pub.Address)
	if err != nil {
		return
	}
	if pub.SNI == "" && net.ParseIP(host) == nil {
		pub.SNI = host
	}
	if pub.Host == "" {
		pub.Host = pub.SNI
	}
	if pub.Host == "" {
		pub.Host = pub.Address
		if port == "443" {
			pub.Host = strings.TrimSuffix(pub.Address, ":443")
		}
	}
}
