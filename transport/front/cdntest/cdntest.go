// Package cdntest is a small fronting CDN for tests: an HTTPS reverse
// proxy that terminates TLS for any SNI name with a throwaway certificate
// and routes each request by its Host header to a registered origin on
// loopback, as a CDN edge does. It records what it saw (SNI, Host, path),
// so tests can show that the name on the wire differs from the origin
// reached. With Config.Buffer it buffers whole responses before passing
// them on, like CDNs that do not stream, which forces the front
// transport's polling fallback. SetFronting(false) makes it a CDN that has
// ended domain fronting, as Google's did on 13 April 2018 and Amazon
// CloudFront's later that month: a request whose Host the TLS name does
// not cover is refused.
package cdntest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"samizdat/transport/internal/testcert"
)

// Config configures a CDN.
type Config struct {
	// Buffer makes the CDN read each origin response completely before
	// sending any of it.
	Buffer bool
	// Listener, if set, is where the CDN serves (an in-memory one, say);
	// Start's addr is then ignored.
	Listener net.Listener
	// DialContext, if set, reaches the origins (nil: net.Dialer's).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Request is what the CDN saw of one request.
type Request struct {
	SNI    string // TLS server name from the ClientHello
	Host   string // HTTP Host header
	Method string
	Path   string
	Status int // status sent back, once the response has ended
	// Fronted: over TLS, with a Host other than the SNI. Refused: a
	// fronted request turned away because fronting had ended.
	Fronted, Refused bool
}

// CDN is a running test CDN.
type CDN struct {
	cfg   Config
	cert  *testcert.Cert
	l     net.Listener
	srv   *http.Server
	tr    *http.Transport
	proxy *httputil.ReverseProxy
	done  chan struct{}

	mu         sync.Mutex
	routes     map[string]*url.URL // lowercase host -> origin; guarded by mu
	log        []Request           // guarded by mu
	noFronting bool                // guarded by mu
	// fronted cancels the fronted requests in flight; guarded by mu.
	fronted map[int]context.CancelFunc
}

// Start listens on addr (e.g. "127.0.0.1:0"), or takes cfg.Listener,
// and serves HTTPS.
func Start(addr string, cfg Config) (*CDN, error) {
	cert, err := testcert.New("cdn.test")
	if err != nil {
		return nil, err
	}
	l := cfg.Listener
	if l == nil {
		if l, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("cdntest: %w", err)
		}
	}
	c := &CDN{
		cfg:     cfg,
		cert:    cert,
		l:       l,
		done:    make(chan struct{}),
		routes:  make(map[string]*url.URL),
		fronted: make(map[int]context.CancelFunc),
		tr: &http.Transport{
			Proxy:               nil,
			DialContext:         cfg.DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	quiet := log.New(io.Discard, "", 0)
	c.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target, _ := pr.In.Context().Value(targetKey{}).(*url.URL)
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: c.tr,
		ErrorLog:  quiet,
	}
	if cfg.Buffer {
		c.proxy.ModifyResponse = func(resp *http.Response) error {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.TransferEncoding = nil
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		}
	}
	tlsCfg := cert.ServerConfig()
	tlsCfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &cert.TLS, nil // any SNI
	}
	c.srv = &http.Server{
		Handler:           c,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          quiet,
	}
	go func() {
		defer close(c.done)
		c.srv.ServeTLS(l, "", "")
	}()
	return c, nil
}

type targetKey struct{}

// Route sends requests for host to origin (an http:// URL on loopback).
func (c *CDN) Route(host, origin string) error {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return errors.New("cdntest: bad origin url")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.routes[strings.ToLower(host)] = u
	return nil
}

// StatusNotCovered is the status of a fronted request once fronting has
// ended (421 Misdirected Request: the connection's TLS name does not
// cover the Host asked for).
const StatusNotCovered = http.StatusMisdirectedRequest

// SetFronting sets the provider's policy on domain fronting. With on
// false, every request over TLS whose Host differs from the connection's
// SNI is refused with StatusNotCovered, and the fronted requests in
// flight (long polls, streams) are cut, as a deployment that ends
// fronting drains the connections it finds. Requests whose Host is the
// SNI, and plain-HTTP requests, are served as before. A new CDN fronts.
func (c *CDN) SetFronting(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noFronting = !on
	if on {
		return
	}
	for i, cancel := range c.fronted {
		cancel()
		delete(c.fronted, i)
	}
}

// Fronting reports whether the CDN serves fronted requests.
func (c *CDN) Fronting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.noFronting
}

// Fronted counts the fronted requests (over TLS, Host other than the
// SNI) the CDN has seen: served, and refused because fronting had ended.
func (c *CDN) Fronted() (served, refused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.log {
		switch {
		case r.Refused:
			refused++
		case r.Fronted:
			served++
		}
	}
	return served, refused
}

// Addr is the CDN's listening address.
func (c *CDN) Addr() string { return c.l.Addr().String() }

// Pin is the SPKI SHA-256 of the CDN's certificate, for TLSPin.
func (c *CDN) Pin() []byte { return c.cert.Pin }

// Requests returns what the CDN has seen so far.
func (c *CDN) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.log...)
}

// CloseIdleConnections drops the CDN's idle connections to origins.
func (c *CDN) CloseIdleConnections() { c.tr.CloseIdleConnections() }

// Close stops the CDN and waits for it.
func (c *CDN) Close() error {
	err := c.srv.Close()
	<-c.done
	c.tr.CloseIdleConnections()
	return err
}

type statusWriter struct {
	http.ResponseWriter
	status *int
}

func (w statusWriter) WriteHeader(code int) {
	*w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func (c *CDN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	sni := ""
	if r.TLS != nil {
		sni = r.TLS.ServerName
	}
	fronted := r.TLS != nil && !strings.EqualFold(strings.TrimSuffix(sni, "."), host)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	c.mu.Lock()
	target := c.routes[host]
	i := len(c.log)
	refused := fronted && c.noFronting
	c.log = append(c.log, Request{SNI: sni, Host: r.Host, Method: r.Method, Path: r.URL.Path, Fronted: fronted, Refused: refused})
	if fronted && !refused {
		c.fronted[i] = cancel
	}
	c.mu.Unlock()
	status := 0
	defer func() {
		c.mu.Lock()
		c.log[i].Status = status
		delete(c.fronted, i)
		c.mu.Unlock()
	}()
	if refused {
		status = StatusNotCovered
		http.Error(w, "the Host header is not covered by the TLS certificate of this connection", status)
		return
	}
	if target == nil {
		status = http.StatusMisdirectedRequest
		http.Error(w, "no such site", status)
		return
	}
	ctx = context.WithValue(ctx, targetKey{}, target)
	c.proxy.ServeHTTP(statusWriter{w, &status}, r.WithContext(ctx))
}
