package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cmdFlags is one command's flag set together with what its help prints.
// Every command parses its arguments through it, so that all of them follow
// the same conventions:
//
//   - flags may come before, between or after positional arguments, spelled
//     -name or --name, with the value as the next argument or after "=";
//   - "--" ends the flags: everything after it is positional ("send bob --
//     --urgent" sends the text "--urgent");
//   - -h, -help and --help print the command's usage with every flag and its
//     default and exit 0 ("samizdat help CMD" does the same);
//   - a duration flag also takes a bare number of seconds ("--wait 5");
//   - a mistake names the flag and exits 2 with the one-line usage.
type cmdFlags struct {
	*flag.FlagSet
	name  string // the command as typed after "samizdat": "send", "manifest sign"
	args  string // the positional arguments in the synopsis: "NAME TEXT..."
	about string // what the command does, printed by --help after the synopsis
}

// newFlags returns an empty flag set for the command name.
func newFlags(name, args, about string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &cmdFlags{FlagSet: fs, name: name, args: args, about: about}
}

// homeFlag adds --home, the client's state directory, bound to e.home, so a
// client command takes it after the command name as well as before.
func (f *cmdFlags) homeFlag(e *env) {
	f.StringVar(&e.home, "home", e.home, "the client's state `DIR` ($SAMIZDAT_HOME, else ~/.samizdat)")
}

// helpRequest is returned by parse when the command line asks for help; run
// prints the usage it carries to stdout and exits 0.
type helpRequest struct{ f *cmdFlags }

func (h *helpRequest) Error() string { return "help requested" }

// usageError is a mistake on a command line: run prints the message, the
// command's one-line synopsis, and exits 2.
type usageError struct {
	f   *cmdFlags // nil: the caller prints the top-level usage
	msg string
}

func (u *usageError) Error() string { return u.msg }

// Is makes errors.Is(err, errUsage) true for every usage error.
func (u *usageError) Is(target error) bool { return target == errUsage }

// repeated adds a flag that may be given many times; the values collect in
// order.
func (f *cmdFlags) repeated(name, usage string) *[]string {
	list := new([]string)
	f.repeatedVar(list, name, usage)
	return list
}

// repeatedVar is repeated, collecting the values in *p.
func (f *cmdFlags) repeatedVar(p *[]string, name, usage string) {
	f.Func(name, usage, func(s string) error {
		*p = append(*p, s)
		return nil
	})
}

// usagef returns a usage error for this command.
func (f *cmdFlags) usagef(format string, args ...any) error {
	return &usageError{f: f, msg: fmt.Sprintf(format, args...)}
}

// parse sets the flags in args and returns the positional arguments.
func (f *cmdFlags) parse(args []string) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimPrefix(a[1:], "-")
		if name == "" || name[0] == '-' || name[0] == '=' {
			return nil, f.usagef("bad flag syntax: %s", a)
		}
		name, value, hasValue := strings.Cut(name, "=")
		fl := f.Lookup(name)
		if fl == nil {
			if name == "h" || name == "help" {
				return nil, &helpRequest{f}
			}
			return nil, f.usagef("unknown flag %s", dash(name))
		}
		if isBool(fl) {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				return nil, f.usagef("flag %s needs a value", dash(name))
			}
			i++
			value = args[i]
		}
		if err := f.set(fl, value); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// set sets one flag, accepting a bare number of seconds for a duration.
func (f *cmdFlags) set(fl *flag.Flag, value string) error {
	if isDuration(fl) {
		if secs, err := strconv.ParseFloat(value, 64); err == nil {
			value = strconv.FormatFloat(secs, 'f', -1, 64) + "s"
		}
		if err := f.FlagSet.Set(fl.Name, value); err != nil { // Set records the flag as given (Visit)
			return f.usagef("invalid value %q for %s: want a duration such as 30s, 5m or 1h30m (a bare number is seconds)", value, dash(fl.Name))
		}
		return nil
	}
	if err := f.FlagSet.Set(fl.Name, value); err != nil { // Set records the flag as given (Visit)
		reason := err.Error()
		var ne *strconv.NumError
		if errors.As(err, &ne) || reason == "parse error" || reason == "value out of range" {
			reason = "want a number"
			if isBool(fl) {
				reason = "want true or false"
			}
		}
		return f.usagef("invalid value %q for %s: %s", value, dash(fl.Name), reason)
	}
	return nil
}

// dash spells a flag as usage shows it: -n for one letter, --name otherwise
// (both spellings are accepted).
func dash(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func isBool(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func isDuration(fl *flag.Flag) bool {
	g, ok := fl.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(time.Duration)
	return ok
}

// synopsis is the one-line usage: "samizdat send [--home DIR] NAME TEXT...".
func (f *cmdFlags) synopsis() string {
	var parts []string
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 4 {
		parts = append(parts, "[flags]")
	} else {
		f.VisitAll(func(fl *flag.Flag) {
			if strings.Contains(" "+f.args, " --"+fl.Name+" ") {
				return // the synopsis names it already
			}
			if isBool(fl) {
				parts = append(parts, "["+dash(fl.Name)+"]")
				return
			}
			kind, _ := flag.UnquoteUsage(fl)
			parts = append(parts, "["+dash(fl.Name)+" "+placeholder(kind)+"]")
		})
	}
	s := "samizdat " + f.name
	if len(parts) > 0 {
		s += " " + strings.Join(parts, " ")
	}
	if f.args != "" {
		s += " " + f.args
	}
	return s
}

// placeholder turns flag.UnquoteUsage's kind into the word shown in usage.
func placeholder(kind string) string {
	switch kind {
	case "", "value":
		return "VALUE"
	case "int", "uint", "int64", "uint64", "float":
		return "N"
	case "duration":
		return "DURATION"
	case "string":
		return "VALUE"
	}
	return strings.ToUpper(kind)
}

// usage prints the command's full help: synopsis, what it does, and every
// flag with its default.
func (f *cmdFlags) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n", f.synopsis())
	if f.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(f.about))
	}
	var fls []*flag.Flag
	f.VisitAll(func(fl *flag.Flag) { fls = append(fls, fl) })
	if len(fls) == 0 {
		return
	}
	sort.Slice(fls, func(i, j int) bool { return fls[i].Name < fls[j].Name })
	fmt.Fprintf(w, "\nflags:\n")
	for _, fl := range fls {
		kind, text := flag.UnquoteUsage(fl)
		head := "  " + dash(fl.Name)
		if !isBool(fl) {
			head += " " + placeholder(kind)
		}
		if def := shownDefault(fl); def != "" {
			text += " (default " + def + ")"
		}
		if len(head) <= 22 {
			fmt.Fprintf(w, "%-24s%s\n", head, text)
		} else {
			fmt.Fprintf(w, "%s\n%-24s%s\n", head, "", text)
		}
	}
}

// shownDefault is a flag's default as help prints it, or "" when the zero
// value needs no mention.
func shownDefault(fl *flag.Flag) string {
	switch fl.DefValue {
	case "", "0", "0s", "false", "[]":
		return ""
	}
	if _, err := strconv.ParseFloat(fl.DefValue, 64); err == nil || isBool(fl) || isDuration(fl) {
		return fl.DefValue
	}
	return strconv.Quote(fl.DefValue)
}

// noArgs parses a command that takes flags only.
func (f *cmdFlags) noArgs(args []string) error {
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return f.usagef("unexpected argument %q", pos[0])
	}
	return nil
}

// subcommand is one operation of a command with several (manifest sign,
// lab run, relay endpoints add).
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// dispatch runs the subcommand named by args[0]; parent is the command's
// name as typed and about its help.
func dispatch(ctx context.Context, parent, about string, e *env, args []string, subs []subcommand) error {
	f := newFlags(parent, "SUBCOMMAND [ARGS]", subList(parent, about, subs))
	if len(args) == 0 {
		return f.usagef("missing subcommand (%s)", subNames(subs))
	}
	if isHelpArg(args[0]) {
		return &helpRequest{f}
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	return f.usagef("unknown subcommand %q (%s)", args[0], subNames(subs))
}

// isHelpArg reports whether a is a request for help.
func isHelpArg(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func subNames(subs []subcommand) string {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

func subList(parent, about string, subs []subcommand) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(about))
	b.WriteString("\n\nsubcommands:\n")
	for _, s := range subs {
		fmt.Fprintf(&b, "  %-10s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(&b, "\nrun 'samizdat help %s SUBCOMMAND' for one subcommand's flags", parent)
	return b.String()
}
