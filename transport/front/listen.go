package front

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// ListenOrigin serves an Origin over HTTP on addr — or HTTPS when tlsCfg
// is set — for a CDN to forward to. Tunnels come out of the returned
// listener's Accept; its Addr is the TCP address, and Close stops the
// server and ends every session.
func ListenOrigin(ctx context.Context, addr string, cfg OriginConfig, tlsCfg *tls.Config) (net.Listener, error) {
	var lc net.ListenConfig
	tl, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("front: %w", err)
	}
	return ServeOrigin(tl, cfg, tlsCfg), nil
}

// ServeOrigin is ListenOrigin on a listener the caller made (an in-memory
// one, say), which the returned listener's Close closes. TLS takes its
// time from cfg.Clock unless tlsCfg sets its own.
func ServeOrigin(tl net.Listener, cfg OriginConfig, tlsCfg *tls.Config) net.Listener {
	o := NewOrigin(cfg)
	srv := &http.Server{
		Handler:           o,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	ol := &originListener{Origin: o, tcp: tl, srv: srv, served: make(chan struct{})}
	go func() {
		defer close(ol.served)
		if tlsCfg != nil {
			srv.TLSConfig = tlsCfg.Clone()
			if srv.TLSConfig.Time == nil {
				srv.TLSConfig.Time = o.clk.Now
			}
			srv.ServeTLS(tl, "", "")
		} else {
			srv.Serve(tl)
		}
	}()
	return ol
}

type originListener struct {
	*Origin
	tcp    net.Listener
	srv    *http.Server
	served chan struct{}
	once   sync.Once
}

func (l *originListener) Addr() net.Addr { return l.tcp.Addr() }

func (l *originListener) Close() error {
	l.once.Do(func() {
		l.Origin.Close()
		l.srv.Close()
		<-l.served
	})
	return nil
}
