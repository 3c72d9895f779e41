package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"samizdat/bridge"
	"samizdat/client"
	"samizdat/internal/atomicfile"
	"samizdat/transport/selfsigned"
)

// Files of a bridge in the home directory.
const (
	bridgeKeyFile = "bridge.key"         // derives the contacts' secrets and the path (0600)
	bridgeTLSFile = "bridge-tls-key.pem" // the bridge's TLS key; its pin is in every offer (0600)
)

const bridgeAbout = `Carry your contacts' connections to the relay: the way back for a friend whose every
relay address is blocked while yours still works. The bridge listens on --listen (a TLS
web server to anyone else), and offers itself, end to end, to every contact you have
accepted, each with a secret of their own; a contact who cannot reach the relay then
connects through it by itself, with nothing to configure. Their connection to the relay
stays end-to-end encrypted through the bridge: it sees ciphertext, and the relay sees the
bridge's address instead of theirs.

Every contact you accepted (wrote to, replied to, or ran 'samizdat accept' for) learns
the address you announce. Behind a home router (NAT) or a carrier's NAT nobody outside
can reach you: forward a port on the router to this machine and announce the router's
public address (see docs/bridges.md, "Port forwarding"), or run the bridge on a machine
with a public address: a friend abroad, a VPS. For that, 'samizdat bridge credential'
makes a bridge-only credential (none of your keys) and 'samizdat bridge --credential
FILE --listen ADDR' runs it on that machine, with no home; your client offers it to your
contacts like its own.

While the bridge runs it owns the home: other commands on it go through it. Ctrl-C
withdraws the offers. Blocking a contact ('samizdat block NAME') takes back every bridge
offer they hold.

or: samizdat bridge --credential FILE --listen ADDR [--state DIR]   (on any machine)
    samizdat bridge credential --out FILE --address HOST:PORT        (on your home)
    samizdat bridge list | forget ID|ADDRESS                         (on your home)`

// defaultOfferTTL is how long the offers of a bridge on the home last.
const defaultOfferTTL = client.DefaultBridgeOfferTTL

// bridgeOptions are a bridge's settings, from the flags of `bridge` (or
// `chat --bridge`).
type bridgeOptions struct {
	listen, announce       []string
	maxCallers, perContact int
	rate                   int64
	rateText               string // --rate as given; check sets rate from it
	ttl                    time.Duration
	sni                    string
	public                 string // the address offered: the first --announce, else the first --listen
}

// addFlags declares the bridge's flags on f; listenFlag names the flag of
// the listening address ("listen", or "bridge" on chat). all adds the
// tuning flags too.
func (o *bridgeOptions) addFlags(f *cmdFlags, listenFlag string, all bool) {
	f.repeatedVar(&o.listen, listenFlag, "run a bridge for your contacts on `ADDR` (host:port; repeatable)")
	f.repeatedVar(&o.announce, "announce", "the `ADDR` (host:port) contacts dial, if not the first --"+listenFlag+" (a router's public address)")
	o.maxCallers, o.perContact, o.ttl = bridge.DefaultMaxCallers, bridge.DefaultPerCaller, defaultOfferTTL
	if all {
		f.IntVar(&o.maxCallers, "max-callers", o.maxCallers, "tunnels open at once, in total")
		f.IntVar(&o.perContact, "per-contact", o.perContact, "tunnels open at once for one contact")
		f.StringVar(&o.rateText, "rate", "", "bytes per second per contact in each direction, e.g. 256k or 2M (default: no bound)")
		f.DurationVar(&o.ttl, "offer-ttl", o.ttl, "how long an offer lasts; offers are renewed while the bridge runs")
		f.StringVar(&o.sni, "sni", "", "the TLS server `NAME` callers send (default: a name of the bridge's own, from its key)")
	}
}

// check validates the options after parsing.
func (o *bridgeOptions) check(f *cmdFlags, listenFlag string) error {
	if err := o.checkListen(f); err != nil {
		return err
	}
	if len(o.listen) == 0 {
		if len(o.announce) > 0 {
			return f.usagef("--announce needs --%s", listenFlag)
		}
		return nil
	}
	o.public = o.listen[0]
	if len(o.announce) > 0 {
		o.public = o.announce[0]
	}
	if host, _, _ := net.SplitHostPort(o.public); everyAddress(host) {
		return f.usagef("--%s %s names no address contacts can dial: add --announce HOST:PORT", listenFlag, o.public)
	}
	return nil
}

// checkListen checks the addresses' syntax, the rate and the offers'
// lifetime, and sets the rate.
func (o *bridgeOptions) checkListen(f *cmdFlags) error {
	for _, a := range append(append([]string{}, o.listen...), o.announce...) {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return f.usagef("%q is not host:port", a)
		}
	}
	var err error
	if o.rate, err = parseBytes(o.rateText); err != nil {
		return f.usagef("--rate: %v", err)
	}
	if o.ttl <= time.Minute || o.ttl > bridge.MaxLifetime {
		return f.usagef("--offer-ttl must be between a minute and %s", bridge.MaxLifetime)
	}
	return nil
}

func runBridge(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "credential":
			return runBridgeCredential(ctx, e, args[1:])
		case "list":
			return runBridgeList(ctx, e, args[1:])
		case "forget":
			return runBridgeForget(ctx, e, args[1:])
		}
	}
	f := newFlags("bridge", "--listen ADDR [--credential FILE]", bridgeAbout)
	f.homeFlag(e)
	var o bridgeOptions
	o.addFlags(f, "listen", true)
	credFile := f.String("credential", "", "run the bridge of this credential `FILE` ('samizdat bridge credential' made it), with no home")
	stateDir := f.String("state", "", "with --credential: the `DIR` where the bridge keeps its newest manifest and deny list (default: FILE.state)")
	if err := f.noArgs(args); err != nil {
		return err
	}
	if *credFile != "" {
		return runBridgeAbroad(ctx, e, f, o, e.path(*credFile), *stateDir)
	}
	if *stateDir != "" {
		return f.usagef("--state goes with --credential")
	}
	if err := o.check(f, "listen"); err != nil {
		return err
	}
	if len(o.listen) == 0 {
		return f.usagef("need --listen ADDR")
	}
	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format, args...) }
	oc, stop, err := ownHome(ctx, e, "bridge", func(ev client.Event) {
		switch ev.Kind {
		case client.EventMessage:
			say("%s: %s\n", ev.Peer, printable(ev.Text))
		default:
			warnEvents(e)(ev)
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	rctx, cancel := context.WithCancel(ctx)
	received := make(chan struct{})
	go func() {
		defer close(received)
		oc.c.Receive(rctx)
	}()
	err = serveBridge(ctx, e, oc.c, o, say)
	cancel()
	<-received
	return err
}

// serveBridge runs a bridge for c's contacts until ctx ends, then
// withdraws its offers. say prints what the user should see. The caller
// keeps c receiving (for the relay's pushes and the offers to go out).
func serveBridge(ctx context.Context, e *env, c *client.Client, o bridgeOptions, say func(string, ...any)) error {
	id, err := selfsigned.Load(filepath.Join(e.home, bridgeTLSFile), nil, nil)
	if err != nil {
		return err
	}
	key, err := bridgeKey(filepath.Join(e.home, bridgeKeyFile))
	if err != nil {
		return err
	}
	srv, err := bridge.Start(bridge.Config{
		Listen: o.listen, Identity: id, Key: key, SNI: o.sni, Upstream: c.DialRelayRaw,
		MaxCallers: o.maxCallers, PerCaller: o.perContact, Rate: o.rate,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	for _, a := range srv.Addrs() {
		say("bridge listening on %s\n", a)
	}
	say("every contact you accepted learns the address %s (you wrote to them, replied, or ran accept)\n", o.public)
	// With --announce the user says where contacts come from; without,
	// they dial the listen address itself.
	check := []string{o.public}
	if len(o.announce) == 0 {
		check = append(check, o.listen...)
	}
	for _, w := range reachabilityWarnings(check, "forward one on your router to this machine and --announce the router's public address") {
		say("warning: %s\n", w)
	}
	iss := srv.Issuer()
	if err := c.ServeBridge(ctx, client.ServedBridge{Issuer: iss, Address: o.public, TTL: o.ttl, Deny: srv.SetDenied}); err != nil {
		return err
	}
	first := true
	offer := func() {
		sent, err := c.AnnounceBridges(ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "bridge: offering: %v\n", err)
		}
		var fresh []string
		for _, s := range sent {
			if bytes.Equal(s.Bridge, iss.Pin) {
				fresh = append(fresh, s.Peer)
			}
		}
		if len(sent) > 0 {
			// Say so once the relay holds the offers (or why not yet).
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, ferr := c.Flush(fctx)
			cancel()
			switch {
			case len(fresh) == 0:
			case ferr != nil:
				say("offers to %s wait in the outbox (%v); they go out when the relay answers\n", strings.Join(fresh, ", "), ferr)
			default:
				say("offered the bridge to %s\n", strings.Join(fresh, ", "))
			}
		}
		if first {
			if names, err := c.Accepted(ctx); err == nil && len(names) == 0 {
				say("no contact to offer the bridge to yet: write to someone first\n")
			}
			first = false
		}
		syncBridges(ctx, e, c)
	}
	offer()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			offer()
			continue
		case <-ctx.Done():
		}
		break
	}
	// Withdraw the offers on the way out, briefly.
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if _, err := c.StopServingBridge(wctx); err == nil {
		c.Flush(wctx)
	}
	st := srv.Stats()
	say("bridge closed: carried %d tunnel(s), %d byte(s); %d refused over a limit\n", st.Tunnels, st.Bytes, st.Refused)
	return nil
}

// syncBridges tells the user's bridges run elsewhere what changed (a
// newer manifest, a deny list), briefly; it warns only when a bridge that
// must deny a contact could not be told.
func syncBridges(ctx context.Context, e *env, c *client.Client) []client.BridgeSync {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := c.SyncBridges(sctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: your bridges elsewhere: %v\n", err)
	}
	for _, r := range res {
		if r.Err != nil && r.Denials {
			fmt.Fprintf(e.stderr, "warning: the bridge %s at %s could not be told whom to refuse (%v); it is told with your next send or recv\n", r.ID, r.Address, r.Err)
		}
	}
	return res
}

// bridgeKey reads the bridge's key, or makes one.
func bridgeKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) == bridge.KeySize {
		return b, nil
	}
	b := make([]byte, bridge.KeySize)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, atomicfile.Write(path, b, 0o600)
}

// portForwarding points to what the user reads about reaching a bridge
// behind NAT.
const portForwarding = `see docs/bridges.md, "Port forwarding"`

// reachabilityWarnings says, once for each, which of addrs (host:port)
// contacts elsewhere cannot dial, and what to do (fix: what to do after
// forwarding a port, "--announce its public address" on a home).
func reachabilityWarnings(addrs []string, fix string) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range addrs {
		if w := reachability(a, fix); w != "" && !seen[a] {
			seen[a] = true
			out = append(out, w)
		}
	}
	return out
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// everyAddress reports whether host (of a host:port) names every address
// of the machine, none that contacts can dial: empty, 0.0.0.0 or ::.
func everyAddress(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "" || err == nil && ip.Unmap().IsUnspecified()
}

// reachability warns when contacts elsewhere cannot dial addr.
func reachability(addr, fix string) string {
	host, _, _ := net.SplitHostPort(addr)
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "" // a name: whoever resolves it
	}
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return addr + " is a loopback address: only this machine can reach it (fine for a test); contacts elsewhere cannot"
	case cgnat.Contains(ip):
		return addr + " is behind carrier-grade NAT (100.64.0.0/10): contacts outside your carrier cannot reach it, and no router setting of yours changes that; run the bridge on a machine with a public address ('samizdat bridge credential') (" + portForwarding + ")"
	case ip.IsPrivate() || ip.IsLinkLocalUnicast():
		return addr + " is a private address (behind NAT): contacts outside its own network cannot reach it unless a port is forwarded to it; " + fix + " (" + portForwarding + ")"
	case ip.IsUnspecified():
		if !hasPublicAddress() {
			return addr + " listens on every address of this machine, and none is public (it sits behind NAT): contacts outside its own network cannot reach it unless a port is forwarded to it; " + fix + " (" + portForwarding + ")"
		}
	}
	return ""
}

// hasPublicAddress reports whether an interface of this machine has a
// public (global, not private, not carrier-grade NAT) address.
func hasPublicAddress() bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // cannot tell: no warning
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr().Unmap()
		if ip.IsGlobalUnicast() && !ip.IsPrivate() && !cgnat.Contains(ip) {
			return true
		}
	}
	return false
}

// parseBytes reads a byte count: 1000, 256k, 2M (powers of 1024).
func parseBytes(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToLower(s[len(s)-1:]) {
	case "k":
		mult, s = 1<<10, s[:len(s)-1]
	case "m":
		mult, s = 1<<20, s[:len(s)-1]
	case "g":
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive number of bytes such as 65536, 256k or 2M")
	}
	return n * mult, nil
}
