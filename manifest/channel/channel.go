// Package channel fetches signed manifests from the places a manifest
// names (HTTPS mirrors, DNS TXT records over DNS-over-HTTPS, fetches
// through a domain front), from the mirror a relay serves on each of its
// wss endpoints (Relay, at a path derived from the endpoint's secret) and
// from what a user imports (an invite file or pasted text), and hands them
// to a manifest.Keeper.
//
// # Security properties
//
// No channel is trusted: a source only returns bytes, and the Keeper
// accepts them only if they are a manifest signed by the network key, for
// the right network, newer than the one held and not expired. A censor
// that controls a channel can therefore withhold or delay manifests, not
// forge or roll them back; FetchAll asks every source at once so that one
// blocked or poisoned channel does not hold up the others. TLS still
// matters, to hide from an observer which blob is fetched: a source with a
// pin (SHA-256 of the server's SubjectPublicKeyInfo) accepts only that key,
// otherwise the system roots verify the server's name. Every byte read is
// bounded. Every connection goes through the injected transport.NetDial,
// so a test or a censorship lab decides what is reachable.
package channel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"samizdat/manifest"
	"samizdat/transport"
)

// Source is one place a signed manifest can come from.
type Source interface {
	// Name describes the source for logs and errors (no secrets).
	Name() string
	// Fetch returns the signed manifest blob the source offers now. It
	// returns when it has one or fails, or when ctx ends. The blob is
	// untrusted: the caller verifies it (Keeper.Offer does).
	Fetch(ctx context.Context) ([]byte, error)
}

// Errors callers may branch on; returned errors wrap them with the reason.
var (
	// ErrNotFound means the source answered but has no manifest (HTTP
	// 404, DNS NXDOMAIN or no TXT records).
	ErrNotFound = errors.New("channel: no manifest there")
	// ErrBadResponse means the source answered with something that is not
	// a manifest blob in the expected encoding (bad status, bad DNS
	// message, TXT records that do not reassemble, oversized body).
	ErrBadResponse = errors.New("channel: bad response")
	// ErrTLSPin means the server's key did not match the pin.
	ErrTLSPin = errors.New("channel: server key does not match the pin")
	// ErrBadImport means imported text is neither an invite nor a blob.
	ErrBadImport = errors.New("channel: not an invite or a manifest")
)

// maxBody bounds what a source reads: a blob, or an invite, or a blob in
// base64 text.
const maxBody = manifest.MaxInviteSize

// testRoots replaces the system roots in tests (export_test.go).
var testRoots *x509.CertPool

// webFetch is an HTTPS GET (or POST) with the knobs the sources need.
type webFetch struct {
	netDial   transport.NetDial
	pin       []byte
	sni       string // "" = the URL's host
	host      string // "" = the URL's host
	redirects int    // how many redirects to follow (0: none)
}

// tlsConfig builds the client TLS configuration: the pin if there is one,
// else verification against the system roots.
func (w *webFetch) tlsConfig() *tls.Config {
	cfg := &tls.Config{
		ServerName: w.sni,
		MinVersion: tls.VersionTLS12,
		RootCAs:    testRoots,
	}
	if len(w.pin) > 0 {
		pin := bytes.Clone(w.pin)
		// The pin replaces name and chain checks: it names the key.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrTLSPin
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
			if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
				return ErrTLSPin
			}
			return nil
		}
	}
	return cfg
}

// getBlob fetches a signed blob (raw, base64 or an invite) with a GET.
func (w *webFetch) getBlob(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	body, err := w.do(req, maxBody)
	if err != nil {
		return nil, err
	}
	return decodeBody(body)
}

// do sends req and returns the body of a 200 response, at most limit
// bytes.
func (w *webFetch) do(req *http.Request, limit int64) ([]byte, error) {
	tr := &http.Transport{
		DialContext:            w.netDial.Dial,
		TLSClientConfig:        w.tlsConfig(),
		DisableKeepAlives:      true,
		TLSHandshakeTimeout:    15 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{
		Transport: tr,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) > w.redirects {
				return fmt.Errorf("%w: redirected to %s", ErrBadResponse, r.URL.Redacted())
			}
			return nil
		},
	}
	if w.host != "" {
		req.Host = w.host
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, ErrTLSPin) {
			return nil, ErrTLSPin
		}
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%w: http %d", ErrNotFound, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: http %d", ErrBadResponse, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: body larger than %d bytes", ErrBadResponse, limit)
	}
	return body, nil
}

// userAgent is what an ordinary browser might send; a distinctive one
// would help a censor.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// HTTPS returns a source that GETs the blob from url, an https URL on any
// host: the body may be the raw blob, its base64, or an invite file. pin,
// if not empty, is the SHA-256 of the server's SubjectPublicKeyInfo; if
// empty, the system roots verify the server. Up to 3 redirects are
// followed.
func HTTPS(url string, pin []byte, netDial transport.NetDial) Source {
	return &httpsSource{url: url, w: webFetch{netDial: netDial, pin: bytes.Clone(pin), redirects: 3}}
}

type httpsSource struct {
	url string
	w   webFetch
}

func (s *httpsSource) Name() string { return "https:" + s.url }

func (s *httpsSource) Fetch(ctx context.Context) ([]byte, error) {
	u, err := url.Parse(s.url)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("channel: %q is not an https url", s.url)
	}
	return s.w.getBlob(ctx, s.url)
}

// Front returns a source that fetches the blob at path through a domain
// front: it connects to ep.Address, sends ep.SNI as the TLS server name
// (the innocuous front domain) and ep.Host as the HTTP Host (the mirror's
// name at the CDN). ep.TLSPin, if set, pins the CDN edge's key; otherwise
// the system roots verify the edge's certificate for ep.SNI. Redirects are
// refused (they would leave the front).
func Front(ep manifest.Endpoint, path string, netDial transport.NetDial) Source {
	sni := ep.SNI
	if sni == "" {
		sni = hostOnly(ep.Address)
	}
	return &frontSource{ep: ep, path: path, w: webFetch{netDial: netDial, pin: bytes.Clone(ep.TLSPin), sni: sni, host: ep.Host}}
}

type frontSource struct {
	ep   manifest.Endpoint
	path string
	w    webFetch
}

func (s *frontSource) Name() string {
	return fmt.Sprintf("front:%s,sni=%s,host=%s,path=%s", s.ep.Address, s.ep.SNI, s.ep.Host, s.path)
}

func (s *frontSource) Fetch(ctx context.Context) ([]byte, error) {
	if s.ep.Address == "" || s.ep.Host == "" {
		return nil, fmt.Errorf("channel: front without an address or a host")
	}
	path := s.path
	if path == "" {
		path = "/"
	}
	u := &url.URL{Scheme: "https", Host: s.ep.Address}
	pu, err := url.Parse(path)
	if err != nil || pu.Scheme != "" || pu.Host != "" {
		return nil, fmt.Errorf("channel: front path %q", path)
	}
	u = u.ResolveReference(pu)
	return s.w.getBlob(ctx, u.String())
}

// FromManifest returns a source for each channel m names, skipping kinds
// this code does not know. For a client in a cohort, pass
// m.ForCohort(cohort) so that per-cohort channels are filled in.
func FromManifest(m *manifest.Manifest, netDial transport.NetDial) []Source {
	if m == nil {
		return nil
	}
	var out []Source
	for _, c := range m.Channels {
		switch c.Kind {
		case "https":
			out = append(out, HTTPS(c.URL, c.TLSPin, netDial))
		case "doh":
			out = append(out, DoH(c.URL, c.Name, c.TLSPin, netDial))
		case "front":
			ep := manifest.Endpoint{Transport: "front", Address: c.Address, SNI: c.SNI, Host: c.Host, TLSPin: c.TLSPin}
			out = append(out, Front(ep, c.Path, netDial))
		}
	}
	return out
}

// Push hands a manifest pushed in-band (the relay's Push.manifest) to the
// keeper: it is Keeper.Offer, here so that every channel has a name.
func Push(k *manifest.Keeper, blob []byte, now time.Time) (*manifest.Manifest, error) {
	return k.Offer(blob, now)
}

// FetchAll asks every source at once, offers each blob to k as it
// arrives, and returns when all have answered or ctx ends. It returns the
// newest manifest accepted during the call (nil if none was newer than
// what k held) and one error per source, errs[i] for sources[i] (nil for a
// source whose blob was accepted). A source whose blob verifies but is
// not newer reports an error wrapping manifest.ErrRollback; one whose blob
// is refused reports the Keeper's reason. Errors are prefixed with the
// source's Name.
func FetchAll(ctx context.Context, sources []Source, k *manifest.Keeper, now time.Time) (*manifest.Manifest, []error) {
	errs := make([]error, len(sources))
	if k == nil {
		for i, src := range sources {
			errs[i] = fmt.Errorf("%s: channel: no keeper", src.Name())
		}
		return nil, errs
	}
	var (
		mu     sync.Mutex
		newest *manifest.Manifest
		wg     sync.WaitGroup
	)
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				blob, err := src.Fetch(ctx)
				if err != nil {
					return err
				}
				m, err := k.Offer(blob, now)
				if err != nil {
					return err
				}
				mu.Lock()
				if newest == nil || m.Serial > newest.Serial {
					newest = m
				}
				mu.Unlock()
				return nil
			}()
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", src.Name(), err)
			}
		}()
	}
	wg.Wait()
	return newest, errs
}

// hostOnly returns the host of a host:port address (or the address if it
// has no port).
func hostOnly(addr string) string {
	u := url.URL{Host: addr}
	return u.Hostname()
}
