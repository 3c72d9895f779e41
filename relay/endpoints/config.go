package endpoints

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"samizdat/manifest"
)

// Transports a relay can listen on.
const (
	TCP   = "tcp"   // Noise over plain TCP
	WSS   = "wss"   // TLS + WebSocket, with a decoy web site
	Front = "front" // a fronted origin: plain HTTP behind a CDN that terminates TLS
)

// ErrConfig means a bad endpoint spec, listen URL or config file.
var ErrConfig = errors.New("endpoints: bad config")

// Spec describes one endpoint: where the relay listens and what clients
// are told in the manifest. Zero fields take defaults (see each field).
type Spec struct {
	// Name identifies the endpoint for retiring and across reloads, and
	// names its stored secret. Default: Transport + "://" + Listen.
	Name string `json:"name,omitempty"`
	// Transport is TCP, WSS or Front.
	Transport string `json:"transport"`
	// Listen is the local host:port to listen on (port 0 picks one).
	Listen string `json:"listen"`

	// Address is the host:port clients dial. Default: the address the
	// listener is bound to. A front endpoint should name the CDN edge.
	Address string `json:"address,omitempty"`
	// SNI is the TLS server name clients send (wss: also the name on the
	// relay's self-signed certificate; front: the innocuous front domain).
	SNI string `json:"sni,omitempty"`
	// Host is the HTTP Host header clients send (front: the relay's name
	// at the CDN). Default for wss: SNI.
	Host string `json:"host,omitempty"`
	// Path is the tunnel's HTTP path (wss, front). Default: a random path,
	// generated once and kept in the data directory.
	Path string `json:"path,omitempty"`
	// Secret is the endpoint secret (wss, front) in hex or base64.
	// Default: 32 random bytes, generated once and kept in the data
	// directory.
	Secret string `json:"secret,omitempty"`
	// TLSPin is the SHA-256 of the TLS server key's SubjectPublicKeyInfo
	// that clients pin, in hex or base64. Default for wss: the pin of the
	// relay's own key; for front: none (the CDN's certificate is checked
	// against the system roots).
	TLSPin string `json:"tls_pin,omitempty"`
	// Cohort is the client cohort the endpoint is handed to; 0 means all.
	Cohort uint32 `json:"cohort,omitempty"`
}

// File is the relay's endpoint config file (JSON). Fields left zero keep
// the values from the command line.
type File struct {
	// Network is the network name in the manifest. It is read at start
	// only; a reload does not change it.
	Network string `json:"network,omitempty"`
	// ManifestTTL is how long each signed manifest is valid, as a Go
	// duration ("720h"). The relay re-signs when half of it has passed.
	ManifestTTL string `json:"manifest_ttl,omitempty"`
	// Endpoints to listen on, in addition to those of --listen.
	Endpoints []Spec `json:"endpoints"`
	// Channels are where clients fetch newer manifests; they go into
	// every manifest, except those of a cohort (see Channel.Cohort).
	Channels []Channel `json:"channels,omitempty"`
}

// Channel is a manifest channel in the config file (see manifest.Channel).
type Channel struct {
	Kind    string `json:"kind"` // "https" | "doh" | "front"
	URL     string `json:"url,omitempty"`
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
	SNI     string `json:"sni,omitempty"`
	Host    string `json:"host,omitempty"`
	Path    string `json:"path,omitempty"`
	TLSPin  string `json:"tls_pin,omitempty"` // hex or base64
	// Cohort, above 0, puts the channel only into that cohort's manifest
	// (a mirror only that cohort's clients learn); 0 means every manifest.
	Cohort uint32 `json:"cohort,omitempty"`
}

// ManifestChannels converts f's channels, those of every cohort.
func (f *File) ManifestChannels() ([]manifest.Channel, error) {
	out, _, err := f.cohortChannels()
	return out, err
}

// cohortChannels converts f's channels: those for every cohort, and those
// of each cohort above 0.
func (f *File) cohortChannels() ([]manifest.Channel, map[uint32][]manifest.Channel, error) {
	var out []manifest.Channel
	by := map[uint32][]manifest.Channel{}
	for i, c := range f.Channels {
		mc := manifest.Channel{Kind: c.Kind, URL: c.URL, Name: c.Name, Address: c.Address, SNI: c.SNI, Host: c.Host, Path: c.Path}
		if c.TLSPin != "" {
			b, err := manifest.DecodeBytes(c.TLSPin)
			if err != nil || len(b) != 32 {
				return nil, nil, fmt.Errorf("%w: channel %d: tls pin must be 32 bytes in hex or base64", ErrConfig, i)
			}
			mc.TLSPin = b
		}
		switch c.Kind {
		case "https", "doh", "front":
		default:
			return nil, nil, fmt.Errorf("%w: channel %d: unknown kind %q", ErrConfig, i, c.Kind)
		}
		if c.Cohort > manifest.MaxCohorts {
			return nil, nil, fmt.Errorf("%w: channel %d: cohort %d", ErrConfig, i, c.Cohort)
		}
		if c.Cohort > 0 {
			by[c.Cohort] = append(by[c.Cohort], mc)
		} else {
			out = append(out, mc)
		}
	}
	return out, by, nil
}

// TTL parses ManifestTTL; zero when unset.
func (f *File) TTL() (time.Duration, error) {
	if f.ManifestTTL == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(f.ManifestTTL)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: manifest_ttl %q", ErrConfig, f.ManifestTTL)
	}
	return d, nil
}

// maxConfigSize bounds the config file.
const maxConfigSize = 1 << 20

// ReadFile reads and checks a config file.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("endpoints: reading config: %w", err)
	}
	return ParseFile(b)
}

// ParseFile decodes and checks a config file's contents.
func ParseFile(b []byte) (*File, error) {
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrConfig, maxConfigSize)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if _, err := f.TTL(); err != nil {
		return nil, err
	}
	if _, err := f.ManifestChannels(); err != nil {
		return nil, err
	}
	for i := range f.Endpoints {
		if err := f.Endpoints[i].Normalize(); err != nil {
			return nil, fmt.Errorf("endpoint %d: %w", i, err)
		}
	}
	if err := uniqueNames(f.Endpoints); err != nil {
		return nil, err
	}
	return &f, nil
}

// ParseURL parses a --listen value: a URL whose scheme is the transport
// and whose host is the listening address, such as tcp://127.0.0.1:7001,
// wss://0.0.0.0:443/chat?sni=example.org or front://127.0.0.1:7080.
// The path (other than "/") becomes Spec.Path, and query parameters set the other fields:
// name, address, sni, host, secret, tls_pin, cohort. A bare host:port is
// a tcp endpoint.
func ParseURL(s string) (Spec, error) {
	if !strings.Contains(s, "://") {
		sp := Spec{Transport: TCP, Listen: s}
		return sp, sp.Normalize()
	}
	// Errors never quote s: it may hold a secret.
	u, err := url.Parse(s)
	if err != nil {
		return Spec{}, fmt.Errorf("%w: listen url does not parse", ErrConfig)
	}
	if u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return Spec{}, fmt.Errorf("%w: listen url with user, fragment or opaque part", ErrConfig)
	}
	sp := Spec{Transport: u.Scheme, Listen: u.Host, Path: u.EscapedPath()}
	if sp.Path == "/" {
		sp.Path = "" // tcp://host:port/ is tcp://host:port
	}
	q := u.Query()
	for k, vs := range q {
		if len(vs) != 1 {
			return Spec{}, fmt.Errorf("%w: listen url: %s given %d times", ErrConfig, k, len(vs))
		}
		v := vs[0]
		switch k {
		case "name":
			sp.Name = v
		case "address":
			sp.Address = v
		case "sni":
			sp.SNI = v
		case "host":
			sp.Host = v
		case "secret":
			sp.Secret = v
		case "tls_pin":
			sp.TLSPin = v
		case "cohort":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return Spec{}, fmt.Errorf("%w: listen url: cohort %q", ErrConfig, v)
			}
			sp.Cohort = uint32(n)
		default:
			return Spec{}, fmt.Errorf("%w: listen url: unknown parameter %q", ErrConfig, k)
		}
	}
	return sp, sp.Normalize()
}

// Normalize checks s and fills in its default name.
func (s *Spec) Normalize() error {
	switch s.Transport {
	case TCP, WSS, Front:
	default:
		return fmt.Errorf("%w: unknown transport %q", ErrConfig, s.Transport)
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		return fmt.Errorf("%w: listen address %q: want host:port", ErrConfig, s.Listen)
	}
	if s.Address != "" {
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			return fmt.Errorf("%w: address %q: want host:port", ErrConfig, s.Address)
		}
	}
	if s.Path != "" && !strings.HasPrefix(s.Path, "/") {
		return fmt.Errorf("%w: path %q must start with /", ErrConfig, s.Path)
	}
	if s.Transport == TCP && (s.SNI != "" || s.Host != "" || s.Path != "" || s.Secret != "" || s.TLSPin != "") {
		return fmt.Errorf("%w: a tcp endpoint takes no sni, host, path, secret or tls pin", ErrConfig)
	}
	if s.Secret != "" {
		if b, err := manifest.DecodeBytes(s.Secret); err != nil || len(b) < 16 {
			return fmt.Errorf("%w: secret must be at least 16 bytes in hex or base64", ErrConfig)
		}
	}
	if s.TLSPin != "" {
		if b, err := manifest.DecodeBytes(s.TLSPin); err != nil || len(b) != 32 {
			return fmt.Errorf("%w: tls pin must be 32 bytes in hex or base64", ErrConfig)
		}
	}
	if s.Name == "" {
		s.Name = s.Transport + "://" + s.Listen
	}
	if len(s.Name) > 128 || strings.ContainsAny(s.Name, " \t\r\n") {
		return fmt.Errorf("%w: name %q", ErrConfig, s.Name)
	}
	return nil
}

// URL returns s as a --listen URL (without its secret).
func (s Spec) URL() string {
	u := url.URL{Scheme: s.Transport, Host: s.Listen, Path: s.Path}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	if s.Name != s.Transport+"://"+s.Listen {
		set("name", s.Name)
	}
	set("address", s.Address)
	set("sni", s.SNI)
	set("host", s.Host)
	set("tls_pin", s.TLSPin)
	if s.Cohort != 0 {
		set("cohort", strconv.FormatUint(uint64(s.Cohort), 10))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// uniqueNames checks that no two specs share a name.
func uniqueNames(specs []Spec) error {
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if seen[s.Name] {
			return fmt.Errorf("%w: two endpoints named %q (give one a name)", ErrConfig, s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}
