package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/relay"
)

// manifestAbout is the manifest command's help.
const manifestAbout = `Operator tools for signed manifests; none needs a relay, so the network key can stay offline.
keygen writes a new Ed25519 signing key (mode 0600), for the network or a node, and KEYFILE.pub,
  and prints the public key.
delegate certifies a node's key to sign the network's manifests for a limited time (--for 30d);
  relays sign with their node key and carry the certificate in every manifest.
sign turns a JSON source (# and // comments allowed) into a signed blob:
  {"network": "example.net", "serial": 1764000000, "issued": "now", "ttl": "30d", "cohorts": 4,
   "trust_root": HEX|B64, "revoked": [PUB, ...],
   "relays": [{"id": "relay-1", "noise_key": HEX|B64, "endpoints": [{"transport": "wss",
     "address": "203.0.113.7:443", "sni": "www.example.org", "host": "www.example.org",
     "path": "/chat", "secret": HEX|B64, "tls_pin": HEX|B64, "cohort": 2}]}],
   "channels": [{"kind": "https", "url": "https://mirror.example/m.bin"},
     {"kind": "doh", "url": "https://dns.example/dns-query", "name": "m.example.net"},
     {"kind": "front", "address": "cdn.example:443", "sni": "cdn.example", "host": "mirror.example",
      "path": "/m.bin"}]}
  The serial comes from the source or --serial, else it is the --previous manifest's plus one;
  it must be higher than --previous's. Serials are Unix times (date +%s): clients refuse one more
  than 25 hours ahead of their clock. "expires" (RFC 3339) may replace "ttl".
  Signed with the network key, "revoked" (or --revoke) lists node keys clients refuse from then
  on, whatever their serial. With --delegation CERT, --key is the node key that CERT certifies.
PUB is a public key (base64 or hex), a file holding one (KEYFILE.pub), or an invite file.
BLOB is a signed blob, raw or base64; "-" reads standard input.`

func runManifest(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, "manifest", manifestAbout, e, args, []subcommand{
		{"keygen", "write a new signing key (network or node) and print its public key", runManifestKeygen},
		{"delegate", "certify a node key to sign manifests for a limited time", runManifestDelegate},
		{"sign", "sign a JSON manifest source into a blob (and an invite)", runManifestSign},
		{"show", "print a signed manifest or invite, secrets masked", runManifestShow},
		{"verify", "check a signed manifest or invite against the network key", runManifestVerify},
	})
}

func runManifestKeygen(_ context.Context, e *env, args []string) error {
	fs := newFlags("manifest keygen", "--out KEYFILE", "Write a new Ed25519 signing key to KEYFILE (mode 0600, never overwritten) and its public key\nto KEYFILE.pub, and print the public key. The same key type serves as the network key and as\na node key.")
	out := fs.String("out", "", "where to write the private key (mode 0600); the public key goes to OUT.pub")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *out == "" {
		return fs.usagef("keygen needs --out")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	note := "samizdat signing key (Ed25519, PKCS #8).\nAs the network key, whoever holds this file can sign manifests and certify node keys for\nthe network: keep it offline. As a node key, keep it on its node.\n\n"
	if err := manifest.WriteSigningKey(*out, priv, note); err != nil {
		return err
	}
	pubText := base64.StdEncoding.EncodeToString(pub)
	if err := os.WriteFile(*out+".pub", []byte(pubText+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the public key: %w", err)
	}
	fmt.Fprintf(e.stdout, "network public key: %s\n", pubText)
	fmt.Fprintf(e.stdout, "wrote %s (secret: keep it offline) and %s.pub\n", *out, *out)
	return nil
}

// readPrivateKey reads a key written by keygen, or the network key in a
// relay's keys file (to take a network started by "samizdat relay"
// offline).
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	k, err := manifest.ReadSigningKey(path)
	if errors.Is(err, manifest.ErrBadKeyFile) {
		if keys, kerr := relay.ReadKeysFile(path); kerr == nil && keys.Network != nil {
			return keys.Network, nil
		}
		return nil, fmt.Errorf("%s is not a private key file (make one with 'samizdat manifest keygen')", path)
	}
	return k, err
}

// parsePublicKey reads PUB, the network key: a key in base64 or hex, or a
// file holding one, or an invite file.
func parsePublicKey(s string) (ed25519.PublicKey, error) { return parseKeyArg("network key", s) }

// parseKeyArg reads the public key what names: in base64 or hex, a file
// holding one (KEYFILE.pub), an invite file (its network key), or a
// private key file (its public half).
func parseKeyArg(what, s string) (ed25519.PublicKey, error) {
	text := []byte(s)
	if b, err := os.ReadFile(s); err == nil {
		text = b
	}
	if priv, err := manifest.ParseSigningKey(text); err == nil {
		return priv.Public().(ed25519.PublicKey), nil
	}
	if bytes.Contains(text, []byte("-----BEGIN SAMIZDAT INVITE-----")) {
		inv, err := manifest.ParseInvite(text)
		if err != nil {
			return nil, err
		}
		return inv.NetworkKey, nil
	}
	if block, _ := pem.Decode(text); block != nil && block.Type == "PUBLIC KEY" {
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if pub, ok := k.(ed25519.PublicKey); err == nil && ok {
			return pub, nil
		}
		return nil, fmt.Errorf("%s: not an Ed25519 public key", what)
	}
	b, err := manifest.DecodeBytes(strings.TrimSpace(string(text)))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s: want 32 bytes in base64 or hex, a .pub file or an invite", what)
	}
	return ed25519.PublicKey(b), nil
}

// readBlob reads a signed blob (raw or base64) or an invite from path
// ("-": stdin). For an invite it also returns the invite's network key.
func readBlob(e *env, path string) ([]byte, ed25519.PublicKey, error) {
	var r io.Reader
	if path == "-" {
		r = e.stdin
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		r = f
	}
	text, err := io.ReadAll(io.LimitReader(r, manifest.MaxInviteSize+1))
	if err != nil {
		return nil, nil, err
	}
	if bytes.Contains(text, []byte("-----BEGIN SAMIZDAT INVITE-----")) {
		inv, err := manifest.ParseInvite(text)
		if err != nil {
			return nil, nil, err
		}
		return inv.Manifest, inv.NetworkKey, nil
	}
	blob, err := channel.Import(text)
	if err != nil {
		return nil, nil, err
	}
	return blob, nil, nil
}

// parseTime reads "now", RFC 3339, or a unix time in seconds.
func parseTime(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "" || s == "now":
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("time %q: want now, RFC 3339 or unix seconds", s)
}

// parseTTL reads a Go duration, or a number of days ("30d").
func parseTTL(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("ttl %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("ttl %q: want a duration such as 720h or 30d", s)
	}
	return d, nil
}

// manifestSource is the JSON an operator edits.
type manifestSource struct {
	Network   string          `json:"network"`
	Serial    uint64          `json:"serial,omitempty"`
	Issued    string          `json:"issued,omitempty"`
	Expires   string          `json:"expires,omitempty"`
	TTL       string          `json:"ttl,omitempty"`
	Cohorts   uint32          `json:"cohorts,omitempty"`
	TrustRoot string          `json:"trust_root,omitempty"`
	Revoked   []string        `json:"revoked,omitempty"`
	Relays    []relaySource   `json:"relays"`
	Channels  []channelSource `json:"channels,omitempty"`
}

type relaySource struct {
	ID        string           `json:"id"`
	NoiseKey  string           `json:"noise_key"`
	Endpoints []endpointSource `json:"endpoints"`
}

type endpointSource struct {
	Transport string `json:"transport"`
	Address   string `json:"address"`
	SNI       string `json:"sni,omitempty"`
	Host      string `json:"host,omitempty"`
	Path      string `json:"path,omitempty"`
	Secret    string `json:"secret,omitempty"`
	TLSPin    string `json:"tls_pin,omitempty"`
	Cohort    uint32 `json:"cohort,omitempty"`
}

type channelSource struct {
	Kind    string `json:"kind"`
	URL     string `json:"url,omitempty"`
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
	SNI     string `json:"sni,omitempty"`
	Host    string `json:"host,omitempty"`
	Path    string `json:"path,omitempty"`
	TLSPin  string `json:"tls_pin,omitempty"`
}

// stripComments removes # and // comments that start outside JSON strings.
func stripComments(src []byte) []byte {
	var out []byte
	inString, escaped := false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '#' || c == '/' && i+1 < len(src) && src[i+1] == '/' {
			for i < len(src) && src[i] != '\n' {
				i++
			}
			if i < len(src) {
				out = append(out, '\n')
			}
			continue
		}
		if c == '"' {
			inString = true
		}
		out = append(out, c)
	}
	return out
}

// optBytes decodes an optional hex or base64 field.
func optBytes(field, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := manifest.DecodeBytes(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", field, err)
	}
	return b, nil
}

// build turns the source into a manifest (unsigned; Sign checks the rest).
func (src *manifestSource) build(now time.Time) (*manifest.Manifest, error) {
	m := &manifest.Manifest{Network: src.Network, Serial: src.Serial, Cohorts: src.Cohorts}
	var err error
	if m.Issued, err = parseTime(src.Issued, now); err != nil {
		return nil, fmt.Errorf("issued: %v", err)
	}
	switch {
	case src.Expires != "" && src.TTL != "":
		return nil, errors.New("give expires or ttl, not both")
	case src.Expires != "":
		if m.Expires, err = parseTime(src.Expires, now); err != nil {
			return nil, fmt.Errorf("expires: %v", err)
		}
	default:
		ttl := 30 * 24 * time.Hour
		if src.TTL != "" {
			if ttl, err = parseTTL(src.TTL); err != nil {
				return nil, err
			}
		}
		m.Expires = m.Issued.Add(ttl)
	}
	if m.TrustRoot, err = optBytes("trust_root", src.TrustRoot); err != nil {
		return nil, err
	}
	for i, r := range src.Revoked {
		k, err := optBytes(fmt.Sprintf("revoked %d", i), r)
		if err != nil {
			return nil, err
		}
		m.Revoked = append(m.Revoked, ed25519.PublicKey(k))
	}
	for _, rs := range src.Relays {
		r := manifest.Relay{ID: rs.ID}
		nk, err := optBytes("relay "+rs.ID+": noise_key", rs.NoiseKey)
		if err != nil {
			return nil, err
		}
		if len(nk) != 32 {
			return nil, fmt.Errorf("relay %s: noise_key must be 32 bytes in hex or base64", rs.ID)
		}
		copy(r.NoiseKey[:], nk)
		for i, es := range rs.Endpoints {
			ep := manifest.Endpoint{Transport: es.Transport, Address: es.Address, SNI: es.SNI, Host: es.Host, Path: es.Path, Cohort: es.Cohort}
			field := fmt.Sprintf("relay %s: endpoint %d: ", rs.ID, i)
			if ep.Secret, err = optBytes(field+"secret", es.Secret); err != nil {
				return nil, err
			}
			if ep.TLSPin, err = optBytes(field+"tls_pin", es.TLSPin); err != nil {
				return nil, err
			}
			r.Endpoints = append(r.Endpoints, ep)
		}
		m.Relays = append(m.Relays, r)
	}
	for i, cs := range src.Channels {
		c := manifest.Channel{Kind: cs.Kind, URL: cs.URL, Name: cs.Name, Address: cs.Address, SNI: cs.SNI, Host: cs.Host, Path: cs.Path}
		if c.TLSPin, err = optBytes(fmt.Sprintf("channel %d: tls_pin", i), cs.TLSPin); err != nil {
			return nil, err
		}
		m.Channels = append(m.Channels, c)
	}
	return m, nil
}

func runManifestSign(_ context.Context, e *env, args []string) error {
	fs := newFlags("manifest sign", "--key KEYFILE --in SOURCE.json --out BLOB", manifestAbout)
	keyPath := fs.String("key", "", "the network's private key file (from keygen), or with --delegation the node's")
	delegationPath := fs.String("delegation", "", "sign with the node key --key under this certificate (from delegate)")
	revoke := fs.repeated("revoke", "a node's public `KEY` that clients are to refuse from now on (repeatable; network key only)")
	in := fs.String("in", "", "the manifest source (JSON)")
	out := fs.String("out", "", "where to write the signed blob")
	previous := fs.String("previous", "", "the previous signed blob or invite: the serial must exceed its")
	serialFlag := fs.Uint64("serial", 0, "the serial (overrides the source's)")
	inviteOut := fs.String("invite-out", "", "also write an invite file with the network key and the new manifest")
	nowFlag := fs.String("now", "now", "the signing time (RFC 3339), for issued \"now\"")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *keyPath == "" || *in == "" || *out == "" {
		return fs.usagef("sign needs --key, --in and --out")
	}
	now, err := parseTime(*nowFlag, time.Now())
	if err != nil {
		return fs.usagef("--now: %v", err)
	}
	priv, err := readPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	pub := priv.Public().(ed25519.PublicKey) // the network key
	var cert []byte
	if *delegationPath != "" {
		var d *manifest.Delegation
		if cert, d, err = manifest.ReadDelegation(*delegationPath); err != nil {
			return err
		}
		pub = d.NetworkKey
	}
	text, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var src manifestSource
	dec := json.NewDecoder(bytes.NewReader(stripComments(text)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&src); err != nil {
		return fmt.Errorf("%s: %v", *in, err)
	}
	m, err := src.build(now)
	if err != nil {
		return fmt.Errorf("%s: %v", *in, err)
	}
	if *serialFlag != 0 {
		m.Serial = *serialFlag
	}
	for _, r := range *revoke {
		k, err := parseKeyArg("--revoke", r)
		if err != nil {
			return fs.usagef("%v", err)
		}
		m.Revoked = append(m.Revoked, k)
	}
	if *previous != "" {
		pblob, _, err := readBlob(e, *previous)
		if err != nil {
			return fmt.Errorf("--previous: %w", err)
		}
		prev, err := manifest.Open(pblob, pub)
		if err != nil {
			return fmt.Errorf("--previous is not signed by this key: %w", err)
		}
		if prev.Network != m.Network {
			return fmt.Errorf("--previous is for the network %q, the source for %q", prev.Network, m.Network)
		}
		if m.Serial == 0 {
			m.Serial = prev.Serial + 1
		}
		if m.Serial <= prev.Serial {
			return fmt.Errorf("%w: serial %d is not newer than %d (--previous); clients would refuse it", manifest.ErrRollback, m.Serial, prev.Serial)
		}
	}
	if m.Serial == 0 {
		return fs.usagef("no serial: give one in the source, with --serial, or --previous to count on from")
	}
	if err := m.CheckTime(now); errors.Is(err, manifest.ErrSerialAhead) {
		return fmt.Errorf("%w; clients would refuse it", err)
	}
	var blob []byte
	if cert != nil {
		blob, err = manifest.SignDelegated(m, priv, cert)
	} else {
		blob, err = manifest.Sign(m, priv)
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, blob, 0o644); err != nil {
		return err
	}
	if *inviteOut != "" {
		if err := manifest.WriteInvite(*inviteOut, manifest.Invite{NetworkKey: pub, Manifest: blob}); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "signed %s serial %d, expires %s: %d bytes to %s\n", m.Network, m.Serial, m.Expires.UTC().Format(time.RFC3339), len(blob), *out)
	return nil
}

func runManifestShow(_ context.Context, e *env, args []string) error {
	fs := newFlags("manifest show", "BLOB|INVITE", "Print a signed manifest or an invite (\"-\" reads standard input), secrets masked.")
	keyFlag := fs.String("network-key", "", "check the signature under this key")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.usagef("show takes one BLOB or INVITE")
	}
	blob, invKey, err := readBlob(e, pos[0])
	if err != nil {
		return err
	}
	key := invKey
	if *keyFlag != "" {
		if key, err = parsePublicKey(*keyFlag); err != nil {
			return err
		}
	}
	var m *manifest.Manifest
	var sigNote string
	if key != nil {
		var d *manifest.Delegation
		if m, d, err = manifest.OpenChain(blob, key); err != nil {
			return err
		}
		sigNote = "good, network key " + base64.StdEncoding.EncodeToString(key)
		if invKey != nil && *keyFlag == "" {
			sigNote += " (named by the invite itself)"
		}
		if d != nil {
			sigNote += fmt.Sprintf("\n            by node key %s, delegated %s to %s", manifest.KeyID(d.NodeKey),
				d.NotBefore.UTC().Format(time.RFC3339), d.NotAfter.UTC().Format(time.RFC3339))
		}
	} else {
		if m, err = manifest.ParseUnverified(blob); err != nil {
			return err
		}
		sigNote = "NOT CHECKED (give --network-key)"
	}
	printManifest(e.stdout, m, sigNote, time.Now())
	return nil
}

// printManifest writes m for humans; secrets show only as their length.
func printManifest(w io.Writer, m *manifest.Manifest, sigNote string, now time.Time) {
	fmt.Fprintf(w, "network     %s\n", m.Network)
	fmt.Fprintf(w, "serial      %d\n", m.Serial)
	fmt.Fprintf(w, "signature   %s\n", sigNote)
	fmt.Fprintf(w, "issued      %s\n", m.Issued.UTC().Format(time.RFC3339))
	state := "valid for " + m.Expires.Sub(now).Round(time.Minute).String()
	if !now.Before(m.Expires) {
		state = "EXPIRED " + now.Sub(m.Expires).Round(time.Minute).String() + " ago"
	}
	fmt.Fprintf(w, "expires     %s (%s)\n", m.Expires.UTC().Format(time.RFC3339), state)
	if m.Cohorts > 0 {
		fmt.Fprintf(w, "cohorts     %d\n", m.Cohorts)
	}
	if len(m.TrustRoot) > 0 {
		fmt.Fprintf(w, "trust root  %x\n", m.TrustRoot)
	}
	for _, k := range m.Revoked {
		fmt.Fprintf(w, "revokes     node key %s\n", manifest.KeyID(k))
	}
	fmt.Fprintf(w, "relays      %d\n", len(m.Relays))
	for _, r := range m.Relays {
		fmt.Fprintf(w, "  %s  noise key %x\n", r.ID, r.NoiseKey)
		for _, ep := range r.Endpoints {
			fmt.Fprintf(w, "    %-6s %s", ep.Transport, ep.Address)
			field(w, "sni", ep.SNI)
			field(w, "host", ep.Host)
			field(w, "path", ep.Path)
			if len(ep.Secret) > 0 {
				fmt.Fprintf(w, " secret=(%d bytes, hidden)", len(ep.Secret))
			}
			if len(ep.TLSPin) > 0 {
				fmt.Fprintf(w, " tls_pin=%x", ep.TLSPin)
			}
			if ep.Cohort != 0 {
				fmt.Fprintf(w, " cohort=%d", ep.Cohort)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "channels    %d\n", len(m.Channels))
	for _, c := range m.Channels {
		fmt.Fprintf(w, "  %-6s", c.Kind)
		field(w, "url", c.URL)
		field(w, "name", c.Name)
		field(w, "address", c.Address)
		field(w, "sni", c.SNI)
		field(w, "host", c.Host)
		field(w, "path", c.Path)
		if len(c.TLSPin) > 0 {
			fmt.Fprintf(w, " tls_pin=%x", c.TLSPin)
		}
		fmt.Fprintln(w)
	}
}

func field(w io.Writer, k, v string) {
	if v != "" {
		fmt.Fprintf(w, " %s=%s", k, v)
	}
}

func runManifestVerify(_ context.Context, e *env, args []string) error {
	fs := newFlags("manifest verify", "--network-key PUB BLOB|INVITE", "Check a signed manifest or invite: the signature under the network key, the network name,\nand that it is valid now (or at --now). Exits 1 with the reason when it is not.")
	keyFlag := fs.String("network-key", "", "the network's public key (required)")
	network := fs.String("network", "", "also require this network name")
	nowFlag := fs.String("now", "now", "check validity at this time (RFC 3339)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if *keyFlag == "" || len(pos) != 1 {
		return fs.usagef("verify needs --network-key and one BLOB or INVITE")
	}
	now, err := parseTime(*nowFlag, time.Now())
	if err != nil {
		return fs.usagef("--now: %v", err)
	}
	key, err := parsePublicKey(*keyFlag)
	if err != nil {
		return err
	}
	blob, _, err := readBlob(e, pos[0])
	if err != nil {
		return err
	}
	var m *manifest.Manifest
	if *network != "" {
		m, err = manifest.VerifyNetwork(blob, key, *network, now)
	} else {
		m, err = manifest.Verify(blob, key, now)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ok: %s serial %d, expires %s, %d relays, %d channels\n", m.Network, m.Serial, m.Expires.UTC().Format(time.RFC3339), len(m.Relays), len(m.Channels))
	if _, d, err := manifest.OpenChain(blob, key); err == nil && d != nil {
		fmt.Fprintf(e.stdout, "signed by node key %s, delegated until %s\n", manifest.KeyID(d.NodeKey), d.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func runManifestDelegate(_ context.Context, e *env, args []string) error {
	fs := newFlags("manifest delegate", "--network-key KEYFILE --node-key PUB --for 30d [--out FILE]", `Certify a node's key to sign the network's manifests for a limited time, with the network key
(kept offline). Clients accept a node's manifest only while its certificate is valid at their
clock, so renew it before it lapses (a relay takes a renewed certificate from its file within
the hour) and revoke a lost node's key with "manifest sign --revoke". Writes the certificate as
text to --out (or standard output); copy it to the node (relay --delegation FILE).`)
	keyPath := fs.String("network-key", "", "the network's private key `FILE` (from keygen, or a relay's keys.json)")
	nodeFlag := fs.String("node-key", "", "the node's public `KEY`: base64 or hex, or its .pub file")
	network := fs.String("network", "samizdat", "the network `NAME`")
	forFlag := fs.String("for", "30d", "how long the certificate is valid, such as 30d or 720h (at most 366d)")
	out := fs.String("out", "", "where to write the certificate (default: standard output)")
	nowFlag := fs.String("now", "now", "when the certificate starts (RFC 3339)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *keyPath == "" || *nodeFlag == "" {
		return fs.usagef("delegate needs --network-key and --node-key")
	}
	now, err := parseTime(*nowFlag, time.Now())
	if err != nil {
		return fs.usagef("--now: %v", err)
	}
	ttl, err := parseTTL(*forFlag)
	if err != nil {
		return fs.usagef("--for: %v", err)
	}
	if ttl > manifest.MaxDelegationLifetime {
		return fs.usagef("--for: %v is longer than a certificate may last (%v)", ttl, manifest.MaxDelegationLifetime)
	}
	node, err := parseKeyArg("node key", *nodeFlag)
	if err != nil {
		return err
	}
	priv, err := readPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	cert, err := manifest.Delegate(manifest.Delegation{Network: *network, NodeKey: node, NotBefore: now, NotAfter: now.Add(ttl)}, priv)
	if err != nil {
		return err
	}
	text, err := manifest.MarshalDelegationText(cert)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err := e.stdout.Write(text)
		return err
	}
	if err := os.WriteFile(*out, text, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "delegated node key %s to sign for %s until %s: wrote %s\n", manifest.KeyID(node), *network, now.Add(ttl).UTC().Format(time.RFC3339), *out)
	return nil
}
