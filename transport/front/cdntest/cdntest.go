// Package cdntest is a small fronting CDN for tests: an HTTPS reverse
// proxy that terminates TLS for any SNI name with a throwaway certificate
// and routes each request by its Host header to a registered origin on
// loopback, as a CDN edge does. It records what it saw (SNI, Host, path),
// so tests can show that the name on the wire differs from the origin
// reached. With Config.Buffer it buffers whole responses before passing
// them on, like CDNs that do not stream, which forces the front
// transport's polling fallback.
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

	mu     sync.Mutex
	routes map[string]*url.URL // lowercase host -> origin; guarded by mu
	log    []Request           // guarded by mu
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
		cfg:    cfg,
		cert:   cert,
		l:      l,
		done:   make(chan struct{}),
		routes: make(map[string]*url.URL),
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
	c.mu.Lock()
	target := c.routes[host]
	i := len(c.log)
	c.log = append(c.log, Request{SNI: sni, Host: r.Host, Method: r.Method, Path: r.URL.Path})
	c.mu.Unlock()
	status := 0
	defer func() {
		c.mu.Lock()
		c.log[i].Status = status
		c.mu.Unlock()
	}()
	if target == nil {
		status = http.StatusMisdirectedRequest
		http.Error(w, "no such site", status)
		return
	}
	ctx := context.WithValue(r.Context(), targetKey{}, target)
	c.proxy.ServeHTTP(statusWriter{w, &status}, r.WithContext(ctx))
}
