package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), &env{stdout: &out, stderr: &errOut, home: t.TempDir()}, args)
	return code, out.String(), errOut.String()
}

func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, _ := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, c := range commands() {
			if !strings.Contains(out, "  "+c.name+" ") {
				t.Errorf("%v: help does not list %q:\n%s", args, c.name, out)
			}
		}
	}
}

// TestEveryCommandHasHelp asks every command and subcommand for help in
// each of the three ways: each prints its usage, with every flag and
// default, on stdout and exits 0 — before touching a home or a relay.
func TestEveryCommandHasHelp(t *testing.T) {
	cmds := [][]string{
		{"init"}, {"import"}, {"invite"}, {"send"}, {"recv"}, {"safety"}, {"chat"}, {"contacts"}, {"whoami"}, {"history"}, {"link"},
		{"requests"}, {"accept"}, {"block"}, {"unblock"}, {"devices"}, {"devices", "list"}, {"devices", "remove"},
		{"relay"}, {"relay", "endpoints"}, {"manifest"}, {"manifest", "keygen"}, {"manifest", "sign"},
		{"manifest", "show"}, {"manifest", "verify"}, {"lab"}, {"lab", "run"}, {"lab", "list"},
		{"bench"}, {"version"}, {"help"},
		{"bridge"}, {"bridge", "credential"}, {"bridge", "list"}, {"bridge", "forget"},
		{"group"}, {"group", "create"}, {"group", "add"}, {"group", "remove"}, {"group", "leave"},
		{"group", "rename"}, {"group", "admin"}, {"group", "list"}, {"group", "members"},
	}
	for _, c := range cmds {
		name := strings.Join(c, " ")
		for _, form := range [][]string{
			append([]string{"help"}, c...),
			append(append([]string{}, c...), "--help"),
			append(append([]string{}, c...), "-h"),
		} {
			t.Run(strings.Join(form, " "), func(t *testing.T) {
				code, out, errOut := runCLI(t, form...)
				if code != 0 || errOut != "" {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				if !strings.HasPrefix(out, "usage: samizdat "+name) {
					t.Fatalf("help does not start with the usage of %q:\n%s", name, out)
				}
			})
		}
	}
	// Flags with their defaults.
	_, out, _ := runCLI(t, "help", "history")
	if !strings.Contains(out, "-n N") || !strings.Contains(out, "(default 50)") {
		t.Errorf("history help lacks -n and its default:\n%s", out)
	}
	_, out, _ = runCLI(t, "recv", "--help")
	if !strings.Contains(out, "--wait DURATION") {
		t.Errorf("recv help lacks --wait:\n%s", out)
	}
}

func TestBadCommandLines(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{nil, 2, "usage: samizdat [--home DIR] COMMAND"},
		{[]string{"nonesuch"}, 2, `unknown command "nonesuch"`},
		{[]string{"--bogus"}, 2, "unknown flag --bogus"},
		{[]string{"version", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"help", "nonesuch"}, 2, `unknown command "nonesuch"`},
		{[]string{"recv", "--wait", "5x"}, 2, `invalid value "5x" for --wait`},
		{[]string{"recv", "--wait"}, 2, "flag --wait needs a value"},
		{[]string{"send", "--urgent", "bob", "hi"}, 2, "unknown flag --urgent"},
		{[]string{"chat", "--bogus"}, 2, "unknown flag --bogus"},
		{[]string{"send", "bob"}, 2, "need NAME and TEXT"},
		{[]string{"send", "bob", ""}, 2, "the message is empty"},
		{[]string{"send", "bob", "  ", " "}, 2, "the message is empty"},
		{[]string{"history", "-n", "x"}, 2, `invalid value "x" for -n: want a number`},
		{[]string{"manifest"}, 2, "missing subcommand"},
		{[]string{"manifest", "nonesuch"}, 2, `unknown subcommand "nonesuch"`},
		{[]string{"relay", "endpoints", "nonesuch"}, 2, `unknown operation "nonesuch"`},
		{[]string{"relay", "--listen", "garbage://x"}, 2, "--listen garbage://x"},
		{[]string{"relay", "endpoints", "add", "garbage://x"}, 2, "garbage"},
		{[]string{"devices", "remove"}, 2, "need one device ID"},
		{[]string{"devices", "remove", "two"}, 2, `"two" is not a device ID`},
		{[]string{"devices", "remove", "0"}, 2, `"0" is not a device ID`},
		{[]string{"devices", "remove", "2", "3"}, 2, "need one device ID"},
		{[]string{"devices", "nonesuch"}, 2, `unknown subcommand "nonesuch"`},
		{[]string{"devices", "--bogus"}, 2, "unknown flag --bogus"},
		{[]string{"link", "--invite", "x", "--device-name", strings.Repeat("n", 65)}, 2, "--device-name takes at most 64 bytes"},
		{[]string{"group"}, 2, "missing subcommand"},
		{[]string{"group", "nonesuch"}, 2, `unknown subcommand "nonesuch"`},
		{[]string{"group", "create"}, 2, "need GROUP and at least one MEMBER"},
		{[]string{"group", "create", "friends"}, 2, "need GROUP and at least one MEMBER"},
		{[]string{"group", "create", "Bad/Name", "bob"}, 2, "a group name has only a-z"},
		{[]string{"group", "create", strings.Repeat("g", 33), "bob"}, 2, "1 to 32 characters"},
		{[]string{"group", "add", "friends"}, 2, "need GROUP and at least one MEMBER"},
		{[]string{"group", "remove", "friends"}, 2, "need GROUP and at least one MEMBER"},
		{[]string{"group", "leave"}, 2, "need GROUP"},
		{[]string{"group", "leave", "friends", "now"}, 2, `unexpected argument "now"`},
		{[]string{"group", "rename", "friends"}, 2, "need GROUP and NEWNAME"},
		{[]string{"group", "rename", "friends", "#news"}, 2, "a group name has only a-z"},
		{[]string{"group", "admin", "friends", "bob", "carol"}, 2, "need GROUP and one MEMBER"},
		{[]string{"group", "members"}, 2, "need GROUP"},
		{[]string{"group", "list", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want exit %d containing %q", code, errOut, tt.wantCode, tt.wantErr)
			}
			if code == 2 && len(tt.args) > 0 && strings.Count(errOut, "\n") > 3 {
				t.Errorf("a usage mistake should take a few lines, not:\n%s", errOut)
			}
		})
	}
}

// TestParseFlags checks the conventions every command follows.
func TestParseFlags(t *testing.T) {
	newSet := func() (*cmdFlags, *bool, *time.Duration, *string) {
		f := newFlags("t", "ARGS...", "")
		return f, f.Bool("urgent", false, ""), f.Duration("wait", 0, ""), f.String("to", "", "")
	}
	tests := []struct {
		args    []string
		pos     []string
		urgent  bool
		wait    time.Duration
		to      string
		wantErr string
	}{
		{args: []string{"bob", "hi"}, pos: []string{"bob", "hi"}},
		{args: []string{"bob", "--urgent", "hi"}, pos: []string{"bob", "hi"}, urgent: true},
		{args: []string{"bob", "hi", "-urgent"}, pos: []string{"bob", "hi"}, urgent: true},
		{args: []string{"--urgent=false", "bob"}, pos: []string{"bob"}},
		{args: []string{"bob", "--", "--urgent"}, pos: []string{"bob", "--urgent"}},
		{args: []string{"--", "--to", "x", "--"}, pos: []string{"--to", "x", "--"}},
		{args: []string{"--wait", "5"}, wait: 5 * time.Second},
		{args: []string{"--wait=1.5"}, wait: 1500 * time.Millisecond},
		{args: []string{"--wait", "2m"}, wait: 2 * time.Minute},
		{args: []string{"--to", "--", "x"}, to: "--", pos: []string{"x"}},
		{args: []string{"-", "x"}, pos: []string{"-", "x"}},
		{args: []string{"--wait", "soon"}, wantErr: `invalid value "soon" for --wait`},
		{args: []string{"--nope"}, wantErr: "unknown flag --nope"},
		{args: []string{"---x"}, wantErr: "bad flag syntax"},
		{args: []string{"--to"}, wantErr: "flag --to needs a value"},
		{args: []string{"--urgent=maybe"}, wantErr: `invalid value "maybe" for --urgent: want true or false`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f, urgent, wait, to := newSet()
			pos, err := f.parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(pos, "|") != strings.Join(tt.pos, "|") || *urgent != tt.urgent || *wait != tt.wait || *to != tt.to {
				t.Fatalf("pos %q urgent %v wait %v to %q; want %q %v %v %q", pos, *urgent, *wait, *to, tt.pos, tt.urgent, tt.wait, tt.to)
			}
		})
	}
	f, _, _, _ := newSet()
	if _, err := f.parse([]string{"--help"}); err == nil {
		t.Fatal("--help: no help request")
	} else if _, ok := err.(*helpRequest); !ok {
		t.Fatalf("--help: %v", err)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "samizdat ") || !strings.Contains(out, "go1.") {
		t.Fatalf("exit %d, %q", code, out)
	}
}
