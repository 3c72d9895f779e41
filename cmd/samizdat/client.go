package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/manifest"
)

// defaultHome is the client's state directory unless --home says
// otherwise: $SAMIZDAT_HOME, else ~/.samizdat.
func defaultHome() string {
	if d := os.Getenv("SAMIZDAT_HOME"); d != "" {
		return d
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".samizdat")
	}
	return ".samizdat"
}

// clientCommands are the user-facing commands; main.go lists them.
func clientCommands() []command {
	return []command{
		{name: "init", usage: "--invite FILE --name NAME", summary: "create your identity and register with the relay in the invite", run: runInit},
		{name: "send", usage: "NAME TEXT...", summary: "send a message; exits 0 once the relay has stored it", run: runSend},
		{name: "recv", usage: "[--wait DURATION]", summary: "print the messages waiting for you (and, with --wait, those that arrive)", run: runRecv},
		{name: "safety", usage: "NAME [--accept]", summary: "print the safety number you share with NAME", run: runSafety},
		{name: "chat", usage: "[NAME]", summary: "chat interactively in the terminal", run: runChat},
		{name: "contacts", usage: "", summary: "list the people you have talked to", run: runContacts},
		{name: "whoami", usage: "", summary: "print your username, account and device", run: runWhoami},
		{name: "history", usage: "[NAME] [-n N]", summary: "print the message history", run: runHistory},
		{name: "link", usage: "--new-home DIR", summary: "add another device to your account, its state in DIR", run: runLink},
	}
}

// openClient opens the client in e's home directory.
func openClient(ctx context.Context, e *env, onEvent func(client.Event)) (*client.Client, error) {
	c, err := client.Open(ctx, client.Config{Home: e.home, OnEvent: onEvent})
	if errors.Is(err, client.ErrNotInitialized) {
		return nil, fmt.Errorf("no identity in %s\nhint: run 'samizdat --home %s init --invite FILE --name NAME' first", e.home, e.home)
	}
	return c, err
}

// parseFlags parses a command's flags, allowing them after positional
// arguments too ("safety bob --accept").
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%v: %w", err, errUsage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runInit(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	invite := fs.String("invite", "", "invite file from the relay operator")
	name := fs.String("name", "", "your username (3-32 of a-z 0-9 _ .)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("unexpected argument %q: %w", pos[0], errUsage)
	}
	if *invite == "" || *name == "" {
		return fmt.Errorf("--invite and --name are required: %w", errUsage)
	}
	inv, err := manifest.ReadInvite(*invite)
	if err != nil {
		return err
	}
	c, err := client.Init(ctx, client.Config{Home: e.home}, inv, client.NormalizeUsername(*name))
	if errors.Is(err, client.ErrAlreadyInitialized) {
		return fmt.Errorf("%s already holds an identity\nhint: use another --home for another user", e.home)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(e.stdout, "registered %s (device %d); state in %s\n", c.Username(), c.DeviceID(), e.home)
	return nil
}

func runSend(ctx context.Context, e *env, args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("need NAME and TEXT: %w", errUsage)
	}
	to, text := args[0], strings.Join(args[1:], " ")
	c, err := openClient(ctx, e, warnEvents(e))
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Send(ctx, to, text); err != nil {
		if errors.Is(err, client.ErrGaveUp) {
			return err
		}
		return fmt.Errorf("%w\nhint: the message stays in the outbox and goes out with the next send, recv or chat", err)
	}
	return nil
}

// warnEvents prints warnings (and nothing else) to stderr.
func warnEvents(e *env) func(client.Event) {
	return func(ev client.Event) {
		switch ev.Kind {
		case client.EventIdentityChanged:
			fmt.Fprintf(e.stderr, "warning: the safety number with %s changed; check it with 'samizdat safety %s'\n", ev.Peer, ev.Peer)
		case client.EventFailed:
			fmt.Fprintf(e.stderr, "warning: a queued message to %s was dropped: %v\n", ev.Peer, ev.Err)
		case client.EventUndecryptable:
			fmt.Fprintf(e.stderr, "warning: a message could not be decrypted and was dropped\n")
		}
	}
}

func runRecv(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("recv", flag.ContinueOnError)
	wait := fs.Duration("wait", 0, "keep receiving for this long (default: until the backlog is printed)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("unexpected argument %q: %w", pos[0], errUsage)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	warn := warnEvents(e)
	c, err := openClient(ctx, e, func(ev client.Event) {
		switch ev.Kind {
		case client.EventMessage:
			fmt.Fprintf(e.stdout, "%s: %s\n", ev.Peer, printable(ev.Text))
		case client.EventQueueEmpty:
			if *wait <= 0 {
				cancel()
			}
		default:
			warn(ev)
		}
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if *wait > 0 {
		var stop context.CancelFunc
		rctx, stop = context.WithTimeout(rctx, *wait)
		defer stop()
	} else {
		var stop context.CancelFunc
		rctx, stop = context.WithTimeout(rctx, 30*time.Second)
		defer stop()
	}
	err = c.Receive(rctx)
	if ctx.Err() != nil {
		return nil // interrupted
	}
	if err != nil {
		return err
	}
	// Receipts queued while receiving: give them a moment to go out.
	fctx, stop := context.WithTimeout(ctx, 3*time.Second)
	defer stop()
	c.Flush(fctx)
	return nil
}

// printable replaces control characters (a peer could otherwise drive the
// terminal) and keeps one message on one line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return '?'
		}
		return r
	}, s)
}

func runSafety(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("safety", flag.ContinueOnError)
	accept := fs.Bool("accept", false, "mark a changed safety number as checked")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("need NAME: %w", errUsage)
	}
	c, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.Safety(ctx, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\n", s.Number)
	if !s.ChangedAt.IsZero() {
		if *accept {
			if err := c.AcceptIdentity(ctx, s.Peer); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "accepted %s's new safety number\n", s.Peer)
		} else {
			fmt.Fprintf(e.stderr, "warning: %s's identity changed at %s; compare this number with them, then run 'samizdat safety %s --accept'\n",
				s.Peer, s.ChangedAt.Format(time.DateTime), s.Peer)
		}
	}
	return nil
}

func runContacts(ctx context.Context, e *env, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("takes no arguments: %w", errUsage)
	}
	c, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	cts, err := c.Contacts(ctx)
	if err != nil {
		return err
	}
	for _, ct := range cts {
		fmt.Fprintf(e.stdout, "%s\t%d device(s)\n", ct.Username, len(ct.Devices))
	}
	return nil
}

func runWhoami(ctx context.Context, e *env, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("takes no arguments: %w", errUsage)
	}
	c, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	id := c.AccountID()
	fmt.Fprintf(e.stdout, "%s (account %x, device %d)\n", c.Username(), id[:], c.DeviceID())
	out, err := c.Outbox(ctx)
	if err == nil && len(out) > 0 {
		fmt.Fprintf(e.stdout, "%d message(s) waiting in the outbox\n", len(out))
	}
	return nil
}

func runHistory(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	n := fs.Int("n", 50, "how many messages")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return fmt.Errorf("at most one NAME: %w", errUsage)
	}
	peer := ""
	if len(pos) == 1 {
		peer = pos[0]
	}
	c, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	msgs, err := c.History(ctx, peer, *n)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		fmt.Fprintln(e.stdout, formatHistory(c.Username(), m))
	}
	return nil
}

func formatHistory(me string, m clientdb.Message) string {
	ts := m.SentAt.Local().Format("2006-01-02 15:04")
	if m.Outgoing {
		return fmt.Sprintf("%s %s → %s: %s %s", ts, me, m.Peer, printable(m.Body), statusMark(m.Status))
	}
	return fmt.Sprintf("%s %s: %s", ts, m.Peer, printable(m.Body))
}

func statusMark(s int) string {
	switch s {
	case clientdb.StatusQueued:
		return "(queued)"
	case clientdb.StatusSent:
		return "✓"
	case clientdb.StatusDelivered:
		return "✓✓"
	case client.StatusFailed:
		return "(failed)"
	}
	return ""
}

func runLink(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("link", flag.ContinueOnError)
	newHome := fs.String("new-home", "", "state directory of the new device")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *newHome == "" {
		return fmt.Errorf("need --new-home DIR: %w", errUsage)
	}
	c, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	nc, err := c.LinkDevice(ctx, client.Config{Home: *newHome})
	if err != nil {
		return err
	}
	defer nc.Close()
	fmt.Fprintf(e.stdout, "linked device %d of %s; state in %s\n", nc.DeviceID(), nc.Username(), *newHome)
	return nil
}

// atoiDefault parses a positive int or returns def.
func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}
