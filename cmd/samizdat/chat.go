package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"samizdat/client"
)

// chatUI is the interactive chat: a prompt with line editing and history
// (when stdin is a terminal), and incoming messages, receipts and warnings
// printed above it without breaking the line being typed.
type chatUI struct {
	c *client.Client
	// noReadReceipts: shown messages are marked read (here and on the
	// other devices) without telling their senders.
	noReadReceipts bool
	out            io.Writer        // the terminal (redraws the prompt) or plain stdout
	term           *term.Terminal   // nil when stdin is not a terminal; then typed lines are not on screen, and queue prints them
	esc            term.EscapeCodes // colors; empty when not a terminal

	mu      sync.Mutex
	to      string              // guarded by mu; the current recipient
	sent    map[[16]byte]string // guarded by mu; our messages this session, for receipts
	offline bool                // guarded by mu; a disconnect was shown
	synced  bool                // guarded by mu; the backlog was shown
	sendQ   chan [2]string
	pending sync.WaitGroup // messages queued and not yet handed to the relay (or failed)
}

func runChat(ctx context.Context, e *env, args []string) error {
	f := newFlags("chat", "[NAME]", `Chat in the terminal: type a line to send it to the current contact or group (NAME, or
the first who writes); /help lists the commands (/to NAME, @NAME TEXT, /history, /safety,
/who, /quit). Your lines show as "you → NAME:"; ✓ marks a message the relay stored, ✓✓
one that reached a device of NAME's.

While a chat runs it owns the home: send, recv, contacts and the other one-shot commands
typed in another terminal on the same home run inside it, over a socket in the home
(mode 0600), instead of opening a second relay connection. A second chat on the same
home is refused.

With --bridge ADDR the chat also runs a bridge for your contacts, as 'samizdat bridge'
does (see 'samizdat help bridge'): every contact you accepted learns the address.`)
	f.homeFlag(e)
	var bo bridgeOptions
	bo.addFlags(f, "bridge", false)
	noRead := noReadReceiptsFlag(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return f.usagef("at most one NAME")
	}
	if err := bo.check(f, "bridge"); err != nil {
		return err
	}
	ui := &chatUI{sent: make(map[[16]byte]string), sendQ: make(chan [2]string, 64), out: e.stdout, noReadReceipts: *noRead}
	if len(pos) == 1 {
		ui.to = client.NormalizeUsername(pos[0])
	}
	in := e.stdin
	if in == nil {
		in = os.Stdin
	}
	var lines func() (string, error)
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		old, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			return err
		}
		defer term.Restore(int(f.Fd()), old)
		t := term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{f, e.stdout}, "")
		if w, h, err := term.GetSize(int(f.Fd())); err == nil && w > 0 && h > 0 {
			t.SetSize(w, h)
		}
		ui.term, ui.out, ui.esc = t, t, *t.Escape
		t.AutoCompleteCallback = ui.complete
		lines = t.ReadLine
	} else {
		sc := bufio.NewScanner(in)
		lines = func() (string, error) {
			if sc.Scan() {
				return sc.Text(), nil
			}
			if sc.Err() != nil {
				return "", sc.Err()
			}
			return "", io.EOF
		}
	}

	oc, stop, err := ownHome(ctx, e, "chat", ui.onEvent)
	if err != nil {
		return err
	}
	defer stop()
	c := oc.c
	ui.c = c
	c.SaveFilesTo(filesDir(e, "")) // received files are saved, then shown
	if ui.to != "" {
		if name, ok := ui.checkUser(ctx, ui.to); ok {
			ui.to = name
		} else {
			ui.to = ""
		}
	}
	ui.setPrompt()
	ui.printf("%ssamizdat chat%s — you are %s. Type /help for commands.\n", ui.esc.Green, ui.esc.Reset, c.Username())
	if ui.to != "" {
		ui.showHistory(ctx, 10)
	} else {
		ui.printf("Choose who to talk to with /to NAME.\n")
	}

	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (defers run last first)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(2)
	removed := make(chan error, 1) // Receive ended for good: this device was removed
	go func() {
		defer wg.Done()
		if err := c.Receive(ctx); errors.Is(err, client.ErrDeviceRemoved) {
			removed <- err
		}
	}()
	if len(bo.listen) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serveBridge(ctx, e, c, bo, ui.printf); err != nil {
				ui.printf("%sbridge: %v%s\n", ui.esc.Red, err, ui.esc.Reset)
			}
		}()
	}
	go func() {
		defer wg.Done()
		ui.sender(ctx)
	}()

	type line struct {
		s   string
		err error
	}
	lineCh := make(chan line)
	go func() {
		for {
			s, err := lines()
			if errors.Is(err, term.ErrPasteIndicator) {
				err = nil
			}
			select {
			case lineCh <- line{s, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-removed:
			return err
		case l := <-lineCh:
			if l.err != nil || ui.handleLine(ctx, strings.TrimSpace(l.s)) {
				ui.finish()
				return nil
			}
		}
	}
}

// finish waits (briefly) for typed messages to reach the relay; what does
// not stays in the outbox for next time.
func (ui *chatUI) finish() {
	done := make(chan struct{})
	go func() {
		ui.pending.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		ui.printf("some messages are still queued; they go out next time\n")
	}
	if ui.term != nil {
		ui.term.SetPrompt("")
	}
	ui.printf("bye\n")
}

func (ui *chatUI) printf(format string, args ...any) {
	fmt.Fprintf(ui.out, format, args...)
}

func (ui *chatUI) setPrompt() {
	if ui.term == nil {
		return
	}
	ui.mu.Lock()
	to := ui.to
	ui.mu.Unlock()
	if to == "" {
		ui.term.SetPrompt("> ")
		return
	}
	ui.term.SetPrompt(string(ui.esc.Green) + "you → " + to + string(ui.esc.Reset) + ": ")
}

func (ui *chatUI) recipient() string {
	ui.mu.Lock()
	defer ui.mu.Unlock()
	return ui.to
}

const chatHelp = `commands:
  /to NAME        talk to NAME (following lines go to them)
  @NAME TEXT      send one message to NAME
  /who            list your contacts
  /history [N]    show the last N messages with the current contact
  /safety [NAME]  show the safety number to compare with NAME in person
  /quit           leave (Ctrl-D works too)
anything else is sent to the current contact.
`

// handleLine acts on one typed line; it reports whether to quit.
func (ui *chatUI) handleLine(ctx context.Context, s string) bool {
	if s == "" {
		return false
	}
	if strings.HasPrefix(s, "@") {
		name, text, _ := strings.Cut(s[1:], " ")
		if name == "" || strings.TrimSpace(text) == "" {
			ui.printf("usage: @NAME TEXT\n")
			return false
		}
		if name, ok := ui.checkUser(ctx, name); ok {
			ui.queue(name, text)
		}
		return false
	}
	if !strings.HasPrefix(s, "/") {
		to := ui.recipient()
		if to == "" {
			ui.printf("%sno recipient:%s choose one with /to NAME\n", ui.esc.Yellow, ui.esc.Reset)
			return false
		}
		ui.queue(to, s)
		return false
	}
	cmd, arg, _ := strings.Cut(s, " ")
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "/help", "/h", "/?":
		ui.printf("%s", chatHelp)
	case "/quit", "/q", "/exit":
		return true
	case "/to":
		if arg == "" {
			ui.printf("usage: /to NAME\n")
			return false
		}
		name, ok := ui.checkUser(ctx, arg)
		if !ok {
			return false
		}
		ui.mu.Lock()
		ui.to = name
		ui.mu.Unlock()
		ui.setPrompt()
		ui.showHistory(ctx, 10)
	case "/who", "/contacts":
		cts, err := ui.c.Contacts(ctx)
		if err != nil {
			ui.printf("error: %v\n", err)
			return false
		}
		if len(cts) == 0 {
			ui.printf("no contacts yet\n")
		}
		for _, ct := range cts {
			ui.printf("  %s\n", ct.Username)
		}
	case "/history":
		ui.showHistory(ctx, atoiDefault(arg, 20))
	case "/safety":
		name := arg
		if name == "" {
			name = ui.recipient()
		}
		if name == "" {
			ui.printf("usage: /safety NAME\n")
			return false
		}
		go func() {
			s, err := ui.c.Safety(ctx, name)
			if err != nil {
				ui.printf("error: %v\n", err)
				return
			}
			ui.printf("safety number with %s:\n  %s\n", s.Peer, s.Number)
			if !s.ChangedAt.IsZero() {
				ui.printf("%s%s's identity changed at %s.%s Compare the number in person, then run 'samizdat safety %s --accept'.\n",
					ui.esc.Red, s.Peer, s.ChangedAt.Local().Format(time.DateTime), ui.esc.Reset, s.Peer)
			}
		}()
	default:
		ui.printf("unknown command %s; /help lists them\n", cmd)
	}
	return false
}

// checkUser asks the relay whether the user name exists (a contact is
// known already). When the relay cannot be asked now, the name is taken and
// a message to a user who does not exist fails later, with the reason.
func (ui *chatUI) checkUser(ctx context.Context, name string) (string, bool) {
	name = client.NormalizeUsername(name)
	if g, err := ui.c.GroupByName(ctx, name); err == nil {
		return g.Name, true // a group of ours
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := ui.c.Lookup(lctx, name)
	switch {
	case err == nil:
		return name, true
	case errors.Is(err, client.ErrNoSuchUser):
		ui.printf("%sno user named %s on this relay%s\n", ui.esc.Red, name, ui.esc.Reset)
		return "", false
	}
	ui.printf("%s· could not check %s now (%v); messages wait in the outbox until the relay answers%s\n", ui.esc.Yellow, name, err, ui.esc.Reset)
	return name, true
}

func (ui *chatUI) showHistory(ctx context.Context, n int) {
	to := ui.recipient()
	if to == "" {
		return
	}
	msgs, err := ui.c.History(ctx, to, n)
	if err != nil {
		ui.printf("error: %v\n", err)
		return
	}
	if len(msgs) == 0 {
		ui.printf("%s· talking to %s (no messages yet)%s\n", ui.esc.Blue, to, ui.esc.Reset)
		return
	}
	ui.printf("%s· last %d message(s) with %s:%s\n", ui.esc.Blue, len(msgs), to, ui.esc.Reset)
	for _, m := range msgs {
		ui.printf("  %s\n", formatHistory(ui.c.Username(), m))
	}
}

// queue hands a message to the sender goroutine, which sends in order.
func (ui *chatUI) queue(to, text string) {
	if ui.term == nil {
		ui.printf("%s %syou → %s%s: %s\n", time.Now().Format("15:04"), ui.esc.Green, to, ui.esc.Reset, printable(text))
	}
	ui.pending.Add(1)
	select {
	case ui.sendQ <- [2]string{to, text}:
	default:
		ui.pending.Done()
		ui.printf("%stoo many messages in flight; wait a moment%s\n", ui.esc.Yellow, ui.esc.Reset)
	}
}

func (ui *chatUI) sender(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-ui.sendQ:
			msg, err := ui.c.Send(ctx, m[0], m[1])
			ui.pending.Done()
			ui.mu.Lock()
			ui.sent[msg.EnvelopeID] = m[1]
			ui.mu.Unlock()
			switch {
			case err == nil:
				ui.printf("%s   ✓ stored on the relay: “%s”%s\n", ui.esc.Blue, snippet(m[1]), ui.esc.Reset)
			case errors.Is(err, client.ErrGaveUp):
				// EventFailed has said why.
			case ctx.Err() != nil:
				return
			default:
				ui.printf("%s… not sent yet (%v); it stays queued and goes out when the relay is back%s\n", ui.esc.Yellow, err, ui.esc.Reset)
			}
		}
	}
}

func (ui *chatUI) onEvent(ev client.Event) {
	now := time.Now().Format("15:04")
	switch ev.Kind {
	case client.EventMessage:
		ui.mu.Lock()
		if ui.to == "" {
			ui.to = ev.Peer
			defer ui.setPrompt()
		}
		ui.mu.Unlock()
		ui.printf("%s %s%s%s: %s\n", now, ui.esc.Cyan, ev.Peer, ui.esc.Reset, printable(ev.Text))
		if err := ui.c.MarkRead(context.Background(), ev.Peer, !ui.noReadReceipts, ev.EnvelopeID); err != nil {
			ui.printf("%s(not marked read: %v)%s\n", ui.esc.Yellow, err, ui.esc.Reset)
		}
	case client.EventGroupMessage, client.EventGroupChange:
		ui.mu.Lock()
		if ui.to == "" && ev.Kind == client.EventGroupMessage {
			ui.to = ev.Group
			defer ui.setPrompt()
		}
		ui.mu.Unlock()
		ui.printf("%s %s%s%s\n", now, ui.esc.Cyan, groupLine(ev), ui.esc.Reset)
	case client.EventTimer:
		ui.printf("%s %s%s%s\n", now, ui.esc.Cyan, timerLine(ev), ui.esc.Reset)
	case client.EventChannelPost:
		ui.printf("%s %s#%s%s: %s\n", now, ui.esc.Cyan, ev.Peer, ui.esc.Reset, printable(ev.Text))
	case client.EventDelivered:
		ui.mu.Lock()
		text, ok := ui.sent[ev.EnvelopeID]
		ui.mu.Unlock()
		if ok {
			ui.printf("%s   ✓✓ %s received “%s”%s\n", ui.esc.Green, ev.Peer, snippet(text), ui.esc.Reset)
		}
	case client.EventIdentityChanged:
		ui.printf("%s⚠ the safety number with %s changed: their identity key is new.%s Compare it with /safety %s before you trust it.\n",
			ui.esc.Red, ev.Peer, ui.esc.Reset, ev.Peer)
	case client.EventFailed:
		reason := fmt.Sprint(ev.Err)
		if errors.Is(ev.Err, client.ErrNoSuchUser) {
			reason = "no user by that name on this relay"
		}
		ui.printf("%s✗ not sent to %s: %s%s\n", ui.esc.Red, ev.Peer, reason, ui.esc.Reset)
	case client.EventUndecryptable:
		ui.printf("%s⚠ a message could not be decrypted and was dropped%s\n", ui.esc.Yellow, ui.esc.Reset)
	case client.EventDeviceRemoved:
		ui.printf("%s· device %d was removed from your account%s\n", ui.esc.Blue, ev.Device, ui.esc.Reset)
	case client.EventGroupRequest:
		ui.printf("%s· %s: %s %s; 'samizdat accept %s' or write to it to join it%s\n", ui.esc.Yellow, ev.Group, ev.Peer, client.GroupRequestLine, ev.Group, ui.esc.Reset)
	case client.EventConnected:
		ui.mu.Lock()
		was := ui.offline
		ui.offline = false
		ui.mu.Unlock()
		if was {
			ui.printf("%s· connected again%s\n", ui.esc.Blue, ui.esc.Reset)
		}
	case client.EventDisconnected:
		ui.mu.Lock()
		was := ui.offline
		ui.offline = true
		ui.mu.Unlock()
		if !was {
			ui.printf("%s· lost the relay (%v); reconnecting…%s\n", ui.esc.Yellow, ev.Err, ui.esc.Reset)
		}
	case client.EventQueueEmpty:
		ui.mu.Lock()
		first := !ui.synced
		ui.synced = true
		ui.mu.Unlock()
		if first {
			ui.printf("%s· up to date%s\n", ui.esc.Blue, ui.esc.Reset)
		}
	}
}

func snippet(s string) string {
	s = printable(s)
	if utf8.RuneCountInString(s) <= 24 {
		return s
	}
	r := []rune(s)
	return string(r[:23]) + "…"
}

// complete completes "/to NA" and "@NA" with contact names on Tab.
func (ui *chatUI) complete(line string, pos int, key rune) (string, int, bool) {
	if key != '\t' || pos != len(line) {
		return "", 0, false
	}
	var prefix, partial string
	switch {
	case strings.HasPrefix(line, "/to "):
		prefix, partial = "/to ", strings.TrimSpace(line[4:])
	case strings.HasPrefix(line, "/safety "):
		prefix, partial = "/safety ", strings.TrimSpace(line[8:])
	case strings.HasPrefix(line, "@") && !strings.Contains(line, " "):
		prefix, partial = "@", line[1:]
	default:
		return "", 0, false
	}
	cts, err := ui.c.Contacts(context.Background())
	if err != nil {
		return "", 0, false
	}
	var match string
	for _, ct := range cts {
		if strings.HasPrefix(ct.Username, partial) {
			if match != "" {
				return "", 0, false // ambiguous
			}
			match = ct.Username
		}
	}
	if match == "" {
		return "", 0, false
	}
	out := prefix + match + " "
	return out, len(out), true
}
