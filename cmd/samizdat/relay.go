package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"samizdat/bus/natsbus"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/relay/datadir"
	"samizdat/relay/endpoints"
	"samizdat/store/postgres"
	"samizdat/store/s3blob"
	"samizdat/store/sqlite"
)

const (
	defaultRelayListen = "tcp://127.0.0.1:7443"
	relayInviteTTL     = 365 * 24 * time.Hour
)

// defaultRelayDir is where a relay keeps its keys and database unless told
// otherwise: $XDG_DATA_HOME/samizdat/relay, ~/.local/share/samizdat/relay,
// or ./samizdat-relay on a machine without a home directory.
func defaultRelayDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "samizdat", "relay")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "share", "samizdat", "relay")
	}
	return "samizdat-relay"
}

// relayAbout is the relay command's help.
const relayAbout = `Run a relay: it creates its keys and database in --data on first start, listens on every
--listen endpoint, writes the signed invite that clients join with, and serves until
interrupted. "samizdat relay endpoints ..." changes the endpoints of a running relay.

--listen is repeatable: tcp://127.0.0.1:7001, wss://127.0.0.1:7443/path?sni=example.org,
front://127.0.0.1:7080?address=CDN:443&sni=FRONT&host=HIDDEN (a bare host:port is tcp).
Query parameters: name, address, sni, host, secret, tls_pin, cohort.
--config names a JSON file {"network", "manifest_ttl", "endpoints": [{"name", "transport",
"listen", "address", "sni", "host", "path", "secret", "tls_pin", "cohort"}]}; SIGHUP re-reads it.
Every change of endpoints re-signs the manifest, rewrites the invite and pushes it to clients.

Manifests are signed by this node's key (DIR/node-key.pem, made on first start) under a
certificate by the network key (DIR/delegation.txt). By default the network key is in the keys
file and the relay certifies its own node key for 30 days, renewing it when 10 days are left.
To keep the network key offline, give --network-key PUB: the relay then needs a certificate made
where the network key is ("samizdat manifest delegate"), says how to make one when it has
none, and takes a renewed one from --delegation FILE within the hour (or at SIGHUP).

Whoever reaches a wss or front endpoint without its secret (a censor's prober) sees a web
site: --decoy DIR serves the operator's own static site, --decoy-proxy URL forwards to a
real one. Either is stronger than the default: a small site generated at first start into
decoy-site/ in the data directory (edit it if you like). The server's headers, error pages
and certificate fields are drawn per relay at first start and kept in disguise.json there.

Several nodes of one relay (docs/scale-out.md): each has its own --data directory and
listeners, all share one database (--store postgres://...), one NATS server for wake-ups
(--nats), one keys file (--keys FILE, created by whichever node starts first) and list the
others' endpoints with --peer URL (same syntax as --listen; every node may get the same list),
so that every node's manifest lists every node. --delivery-poll bounds how long a lost wake-up
delays delivery (default 30s).

A way back for clients that were offline while endpoints moved: every wss endpoint also
serves the signed manifest over plain HTTPS at a path only holders of its secret know
(anyone else gets the decoy site), and --mirror DIR gets the public manifest (manifest.bin)
on every change, for a web server to publish; --mirror-url names where it is published,
and goes into every manifest as a channel. Cohorts' manifests never go to the mirror.

--admin serves Prometheus metrics (/metrics) and a health check (/healthz) over HTTP; off by
default, and only on loopback unless --admin-any-address. No metric carries a key, a message
or a username.`

// relayFlags are the relay command's flags, bound to a flag set by
// relayFlagSet. The config file's "relay" section sets those the command
// line leaves out (applyRelayConfig).
type relayFlags struct {
	dir        *string
	listenFlag *[]string
	configFile *string
	inviteOut  *string
	network    *string
	endpoint   *string
	ttl        *time.Duration
	storeURL   *string
	blobsURL   *string
	natsURL    *string
	keysFile   *string
	networkKey *string
	nodeKey    *string
	delegation *string
	peerFlag   *[]string
	mirrorDir  *string
	mirrorURL  *string
	poll       *time.Duration
	noLimits   *bool
	verbose    *bool
	decoyDir   *string
	decoyProxy *string
	admin      *string
	adminAny   *bool
	acme       acmeFlags
}

// relayRepeated names the relay's flags that may be given many times: in
// the config file, a list.
var relayRepeated = map[string]bool{"listen": true, "peer": true}

// relayFlagSet returns the relay command's flag set (name, about) with
// every relay flag.
func relayFlagSet(name, about string) (*cmdFlags, *relayFlags) {
	fs := newFlags(name, "", about)
	f := &relayFlags{}
	f.dir = fs.String("data", defaultRelayDir(), "data `DIR`: keys and database")
	f.listenFlag = fs.repeated("listen", "endpoint `URL` to listen on (repeatable; default tcp://127.0.0.1:7443)")
	f.configFile = fs.String("config", "", "JSON endpoint config `FILE`, re-read on SIGHUP")
	f.inviteOut = fs.String("invite-out", "", "`FILE` to write the invite to (default DIR/invite.txt)")
	f.network = fs.String("network", "", "network `NAME` in the manifest (default: the config file's, else samizdat)")
	f.endpoint = fs.String("endpoint", "", "the address `ADDR` that clients dial, for a single --listen endpoint (default: the listening address)")
	f.ttl = fs.Duration("manifest-ttl", 0, "lifetime of each signed manifest (default: the config file's, else 1 year)")
	f.storeURL = fs.String("store", "", "database `URL`: postgres://... (default: SQLite in the data directory)")
	f.blobsURL = fs.String("blobs", "", "attachment store `URL`: s3://KEY:SECRET@HOST/BUCKET[/PREFIX] (s3+http:// without TLS) (default: the --store database, else DIR/blobs)")
	f.natsURL = fs.String("nats", "", "NATS server `URL`(s) for wake-ups between relay nodes: nats://host:4222")
	f.keysFile = fs.String("keys", "", "the relay's keys `FILE`, shared by its nodes (default DIR/keys.json)")
	f.networkKey = fs.String("network-key", "", "the network's public `KEY` (base64, a .pub file or an invite): the network key is kept offline")
	f.nodeKey = fs.String("node-key", "", "this node's signing key `FILE` (default DIR/node-key.pem, made on first start)")
	f.delegation = fs.String("delegation", "", "the node key's certificate `FILE` from 'samizdat manifest delegate' (default DIR/delegation.txt)")
	f.peerFlag = fs.repeated("peer", "another node's endpoint `URL`, announced in the manifest (repeatable)")
	f.mirrorDir = fs.String("mirror", "", "`DIR` a web server publishes: the public manifest is written there on every change")
	f.mirrorURL = fs.String("mirror-url", "", "the https `URL` where --mirror's manifest.bin is published, put into every manifest as a channel")
	f.poll = fs.Duration("delivery-poll", 0, "how often a delivering connection re-reads its mailbox without wake-ups (default 30s)")
	f.noLimits = fs.Bool("no-rate-limits", false, "turn off rate limits and per-address connection caps (benchmarks on loopback only)")
	f.verbose = fs.Bool("verbose", false, "log connection events")
	f.decoyDir = fs.String("decoy", "", "show probes of wss and front endpoints the web site in `DIR` (default: a site generated per relay)")
	f.decoyProxy = fs.String("decoy-proxy", "", "show probes of wss and front endpoints the web site at `URL`, by proxying to it")
	f.admin = fs.String("admin", "", "serve /metrics and /healthz on this loopback address `ADDR`, e.g. 127.0.0.1:9464 (default: off)")
	f.adminAny = fs.Bool("admin-any-address", false, "allow --admin on an address other than loopback")
	f.acme.bind(fs)
	return fs, f
}

// prepare checks the flags, after the config file's settings were applied,
// and returns the endpoint manager's options, without starting anything.
func (f *relayFlags) prepare(fs *cmdFlags) (endpoints.Options, error) {
	listen, peers := *f.listenFlag, *f.peerFlag
	if len(listen) == 0 && *f.configFile == "" {
		listen = []string{defaultRelayListen}
	}
	var specs []endpoints.Spec
	for _, l := range listen {
		s, err := endpoints.ParseURL(l)
		if err != nil {
			return endpoints.Options{}, fs.usagef("--listen %s: %s", l, strings.TrimPrefix(err.Error(), "endpoints: "))
		}
		specs = append(specs, s)
	}
	if *f.endpoint != "" {
		if len(specs) != 1 {
			return endpoints.Options{}, fs.usagef("--endpoint needs exactly one --listen (use ?address= in each URL)")
		}
		specs[0].Address = *f.endpoint
		if err := specs[0].Normalize(); err != nil {
			return endpoints.Options{}, fs.usagef("--endpoint: %v", err)
		}
	}
	var peerSpecs []endpoints.Spec
	for _, p := range peers {
		s, err := endpoints.ParseURL(p)
		if err != nil {
			return endpoints.Options{}, fs.usagef("--peer %s: %s", p, strings.TrimPrefix(err.Error(), "endpoints: "))
		}
		peerSpecs = append(peerSpecs, s)
	}
	if *f.poll < 0 {
		return endpoints.Options{}, fs.usagef("--delivery-poll must be positive")
	}
	if *f.blobsURL != "" {
		if _, err := s3blob.Where(*f.blobsURL); err != nil {
			return endpoints.Options{}, fs.usagef("--blobs: %s", strings.TrimPrefix(err.Error(), "s3blob: "))
		}
	}
	if *f.natsURL != "" && *f.storeURL == "" {
		return endpoints.Options{}, fs.usagef("--nats needs a database the nodes share (--store postgres://...)")
	}
	if err := checkAdminAddress(*f.admin, *f.adminAny); err != nil {
		return endpoints.Options{}, err
	}
	if *f.decoyDir != "" && *f.decoyProxy != "" {
		return endpoints.Options{}, fs.usagef("give --decoy or --decoy-proxy, not both")
	}
	opts := endpoints.Options{Dir: *f.dir, Listen: specs, Peers: peerSpecs, ConfigFile: *f.configFile, InvitePath: *f.inviteOut, ManifestTTL: *f.ttl, Network: *f.network, DelegationFile: *f.delegation,
		DecoyDir: *f.decoyDir, DecoyProxy: *f.decoyProxy, MirrorDir: *f.mirrorDir}
	if *f.networkKey != "" {
		k, err := parsePublicKey(*f.networkKey)
		if err != nil {
			return endpoints.Options{}, fs.usagef("--network-key: %v", err)
		}
		opts.NetworkKey = k
	}
	if *f.nodeKey != "" {
		k, err := readPrivateKey(*f.nodeKey)
		if err != nil {
			return endpoints.Options{}, err
		}
		opts.NodeKey = k
	}
	if *f.mirrorURL != "" {
		u, err := url.Parse(*f.mirrorURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return endpoints.Options{}, fs.usagef("--mirror-url %s: want an https:// URL", *f.mirrorURL)
		}
		opts.Channels = []manifest.Channel{{Kind: "https", URL: *f.mirrorURL}}
	}
	if *f.configFile != "" {
		cf, err := endpoints.ReadFile(*f.configFile)
		if err != nil {
			return endpoints.Options{}, err
		}
		if opts.Network == "" {
			opts.Network = cf.Network
		}
		if opts.ManifestTTL == 0 {
			opts.ManifestTTL, _ = cf.TTL()
		}
	}
	if opts.Network == "" {
		opts.Network = "samizdat"
	}
	if opts.ManifestTTL == 0 {
		opts.ManifestTTL = relayInviteTTL
	}
	if opts.InvitePath == "" {
		opts.InvitePath = filepath.Join(*f.dir, "invite.txt")
	}
	return opts, nil
}

// runRelay runs a relay until ctx is done (SIGINT or SIGTERM), or an
// admin command against a running relay ("relay endpoints ...").
func runRelay(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "endpoints":
			return runRelayEndpoints(ctx, e, args[1:])
		case "backup":
			return runRelayBackup(ctx, e, args[1:])
		case "restore":
			return runRelayRestore(ctx, e, args[1:])
		case "check":
			return runRelayCheck(ctx, e, args[1:])
		}
	}
	fs, f := relayFlagSet("relay", relayAbout+"\n\nor: samizdat relay endpoints list|add URL|retire NAME|restore NAME|reload|republish [--data DIR] [--json]\n"+
		"or: samizdat relay backup [--data DIR] OUT\nor: samizdat relay restore BACKUP [--data DIR] [--force]\nor: samizdat relay check [--config FILE] [flags]\n\n"+relayConfigAbout+"\n\n"+relayACMEAbout)
	if err := fs.noArgs(args); err != nil {
		return err
	}
	fileSettings, err := applyRelayConfig(fs, f)
	if err != nil {
		return err
	}
	opts, err := f.prepare(fs)
	if err != nil {
		return err
	}
	adminL, err := listenAdmin(*f.admin, *f.adminAny)
	if err != nil {
		return err
	}
	if adminL != nil {
		defer adminL.Close() // also if the relay fails to start
	}
	dir, keysFile, storeURL, natsURL, noLimits, verbose, poll, mirrorDir, configFile := f.dir, f.keysFile, f.storeURL, f.natsURL, f.noLimits, f.verbose, f.poll, f.mirrorDir, f.configFile
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	// Held until the relay exits (the kernel drops it if the process dies):
	// "relay restore" will not replace a store in use.
	lock, err := datadir.Acquire(*dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	keys, created, err := loadRelayKeys(*dir, *keysFile, opts.NetworkKey != nil)
	if err != nil {
		return err
	}
	if opts.NetworkKey != nil && keys.Network != nil {
		if !opts.NetworkKey.Equal(keys.Network.Public()) {
			return fmt.Errorf("the keys file holds another network key than --network-key")
		}
		log.Warn("the keys file still holds the network's private key; with --network-key it is not used: delete network_ed25519_seed from it to keep the key offline")
		keys.Network = nil
	}
	if created {
		where := *dir
		if *keysFile != "" {
			where = *keysFile
		}
		fmt.Fprintf(e.stdout, "created relay keys in %s\n", where)
	}
	st, err := openRelayStore(ctx, *storeURL, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	obs, stopAdmin := serveAdmin(adminL, st, e.stdout, log)
	defer stopAdmin()

	cfg := relay.Config{
		Store:                st,
		NoiseKey:             keys.Noise,
		ServerCertificate:    keys.ServerCertificate,
		ServerCertificateKey: keys.ServerCertificateKey,
		// Nodes sharing a store must name rate-limit buckets alike, and
		// place accounts in cohorts and open inviter tokens alike.
		RateLimitSalt: relaySecret(keys, "rate-limit salt"),
		CohortKey:     relaySecret(keys, "cohort key"),
		Logger:        log,
		Observer:      obs,
	}
	switch {
	case *f.blobsURL != "":
		if cfg.Blobs, err = openBlobURL(ctx, *f.blobsURL); err != nil {
			return err
		}
	case *storeURL == "":
		// Attachments on disk next to the SQLite database.
		if cfg.Blobs, err = openBlobDir(*dir); err != nil {
			return err
		}
	}
	if *natsURL != "" {
		hub, err := natsbus.New(natsbus.Config{URL: *natsURL, Key: relaySecret(keys, "natsbus subject key"), Logger: log})
		if err != nil {
			return err
		}
		defer hub.Close()
		cfg.Hub = hub
	}
	if *noLimits {
		u := relay.Unlimited
		cfg.Limits = relay.Limits{ConnFrames: u, Messages: u, SealedMessages: u, RecipientBytes: u,
			Registrations: u, PreKeyUploads: u, PreKeyFetches: u, Lookups: u,
			HandshakesPerSource: -1, AnonymousPerSource: -1}
	}
	cfg.Limits.DeliveryPoll = *poll
	srv, err := relay.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	// SIGHUP re-reads the config file; listen before anything can send it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	opts.Server, opts.Keys, opts.Logger = srv, keys, log
	certs, err := f.acme.manager(opts, *dir, log)
	if err != nil {
		return err
	}
	if certs != nil {
		defer certs.Close()
		opts.Certificates = certs
	}
	m, err := endpoints.Start(opts)
	if err != nil {
		return err
	}
	defer m.Close()
	if certs != nil {
		// The endpoints answer TLS-ALPN-01 challenges from now on.
		if err := certs.Start(ctx); err != nil {
			return err
		}
	}
	if err := m.ServeAdmin(filepath.Join(*dir, endpoints.SocketFile)); err != nil {
		if errors.Is(err, endpoints.ErrSocketInUse) {
			return err
		}
		// A data directory whose path is too long for a unix socket, say:
		// the relay still runs, reloadable by SIGHUP.
		log.Warn("no admin socket; 'relay endpoints' will not reach this relay", "err", err)
	}
	for _, i := range m.List() {
		fmt.Fprintf(e.stdout, "relay %s listening on %s\n", keys.RelayID, listenName(i))
	}
	if d := m.Delegation(); d != nil {
		fmt.Fprintf(e.stdout, "signing with node key %s, delegated until %s\n", manifest.KeyID(d.NodeKey), d.NotAfter.UTC().Format(time.RFC3339))
	}
	invPath, err := filepath.Abs(opts.InvitePath)
	if err != nil {
		invPath = opts.InvitePath
	}
	fmt.Fprintf(e.stdout, "invite written to %s\n", invPath)
	if *mirrorDir != "" {
		fmt.Fprintf(e.stdout, "mirror written to %s\n", filepath.Join(*mirrorDir, endpoints.ManifestFile))
	}

	for {
		select {
		case <-ctx.Done():
			fmt.Fprintf(e.stdout, "shutting down\n")
			m.Close()
			srv.Close()
			return nil
		case <-hup:
			before := m.Serial()
			if err := m.Reload(); err != nil {
				log.Error("reloading the config", "err", err)
				fmt.Fprintf(e.stdout, "reload failed: %v\n", err)
				continue
			}
			if s := m.Serial(); s != before {
				fmt.Fprintf(e.stdout, "reloaded: %d endpoints, manifest serial %d\n", len(m.List()), s)
			} else {
				fmt.Fprintf(e.stdout, "reloaded: no change\n")
			}
			if changed := fileSettings.changed(*configFile); len(changed) > 0 {
				log.Warn("config settings changed that only a restart applies; SIGHUP reloads endpoints and channels", "settings", strings.Join(changed, ","))
				fmt.Fprintf(e.stdout, "not reloaded (restart the relay to apply): %s\n", strings.Join(changed, ", "))
			}
		}
	}
}

// loadRelayKeys loads or creates the relay's keys: in dir, or in
// keysFile (shared by the nodes). With offline, keys it creates hold no
// network key.
func loadRelayKeys(dir, keysFile string, offline bool) (relay.Keys, bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return relay.Keys{}, false, fmt.Errorf("creating the data directory: %w", err)
	}
	if keysFile == "" {
		keysFile = filepath.Join(dir, relay.KeysFile)
	}
	if offline {
		return relay.LoadOrCreateNodeKeysFile(keysFile, rand.Reader)
	}
	return relay.LoadOrCreateKeysFile(keysFile, rand.Reader)
}

// openRelayStore opens the relay's database: SQLite in dir unless url
// names a PostgreSQL database.
func openRelayStore(ctx context.Context, url, dir string) (relay.Store, error) {
	switch {
	case url == "":
		st, err := sqlite.Open(ctx, filepath.Join(dir, "relay.db"), sqlite.Options{})
		if err != nil {
			return nil, fmt.Errorf("opening the database: %w", err)
		}
		return st, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		st, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			// pgx's errors name the host and user, never the password.
			return nil, fmt.Errorf("opening the postgres database: %w", err)
		}
		return st, nil
	default:
		// The URL may hold a password: do not echo it.
		return nil, fmt.Errorf("--store: want a postgres:// or postgresql:// url: %w", errUsage)
	}
}

// relaySecret derives a secret for purpose from the relay's keys, so that
// every node holding the keys file derives the same one and nothing else
// can.
func relaySecret(k relay.Keys, purpose string) []byte {
	m := hmac.New(sha256.New, k.Noise.Private[:])
	m.Write([]byte("samizdat relay secret: " + purpose))
	return m.Sum(nil)
}

// listenName is how the relay prints an endpoint's listening address: bare
// for tcp, with the transport as scheme otherwise.
func listenName(i endpoints.Info) string {
	if i.Transport == endpoints.TCP {
		return i.Listen
	}
	return i.Transport + "://" + i.Listen
}

// runRelayEndpoints is "samizdat relay endpoints ...": it asks the running
// relay, over the admin socket in its data directory, to list, add, retire
// or restore endpoints, reload its config or re-sign its manifest.
func runRelayEndpoints(ctx context.Context, e *env, args []string) error {
	fs := newFlags("relay endpoints", "list|add URL|retire NAME|restore NAME|reload|republish", `Change the endpoints of the relay running on --data, over its admin socket: list them,
add one (URL as for relay --listen), retire or restore one by name or address, re-read
its --config file, or re-sign the manifest. Every change re-signs the manifest, rewrites
the invite and pushes the new manifest to every connected client.`)
	dir := fs.String("data", defaultRelayDir(), "the running relay's data `DIR`")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fs.usagef("endpoints needs an operation (list, add, retire, restore, reload, republish)")
	}
	op := pos[0]
	pos = pos[1:]
	req := endpoints.Request{Op: op}
	switch op {
	case endpoints.OpList, endpoints.OpReload, endpoints.OpRepublish:
		if len(pos) != 0 {
			return fs.usagef("%s takes no argument", op)
		}
	case endpoints.OpAdd:
		if len(pos) != 1 {
			return fs.usagef("add takes one endpoint URL")
		}
		s, err := endpoints.ParseURL(pos[0])
		if err != nil {
			return fs.usagef("%s", strings.TrimPrefix(err.Error(), "endpoints: "))
		}
		req.Spec = &s
	case endpoints.OpRetire, endpoints.OpRestore:
		if len(pos) != 1 {
			return fs.usagef("%s takes one endpoint name or address", op)
		}
		req.Name = pos[0]
	default:
		return fs.usagef("unknown operation %q (list, add, retire, restore, reload, republish)", op)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	resp, err := endpoints.Call(cctx, filepath.Join(*dir, endpoints.SocketFile), req)
	if resp == nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(resp, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	if err != nil {
		return err
	}
	switch op {
	case endpoints.OpAdd:
		fmt.Fprintf(e.stdout, "added %s\n", resp.Endpoint.Name)
	case endpoints.OpRetire:
		fmt.Fprintf(e.stdout, "retired %s\n", resp.Endpoint.Name)
	case endpoints.OpRestore:
		fmt.Fprintf(e.stdout, "restored %s\n", req.Name)
	}
	fmt.Fprintf(e.stdout, "manifest serial %d\n", resp.Serial)
	for _, i := range resp.Endpoints {
		var extra []string
		add := func(k, v string) {
			if v != "" {
				extra = append(extra, k+"="+v)
			}
		}
		add("sni", i.SNI)
		add("host", i.Host)
		add("path", i.Path)
		add("tls_pin", i.TLSPin)
		if i.HasSecret {
			extra = append(extra, "secret=(set)")
		}
		if i.Cohort != 0 {
			add("cohort", fmt.Sprint(i.Cohort))
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\tlisten=%s address=%s %s\n", i.Name, i.Source, i.Transport, i.Listen, i.Address, strings.Join(extra, " "))
	}
	return nil
}
