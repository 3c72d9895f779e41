package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"

	"samizdat/relay/endpoints"
	"samizdat/store/s3blob"
)

// relayConfigAbout is the help of the config file's "relay" section.
const relayConfigAbout = `The config file (--config) may also hold every other relay flag, in a "relay" object,
by its name with "_" for "-": {"relay": {"data": "/var/lib/samizdat-relay", "listen":
["wss://0.0.0.0:443?sni=relay.example.org"], "admin": "127.0.0.1:9464", "delivery_poll": "30s",
"no_rate_limits": false}}. A flag on the command line overrides the file. "network" and
"manifest_ttl" stay at the top of the file. SIGHUP re-reads endpoints and channels only; the
relay says which other settings changed and need a restart.`

// relayFileSettings is the config file's "relay" section as the relay
// read it at start: SIGHUP compares the file with it.
type relayFileSettings struct {
	relay    map[string]json.RawMessage
	network  string
	ttl      string
	explicit map[string]bool // flags given on the command line
}

// readRelaySection reads the config file's top and its "relay" section.
func readRelaySection(path string) (*endpoints.File, map[string]json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the config file: %w", err)
	}
	f, err := endpoints.ParseFile(b)
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", path, err)
	}
	section := map[string]json.RawMessage{}
	if len(f.Relay) > 0 {
		dec := json.NewDecoder(bytes.NewReader(f.Relay))
		if err := dec.Decode(&section); err != nil || section == nil {
			return nil, nil, fmt.Errorf("config %s: \"relay\" must be an object of flag settings", path)
		}
	}
	return f, section, nil
}

// applyRelayConfig sets the relay flags the command line left out from the
// config file's "relay" section, if --config names a file; it returns
// what it read, for SIGHUP.
func applyRelayConfig(fs *cmdFlags, f *relayFlags) (*relayFileSettings, error) {
	if *f.configFile == "" {
		return nil, nil
	}
	path := *f.configFile
	file, section, err := readRelaySection(path)
	if err != nil {
		return nil, err
	}
	explicit := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { explicit[fl.Name] = true })
	keys := make([]string, 0, len(section))
	for k := range section {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		fl := fs.Lookup(name)
		switch {
		case name == "config" || name == "network" || name == "manifest-ttl":
			return nil, fmt.Errorf("config %s: relay.%s: not a setting of the \"relay\" section (network and manifest_ttl go at the top of the file)", path, k)
		case fl == nil:
			return nil, fmt.Errorf("config %s: relay.%s: no such relay flag (see 'samizdat help relay')", path, k)
		case explicit[name]:
			continue // the command line overrides the file
		}
		values, err := settingValues(section[k], relayRepeated[name])
		if err != nil {
			return nil, fmt.Errorf("config %s: relay.%s: %v", path, k, err)
		}
		for _, v := range values {
			if err := fs.set(fl, v); err != nil {
				var u *usageError
				if errors.As(err, &u) {
					return nil, fmt.Errorf("config %s: relay.%s: %s", path, k, u.msg)
				}
				return nil, err
			}
		}
	}
	return &relayFileSettings{relay: section, network: file.Network, ttl: file.ManifestTTL, explicit: explicit}, nil
}

// settingValues turns one JSON setting into flag values: a string, number
// or boolean is one; a list of them (for a repeatable flag) is many.
func settingValues(raw json.RawMessage, repeated bool) ([]string, error) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		if !repeated {
			return nil, errors.New("takes one value, not a list")
		}
		var out []string
		for _, r := range list {
			v, err := scalar(r)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	v, err := scalar(raw)
	if err != nil {
		return nil, err
	}
	return []string{v}, nil
}

// scalar is a JSON string, number or boolean as a flag value.
func scalar(raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case bool, float64:
		return strings.TrimSpace(string(raw)), nil
	}
	return "", errors.New("want a string, a number or true/false")
}

// changed re-reads the config file and names the settings that differ
// from those the relay started with, other than endpoints and channels
// (which SIGHUP reloads). A file that no longer reads names nothing: the
// reload itself reports it.
func (s *relayFileSettings) changed(path string) []string {
	if s == nil {
		return nil
	}
	file, section, err := readRelaySection(path)
	if err != nil {
		return nil
	}
	var out []string
	if file.Network != s.network && !s.explicit["network"] {
		out = append(out, "network")
	}
	if file.ManifestTTL != s.ttl && !s.explicit["manifest-ttl"] {
		out = append(out, "manifest_ttl")
	}
	for k := range mergeKeys(section, s.relay) {
		if !s.explicit[strings.ReplaceAll(k, "_", "-")] && !jsonEqual(section[k], s.relay[k]) {
			out = append(out, "relay."+k)
		}
	}
	slices.Sort(out)
	return out
}

// mergeKeys is the set of keys of a and b.
func mergeKeys(a, b map[string]json.RawMessage) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// jsonEqual compares two JSON values, ignoring layout.
func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// checkAdminAddress checks --admin without listening: HOST:PORT, and on
// loopback unless anyAddress.
func checkAdminAddress(addr string, anyAddress bool) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--admin %s is not HOST:PORT: %w", addr, errUsage)
	}
	if ip := net.ParseIP(host); !anyAddress && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--admin %s is not a loopback address; add --admin-any-address to serve metrics there: %w", addr, errUsage)
	}
	return nil
}

// runRelayCheck is "samizdat relay check": it reads the config file and
// the flags as the relay would, and says whether they would start it.
func runRelayCheck(_ context.Context, e *env, args []string) error {
	fs, f := relayFlagSet("relay check", `Check a relay's configuration without starting it: the config file (--config) and any
flags, read exactly as "samizdat relay" reads them. Exit 0 when the relay would start with
them, 1 with the reason when not (2 for a mistake on this command line).

`+relayConfigAbout)
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if _, err := applyRelayConfig(fs, f); err != nil {
		return err
	}
	opts, err := f.prepare(fs)
	if err != nil {
		var u *usageError
		if errors.As(err, &u) { // a mistake in the file as much as on the command line
			return errors.New(u.msg)
		}
		return err
	}
	if err := f.acme.check(); err != nil {
		return err
	}
	n := len(opts.Listen)
	if *f.configFile != "" {
		cf, _ := endpoints.ReadFile(*f.configFile)
		n += len(cf.Endpoints)
	}
	if n == 0 {
		return errors.New("no endpoint to listen on: give --listen, or endpoints in the config file")
	}
	store := "SQLite in " + *f.dir
	if *f.storeURL != "" {
		store = "PostgreSQL"
	}
	if *f.blobsURL != "" {
		where, _ := s3blob.Where(*f.blobsURL) // checked by prepare
		store += ", attachments in S3 at " + where
	}
	fmt.Fprintf(e.stdout, "ok: network %s, %d endpoints, store %s, data %s\n", opts.Network, n, store, *f.dir)
	return nil
}
