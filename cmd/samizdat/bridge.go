package main

import (
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
public address, or run the bridge on a machine with a public address. While the bridge runs it owns the home: other commands on it go through
it. Ctrl-C withdraws the offers.`

// bridgeOptions are a bridge's settings, from the flags of `bridge` (or
// `chat --bridge`).
type bridgeOptions struct {
	listen, announce       []string
	maxCallers, perContact int
	rate                   int64
	ttl                    time.Duration
	sni                    string
	public                 string // the address offered: the first --announce, else the first --listen
}

// addFlags declares the bridge's flags on f; listenFlag names the flag of
// the listening address ("listen", or "bridge" on chat). all adds the
// tuning flags too.
func (o *bridgeOptions) addFlags(f *cmdFlags, listenFlag string, all bool) (rate *string) {
	f.Func(listenFlag, "run a bridge for your contacts on `ADDR` (host:port; repeatable)", func(s string) error {
		o.listen = append(o.listen, s)
		return nil
	})
	f.Func("announce", "the `ADDR` (host:port) contacts dial, if not the first --"+listenFlag+" (a router's public address)", func(s string) error {
		o.announce = append(o.announce, s)
		return nil
	})
	o.maxCallers, o.perContact, o.ttl, o.sni = bridge.DefaultMaxCallers, bridge.DefaultPerCaller, 7*24*time.Hour, bridge.DefaultSNI
	rate = new(string)
	if all {
		f.IntVar(&o.maxCallers, "max-callers", o.maxCallers, "tunnels open at once, in total")
		f.IntVar(&o.perContact, "per-contact", o.perContact, "tunnels open at once for one contact")
		f.StringVar(rate, "rate", "", "bytes per second per contact in each direction, e.g. 256k or 2M (default: no bound)")
		f.DurationVar(&o.ttl, "offer-ttl", o.ttl, "how long an offer lasts; offers are renewed while the bridge runs")
		f.StringVar(&o.sni, "sni", o.sni, "the TLS server `NAME` callers send")
	}
	return rate
}

// check validates the options after parsing.
func (o *bridgeOptions) check(f *cmdFlags, listenFlag, rate string) error {
	for _, a := range append(append([]string{}, o.listen...), o.announce...) {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return f.usagef("%q is not host:port", a)
		}
	}
	var err error
	if o.rate, err = parseBytes(rate); err != nil {
		return f.usagef("--rate: %v", err)
	}
	if o.ttl <= time.Minute || o.ttl > bridge.MaxLifetime {
		return f.usagef("--offer-ttl must be between a minute and %s", bridge.MaxLifetime)
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
	if host, _, _ := net.SplitHostPort(o.public); host == "" || host == "0.0.0.0" || host == "::" {
		return f.usagef("--%s %s names no address contacts can dial: add --announce HOST:PORT", listenFlag, o.public)
	}
	return nil
}

func runBridge(ctx context.Context, e *env, args []string) error {
	f := newFlags("bridge", "--listen ADDR", bridgeAbout)
	f.homeFlag(e)
	var o bridgeOptions
	rate := o.addFlags(f, "listen", true)
	if err := f.noArgs(args); err != nil {
		return err
	}
	if err := o.check(f, "listen", *rate); err != nil {
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
	if w := reachability(o.public); w != "" {
		say("warning: %s\n", w)
	}
	offered := map[string]time.Time{}   // contact -> when its offer was sent
	labels := map[string]bridge.Label{} // contact -> its label
	offer := func() {
		m, err := c.Manifest()
		if err != nil || len(m.Relays) == 0 {
			fmt.Fprintf(e.stderr, "bridge: no manifest to offer: %v\n", err)
			return
		}
		names, err := c.Accepted(ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "bridge: %v\n", err)
			return
		}
		var fresh []string
		for _, n := range names {
			if t, ok := offered[n]; ok && time.Since(t) < o.ttl/2 {
				continue
			}
			l, ok := labels[n]
			if !ok {
				if l, err = bridge.NewLabel(rand.Reader); err != nil {
					return
				}
				labels[n] = l
			}
			of, err := srv.Issuer().Offer(l, m.Network, m.Relays[0].ID, o.public, time.Now().Add(o.ttl))
			if err == nil {
				err = c.OfferBridge(ctx, n, of)
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "bridge: offering to %s: %v\n", n, err)
				continue
			}
			offered[n] = time.Now()
			fresh = append(fresh, n)
		}
		if len(fresh) > 0 {
			// Say so once the relay holds the offers (or why not yet).
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, ferr := c.Flush(fctx)
			cancel()
			if ferr != nil {
				say("offers to %s wait in the outbox (%v); they go out when the relay answers\n", strings.Join(fresh, ", "), ferr)
			} else {
				say("offered the bridge to %s\n", strings.Join(fresh, ", "))
			}
		} else if len(offered) == 0 {
			say("no contact to offer the bridge to yet: write to someone first\n")
		}
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
	if m, err := c.Manifest(); err == nil {
		for n := range offered {
			srv.Deny(bridge.Denial{Label: labels[n], Until: time.Now().Add(o.ttl)})
			c.OfferBridge(wctx, n, bridge.Offer{Network: m.Network})
		}
		c.Flush(wctx)
	}
	st := srv.Stats()
	say("bridge closed: carried %d tunnel(s), %d byte(s); %d refused over a limit\n", st.Tunnels, st.Bytes, st.Refused)
	return nil
}

// bridgeKey reads the bridge's key, or makes one.
func bridgeKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, atomicfile.Write(path, b, 0o600)
}

// reachability warns when contacts elsewhere cannot dial addr.
func reachability(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "" // a name: whoever resolves it
	}
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	switch {
	case ip.IsLoopback():
		return addr + " is a loopback address: only this machine can reach it"
	case ip.IsPrivate() || ip.IsLinkLocalUnicast() || cgnat.Contains(ip):
		return addr + " is a private address (behind NAT): only your own network can reach it; forward a port on your router and --announce its public address"
	}
	return ""
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
