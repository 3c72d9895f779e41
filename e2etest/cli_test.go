//go:build linux

package e2etest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs the binary with a home directory and returns its exit code and
// output.
func cli(t *testing.T, bin, home string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// mustCLI returns a cli that fails the test unless the command exits 0,
// and returns its output.
func mustCLI(t *testing.T, bin string) func(home string, args ...string) string {
	return func(home string, args ...string) string {
		t.Helper()
		code, out, errOut := cli(t, bin, home, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
}

// TestCLIContract drives the commands scripts rely on: init, send (exit 0
// only once stored; non-zero and queued when the relay is down), recv
// (NAME: TEXT lines), safety and a piped chat.
func TestCLIContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	addr := freeAddr(t)
	relayP := startRelayProc(t, bin, data, addr)
	invite := filepath.Join(data, "invite.txt")
	alice, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")

	must := mustCLI(t, bin)
	must(alice, "init", "--invite", invite, "--name", "alice")
	must(bob, "init", "--invite", invite, "--name", "Bob")
	if code, _, errOut := cli(t, bin, alice, "", "init", "--invite", invite, "--name", "alice"); code == 0 || !strings.Contains(errOut, "already") {
		t.Fatalf("second init: exit %d, %q", code, errOut)
	}
	must(alice, "send", "bob", "hello bob")
	if out := must(bob, "recv"); out != "alice: hello bob\n" {
		t.Fatalf("recv printed %q", out)
	}
	if out := must(bob, "recv", "--wait", "300ms"); out != "" {
		t.Fatalf("second recv printed %q", out)
	}
	if code, _, errOut := cli(t, bin, alice, "", "send", "nobody", "hi"); code != 1 || !strings.Contains(errOut, `no user named "nobody"`) ||
		strings.Contains(errOut, "warning") || strings.Count(errOut, "nobody") != 1 {
		t.Fatalf("send to nobody: exit %d, %q; want exit 1 and the reason once", code, errOut)
	}

	// The relay is down: send fails with the reason and keeps the message.
	relayP.kill()
	code, _, errOut := cli(t, bin, alice, "", "send", "bob", "while down")
	if code == 0 || !strings.Contains(errOut, "unreachable") || !strings.Contains(errOut, "outbox") {
		t.Fatalf("send with the relay down: exit %d, %q", code, errOut)
	}
	if out := must(alice, "whoami"); !strings.Contains(out, "1 message(s) waiting") {
		t.Fatalf("whoami: %q", out)
	}
	startRelayProc(t, bin, data, addr)
	must(alice, "send", "bob", "after restart")
	if out := must(bob, "recv"); out != "alice: while down\nalice: after restart\n" {
		t.Fatalf("recv after restart printed %q", out)
	}

	// A chat with piped input sends its lines.
	code, _, errOut = cli(t, bin, bob, "hi alice, from chat\n/quit\n", "chat", "alice")
	if code != 0 {
		t.Fatalf("chat: exit %d: %s", code, errOut)
	}
	if out := must(alice, "recv"); out != "bob: hi alice, from chat\n" {
		t.Fatalf("alice's recv printed %q", out)
	}

	sa, sb := must(alice, "safety", "bob"), must(bob, "safety", "alice")
	if sa != sb || len(strings.Fields(sa)) != 12 {
		t.Fatalf("safety numbers %q and %q", sa, sb)
	}
	if out := must(alice, "history", "bob"); strings.Count(out, "\n") != 4 || !strings.Contains(out, "✓✓") {
		t.Fatalf("history:\n%s", out)
	}
}
