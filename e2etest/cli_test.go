//go:build linux

package e2etest

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cli runs the binary with a home directory and returns its exit code and
// output.
func cli(t *testing.T, bin, home string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return startCLI(t, bin, home, stdin, args...).wait(t)
}

// mustCLI returns a cli that fails the test unless the command exits 0,
// and returns its output.
func mustCLI(t *testing.T, bin string) func(home string, args ...string) string {
	return func(home string, args ...string) string {
		t.Helper()
		return mustRun(t, bin, home, args...)
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
	relayP = startRelayProc(t, bin, data, addr)
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

	// --wait bounds the wait after the backlog, not the connecting: with
	// the relay's address silent for longer than --wait, recv connects
	// once the relay is back, prints what waited and exits 0.
	must(alice, "send", "bob", "while bob connects")
	relayP.kill()
	hold := holdAddr(t, addr)
	const wait = 300 * time.Millisecond
	recv := startCLI(t, bin, bob, "", "recv", "--wait", wait.String())
	select {
	case <-hold.accepted:
	case <-time.After(patience):
		t.Fatal("recv did not try to connect")
	}
	// Not a guess at how long something takes: the address stays silent
	// for longer than --wait after recv began to connect.
	time.Sleep(2 * wait)
	hold.close()
	startRelayProc(t, bin, data, addr)
	if code, out, errOut := recv.wait(t); code != 0 || out != "alice: while bob connects\n" {
		t.Fatalf("recv --wait %v after a slow connect: exit %d, printed %q: %s", wait, code, out, errOut)
	}
}

// heldAddr is a listener that accepts connections and never answers
// them: an address where connecting hangs.
type heldAddr struct {
	l        net.Listener
	accepted chan struct{} // closed at the first connection
	mu       sync.Mutex
	conns    []net.Conn // guarded by mu
	done     chan struct{}
}

// holdAddr listens on addr and holds what connects until close.
func holdAddr(t *testing.T, addr string) *heldAddr {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := &heldAddr{l: l, accepted: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		first := true
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			if first {
				close(h.accepted)
				first = false
			}
		}
	}()
	t.Cleanup(h.close)
	return h
}

// close stops listening and closes what it held; it is safe twice.
func (h *heldAddr) close() {
	h.l.Close()
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}

// cliProc is a command started by startCLI.
type cliProc struct {
	cmd         *exec.Cmd
	out, errOut strings.Builder
	done        chan error
}

// startCLI starts the binary with a home directory, stdin (if not empty)
// and args, without waiting for it.
func startCLI(t *testing.T, bin, home, stdin string, args ...string) *cliProc {
	t.Helper()
	p := &cliProc{cmd: exec.Command(bin, append([]string{"--home", home}, args...)...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
	if stdin != "" {
		p.cmd.Stdin = strings.NewReader(stdin)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// wait waits for the command to end and returns its exit code and
// output.
func (p *cliProc) wait(t *testing.T) (int, string, string) {
	t.Helper()
	var err error
	select {
	case err = <-p.done:
		p.done <- err // for the cleanup
	case <-time.After(patience):
		t.Fatalf("%v still running after %v", p.cmd.Args, patience)
	}
	return exitCode(t, err), p.out.String(), p.errOut.String()
}

// exitCode is the exit status of a command that ended with err.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}
