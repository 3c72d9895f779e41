package decoy

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// Proxy forwards every request to the web site at target (http or https)
// and returns its answer unchanged, as Trojan and NaïveProxy fall back: a
// prober sees the real site's pages, headers and errors. The request goes
// to target's host with target's Host header and without X-Forwarded-For.
// When the site cannot be reached the answer is a 502 page in p's style.
func Proxy(target *url.URL, p Profile) (http.Handler, error) {
	if err := checkTarget(target); err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, _ error) {
			p.fail(w, r, http.StatusBadGateway)
		},
	}
	return rp, nil
}

// ParseTarget parses s as a target for Proxy, and checks it as Proxy
// does.
func ParseTarget(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errTarget
	}
	return u, checkTarget(u)
}

var errTarget = errors.New("decoy: the proxy target must be an http or https URL with a host and no user")

// checkTarget reports whether target is one Proxy forwards to.
func checkTarget(target *url.URL) error {
	if (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" || target.User != nil {
		return errTarget
	}
	return nil
}
