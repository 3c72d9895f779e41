// Command samizdat is the one binary of the samizdat messenger: the relay,
// the client, the censor lab and the operator tools are its subcommands.
//
// This file only parses the command line and wires packages together; the
// logic lives in packages that tests can call directly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"samizdat/client"
	"samizdat/dialer"
)

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string // one line for the command list
	run     func(ctx context.Context, e *env, args []string) error
}

// env is what a command may touch: its streams and the client's home.
// Commands never reach for os.Stdout directly, so tests can run them in
// process, and a running chat can run them for another process (owner.go).
type env struct {
	stdin  io.Reader // nil means os.Stdin
	stdout io.Writer
	stderr io.Writer
	home   string // --home: the client's state directory
	cwd    string // where relative paths are resolved; "" means the process's

	// owned is the client of the long-running command (chat) that owns
	// the home, when this command runs inside it for another process.
	owned *ownedClient
	// onDial, if set, receives the dialer's events of the client this
	// command opens (the web client's network page).
	onDial func(dialer.Event)
}

// errUsage marks a mistake on the command line; main prints the hint and
// exits with status 2. Commands with a flag set return its usagef instead,
// which also prints the command's synopsis.
var errUsage = errors.New("usage")

// Exit statuses.
const (
	exitOK     = 0 // the command did what it was asked
	exitFailed = 1 // it could not (the relay unreachable, a refusal, ...)
	exitUsage  = 2 // the command line was wrong
)

func commands() []command {
	cmds := []command{
		{name: "version", summary: "print the build version", run: runVersion},
		{name: "help", summary: "show help for samizdat or one command", run: runHelp},
		{name: "manifest", summary: "operator tools: keygen, delegate, sign, show and verify signed manifests", run: runManifest},
		{name: "relay", summary: "run a relay on many endpoints; move them live (relay endpoints ...)", run: runRelay},
		{name: "lab", summary: "run the censor lab: strategies against a modelled censor, report with charts", run: runLab},
		{name: "bench", summary: "measure a relay under load: throughput, fan-out, idle connections, ...", run: runBench},
	}
	cmds = append(cmds, clientCommands()...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	return cmds
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit status.
func run(ctx context.Context, e *env, args []string) int {
	if e.home == "" {
		e.home = defaultHome()
	}
	f := newFlags("", "COMMAND [ARGS]", "")
	f.homeFlag(e)
	// Global flags come before the command: stop at the first argument
	// that is not one.
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		i++
		if name, _, hasValue := strings.Cut(strings.TrimLeft(args[i-1], "-"), "="); name == "home" && !hasValue {
			i++
		}
	}
	if i > len(args) {
		i = len(args)
	}
	if _, err := f.parse(args[:i]); err != nil {
		var h *helpRequest
		if errors.As(err, &h) {
			printUsage(e.stdout)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "samizdat: %v\n", err)
		fmt.Fprintf(e.stderr, "hint: run 'samizdat help' to list the commands and their flags\n")
		return exitUsage
	}
	if i < len(args) && args[i] == "--" {
		i++
	}
	if i == len(args) {
		printUsage(e.stderr)
		return exitUsage
	}
	name, rest := args[i], args[i+1:]
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(e.stderr, "samizdat: unknown command %q\n", name)
		fmt.Fprintf(e.stderr, "hint: run 'samizdat help' to list the commands\n")
		return exitUsage
	}
	if code, forwarded := forward(ctx, e, name, rest); forwarded {
		return code
	}
	return exitStatus(e, cmd.name, cmd.run(ctx, e, rest))
}

// exitStatus prints what a command's error means and returns the exit status.
func exitStatus(e *env, name string, err error) int {
	var h *helpRequest
	var u *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &h):
		h.f.usage(e.stdout)
		return exitOK
	case errors.As(err, &u) && u.f != nil:
		fmt.Fprintf(e.stderr, "samizdat %s: %s\nusage: %s\n", u.f.name, u.msg, u.f.synopsis())
		fmt.Fprintf(e.stderr, "hint: run 'samizdat help %s' for every flag\n", u.f.name)
		return exitUsage
	case errors.Is(err, errUsage):
		msg := strings.TrimSuffix(strings.TrimSuffix(err.Error(), errUsage.Error()), ": ")
		fmt.Fprintf(e.stderr, "samizdat %s: %s\nhint: run 'samizdat help %s' for every flag\n", name, msg, name)
		return exitUsage
	case errors.Is(err, client.ErrDeviceRemoved):
		fmt.Fprintf(e.stderr, "samizdat %s: %v\n", name, err)
		fmt.Fprintf(e.stderr, "hint: this device was removed from the account by its primary device; this home can no longer send or receive (the primary can link a new device with 'samizdat link')\n")
		return exitFailed
	}
	fmt.Fprintf(e.stderr, "samizdat %s: %v\n", name, err)
	return exitFailed
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "samizdat: an end-to-end encrypted messenger that an IP blocklist cannot switch off\n\n")
	fmt.Fprintf(w, "usage: samizdat [--home DIR] COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nglobal flags (before COMMAND, or after it for the client's commands):\n")
	fmt.Fprintf(w, "  --home DIR  the client's state directory ($SAMIZDAT_HOME, else ~/.samizdat)\n")
	fmt.Fprintf(w, "\nrun 'samizdat help COMMAND' (or 'samizdat COMMAND --help') for a command's flags\n")
	fmt.Fprintf(w, "exit status: 0 done, 1 failed (the reason is printed), 2 a mistake on the command line\n")
}

func runHelp(ctx context.Context, e *env, args []string) error {
	f := newFlags("help", "[COMMAND [SUBCOMMAND]]", "Print the usage of samizdat or of one command, with every flag and its default.")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		printUsage(e.stdout)
		return nil
	}
	c, ok := lookup(pos[0])
	if !ok {
		return f.usagef("unknown command %q", pos[0])
	}
	if c.name == "help" {
		f.usage(e.stdout)
		return nil
	}
	// A command prints its own help when asked: the same text as
	// "samizdat COMMAND [SUBCOMMAND] --help".
	err = c.run(ctx, e, append(pos[1:len(pos):len(pos)], "--help"))
	var h *helpRequest
	if errors.As(err, &h) {
		h.f.usage(e.stdout)
		return nil
	}
	if err == nil {
		return f.usagef("%s has no help for %q", c.name, strings.Join(pos[1:], " "))
	}
	return err
}

func runVersion(_ context.Context, e *env, args []string) error {
	f := newFlags("version", "", "Print the module version, the version-control revision it was built from, and the Go version.")
	if err := f.noArgs(args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "samizdat %s\n", versionString())
	return nil
}

// versionString describes the build: its version (releaseVersion), the revision,
// its time and whether the tree was modified, and the Go version.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return releaseVersion(nil) + " (no build information)"
	}
	v := releaseVersion(info)
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	switch {
	case rev != "":
		v += fmt.Sprintf(" (revision %s, %s%s)", rev, at, modified)
	case v == develVersion:
		v += " (built without version-control information)"
	}
	return v + " " + info.GoVersion
}
