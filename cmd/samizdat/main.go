// Command samizdat is the one binary of the samizdat messenger: the relay,
// the client, the censor lab and the operator tools are its subcommands.
//
// This file only parses the command line and wires packages together; the
// logic lives in packages that tests can call directly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of the binary.
type command struct {
	name    string
	usage   string // argument synopsis shown by help
	summary string // one line for the command list
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch: its streams. Commands never reach for
// os.Stdout directly, so tests can run them in process.
type env struct {
	stdin  io.Reader // nil means os.Stdin
	stdout io.Writer
	stderr io.Writer
	home   string // --home: the client's state directory
}

// errUsage marks a mistake on the command line; main prints the hint and
// exits with status 2.
var errUsage = errors.New("usage")

func commands() []command {
	cmds := []command{
		{name: "version", summary: "print the build version", run: runVersion},
		{name: "help", usage: "[COMMAND]", summary: "show help for samizdat or one command", run: runHelp},
		{name: "manifest", usage: manifestUsage, summary: "operator tools: keygen, sign, show and verify signed manifests", run: runManifest},
		{name: "relay", usage: relayUsage, summary: "run a relay on many endpoints; move them live (relay endpoints ...)", run: runRelay},
		{name: "lab", usage: labUsage, summary: "run the censor lab: strategies against a modelled censor, report with charts", run: runLab},
		{name: "bench", usage: benchUsage, summary: "measure a relay under load: throughput, fan-out, idle connections, ...", run: runBench},
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
	fs := flag.NewFlagSet("samizdat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	home := fs.String("home", defaultHome(), "the client's state directory ($SAMIZDAT_HOME, else ~/.samizdat)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout)
			return 0
		}
		fmt.Fprintf(e.stderr, "samizdat: %v\n", err)
		printUsage(e.stderr)
		return 2
	}
	if fs.NArg() == 0 {
		printUsage(e.stderr)
		return 2
	}
	e.home = *home
	name, rest := fs.Arg(0), fs.Args()[1:]
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(e.stderr, "samizdat: unknown command %q\n", name)
		fmt.Fprintf(e.stderr, "hint: run 'samizdat --help' to list the commands\n")
		return 2
	}
	if err := cmd.run(ctx, e, rest); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(e.stderr, "samizdat %s: %v\nusage: samizdat %s %s\n", cmd.name, err, cmd.name, cmd.usage)
			return 2
		}
		fmt.Fprintf(e.stderr, "samizdat %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
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
	fmt.Fprintf(w, "usage: samizdat COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nglobal flags (before COMMAND):\n  --home DIR  the client's state directory ($SAMIZDAT_HOME, else ~/.samizdat)\n")
	fmt.Fprintf(w, "\nrun 'samizdat help COMMAND' for a command's arguments\n")
}

func runHelp(_ context.Context, e *env, args []string) error {
	switch len(args) {
	case 0:
		printUsage(e.stdout)
		return nil
	case 1:
		c, ok := lookup(args[0])
		if !ok {
			return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
		}
		fmt.Fprintf(e.stdout, "usage: samizdat %s %s\n\n%s\n", c.name, c.usage, c.summary)
		return nil
	default:
		return fmt.Errorf("too many arguments: %w", errUsage)
	}
}

func runVersion(_ context.Context, e *env, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("takes no arguments: %w", errUsage)
	}
	version := "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				version += " " + strings.TrimSpace(s.Value)
			}
		}
	}
	fmt.Fprintf(e.stdout, "samizdat %s\n", version)
	return nil
}
