package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
		{name: "init", summary: "create your identity and register with the relay in the invite", run: runInit},
		{name: "send", summary: "send a message; exits 0 once the relay has stored it", run: runSend},
		{name: "group", summary: "private groups: create, add, remove, leave, rename, admin, list, members", run: runGroup},
		{name: "recv", summary: "print the messages waiting for you (and, with --wait, those that arrive)", run: runRecv},
		{name: "safety", summary: "print the safety number you share with NAME", run: runSafety},
		{name: "chat", summary: "chat interactively in the terminal", run: runChat},
		{name: "web", summary: "chat in your browser: a local web client on 127.0.0.1", run: runWeb},
		{name: "contacts", summary: "list the people you have talked to", run: runContacts},
		{name: "requests", summary: "list message requests: people who wrote to you and whom you have not accepted", run: runRequests},
		{name: "accept", summary: "accept NAME's message request", run: peerCommands[0].run},
		{name: "block", summary: "drop NAME's messages unread", run: peerCommands[1].run},
		{name: "unblock", summary: "undo block NAME", run: peerCommands[2].run},
		{name: "whoami", summary: "print your username, account and device", run: runWhoami},
		{name: "history", summary: "print the message history", run: runHistory},
		{name: "channel", summary: "broadcast channels: create, join, post, admin, leave, list", run: runChannel},
		{name: "link", summary: "make this home a new device of your account: prints a code to approve on another device", run: runLink},
		{name: "timer", summary: "disappearing messages: set or print the timer of your conversation with NAME", run: runTimer},
		{name: "devices", summary: "list your account's devices, approve a new one (devices approve CODE), or remove one", run: runDevices},
		{name: "bridge", summary: "carry your contacts' connections to the relay when theirs are blocked", run: runBridge},
		{name: "import", summary: "take a newer invite or manifest by hand, when every channel is blocked", run: runImport},
		{name: "invite", summary: "make a personal invite: whoever joins with it is placed in your cohort", run: runInvite},
	}
}

// openNoArgs parses a command that takes no arguments and opens the client.
func openNoArgs(ctx context.Context, e *env, f *cmdFlags, args []string) (*client.Client, func(), error) {
	f.homeFlag(e)
	if err := f.noArgs(args); err != nil {
		return nil, nil, err
	}
	return openClient(ctx, e, nil)
}

// openOneName parses a command that takes one NAME (its flags defined,
// home included) and opens the client; name is canonical.
func openOneName(ctx context.Context, e *env, f *cmdFlags, args []string) (string, *client.Client, func(), error) {
	pos, err := f.parse(args)
	if err != nil {
		return "", nil, nil, err
	}
	if len(pos) != 1 {
		return "", nil, nil, f.usagef("need one NAME")
	}
	c, release, err := openClient(ctx, e, nil)
	return client.NormalizeUsername(pos[0]), c, release, err
}

// openClient opens the client in e's home directory, or, when this command
// runs inside the long-running command that owns the home, borrows that
// one's client. The returned release closes or gives it back.
func openClient(ctx context.Context, e *env, onEvent func(client.Event)) (*client.Client, func(), error) {
	if e.owned != nil {
		return e.owned.c, e.owned.subscribe(onEvent), nil
	}
	c, err := client.Open(ctx, client.Config{Home: e.home, OnEvent: onEvent, OnDial: e.onDial})
	if errors.Is(err, client.ErrNotInitialized) {
		return nil, nil, fmt.Errorf("no identity in %s\nhint: run 'samizdat --home %s init --invite FILE --name NAME' first", e.home, e.home)
	}
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close() }, nil
}

func runInit(ctx context.Context, e *env, args []string) error {
	f := newFlags("init", "--invite FILE --name NAME", `Create your identity (keys, prekeys) in the home directory and register it with the
relay named in the invite, under NAME. One home is one device of one user.`)
	f.homeFlag(e)
	invite := f.String("invite", "", "the invite `FILE` from the relay operator, or from a friend")
	name := f.String("name", "", "your username: 3-32 of a-z 0-9 _ . (a `NAME` others find you by)")
	devName := deviceNameFlag(f)
	if err := f.noArgs(args); err != nil {
		return err
	}
	if *invite == "" || *name == "" {
		return f.usagef("--invite and --name are required")
	}
	inv, err := manifest.ReadInvite(e.path(*invite))
	if err != nil {
		return err
	}
	if err := checkDeviceName(f, *devName); err != nil {
		return err
	}
	c, err := client.Init(ctx, client.Config{Home: e.home, DeviceName: *devName}, inv, client.NormalizeUsername(*name))
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
	f := newFlags("send", "NAME [--file PATH] TEXT...", `Send TEXT to the user NAME, or to the group NAME. It exits 0 once the relay has stored
the message (it is end-to-end encrypted; the relay holds it until NAME's devices fetch it).
Otherwise it exits 1 with the reason, and the message stays in the outbox for the next
send, recv or chat.
With --file PATH it sends the file (up to 2 GiB; TEXT optional), encrypted end to end:
it exits 0 once the relay has stored the whole file and the message; if the upload
stops, the next send of the same file to NAME resumes it from the last stored chunk.
Sent to your own name, it is a note to self: kept in your history and sent to your other
devices. "--" ends the flags: send bob -- --text-with-dashes.`)
	f.homeFlag(e)
	file := f.String("file", "", "send the file at `PATH` with the message")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) < 2 && *file == "" {
		return f.usagef("need NAME and TEXT")
	}
	to, text := pos[0], strings.Join(pos[1:], " ")
	if strings.TrimSpace(text) == "" && *file == "" {
		return f.usagef("the message is empty")
	}
	// Warnings about other queued messages are printed; this message's
	// own failure is the error, printed once.
	var others []client.Event
	var mu sync.Mutex
	c, release, err := openClient(ctx, e, func(ev client.Event) {
		mu.Lock()
		others = append(others, ev)
		mu.Unlock()
	})
	if err != nil {
		return err
	}
	defer release()
	msg, err := sendMessage(ctx, e, c, to, text, *file)
	if err == nil {
		syncBridges(ctx, e, c)
	}
	mu.Lock()
	for _, ev := range others {
		if ev.Kind != client.EventFailed || ev.EnvelopeID != msg.EnvelopeID {
			warnEvents(e)(ev)
		}
	}
	mu.Unlock()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrNoSuchUser):
		return fmt.Errorf("no user named %q on this relay\nhint: check the spelling; they join with 'samizdat init' and an invite", client.NormalizeUsername(to))
	case errors.Is(err, client.ErrNotMember):
		return groupError(client.NormalizeUsername(to), err)
	case errors.Is(err, client.ErrGaveUp), errors.Is(err, client.ErrDeviceRemoved), errors.Is(err, errUploadStopped), errors.Is(err, errFileRefused):
		return err
	}
	return fmt.Errorf("%w\nhint: the message stays in the outbox and goes out with the next send, recv or chat", err)
}

// warnEvents prints warnings (and nothing else) to stderr.
func warnEvents(e *env) func(client.Event) {
	return func(ev client.Event) {
		switch ev.Kind {
		case client.EventIdentityChanged:
			fmt.Fprintf(e.stderr, "warning: the safety number with %s changed; check it with 'samizdat safety %s'\n", ev.Peer, ev.Peer)
		case client.EventGroupRequest:
			fmt.Fprintf(e.stderr, "note: %s: %s %s; nothing goes to the group until 'samizdat accept %s' or you write to it ('samizdat group leave %s' to leave)\n",
				ev.Group, ev.Peer, client.GroupRequestLine, ev.Group, ev.Group)
		case client.EventFailed:
			fmt.Fprintf(e.stderr, "warning: a queued message to %s was dropped: %v\n", ev.Peer, ev.Err)
		case client.EventUndecryptable:
			fmt.Fprintf(e.stderr, "warning: a message could not be decrypted and was dropped\n")
		case client.EventBridgeOffer:
			if ev.Text == "withdrawn" {
				fmt.Fprintf(e.stderr, "note: %s closed their bridge\n", ev.Peer)
			} else {
				fmt.Fprintf(e.stderr, "note: %s offers you their bridge, used by itself if the relay is ever out of reach\n", ev.Peer)
			}
		case client.EventRefused:
			if ev.Peer == "" {
				fmt.Fprintf(e.stderr, "warning: refused a message: %v\n", ev.Err)
			} else {
				fmt.Fprintf(e.stderr, "warning: refused what %s sent: %v\n", ev.Peer, ev.Err)
			}
		case client.EventManifest:
			fmt.Fprintf(e.stderr, "note: %s handed you the network's newer manifest (serial %s)\n", ev.Peer, ev.Text)
		case client.EventDeviceRemoved:
			fmt.Fprintf(e.stderr, "note: device %d was removed from your account\n", ev.Device)
		case client.EventChannelAdmin:
			fmt.Fprintf(e.stderr, "note: %s made you an admin of the channel %s\n", ev.Peer, ev.Text)
		}
	}
}

// recvLimit bounds how long recv takes to connect and to receive what
// waits on the relay; --wait counts from then.
const recvLimit = 30 * time.Second

func runRecv(ctx context.Context, e *env, args []string) error {
	f := newFlags("recv", "", fmt.Sprintf(`Print the messages waiting for you, one per line as NAME: TEXT (a note from another
of your devices as NAME (note to self): TEXT; a group's as GROUP/SENDER: TEXT, and its
changes as GROUP: * SENDER added NAME), and exit. With --wait, keep receiving
for that long after the backlog. Connecting and receiving the backlog have %v of
their own, however long --wait is; recv fails with the reason if that is not enough.
A file is downloaded, checked and saved in HOME/files (or --files DIR) first, then
printed as NAME: [file FILENAME, SIZE bytes] TEXT; an interrupted download resumes
with the next recv.`, recvLimit))
	f.homeFlag(e)
	wait := f.Duration("wait", 0, "after the backlog, keep receiving for this long (a bare number is seconds)")
	files := f.String("files", "", "save received files in `DIR` (default: HOME/files)")
	noRead := noReadReceiptsFlag(f)
	if err := f.noArgs(args); err != nil {
		return err
	}
	if *wait < 0 {
		return f.usagef("--wait must not be negative")
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Until the backlog has arrived recv is bounded by recvLimit, and
	// from then on by --wait.
	errSlow := fmt.Errorf("the relay did not deliver what waits for you within %v", recvLimit)
	var (
		mu        sync.Mutex
		caughtUp  bool        // guarded by mu
		waitTimer *time.Timer // guarded by mu
	)
	backlogDone := func() {
		mu.Lock()
		defer mu.Unlock()
		if caughtUp {
			return
		}
		caughtUp = true
		if *wait <= 0 {
			cancel(nil)
			return
		}
		waitTimer = time.AfterFunc(*wait, func() { cancel(nil) })
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if waitTimer != nil {
			waitTimer.Stop()
		}
	}()
	warn := warnEvents(e)
	var me string
	var shown []client.Event // messages printed, to mark read
	c, release, err := openClient(ctx, e, func(ev client.Event) {
		switch ev.Kind {
		case client.EventMessage:
			mu.Lock()
			shown = append(shown, ev)
			mu.Unlock()
			if ev.Peer == me {
				fmt.Fprintf(e.stdout, "%s (note to self): %s\n", ev.Peer, printable(ev.Text))
			} else {
				fmt.Fprintf(e.stdout, "%s: %s\n", ev.Peer, printable(ev.Text))
			}
		case client.EventGroupMessage, client.EventGroupChange:
			fmt.Fprintln(e.stdout, groupLine(ev))
		case client.EventChannelPost:
			fmt.Fprintf(e.stdout, "#%s: %s\n", ev.Peer, printable(ev.Text))
		case client.EventTimer:
			fmt.Fprintln(e.stdout, timerLine(ev))
		case client.EventQueueEmpty:
			backlogDone()
		default:
			warn(ev)
		}
	})
	if err != nil {
		return err
	}
	defer release()
	me = c.Username()
	if e.owned != nil {
		// The owner is receiving already: what was waiting has been shown
		// there; wait for what arrives.
		if *wait <= 0 {
			fmt.Fprintf(e.stderr, "note: %s is receiving on this home and showed what was waiting ('samizdat history' lists it)\n", e.owned.who)
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(*wait):
		}
		return nil
	}
	if *wait > 0 {
		c.SaveFilesTo(filesDir(e, *files)) // files arriving while it waits
	}
	slow := time.AfterFunc(recvLimit, func() {
		mu.Lock()
		defer mu.Unlock()
		if !caughtUp {
			cancel(errSlow)
		}
	})
	defer slow.Stop()
	err = c.Receive(rctx)
	if ctx.Err() != nil {
		return nil // interrupted
	}
	if errors.Is(context.Cause(rctx), errSlow) {
		if err != nil { // never connected: the reason is the last dial's
			return fmt.Errorf("no connection to the relay within %v: %w\nhint: the messages wait on the relay; try again later", recvLimit, err)
		}
		return fmt.Errorf("%w\nhint: the messages wait on the relay; try again later", errSlow)
	}
	if err != nil {
		return err
	}
	if err := downloadFiles(ctx, e, c, *files); err != nil {
		return err
	}
	// Files are shown once saved: mark read after downloading them.
	mu.Lock()
	read := shown
	mu.Unlock()
	for _, ev := range read {
		if err := c.MarkRead(ctx, ev.Peer, !*noRead, ev.EnvelopeID); err != nil {
			return err
		}
	}
	// Receipts queued while receiving: give them a moment to go out.
	fctx, stopFlush := context.WithTimeout(ctx, 3*time.Second)
	defer stopFlush()
	c.Flush(fctx)
	syncBridges(ctx, e, c)
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
	f := newFlags("safety", "NAME", `Print the 60-digit safety number you share with NAME. Compare it with theirs in person
or over another channel: when the numbers match, nobody sits between you. If NAME's
identity changed, it says so; --accept marks the new number as checked.`)
	f.homeFlag(e)
	accept := f.Bool("accept", false, "mark a changed safety number as checked")
	name, c, release, err := openOneName(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
	s, err := c.Safety(ctx, name)
	if errors.Is(err, client.ErrNoSuchUser) {
		return fmt.Errorf("no user named %q on this relay", name)
	}
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
	f := newFlags("contacts", "", "List the people you have written to or heard from, with how many devices each has.")
	c, release, err := openNoArgs(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
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
	f := newFlags("whoami", "", "Print your username, account id and device number, your cohort, and what waits in the outbox.")
	c, release, err := openNoArgs(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
	id := c.AccountID()
	fmt.Fprintf(e.stdout, "%s (account %x, device %d)\n", c.Username(), id[:], c.DeviceID())
	if m, err := c.Manifest(); err == nil && m.Cohorts > 0 {
		fmt.Fprintf(e.stdout, "cohort %d of %d\n", c.Cohort(), m.Cohorts)
	}
	out, err := c.Outbox(ctx)
	if err == nil && len(out) > 0 {
		fmt.Fprintf(e.stdout, "%d message(s) waiting in the outbox\n", len(out))
	}
	return nil
}

func runHistory(ctx context.Context, e *env, args []string) error {
	f := newFlags("history", "[NAME]", `Print the message history, oldest first: with NAME, only your conversation with NAME
(or, for a group's name, the group's messages and changes).
Your messages are marked (queued), ✓ (stored on the relay), ✓✓ (delivered) or (failed).`)
	f.homeFlag(e)
	n := f.Int("n", 50, "how many messages, the newest")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return f.usagef("at most one NAME")
	}
	if *n <= 0 {
		return f.usagef("-n must be positive")
	}
	peer := ""
	if len(pos) == 1 {
		peer = pos[0]
	}
	c, release, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer release()
	msgs, err := c.History(ctx, peer, *n)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		fmt.Fprintln(e.stdout, formatHistory(c.Username(), m))
	}
	return nil
}

// groupLine prints a group's event: GROUP/SENDER: TEXT, or
// GROUP: * SENDER added NAME.
func groupLine(ev client.Event) string {
	if ev.Kind == client.EventGroupChange {
		return fmt.Sprintf("%s: * %s %s", ev.Group, ev.Peer, printable(ev.Text))
	}
	return fmt.Sprintf("%s/%s: %s", ev.Group, ev.Peer, printable(ev.Text))
}

func formatHistory(me string, m clientdb.Message) string {
	ts := m.SentAt.Local().Format("2006-01-02 15:04")
	switch {
	case m.Status == clientdb.StatusNotice:
		return fmt.Sprintf("%s %s: * %s %s", ts, m.Peer, m.Sender, printable(m.Body))
	case m.Sender != "" && !m.Outgoing:
		return fmt.Sprintf("%s %s/%s: %s", ts, m.Peer, m.Sender, printable(m.Body))
	case m.Peer == me && m.Outgoing:
		return fmt.Sprintf("%s %s (note to self): %s %s", ts, me, printable(m.Body), statusMark(m.Status))
	case m.Peer == me:
		return fmt.Sprintf("%s %s (note to self): %s", ts, me, printable(m.Body))
	case m.Outgoing:
		return fmt.Sprintf("%s %s → %s: %s %s", ts, me, m.Peer, printable(m.Body), statusMark(m.Status))
	}
	return fmt.Sprintf("%s %s: %s", ts, m.Peer, printable(m.Body))
}

func statusMark(s int) string {
	switch s {
	case clientdb.StatusSeen:
		return "✓✓ read"
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

func runImport(ctx context.Context, e *env, args []string) error {
	f := newFlags("import", "FILE|-", `Take a newer manifest of your network by hand: an invite file, or a manifest in base64 as
pasted from a chat or a QR code ("-" reads standard input). It is the last way back when
every address and channel you know is blocked: someone who still gets through passes
you the newer one. It is checked like a manifest from any channel (the network's
signature, the network name, not expired, newer than yours) and refused with the reason
otherwise, changing nothing.`)
	f.homeFlag(e)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.usagef("need one FILE, or - for standard input")
	}
	var text []byte
	if pos[0] == "-" {
		text, err = io.ReadAll(io.LimitReader(e.in(), 1<<20))
	} else {
		text, err = os.ReadFile(e.path(pos[0]))
	}
	if err != nil {
		return err
	}
	c, release, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer release()
	m, err := c.Import(ctx, text)
	if err != nil {
		return fmt.Errorf("not imported: %w", err)
	}
	n := 0
	for _, r := range m.Relays {
		n += len(r.Endpoints)
	}
	fmt.Fprintf(e.stdout, "imported manifest %d of %s: %d endpoint(s), %d channel(s)\n", m.Serial, m.Network, n, len(m.Channels))
	return nil
}

// path resolves a path given on the command line against the directory the
// command was typed in (which differs from this process's when a command
// runs inside the chat that owns the home).
func (e *env) path(p string) string {
	if e.cwd == "" || filepath.IsAbs(p) || p == "-" {
		return p
	}
	return filepath.Join(e.cwd, p)
}

// atoiDefault parses a positive int or returns def.
func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}
