package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"samizdat/bridge"
	"samizdat/client"
)

// A bridge abroad: a bridge-only credential made on the user's home and
// run on any machine with no home (package bridge: Credential, Abroad).

const bridgeCredentialAbout = `Make a bridge-only credential for a bridge to run on another machine — a friend abroad,
a VPS, anywhere your contacts' censor does not reach — and offer that bridge to your
contacts like your own. The credential holds the network's manifest, a key for this
bridge and its TLS key: none of your keys, sessions, contacts or messages. Copy it to
the machine and run 'samizdat bridge --credential FILE --listen ADDR' there; it needs
no home.

--address is what your contacts dial: the machine's public address and the port the
bridge listens on (or that its router forwards to it). Every contact you accepted gets
an offer for it, with a secret of their own, with your next send or recv; the bridge
never learns who they are (it checks a random label and an expiry in each offer).
Blocking a contact takes their offer back: the bridge is told with your next send or
recv. 'samizdat bridge forget ID' withdraws every offer of it.`

func runBridgeCredential(ctx context.Context, e *env, args []string) error {
	f := newFlags("bridge credential", "--out FILE --address HOST:PORT", bridgeCredentialAbout)
	f.homeFlag(e)
	out := f.String("out", "", "write the credential to `FILE` (mode 0600; it must not exist)")
	address := f.String("address", "", "the `HOST:PORT` your contacts dial to reach the bridge")
	sni := f.String("sni", "", "the TLS server `NAME` callers send (default: a name of the bridge's own, from its key)")
	if err := f.noArgs(args); err != nil {
		return err
	}
	if *out == "" || *address == "" {
		return f.usagef("--out and --address are required")
	}
	if err := dialable(*address); err != nil {
		return f.usagef("--address %s: %v", *address, err)
	}
	path := e.path(*out)
	if exists(path) {
		return fmt.Errorf("%s exists already\nhint: a credential is one bridge; choose another FILE", path)
	}
	c, release, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer release()
	cred, err := c.NewBridgeCredential(ctx, *address, *sni)
	if err != nil {
		return err
	}
	if err := bridge.WriteCredential(path, cred); err != nil {
		c.ForgetBridge(ctx, cred.ID())
		return err
	}
	fmt.Fprintf(e.stdout, "made the credential of bridge %s in %s: it holds none of your keys, only this bridge's\n", cred.ID(), path)
	fmt.Fprintf(e.stdout, "run it on the other machine: samizdat bridge --credential %s --listen %s\n", *out, listenHint(*address))
	fmt.Fprintf(e.stdout, "every contact you accepted learns the address %s, with a secret of their own\n", *address)
	for _, w := range reachabilityWarnings([]string{*address}, "forward one on the router in front of the bridge and give --address the router's public address") {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Flush(fctx); err != nil {
		fmt.Fprintf(e.stderr, "note: the offers wait in the outbox (%v); they go out with your next send or recv\n", err)
	}
	return nil
}

// dialable says why addr is not a host:port contacts can dial, or nil.
func dialable(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("no valid port")
	}
	if everyAddress(host) {
		return fmt.Errorf("names no address contacts can dial")
	}
	return nil
}

// listenHint is the --listen a bridge reached at addr might take: every
// address of the machine, on addr's port.
func listenHint(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return ":" + port
}

func runBridgeList(ctx context.Context, e *env, args []string) error {
	f := newFlags("bridge list", "", `List the bridges you offer to your contacts: your own (run by 'samizdat bridge --listen')
and those run elsewhere from a credential, with how many contacts hold an offer, how many
labels were taken back (blocked contacts), and whether a bridge elsewhere is still to be
told of a change (it is, with your next send or recv).`)
	c, release, err := openNoArgs(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
	bs, err := c.Bridges(ctx)
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		fmt.Fprintln(e.stdout, "no bridges: run 'samizdat bridge --listen ADDR', or make one for elsewhere with 'samizdat bridge credential'")
	}
	for _, b := range bs {
		kind := "elsewhere"
		switch {
		case b.Running:
			kind = "this home, running"
		case b.Own:
			kind = "this home, stopped"
		}
		var told string
		switch {
		case b.Own:
		case b.Pending:
			told = ", to be told of a change"
		default:
			told = ", told " + b.PushedAt.Format(time.DateTime)
		}
		fmt.Fprintf(e.stdout, "%s  %s  (%s): %d contact(s) hold an offer, %d taken back%s\n", b.ID, b.Address, kind, b.Holders, b.Denied, told)
	}
	return nil
}

func runBridgeForget(ctx context.Context, e *env, args []string) error {
	f := newFlags("bridge forget", "ID|ADDRESS", `Withdraw every offer of a bridge from your contacts and forget it ('samizdat bridge list'
names them). A bridge run elsewhere is told to refuse every offer it was given; stop it
on its machine too.`)
	f.homeFlag(e)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.usagef("need one ID or ADDRESS")
	}
	c, release, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer release()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	told, pushErr, err := c.ForgetBridge(pctx, pos[0])
	if errors.Is(err, client.ErrNoSuchBridge) {
		return fmt.Errorf("no bridge of yours is %q\nhint: 'samizdat bridge list' shows their IDs and addresses", pos[0])
	}
	if err != nil {
		return err
	}
	if len(told) > 0 {
		fmt.Fprintf(e.stdout, "withdrew the bridge from %s\n", strings.Join(told, ", "))
	}
	fmt.Fprintf(e.stdout, "forgot the bridge %s\n", pos[0])
	if pushErr != nil {
		fmt.Fprintf(e.stderr, "warning: the bridge could not be told to refuse its offers (%v): they work until they end, unless you stop it\n", pushErr)
	}
	if _, err := c.Flush(pctx); err != nil {
		fmt.Fprintf(e.stderr, "note: the withdrawals wait in the outbox (%v); they go out with your next send or recv\n", err)
	}
	return nil
}

// runBridgeAbroad runs the bridge of the credential in credFile, with no
// home, until ctx ends.
func runBridgeAbroad(ctx context.Context, e *env, f *cmdFlags, o bridgeOptions, credFile, stateDir string) error {
	homeOnly := ""
	switch {
	case len(o.announce) > 0:
		homeOnly = "announce"
	case o.sni != "":
		homeOnly = "sni"
	case o.ttl != defaultOfferTTL:
		homeOnly = "offer-ttl"
	}
	if homeOnly != "" {
		return f.usagef("--%s is for a bridge on your home; a bridge from a credential takes the address and name given to 'bridge credential'", homeOnly)
	}
	if err := o.checkListen(f); err != nil {
		return err
	}
	if len(o.listen) == 0 {
		return f.usagef("need --listen ADDR")
	}
	cred, err := bridge.ReadCredential(credFile)
	if err != nil {
		return err
	}
	if stateDir == "" {
		stateDir = credFile + ".state"
	} else {
		stateDir = e.path(stateDir)
	}
	a, err := bridge.StartAbroad(bridge.AbroadConfig{
		Credential: cred, Listen: o.listen, StateDir: stateDir,
		MaxCallers: o.maxCallers, PerCaller: o.perContact, Rate: o.rate,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return err
	}
	defer a.Close()
	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format, args...) }
	say("bridge %s for the network %q, from %s: no home, none of its user's keys (state in %s)\n", cred.ID(), cred.Network, credFile, stateDir)
	for _, ad := range a.Addrs() {
		say("bridge listening on %s\n", ad)
	}
	say("it knows no contact: the home that made the credential offers it to its contacts, at the address given there\n")
	for _, w := range reachabilityWarnings(o.listen, "the address given to 'bridge credential --address' must lead here (a cloud machine's public address does; a home router must be told)") {
		say("warning: %s\n", w)
	}
	<-ctx.Done()
	st := a.Stats()
	say("bridge closed: carried %d tunnel(s), %d byte(s); %d refused over a limit\n", st.Tunnels, st.Bytes, st.Refused)
	return nil
}
