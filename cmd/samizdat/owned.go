package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"samizdat/client"
	"samizdat/client/owner"
)

// forwardable are the one-shot commands that, while a long-running command
// owns the home, run inside it instead of opening a second relay connection
// (which would replace the owner's).
var forwardable = map[string]bool{
	"send": true, "recv": true, "safety": true, "contacts": true,
	"whoami": true, "history": true, "timer": true, "import": true, "invite": true,
	"requests": true, "accept": true, "block": true, "unblock": true, "devices": true, "group": true,
}

// isForwardable reports whether the command line (a command's name and
// its arguments) runs inside the owner of the home: a forwardable command,
// or a bridge's subcommand that changes what the home offers.
func isForwardable(name string, args []string) bool {
	if name == "bridge" {
		return len(args) > 0 && (args[0] == "credential" || args[0] == "list" || args[0] == "forget")
	}
	return forwardable[name]
}

// exists reports whether a file is there.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// in is the command's standard input.
func (e *env) in() io.Reader {
	if e.stdin == nil {
		return os.Stdin
	}
	return e.stdin
}

// ownedClient is the open client of the long-running command that owns a
// home, lent to the commands it runs for other processes. Each borrower
// subscribes to the client's events for as long as it runs.
type ownedClient struct {
	c   *client.Client
	who string // "samizdat chat (pid 123)"

	mu   sync.Mutex
	next int
	subs map[int]func(client.Event) // guarded by mu
}

// subscribe adds fn (nil: nothing) to the receivers of events and returns
// the function that removes it.
func (o *ownedClient) subscribe(fn func(client.Event)) func() {
	if fn == nil {
		return func() {}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.subs == nil {
		o.subs = make(map[int]func(client.Event))
	}
	o.next++
	id := o.next
	o.subs[id] = fn
	return func() {
		o.mu.Lock()
		delete(o.subs, id)
		o.mu.Unlock()
	}
}

// emit passes an event of the owner's client to every borrower.
func (o *ownedClient) emit(ev client.Event) {
	o.mu.Lock()
	fns := make([]func(client.Event), 0, len(o.subs))
	for _, fn := range o.subs {
		fns = append(fns, fn)
	}
	o.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// ownHome makes this long-running command (what: "chat") the owner of e's
// home and opens its client; commands typed in other terminals then run in
// this process. onEvent receives the client's events (before borrowers do).
// stop closes the client and releases the home.
func ownHome(ctx context.Context, e *env, what string, onEvent func(client.Event)) (oc *ownedClient, stop func(), err error) {
	who := fmt.Sprintf("samizdat %s (pid %d)", what, os.Getpid())
	o, err := owner.Claim(e.home, who)
	var held *owner.HeldError
	if errors.As(err, &held) {
		return nil, nil, fmt.Errorf("%v\nhint: use that one (commands typed in another terminal go through it), or quit it first", err)
	}
	if err != nil {
		return nil, nil, err
	}
	oc = &ownedClient{who: who}
	c, release, err := openClient(ctx, e, func(ev client.Event) {
		if onEvent != nil {
			onEvent(ev)
		}
		oc.emit(ev)
	})
	if err != nil {
		o.Close()
		return nil, nil, err
	}
	oc.c = c
	served := make(chan struct{})
	go func() {
		defer close(served)
		o.Serve(func(ctx context.Context, req owner.Request, stdout, stderr io.Writer) int {
			be := &env{stdin: bytes.NewReader(req.Stdin), stdout: stdout, stderr: stderr, home: e.home, cwd: req.Cwd, owned: oc}
			return runOwned(ctx, be, req.Args)
		})
	}()
	return oc, func() {
		o.Close() // waits for commands under way
		<-served
		release()
	}, nil
}

// runOwned runs a command line handed over by another process.
func runOwned(ctx context.Context, e *env, args []string) int {
	cmd, ok := lookup(args[0])
	if !ok || !isForwardable(cmd.name, args[1:]) {
		fmt.Fprintf(e.stderr, "samizdat: %q cannot run inside %s\n", args[0], e.owned.who)
		return exitFailed
	}
	return exitStatus(e, cmd.name, cmd.run(ctx, e, args[1:]))
}

// forward hands a one-shot command to the process that owns its home, if
// one is running; forwarded is false when the command should run here.
func forward(ctx context.Context, e *env, name string, args []string) (code int, forwarded bool) {
	if e.owned != nil || !isForwardable(name, args) {
		return 0, false
	}
	home := e.home
	for i := 0; i < len(args) && args[i] != "--"; i++ {
		switch a := strings.TrimLeft(args[i], "-"); {
		case !strings.HasPrefix(args[i], "-"):
		case a == "home" && i+1 < len(args):
			home = args[i+1]
			i++
		case strings.HasPrefix(a, "home="):
			home = strings.TrimPrefix(a, "home=")
		}
	}
	cwd, _ := os.Getwd()
	req := owner.Request{Args: append([]string{name}, args...), Cwd: cwd}
	if slices.Contains(args, "-") {
		// The command reads standard input: hand it over with the
		// command line (only when an owner is there to take it).
		if p, err := owner.SocketPath(home); err != nil || !exists(p) {
			return 0, false
		}
		in, err := io.ReadAll(io.LimitReader(e.in(), owner.MaxStdin+1))
		if err != nil || len(in) > owner.MaxStdin {
			fmt.Fprintf(e.stderr, "samizdat %s: standard input is over %d bytes\n", name, owner.MaxStdin)
			return exitFailed, true
		}
		req.Stdin = in
	}
	code, forwarded, err := owner.Call(ctx, home, req, e.stdout, e.stderr)
	if !forwarded && req.Stdin != nil {
		// Read already: the command that runs here reads it from e.
		e.stdin = bytes.NewReader(req.Stdin)
	}
	if !forwarded {
		return 0, false
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "samizdat %s: %v\n", name, err)
		return exitFailed, true
	}
	return code, true
}
