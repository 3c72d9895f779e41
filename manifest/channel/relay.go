package channel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"

	"samizdat/manifest"
	"samizdat/transport"
)

// mirrorLabel separates the mirror path from anything else derived from an
// endpoint's secret.
const mirrorLabel = "samizdat manifest mirror v1"

// MirrorPath returns the path at which a relay serves its signed manifest
// over plain HTTPS on its wss endpoint ep, or "" for an endpoint of another
// transport or without a secret. The path is derived from the endpoint's
// secret (the first 16 bytes of HMAC-SHA256(secret, "samizdat manifest
// mirror v1"), base64url): whoever holds a manifest listing ep can fetch
// from it, and a probe that does not know the path gets the decoy site.
// A path the same on every relay would tell a censor's scanner which
// HTTPS servers are relays with one request.
func MirrorPath(ep manifest.Endpoint) string {
	if ep.Transport != "wss" || len(ep.Secret) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, ep.Secret)
	m.Write([]byte(mirrorLabel))
	return "/" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Relay returns a source that fetches the signed manifest a relay serves
// on its wss endpoint ep (at MirrorPath(ep)): an HTTPS GET to ep.Address
// with ep's SNI, Host and TLS pin, as the tunnel would be dialed. It
// returns nil when ep serves none (see MirrorPath).
func Relay(ep manifest.Endpoint, netDial transport.NetDial) Source {
	path := MirrorPath(ep)
	if path == "" || ep.Address == "" {
		return nil
	}
	return &relaySource{addr: ep.Address, path: path,
		w: webFetch{netDial: netDial, pin: bytes.Clone(ep.TLSPin), sni: ep.SNI, host: ep.Host}}
}

type relaySource struct {
	addr, path string
	w          webFetch
}

// Name names the endpoint, not the path: the path is as good as the
// endpoint's secret for fetching.
func (s *relaySource) Name() string { return "relay:wss:" + s.addr }

func (s *relaySource) Fetch(ctx context.Context) ([]byte, error) {
	u := url.URL{Scheme: "https", Host: s.addr, Path: s.path}
	b, err := s.w.getBlob(ctx, u.String())
	if err != nil {
		// The URL names the path: keep it out of the error.
		if ue, ok := err.(*url.Error); ok {
			return nil, fmt.Errorf("channel: %w", ue.Err)
		}
		return nil, err
	}
	return b, nil
}
