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

// ErrConfig means a bad endpoint spec, listen URL or config file, or an
// admin request the endpoints cannot take. The errors that wrap it are one
// line: what is wrong and what to do about it.
var ErrConfig = errors.New("endpoints: bad config")

// configError is an ErrConfig with its reason.
type configError struct{ reason string }

func (e *configError) Error() string        { return "endpoints: " + e.reason }
func (e *configError) Is(target error) bool { return target == ErrConfig }

// configErrorf returns an ErrConfig that says "endpoints: " and the reason.
func configErrorf(format string, args ...any) error {
	return &configError{fmt.Sprintf(format, args...)}
}

// within says where err happened: "endpoints: config endpoint 2: ...",
// keeping one "endpoints: " and what err wraps.
func within(where string, err error) error {
	if ce, ok := err.(*configError); ok {
		return &configError{where + ": " + ce.reason}
	}
	return fmt.Errorf("endpoints: %s: %w", where, err)
}

// oneLine joins errs like errors.Join, on one line.
func oneLine(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return joined(errs)
}

// joined is errors that happened together.
type joined []error

func (j joined) Error() string {
	msgs := make([]string, len(j))
	for i, err := range j {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (j joined) Unwrap() []error { return j }

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
	// Default: the host of Address when it is a name; none when it is an
	// IP address (a front endpoint dialed by IP must then name TLSPin).
	SNI string `json:"sni,omitempty"`
	// Host is the HTTP Host header clients send (front: the relay's name
	// at the CDN; required). Default for wss: SNI, else Address.
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
	// against the system roots). A wss endpoint without Address must not
	// name another key: clients dial it and meet the relay's.
	TLSPin string `json:"tls_pin,omitempty"`
	// Cohort is the client cohort the endpoint is handed to; 0 means all.
	Cohort uint32 `json:"cohort,omitempty"`
	// Standby marks the endpoint in the manifest as one clients dial only
	// after the others (manifest.Endpoint.Standby): an address kept
	// ready, ideally with another provider and in another prefix, so that
	// clients cut off from the others already know where to go before
	// any new manifest reaches them. Turning it off (and reloading)
	// promotes it.
	Standby bool `json:"standby,omitempty"`
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
	// Relay holds the relay command's other settings (its flags), which
	// the command reads at start; the endpoints ignore them.
	Relay json.RawMessage `json:"relay,omitempty"`
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
				return nil, nil, configErrorf("config channel %d: tls_pin must be 32 bytes (a SHA-256) in hex or base64", i)
			}
			mc.TLSPin = b
		}
		switch c.Kind {
		case "https", "doh", "front":
		default:
			return nil, nil, configErrorf("config channel %d: unknown kind %q; want https, doh or front", i, c.Kind)
		}
		if c.Cohort > manifest.MaxCohorts {
			return nil, nil, configErrorf("config channel %d: cohort %d is above the highest, %d", i, c.Cohort, manifest.MaxCohorts)
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
		return 0, configErrorf("manifest_ttl %q is not a positive duration such as \"720h\"", f.ManifestTTL)
	}
	return d, nil
}

// maxConfigSize bounds the config file.
const maxConfigSize = 1 << 20

// ReadFile reads and checks a config file.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("endpoints: reading the config file: %w", err)
	}
	return ParseFile(b)
}

// ParseFile decodes and checks a config file's contents.
func ParseFile(b []byte) (*File, error) {
	if len(b) > maxConfigSize {
		return nil, configErrorf("the config file is larger than %d bytes", maxConfigSize)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, configErrorf("the config file is not valid: %v", err)
	}
	if _, err := f.TTL(); err != nil {
		return nil, err
	}
	if _, err := f.ManifestChannels(); err != nil {
		return nil, err
	}
	for i := range f.Endpoints {
		if err := f.Endpoints[i].Normalize(); err != nil {
			return nil, within(fmt.Sprintf("config endpoint %d", i), err)
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
// name, address, sni, host, secret, tls_pin, cohort, standby. A bare
// host:port is a tcp endpoint.
func ParseURL(s string) (Spec, error) {
	if !strings.Contains(s, "://") {
		sp := Spec{Transport: TCP, Listen: s}
		return sp, sp.Normalize()
	}
	// Errors never quote s: it may hold a secret.
	u, err := url.Parse(s)
	if err != nil {
		return Spec{}, configErrorf("the endpoint URL does not parse; want TRANSPORT://HOST:PORT, such as tcp://0.0.0.0:7001")
	}
	if u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return Spec{}, configErrorf("the endpoint URL has a user, fragment or opaque part; want TRANSPORT://HOST:PORT/PATH?PARAMETER=VALUE")
	}
	sp := Spec{Transport: u.Scheme, Listen: u.Host, Path: u.EscapedPath()}
	if sp.Path == "/" {
		sp.Path = "" // tcp://host:port/ is tcp://host:port
	}
	q := u.Query()
	for k, vs := range q {
		if len(vs) != 1 {
			return Spec{}, configErrorf("endpoint URL: %s given %d times; give it once", k, len(vs))
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
				return Spec{}, configErrorf("endpoint URL: cohort %q is not a number from 0 to %d", v, manifest.MaxCohorts)
			}
			sp.Cohort = uint32(n)
		case "standby":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Spec{}, configErrorf("endpoint URL: standby %q is not true or false", v)
			}
			sp.Standby = b
		default:
			return Spec{}, configErrorf("endpoint URL: unknown parameter %q; want name, address, sni, host, secret, tls_pin, cohort or standby", k)
		}
	}
	return sp, sp.Normalize()
}

// Normalize checks s and fills in its default name.
func (s *Spec) Normalize() error {
	switch s.Transport {
	case TCP, WSS, Front:
	default:
		return configErrorf("unknown transport %q; want tcp, wss or front, as in tcp://0.0.0.0:7001", s.Transport)
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		return configErrorf("listen address %q is not HOST:PORT, such as 0.0.0.0:7001", s.Listen)
	}
	if s.Address != "" {
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			return configErrorf("address %q is not the HOST:PORT clients dial, such as relay.example.org:443", s.Address)
		}
	}
	if s.Path != "" && !strings.HasPrefix(s.Path, "/") {
		return configErrorf("path %q must start with /", s.Path)
	}
	if s.Transport == TCP && (s.SNI != "" || s.Host != "" || s.Path != "" || s.Secret != "" || s.TLSPin != "") {
		return configErrorf("a tcp endpoint takes no sni, host, path, secret or tls_pin; those are for wss and front")
	}
	if s.Secret != "" {
		if b, err := manifest.DecodeBytes(s.Secret); err != nil || len(b) < 16 {
			return configErrorf("secret must be at least 16 bytes in hex or base64; leave it out and the relay makes one")
		}
	}
	if s.TLSPin != "" {
		if b, err := manifest.DecodeBytes(s.TLSPin); err != nil || len(b) != 32 {
			return configErrorf("tls_pin must be 32 bytes (a SHA-256) in hex or base64")
		}
	}
	if s.Name == "" {
		s.Name = s.Transport + "://" + s.Listen
	}
	if len(s.Name) > 128 || strings.ContainsAny(s.Name, " \t\r\n") {
		return configErrorf("endpoint name %q: at most 128 bytes and no spaces", s.Name)
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
	if s.Standby {
		set("standby", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// uniqueNames checks that no two specs share a name.
func uniqueNames(specs []Spec) error {
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if seen[s.Name] {
			return configErrorf("two endpoints in the config file are named %q; give one another \"name\"", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}
