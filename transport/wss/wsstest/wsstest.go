// Package wsstest probes wss endpoints the way a censor's scanner or a
// middlebox that copied a token would: one WebSocket upgrade request with
// a cookie of the caller's choosing (wss.Cookie makes a fresh one),
// answered either by a tunnel (status 101) or by the decoy site. It is
// for tests: a replayed token is the same cookie sent twice.
package wsstest

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"

	"samizdat/transport/internal/tlsconf"
)

// Upgrade sends one WebSocket upgrade request for path with the Cookie
// header cookie (none if empty) over TLS to address, with server name sni, and checks the
// server's certificate against pin (SHA-256 of its SubjectPublicKeyInfo)
// when pin is set. It returns the response's status (101: a tunnel opened,
// and is closed at once) and body (the decoy's page otherwise).
func Upgrade(ctx context.Context, address, sni string, pin []byte, path, cookie string) (int, string, error) {
	cfg := tlsconf.Client(sni, pin, nil)
	cfg.MinVersion = tls.VersionTLS12 // a scanner's hello, not our client's
	cfg.InsecureSkipVerify = true     // without a pin, any certificate (with one, the pin decides)
	var d tls.Dialer
	d.Config = cfg
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	req, err := Request(sni, path, cookie)
	if err != nil {
		return 0, "", err
	}
	if err := req.Write(c); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, "", nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), err
}

// Request is the WebSocket upgrade request for path on host with the
// Cookie header cookie (none if empty), as a wss client sends it.
func Request(host, path, cookie string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+host+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	return req, nil
}
