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
written to, each with a secret of their own; a contact who cannot reach the relay then
connects through it by itself, with nothing to configure. Their connection to the relay
stays end-to-end encrypted through the bridge: it sees ciphertext, and the relay sees the
bridge's address instead of theirs.

Every contact you wrote to learns the address you announce. Behind a home router (NAT) or
a carrier's NAT nobody outside can reach you: forward a port on the router to this
machine and announce the router's public address, or run the bridge on a machine with a
public address. While the bridge runs it owns the home: other commands on it go through
it. Ctrl-C withdraws the offers.`

func runBridge(ctx context.Context, e *env, args []string) error {
	f := newFlags("bridge", "--listen ADDR", bridgeAbout)
	f.homeFlag(e)
	var listen, announce []string
	f.Func("listen", "listen on `ADDR` (host:port; repeatable)", func(s string) error {
		listen = append(listen, s)
		return nil
	})
	f.Func("announce", "the `ADDR` (host:port) contacts dial, if not the first --listen (a router's public address)", func(s string) error {
		announce = append(announce, s)
		return nil
	})
	maxCallers := f.Int("max-callers", bridge.DefaultMaxCallers, "tunnels open at once, in total")
	perContact := f.Int("per-contact", bridge.DefaultPerCaller, "tunnels open at once for one contact")
	rateFlag := f.String("rate", "", "bytes per second per contact in each direction, e.g. 256k or 2M (default: no bound)")
	ttl := f.Duration("offer-ttl", 7*24*time.Hour, "how long an offer lasts; offers are renewed while the bridge runs")
	sni := f.String("sni", bridge.DefaultSNI, "the TLS server `NAME` callers send")
	if err := f.noArgs(args); err != nil {
		return err
	}
	if len(listen) == 0 {
		return f.usagef("need --listen ADDR")
	}
	for _, a := range append(append([]string{}, listen...), announce...) {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return f.usagef("%q is not host:port", a)
		}
	}
	rate, err := parseBytes(*rateFlag)
	if err != nil {
		return f.usagef("--rate: %v", err)
	}
	if *ttl <= time.Minute || *ttl > bridge.MaxLifetime {
		return f.usagef("--offer-ttl must be between a minute and %s", bridge.MaxLifetime)
	}
	public := listen[0]
	if len(announce) > 0 {
		public = announce[0]
	}
	if host, _, _ := net.SplitHostPort(public); host == "" || host == "0.0.0.0" || host == "::" {
		return f.usagef("--listen %s names no address contacts can dial: add --announce HOST:PORT", public)
	}

	oc, stop, err := ownHome(ctx, e, "bridge", func(ev client.Event) {
		switch ev.Kind {
		case client.EventMessage:
			fmt.Fprintf(e.stdout, "%s: %s\n", ev.Peer, printable(ev.Text))
		default:
			warnEvents(e)(ev)
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	c := oc.c
	id, err := selfsigned.Load(filepath.Join(e.home, bridgeTLSFile), nil, nil)
	if err != nil {
		return err
	}
	key, err := bridgeKey(filepath.Join(e.home, bridgeKeyFile))
	if err != nil {
		return err
	}
	srv, err := bridge.Start(bridge.Config{
		Listen: listen, Identity: id, Key: key, SNI: *sni, Upstream: c.DialRelayRaw,
		MaxCallers: *maxCallers, PerCaller: *perContact, Rate: rate,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	for _, a := range srv.Addrs() {
		fmt.Fprintf(e.stdout, "bridge listening on %s\n", a)
	}
	fmt.Fprintf(e.stdout, "every contact you wrote to learns the address %s\n", public)
	if w := reachability(public); w != "" {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	received := make(chan struct{})
	go func() {
		defer close(received)
		c.Receive(rctx)
	}()
	offered := map[string]time.Time{} // contact -> when its offer was sent
	offer := func() {
		m, err := c.Manifest()
		if err != nil || len(m.Relays) == 0 {
			fmt.Fprintf(e.stderr, "bridge: no manifest to offer: %v\n", err)
			return
		}
		names, err := c.Correspondents(ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "bridge: %v\n", err)
			return
		}
		var fresh []string
		for _, n := range names {
			if t, ok := offered[n]; ok && time.Since(t) < *ttl/2 {
				continue
			}
			o, err := srv.Allow(n, m.Network, m.Relays[0].ID, public, time.Now().Add(*ttl))
			if err == nil {
				err = c.OfferBridge(ctx, n, o)
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "bridge: offering to %s: %v\n", n, err)
				continue
			}
			offered[n] = time.Now()
			fresh = append(fresh, n)
		}
		if len(fresh) > 0 {
			fmt.Fprintf(e.stdout, "offered the bridge to %s\n", strings.Join(fresh, ", "))
		} else if len(offered) == 0 {
			fmt.Fprintf(e.stdout, "no contact to offer it to yet: write to someone first\n")
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
	m, err := c.Manifest()
	if err == nil {
		for n := range offered {
			srv.Deny(n)
			c.OfferBridge(wctx, n, bridge.Offer{Network: m.Network})
		}
		c.Flush(wctx)
	}
	cancel()
	<-received
	st := srv.Stats()
	fmt.Fprintf(e.stdout, "bridge closed: carried %d tunnel(s), %d byte(s); %d refused over a limit\n", st.Tunnels, st.Bytes, st.Refused)
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
