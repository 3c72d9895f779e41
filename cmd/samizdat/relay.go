package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/store/sqlite"
	"samizdat/transport/tcp"
)

const (
	defaultRelayListen = "127.0.0.1:7443"
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

// runRelay runs a relay until ctx is done (SIGINT or SIGTERM).
func runRelay(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("data", defaultRelayDir(), "data directory: keys and database")
	listen := fs.String("listen", defaultRelayListen, "TCP address to listen on")
	inviteOut := fs.String("invite-out", "", "where to write the invite (default DIR/invite.txt)")
	network := fs.String("network", "samizdat", "network name in the manifest")
	endpoint := fs.String("endpoint", "", "address clients dial, written to the invite (default: the listening address)")
	noLimits := fs.Bool("no-rate-limits", false, "turn off rate limits (benchmarks on loopback only)")
	verbose := fs.Bool("verbose", false, "log connection events")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	if *inviteOut == "" {
		*inviteOut = filepath.Join(*dir, "invite.txt")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	keys, created, err := relay.LoadOrCreateKeys(*dir, rand.Reader)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(e.stdout, "created relay keys in %s\n", *dir)
	}
	st, err := sqlite.Open(ctx, filepath.Join(*dir, "relay.db"), sqlite.Options{})
	if err != nil {
		return fmt.Errorf("opening the database: %w", err)
	}
	defer st.Close()

	cfg := relay.Config{
		Store:                st,
		NoiseKey:             keys.Noise,
		ServerCertificate:    keys.ServerCertificate,
		ServerCertificateKey: keys.ServerCertificateKey,
		Logger:               log,
	}
	if *noLimits {
		u := relay.Unlimited
		cfg.Limits = relay.Limits{ConnFrames: u, Messages: u, SealedMessages: u, RecipientBytes: u,
			Registrations: u, PreKeyUploads: u, PreKeyFetches: u, Lookups: u}
	}
	srv, err := relay.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := tcp.Listen(ctx, *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	addr := ln.Addr().String()
	if *endpoint == "" {
		*endpoint = addr
	}
	inv, err := keys.Invite(*network, []manifest.Endpoint{{Transport: "tcp", Address: *endpoint}}, time.Now(), relayInviteTTL)
	if err != nil {
		ln.Close()
		return err
	}
	if err := manifest.WriteInvite(*inviteOut, inv); err != nil {
		ln.Close()
		return fmt.Errorf("writing the invite: %w", err)
	}
	invPath, err := filepath.Abs(*inviteOut)
	if err != nil {
		invPath = *inviteOut
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	fmt.Fprintf(e.stdout, "relay %s listening on %s\n", keys.RelayID, addr)
	fmt.Fprintf(e.stdout, "invite written to %s\n", invPath)

	select {
	case <-ctx.Done():
		fmt.Fprintf(e.stdout, "shutting down\n")
		srv.Close()
		<-served
		return nil
	case err := <-served:
		if errors.Is(err, relay.ErrServerClosed) {
			return nil
		}
		return err
	}
}
