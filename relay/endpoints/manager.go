package endpoints

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/clock"
	"samizdat/internal/atomicfile"
	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/relay"
	"samizdat/transport/selfsigned"
)

// Server is what the Manager needs of a relay: *relay.Server.
type Server interface {
	Serve(ctx context.Context, l net.Listener) error
	SetManifest(blob []byte)
	SetManifestFunc(pick func(slot manifest.Slot) []byte)
}

var _ Server = (*relay.Server)(nil)

// Where an endpoint comes from.
const (
	SourceFlag   = "flag"   // --listen
	SourceConfig = "config" // the config file
	SourceAdmin  = "admin"  // added by the admin command
)

// sourceText says where an endpoint comes from, in an error.
var sourceText = map[string]string{
	SourceFlag:   "on the command line",
	SourceConfig: "in the config file",
	SourceAdmin:  "added by the admin command",
}

// DefaultManifestTTL is the lifetime of a signed manifest unless set.
const DefaultManifestTTL = 30 * 24 * time.Hour

// Options configure a Manager.
type Options struct {
	// Dir is the relay's data directory: generated secrets, the TLS key,
	// the manifest serial and file, the admin state and socket live there.
	// Required.
	Dir string
	// Certificates, if set, gives the wss endpoints on the names it
	// manages CA-issued certificates instead of the self-signed one.
	Certificates Certificates
	// Server serves the listeners and pushes the manifests. Required.
	Server Server
	// Keys fill in the relay's id, Noise key and trust root. Keys.Network,
	// if set, certifies the node key (the relay renews its own
	// delegation); if nil, the network key is offline and the
	// certificate comes from DelegationFile.
	Keys relay.Keys
	// NodeKey signs the manifests; nil means the node key in Dir
	// (NodeKeyFile), made on first start.
	NodeKey ed25519.PrivateKey
	// DelegationFile holds the node key's certificate by the network key
	// (text from "samizdat manifest delegate"); empty means
	// Dir/DelegationFile. Without the network key it is re-read by every
	// Reload and at least hourly, and a valid certificate there that
	// lasts longer replaces the one in use, with a new manifest.
	DelegationFile string
	// DelegationTTL is the lifetime of the certificates the relay makes
	// itself with Keys.Network; zero means DefaultDelegationTTL.
	DelegationTTL time.Duration
	// NetworkKey is the network's public key, for a relay without
	// Keys.Network; nil means the key that signed the certificate.
	NetworkKey ed25519.PublicKey
	// Network is the network name in the manifest. Required unless the
	// config file names it.
	Network string
	// ManifestTTL is each manifest's lifetime; zero means the config
	// file's, else DefaultManifestTTL.
	ManifestTTL time.Duration
	// Listen are the endpoints of the command line.
	Listen []Spec
	// Peers are endpoints of other nodes of the same relay (the same keys,
	// the same store): announced in every manifest after this node's own,
	// never opened here, so a client of any node can reach every node.
	// A peer's address is its Address, else its Listen; a wss or front
	// peer needs its secret and path (and a wss one its tls_pin), since
	// they are the other node's. A peer equal to one of this node's own
	// endpoints is left out, so every node may be given the same list.
	Peers []Spec
	// ConfigFile, if set, is read at start and by every Reload.
	ConfigFile string
	// InvitePath is where the invite is written on every change; empty
	// means Dir/invite.txt.
	InvitePath string
	// Channels are put into every manifest as where to fetch newer ones,
	// before the config file's.
	Channels []manifest.Channel
	// MirrorDir, if set, is a directory a web server publishes: the public
	// manifest is written to MirrorDir/ManifestFile on every change,
	// atomically. The manifests of cohorts never go there (publish says
	// why).
	MirrorDir string
	// Logger receives endpoint events; nil discards them.
	Logger *slog.Logger
	// Clock runs the manifest's refresh, mints the TLS certificates and
	// is the time of the wss and front endpoints (tokens, TLS, tunnel
	// deadlines); nil means clock.Real.
	Clock clock.Clock
	// Now reads the time for signing manifests; nil means Clock.Now.
	Now func() time.Time
	// Rand is the randomness source; nil means crypto/rand.
	Rand io.Reader
	// NetListen, if set, opens every endpoint's listener at its Listen
	// address instead of a TCP socket (an in-memory network, with Clock
	// a simulated clock: the censor lab); nil means TCP.
	NetListen func(ctx context.Context, address string) (net.Listener, error)
	// DecoyDir is the directory of the operator's own web site, which
	// the wss and front endpoints show to whoever comes without a token.
	DecoyDir string
	// DecoyProxy is the URL (http or https) of a web site that the wss
	// and front endpoints forward such requests to instead. With neither,
	// they show a site generated at first start into Dir/DecoySiteDir.
	DecoyProxy string
}

// Info describes a running endpoint (never its secret).
type Info struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	Transport string `json:"transport"`
	Listen    string `json:"listen"` // the bound local address
	Address   string `json:"address"`
	SNI       string `json:"sni,omitempty"`
	Host      string `json:"host,omitempty"`
	Path      string `json:"path,omitempty"`
	TLSPin    string `json:"tls_pin,omitempty"` // hex
	HasSecret bool   `json:"has_secret,omitempty"`
	Cohort    uint32 `json:"cohort,omitempty"`
}

// entry is a wanted endpoint and where it comes from.
type entry struct {
	Spec   Spec
	Source string
}

// adminState is what the admin command changed; it outlives restarts.
type adminState struct {
	Added   []Spec   `json:"added"`
	Retired []string `json:"retired"`
}

// running is one open endpoint.
type running struct {
	entry
	ln     net.Listener
	bound  string
	public manifest.Endpoint
	cancel context.CancelFunc
	done   chan struct{} // closed when Serve has returned and extra is closed
	extra  io.Closer     // closed after Serve returns (a front's http server), or nil
}

// Manager runs a relay's endpoints: it opens a listener per endpoint and
// serves it, adds and retires endpoints while the relay runs, and signs and
// publishes a new manifest (serial one higher, never reused) on every
// change: to the relay for pushing to clients, and to the invite and
// manifest files. Its methods are safe for concurrent use.
type Manager struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	secrets *secrets
	signer  *signer              // its certificate is guarded by mu
	tls     *selfsigned.Identity // nil until a wss endpoint needs it
	dis     *disguise            // nil until an endpoint needs it; guarded by mu
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	network  string
	ttl      time.Duration
	config   []Spec                        // from the config file, as last read
	channels []manifest.Channel            // Options.Channels and the config file's for every cohort
	cohortCh map[uint32][]manifest.Channel // the config file's of one cohort, by cohort
	admin    adminState
	eps      map[string]*running // by name
	serial   uint64
	blob     []byte
	pubEps   []manifest.Endpoint // the endpoints in blob
	peers    []manifest.Endpoint // Options.Peers; read-only after Start
	signedAt time.Time
	admSock  net.Listener

	mirrored atomic.Pointer[mirrorSet] // what the wss endpoints serve at their mirror path
}

// mirrorSet is what one publish signed: the public manifest and those of
// the cohorts with endpoints or channels of their own.
type mirrorSet struct {
	public   []byte
	byCohort map[uint32][]byte
}

// Start opens every endpoint of opts (the command line, the config file and
// what the admin command added before), publishes the first manifest and
// keeps it fresh. An endpoint that fails to open fails Start.
func Start(opts Options) (*Manager, error) {
	if opts.Dir == "" || opts.Server == nil {
		return nil, configErrorf("a data directory and a server are required")
	}
	opts.Clock = clock.Or(opts.Clock)
	if opts.Now == nil {
		opts.Now = opts.Clock.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.InvitePath == "" {
		opts.InvitePath = filepath.Join(opts.Dir, "invite.txt")
	}
	m := &Manager{opts: opts, log: opts.Logger, now: opts.Now, eps: make(map[string]*running)}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if err := checkDecoy(opts); err != nil {
		return nil, err
	}
	for i := range opts.Listen {
		if err := opts.Listen[i].Normalize(); err != nil {
			return nil, err
		}
	}
	var err error
	if m.peers, err = peerEndpoints(opts.Peers); err != nil {
		return nil, err
	}
	m.network, m.ttl = opts.Network, opts.ManifestTTL
	if opts.ConfigFile != "" {
		f, err := ReadFile(opts.ConfigFile)
		if err != nil {
			return nil, err
		}
		if m.network == "" {
			m.network = f.Network
		}
		if m.ttl == 0 {
			m.ttl, _ = f.TTL()
		}
		m.config = f.Endpoints
		chans, by, _ := f.cohortChannels()
		m.channels = append(slices.Clone(opts.Channels), chans...)
		m.cohortCh = by
	} else {
		m.channels = opts.Channels
	}
	if m.ttl <= 0 {
		m.ttl = DefaultManifestTTL
	}
	if m.network == "" {
		return nil, configErrorf("no network name; give one on the command line or as \"network\" in the config file")
	}
	if opts.MirrorDir != "" {
		if err := os.MkdirAll(opts.MirrorDir, 0o755); err != nil {
			return nil, configErrorf("the mirror directory: %v", err)
		}
	}
	if m.secrets, err = loadSecrets(opts.Dir, opts.Rand); err != nil {
		return nil, err
	}
	if m.admin, err = readAdmin(opts.Dir); err != nil {
		return nil, err
	}
	if m.serial, err = readSerial(opts.Dir); err != nil {
		return nil, err
	}
	if m.signer, err = newSigner(opts, m.network, m.log); err != nil {
		return nil, err
	}
	m.ctx, m.stop = context.WithCancel(context.Background())

	m.mu.Lock()
	defer m.mu.Unlock()
	want, err := m.wanted(m.config, m.admin)
	if err == nil {
		var failed []error
		if failed, err = m.apply(want); err == nil {
			err = oneLine(failed)
		}
	}
	if err == nil {
		err = m.publish()
	}
	if err != nil {
		m.closeLocked()
		return nil, err
	}
	m.wg.Add(1)
	go m.refreshLoop()
	return m, nil
}

// Close retires every endpoint and stops the admin socket. It does not
// close the relay server. It is safe to call more than once.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closeLocked()
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

func (m *Manager) closeLocked() {
	if m.closed {
		return
	}
	m.closed = true
	if m.stop != nil {
		m.stop()
	}
	if m.admSock != nil {
		m.admSock.Close()
	}
	for _, r := range m.eps {
		m.retireLocked(r)
	}
	if m.dis != nil && m.dis.root != nil {
		m.dis.root.Close()
	}
}

// Serial returns the highest manifest serial used so far (with cohorts,
// that of the cohorts' manifests, one above the public one's).
func (m *Manager) Serial() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.serial
}

// Delegation returns the certificate of the node key that signs the
// manifests.
func (m *Manager) Delegation() *manifest.Delegation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.signer.d
}

// NetworkKey returns the network's public key, as the invite names it.
func (m *Manager) NetworkKey() ed25519.PublicKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.signer.netPub
}

// Manifest returns the newest public signed manifest (the invite's).
func (m *Manager) Manifest() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.blob)
}

// List describes the running endpoints, sorted by name.
func (m *Manager) List() []Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.listLocked()
}

func (m *Manager) listLocked() []Info {
	var out []Info
	for _, r := range m.eps {
		p := r.public
		i := Info{Name: r.Spec.Name, Source: r.Source, Transport: p.Transport, Listen: r.bound, Address: p.Address,
			SNI: p.SNI, Host: p.Host, Path: p.Path, HasSecret: len(p.Secret) > 0, Cohort: p.Cohort}
		if len(p.TLSPin) > 0 {
			i.TLSPin = hex.EncodeToString(p.TLSPin)
		}
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if a.Name < b.Name {
			return -1
		} else if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Reload re-reads the config file and opens, re-opens or retires endpoints
// to match it; when the set changed it publishes a new manifest. If the
// file is unreadable or invalid nothing changes. Endpoints that fail to
// open are reported in the error; the rest take effect.
func (m *Manager) Reload() error {
	if m.opts.ConfigFile == "" {
		return configErrorf("no config file to reload; the relay was started without one")
	}
	f, err := ReadFile(m.opts.ConfigFile)
	if err != nil {
		return err
	}
	ttl, _ := f.TTL()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return relay.ErrServerClosed
	}
	if f.Network != "" && f.Network != m.network {
		m.log.Warn("the config file names another network; a reload keeps the running one", "network", m.network)
	}
	want, err := m.wanted(f.Endpoints, m.admin)
	if err != nil {
		return err
	}
	m.config = f.Endpoints
	force := m.opts.ManifestTTL == 0 && ttl != 0 && ttl != m.ttl
	if force {
		m.ttl = ttl
	}
	chans, by, _ := f.cohortChannels()
	chans = append(slices.Clone(m.opts.Channels), chans...)
	if !slices.EqualFunc(chans, m.channels, sameChannel) || !maps.EqualFunc(by, m.cohortCh,
		func(a, b []manifest.Channel) bool { return slices.EqualFunc(a, b, sameChannel) }) {
		m.channels, m.cohortCh = chans, by
		force = true
	}
	renewed, err := m.signer.refresh(m.now())
	if err != nil {
		return err
	}
	return m.change(want, force || renewed)
}

// Add opens a new endpoint and publishes a new manifest. The endpoint is
// remembered in the data directory across restarts until retired.
func (m *Manager) Add(s Spec) (Info, error) {
	if err := s.Normalize(); err != nil {
		return Info{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Info{}, relay.ErrServerClosed
	}
	if slices.Contains(m.admin.Retired, s.Name) {
		return Info{}, configErrorf("endpoint %q is retired; restore it or choose another name", s.Name)
	}
	if m.named(s.Name) {
		return Info{}, configErrorf("endpoint %q already exists; retire it first or choose another name", s.Name)
	}
	st := m.admin
	st.Added = append(slices.Clone(st.Added), s)
	want, err := m.wanted(m.config, st)
	if err != nil {
		return Info{}, err
	}
	if err := m.changeState(st, want); err != nil {
		return Info{}, err
	}
	r := m.eps[s.Name]
	if r == nil {
		return Info{}, fmt.Errorf("endpoints: endpoint %q did not open", s.Name)
	}
	for _, i := range m.listLocked() {
		if i.Name == s.Name {
			return i, nil
		}
	}
	return Info{}, nil
}

// Retire closes the endpoint named by which (its name, its listening
// address, its public address or its URL) and publishes a manifest
// without it. Connections made through it stay until they end. A retired
// endpoint of the command line or config file stays retired across
// restarts and reloads until Restore.
func (m *Manager) Retire(which string) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Info{}, relay.ErrServerClosed
	}
	r, err := m.find(which)
	if err != nil {
		return Info{}, err
	}
	var info Info
	for _, i := range m.listLocked() {
		if i.Name == r.Spec.Name {
			info = i
		}
	}
	st := adminState{Added: slices.Clone(m.admin.Added), Retired: slices.Clone(m.admin.Retired)}
	if r.Source == SourceAdmin {
		st.Added = slices.DeleteFunc(st.Added, func(s Spec) bool { return s.Name == r.Spec.Name })
	} else {
		st.Retired = append(st.Retired, r.Spec.Name)
	}
	want, err := m.wanted(m.config, st)
	if err != nil {
		return Info{}, err
	}
	return info, m.changeState(st, want)
}

// Restore brings back a retired endpoint of the command line or config
// file.
func (m *Manager) Restore(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return relay.ErrServerClosed
	}
	if !slices.Contains(m.admin.Retired, name) {
		return configErrorf("endpoint %q is not retired; nothing to restore", name)
	}
	st := adminState{Added: m.admin.Added, Retired: slices.DeleteFunc(slices.Clone(m.admin.Retired), func(s string) bool { return s == name })}
	want, err := m.wanted(m.config, st)
	if err != nil {
		return err
	}
	return m.changeState(st, want)
}

// Republish signs and publishes the manifest again with a new serial,
// even though nothing changed.
func (m *Manager) Republish() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return relay.ErrServerClosed
	}
	return m.publish()
}

// find resolves which to a running endpoint.
func (m *Manager) find(which string) (*running, error) {
	if r, ok := m.eps[which]; ok {
		return r, nil
	}
	var found []*running
	for _, r := range m.eps {
		if r.bound == which || r.public.Address == which || r.Spec.URL() == which {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return nil, configErrorf("no endpoint %q; give its name, listening address, public address or URL as listed", which)
	case 1:
		return found[0], nil
	}
	return nil, configErrorf("%q matches %d endpoints; give the name of one", which, len(found))
}

// changeState applies want, which follows from st, and keeps st if that
// worked.
func (m *Manager) changeState(st adminState, want []entry) error {
	if len(want) == 0 {
		return errNoEndpoint
	}
	if err := m.change(want, false); err != nil {
		return err
	}
	if err := writeAdmin(m.opts.Dir, st); err != nil {
		return err
	}
	m.admin = st
	return nil
}

// change opens and retires endpoints to match want and publishes a new
// manifest if anything changed (or force).
func (m *Manager) change(want []entry, force bool) error {
	if len(want) == 0 {
		return errNoEndpoint
	}
	failed, err := m.apply(want)
	if err != nil {
		return err
	}
	changed := force || m.blob == nil || !sameEndpoints(m.pubEps, m.publicEndpoints())
	if changed {
		if err := m.publish(); err != nil {
			failed = append(failed, err)
		}
	}
	return oneLine(failed)
}

// errNoEndpoint refuses a change that would close every endpoint.
var errNoEndpoint = configErrorf("that would leave the relay without an endpoint; add another one first")

// named reports whether an endpoint of the command line, the config file
// or the admin command, running or retired, has the name.
func (m *Manager) named(name string) bool {
	for _, specs := range [][]Spec{m.opts.Listen, m.config, m.admin.Added} {
		if slices.ContainsFunc(specs, func(s Spec) bool { return s.Name == name }) {
			return true
		}
	}
	return false
}

// wanted merges the command line, config and admin state into the list of
// endpoints that should run.
func (m *Manager) wanted(config []Spec, st adminState) ([]entry, error) {
	var all []entry
	for _, s := range m.opts.Listen {
		all = append(all, entry{s, SourceFlag})
	}
	for _, s := range config {
		all = append(all, entry{s, SourceConfig})
	}
	for _, s := range st.Added {
		all = append(all, entry{s, SourceAdmin})
	}
	seen := make(map[string]string)
	var out []entry
	for _, e := range all {
		if src, dup := seen[e.Spec.Name]; dup {
			return nil, configErrorf("two endpoints are named %q, one %s and one %s; give one another name", e.Spec.Name, sourceText[src], sourceText[e.Source])
		}
		seen[e.Spec.Name] = e.Source
		if !slices.Contains(st.Retired, e.Spec.Name) {
			out = append(out, e)
		}
	}
	return out, nil
}

// apply retires running endpoints not in want (or changed) and opens the
// missing ones. It returns the endpoints that failed to open; err means
// nothing was done.
func (m *Manager) apply(want []entry) (failed []error, err error) {
	byName := make(map[string]entry, len(want))
	for _, e := range want {
		byName[e.Spec.Name] = e
	}
	for name, r := range m.eps {
		e, ok := byName[name]
		switch {
		case !ok || !sameButStandby(e.Spec, r.Spec):
			m.retireLocked(r)
		default:
			// Promoting a standby endpoint (or putting one back on
			// standby) changes only what the manifest says: the listener
			// and the connections through it stay.
			r.Spec, r.Source, r.public.Standby = e.Spec, e.Source, e.Spec.Standby
		}
	}
	for _, e := range want {
		if _, ok := m.eps[e.Spec.Name]; ok {
			continue
		}
		r, err := m.open(e)
		if err != nil {
			m.log.Error("endpoint failed to open", "endpoint", e.Spec.Name, "err", err)
			failed = append(failed, within(fmt.Sprintf("endpoint %q did not open", e.Spec.Name), err))
			continue
		}
		m.eps[e.Spec.Name] = r
		m.log.Info("endpoint open", "endpoint", e.Spec.Name, "transport", e.Spec.Transport, "listen", r.bound, "address", r.public.Address)
	}
	return failed, nil
}

// sameButStandby reports whether a and b differ at most in Standby.
func sameButStandby(a, b Spec) bool {
	a.Standby = b.Standby
	return a == b
}

// retireLocked closes r's listener and waits until it is no longer served.
func (m *Manager) retireLocked(r *running) {
	r.cancel()
	<-r.done
	delete(m.eps, r.Spec.Name)
	m.log.Info("endpoint retired", "endpoint", r.Spec.Name, "listen", r.bound)
}

// tlsIdentity loads or creates the relay's TLS key, its certificates of
// the node's drawn shape.
func (m *Manager) tlsIdentity() (*selfsigned.Identity, error) {
	if m.tls == nil {
		d, err := m.disguise()
		if err != nil {
			return nil, err
		}
		id, err := selfsigned.LoadShape(filepath.Join(m.opts.Dir, TLSKeyFile), d.profile.Cert, m.opts.Rand, m.now)
		if err != nil {
			return nil, err
		}
		m.tls = id
	}
	return m.tls, nil
}

// open starts serving one endpoint.
func (m *Manager) open(e entry) (*running, error) {
	op, ok := openers[e.Spec.Transport]
	if !ok {
		return nil, configErrorf("transport %q is not supported", e.Spec.Transport)
	}
	pub := e.Spec.announced()
	if e.Spec.Transport != TCP {
		if pub.Secret == nil || pub.Path == "" {
			g, err := m.secrets.get(e.Spec.Name)
			if err != nil {
				return nil, err
			}
			if pub.Secret == nil {
				pub.Secret = g.Secret
			}
			if pub.Path == "" {
				pub.Path = g.Path
			}
		}
	}
	ctx, cancel := context.WithCancel(m.ctx)
	o, err := op(ctx, m, e.Spec, &pub)
	if err != nil {
		cancel()
		return nil, err
	}
	bound := o.ln.Addr().String()
	if pub.Address == "" {
		host, _, _ := net.SplitHostPort(bound)
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			cancel()
			o.ln.Close()
			if o.extra != nil {
				o.extra.Close()
			}
			return nil, configErrorf("it listens on all interfaces (%s); give the address clients dial (?address=HOST:PORT)", bound)
		}
		pub.Address = bound
	}
	if e.Spec.Transport == WSS {
		wssNames(&pub)
	}
	r := &running{entry: e, ln: o.ln, bound: bound, public: pub, cancel: cancel, done: make(chan struct{}), extra: o.extra}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(r.done)
		ln := relay.NamedListener(o.ln, e.Spec.Transport)
		if e.Spec.Transport == Front {
			ln = relay.ProxiedListener(o.ln, e.Spec.Transport) // the CDN edge's address
		}
		err := m.opts.Server.Serve(ctx, ln)
		if r.extra != nil {
			r.extra.Close()
		}
		if err != nil && ctx.Err() == nil {
			m.log.Error("endpoint stopped", "endpoint", e.Spec.Name, "err", err)
		}
	}()
	return r, nil
}

// announced is what s puts into the manifest before the Manager fills in
// generated secrets and the bound address. s is normalized.
func (s Spec) announced() manifest.Endpoint {
	pub := manifest.Endpoint{Transport: s.Transport, Address: s.Address, SNI: s.SNI,
		Host: s.Host, Path: s.Path, Cohort: s.Cohort, Standby: s.Standby}
	if s.Secret != "" {
		pub.Secret, _ = manifest.DecodeBytes(s.Secret)
	}
	if s.TLSPin != "" {
		pub.TLSPin, _ = manifest.DecodeBytes(s.TLSPin)
	}
	return pub
}

// peerEndpoints checks and converts Options.Peers.
func peerEndpoints(peers []Spec) ([]manifest.Endpoint, error) {
	var out []manifest.Endpoint
	for _, s := range peers {
		if err := s.Normalize(); err != nil {
			return nil, within("peer", err)
		}
		pub := s.announced()
		if pub.Address == "" {
			pub.Address = s.Listen
		}
		if s.Transport != TCP && (pub.Secret == nil || pub.Path == "" || (s.Transport == WSS && pub.TLSPin == nil)) {
			return nil, configErrorf("peer %s needs the other node's secret and path (and a wss one its tls_pin)", s.Name)
		}
		out = append(out, pub)
	}
	return out, nil
}

// publicEndpoints returns the manifest endpoints of the running set,
// sorted by name, then the peers that are not among them.
func (m *Manager) publicEndpoints() []manifest.Endpoint {
	names := make([]string, 0, len(m.eps))
	for n := range m.eps {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]manifest.Endpoint, 0, len(names)+len(m.peers))
	for _, n := range names {
		out = append(out, m.eps[n].public)
	}
	own := len(out)
	for _, p := range m.peers {
		if !slices.ContainsFunc(out[:own], p.Equal) {
			out = append(out, p)
		}
	}
	return out
}

func sameEndpoints(a, b []manifest.Endpoint) bool {
	return slices.EqualFunc(a, b, manifest.Endpoint.Equal)
}

func sameChannel(a, b manifest.Channel) bool {
	return a.Kind == b.Kind && a.URL == b.URL && a.Name == b.Name && a.Address == b.Address &&
		a.SNI == b.SNI && a.Host == b.Host && a.Path == b.Path && string(a.TLSPin) == string(b.TLSPin)
}

// publish signs the running endpoints into a manifest with the next
// serial, stores the serial first, then writes the manifest and invite
// files and hands the manifest to the server for pushing.
//
// With cohorts (endpoints tagged with a cohort above 0) it signs one public
// manifest with serial S listing only the endpoints for every cohort (it
// goes into the invite and manifest files), and for each cohort that has
// endpoints of its own a manifest with serial S+1 listing those too, which
// the server pushes only to devices of that cohort (the cohort of the
// slot the relay stored for them, manifest.Slot) and which is written to manifest-cohort-N.bin for
// per-cohort channels; channels of a cohort (Channel.Cohort) go only into
// its manifest. A client holding the public manifest thus takes its
// cohort's, and the next change's public manifest (S+2) still replaces it.
func (m *Manager) publish() error {
	eps := m.publicEndpoints()
	if len(eps) == 0 {
		return configErrorf("no endpoint is open, so the manifest was not re-signed; add one first")
	}
	now := m.now()
	if _, err := m.signer.refresh(now); err != nil {
		return err
	}
	var cohorts uint32
	var public []manifest.Endpoint
	own := make(map[uint32]bool)
	for _, e := range eps {
		cohorts = max(cohorts, e.Cohort)
		if e.Cohort == 0 {
			public = append(public, e)
		} else {
			own[e.Cohort] = true
		}
	}
	for c := range m.cohortCh {
		cohorts = max(cohorts, c)
		own[c] = true
	}
	if len(public) == 0 {
		m.log.Warn("no endpoint is for every cohort; the public manifest lists them all")
		public = eps
	}
	serial := max(m.serial+1, uint64(max(now.Unix(), 1)))
	last := serial
	if len(own) > 0 {
		last++
	}
	if err := writeSerial(m.opts.Dir, last); err != nil {
		return err
	}
	m.serial = last

	sign := func(serial uint64, eps []manifest.Endpoint, chans []manifest.Channel) ([]byte, error) {
		man := &manifest.Manifest{
			Network: m.network,
			Serial:  serial,
			Issued:  now,
			Expires: now.Add(m.ttl),
			Relays: []manifest.Relay{{
				ID:        m.opts.Keys.RelayID,
				NoiseKey:  m.opts.Keys.Noise.Public,
				Endpoints: eps,
			}},
			Channels: chans,
			Cohorts:  cohorts,
		}
		if !m.opts.Keys.TrustRoot.Public.IsZero() {
			man.TrustRoot = m.opts.Keys.TrustRoot.Public.Bytes()
		}
		blob, err := m.signer.sign(man)
		if err != nil {
			return nil, fmt.Errorf("endpoints: signing the manifest: %w", err)
		}
		return blob, nil
	}
	blob, err := sign(serial, public, m.channels)
	if err != nil {
		return err
	}
	byCohort := make(map[uint32][]byte, len(own))
	for c := range own {
		var list []manifest.Endpoint
		for _, e := range eps {
			if e.Cohort == 0 || e.Cohort == c {
				list = append(list, e)
			}
		}
		chans := append(slices.Clone(m.channels), m.cohortCh[c]...)
		if byCohort[c], err = sign(serial+1, list, chans); err != nil {
			return err
		}
	}

	if err := atomicfile.Write(filepath.Join(m.opts.Dir, ManifestFile), blob, 0o644); err != nil {
		return fmt.Errorf("endpoints: writing the manifest: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(m.opts.Dir, "manifest-cohort-*.bin"))
	for _, f := range old {
		os.Remove(f)
	}
	for c, b := range byCohort {
		if err := atomicfile.Write(filepath.Join(m.opts.Dir, CohortManifestFile(c)), b, 0o644); err != nil {
			return fmt.Errorf("endpoints: writing the manifest: %w", err)
		}
	}
	if m.opts.MirrorDir != "" {
		if err := atomicfile.Write(filepath.Join(m.opts.MirrorDir, ManifestFile), blob, 0o644); err != nil {
			return fmt.Errorf("endpoints: writing the mirror: %w", err)
		}
	}
	m.mirrored.Store(&mirrorSet{public: blob, byCohort: byCohort})
	inv := manifest.Invite{NetworkKey: m.signer.netPub, Manifest: blob}
	if err := manifest.WriteInvite(m.opts.InvitePath, inv); err != nil {
		return fmt.Errorf("endpoints: writing the invite: %w", err)
	}
	m.blob, m.pubEps, m.signedAt = blob, eps, now
	if len(byCohort) == 0 {
		m.opts.Server.SetManifest(blob)
	} else {
		m.opts.Server.SetManifestFunc(func(s manifest.Slot) []byte {
			if b, ok := byCohort[s.Cohort(cohorts)]; ok {
				return b
			}
			return blob
		})
	}
	m.log.Info("published a manifest", "serial", serial, "endpoints", len(public), "cohorts", len(byCohort))
	return nil
}

// mirrorFiles is what the wss endpoint ep publishes beside its decoy: at
// its mirror path (channel.MirrorPath, derived from its secret), the
// newest manifest of its cohort, or the public one for an endpoint of
// every cohort. A cohort's manifest is served only where its own clients
// connect, so that whoever can ask learns nothing the endpoint's own
// manifest did not already tell.
func (m *Manager) mirrorFiles(ep manifest.Endpoint) func(string) []byte {
	path := channel.MirrorPath(ep)
	return func(p string) []byte {
		set := m.mirrored.Load()
		if path == "" || p != path || set == nil {
			return nil
		}
		if b, ok := set.byCohort[ep.Cohort]; ok && ep.Cohort != 0 {
			return b
		}
		return set.public
	}
}

// CohortManifestFile is the name of the file in the data directory that
// holds the manifest of cohort c.
func CohortManifestFile(c uint32) string { return fmt.Sprintf("manifest-cohort-%d.bin", c) }

// refreshLoop re-signs the manifest when half its lifetime has passed or
// the node key's delegation was renewed (see signer.refresh), and looks
// at the delegation at least hourly.
func (m *Manager) refreshLoop() {
	defer m.wg.Done()
	for {
		m.mu.Lock()
		due := m.signedAt.Add(m.ttl / 2)
		if d := m.signer.due(); d.Before(due) {
			due = d
		}
		m.mu.Unlock()
		wait := min(max(due.Sub(m.now()), time.Second), time.Hour)
		t := m.opts.Clock.NewTimer(wait)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		m.mu.Lock()
		if !m.closed {
			renewed, err := m.signer.refresh(m.now())
			if err != nil {
				m.log.Error("the node key's delegation", "err", err)
			}
			if renewed || !m.now().Before(m.signedAt.Add(m.ttl/2)) {
				if err := m.publish(); err != nil {
					m.log.Error("refreshing the manifest", "err", err)
				}
			}
		}
		m.mu.Unlock()
	}
}

func readAdmin(dir string) (adminState, error) {
	var st adminState
	b, err := os.ReadFile(filepath.Join(dir, AdminFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("endpoints: reading admin state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("endpoints: %s is not valid json", AdminFile)
	}
	for i := range st.Added {
		if err := st.Added[i].Normalize(); err != nil {
			return st, fmt.Errorf("endpoints: %s: %w", AdminFile, err)
		}
	}
	return st, nil
}

func writeAdmin(dir string, st adminState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, AdminFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("endpoints: storing admin state: %w", err)
	}
	return nil
}
