//go:build linux

package e2etest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNoteToSelf sends a note to one's own name: it is kept in the history
// and arrives on the account's other device as a note.
func TestNoteToSelf(t *testing.T) {
	dir, bin, alice := relayAndAlice(t)
	alice2 := filepath.Join(dir, "alice2")
	linkCLI(t, bin, filepath.Join(dir, "relay", "invite.txt"), alice, alice2)

	mustRun(t, bin, alice, "send", "alice", "buy milk")
	if out := mustRun(t, bin, alice2, "recv"); out != "alice (note to self): buy milk\n" {
		t.Fatalf("the other device printed %q", out)
	}
	if out := mustRun(t, bin, alice, "history"); !strings.Contains(out, "alice (note to self): buy milk ✓") {
		t.Fatalf("history: %q", out)
	}
	if out := mustRun(t, bin, alice2, "history", "alice"); !strings.Contains(out, "alice (note to self): buy milk") {
		t.Fatalf("history on the other device: %q", out)
	}
}

// TestCommandsGoThroughChat runs one-shot commands on a home while a chat
// owns it: they run inside the chat (no second relay connection kicks it
// off), with the same output and exit codes; a second chat is refused; the
// chat marks its own lines, shows "stored" for an offline recipient and ✓✓
// on delivery, and refuses /to for a user who does not exist.
func TestCommandsGoThroughChat(t *testing.T) {
	dir, bin, alice := relayAndAlice(t)
	bob := filepath.Join(dir, "bob")
	mustRun(t, bin, bob, "init", "--invite", filepath.Join(dir, "relay", "invite.txt"), "--name", "bob")

	bridgeAddr := freeAddr(t)
	cp := startChat(t, bin, bob, "alice", "--bridge", bridgeAddr)
	stdin, out, errOut, done := cp.stdin, &cp.out, &cp.errOut, cp.done
	// It runs a bridge too (offered to nobody yet: bob has written to no one).
	waitUntil(t, "the chat's bridge", func() bool {
		return strings.Contains(out.String(), "bridge listening on "+bridgeAddr) && strings.Contains(out.String(), "no contact to offer the bridge to yet")
	})

	// One-shot commands on bob's home go through the chat.
	mustRun(t, bin, bob, "send", "alice", "from another terminal")
	if code, o, e := cli(t, bin, bob, "", "recv"); code != 0 || o != "" || !strings.Contains(e, "samizdat chat (pid") {
		t.Fatalf("recv beside the chat: exit %d, %q, %q; want it answered by the chat", code, o, e)
	}
	if o := mustRun(t, bin, bob, "contacts"); !strings.HasPrefix(o, "alice\t") {
		t.Fatalf("contacts through the chat: %q", o)
	}
	if code, _, e := cli(t, bin, bob, "", "send", "nobody", "hi"); code != 1 || !strings.Contains(e, `no user named "nobody"`) {
		t.Fatalf("a failing send through the chat: exit %d, %q", code, e)
	}
	if code, _, e := cli(t, bin, bob, "", "send", "alice", ""); code != 2 || !strings.Contains(e, "empty") {
		t.Fatalf("a usage mistake through the chat: exit %d, %q", code, e)
	}
	if code, o, _ := cli(t, bin, bob, "", "send", "--help"); code != 0 || !strings.HasPrefix(o, "usage: samizdat send") {
		t.Fatalf("help through the chat: exit %d, %q", code, o)
	}
	// Standard input goes with the command: the invite bob joined with
	// holds the manifest he has.
	inv, err := os.ReadFile(filepath.Join(dir, "relay", "invite.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, e := cli(t, bin, bob, string(inv), "import", "-"); code != 1 || !strings.Contains(e, "is the current one") {
		t.Fatalf("import - through the chat: exit %d, %q", code, e)
	}
	// A second long-running command on the home is refused.
	if code, _, e := cli(t, bin, bob, "", "chat"); code != 1 || !strings.Contains(e, "already owns") {
		t.Fatalf("second chat: exit %d, %q", code, e)
	}

	// In the chat: /to a stranger is refused; a line to the offline alice
	// is marked as ours and as stored; ✓✓ once she receives it.
	io.WriteString(stdin, "/to carol\n")
	waitUntil(t, "/to carol refused", func() bool { return strings.Contains(out.String(), "no user named carol") })
	io.WriteString(stdin, "are you there?\n")
	waitUntil(t, "the line marked as ours", func() bool { return strings.Contains(out.String(), "you → alice: are you there?") })
	waitUntil(t, "stored on the relay", func() bool {
		return strings.Contains(out.String(), "✓ stored on the relay: “are you there?”")
	})
	// Alice accepts bob (a stranger gets no receipts), then receives.
	mustRun(t, bin, alice, "accept", "bob")
	got := mustRun(t, bin, alice, "recv")
	if got != "bob: from another terminal\nbob: are you there?\n" {
		t.Fatalf("alice received %q", got)
	}
	waitUntil(t, "✓✓ in the chat", func() bool { return strings.Contains(out.String(), "✓✓ alice received “are you there?”") })

	// Nothing replaced the chat's connection.
	if s := out.String(); strings.Contains(s, "lost the relay") || strings.Contains(s, "replaced") {
		t.Fatalf("the chat lost its connection:\n%s", s)
	}
	stdin.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chat: %v\n%s", err, errOut.String())
		}
	case <-time.After(patience):
		t.Fatal("chat did not exit at end of input")
	}
	if !strings.Contains(out.String(), "bridge closed: carried 0 tunnel(s)") {
		t.Fatalf("the chat's bridge did not close:\n%s", out.String())
	}
	// With the chat gone, commands run on their own again.
	if _, err := os.Stat(filepath.Join(bob, "owner.sock")); !os.IsNotExist(err) {
		t.Fatalf("the chat left its socket behind: %v", err)
	}
	if code, _, e := cli(t, bin, bob, "", "recv"); code != 0 || strings.Contains(e, "samizdat chat") {
		t.Fatalf("recv after the chat: exit %d, %q", code, e)
	}
}

// relayAndAlice builds the binary, starts a relay process in DIR/relay and
// registers alice in DIR/alice.
func relayAndAlice(t *testing.T) (dir, bin, alice string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	dir = t.TempDir()
	bin = buildBinary(t)
	data := filepath.Join(dir, "relay")
	startRelayProc(t, bin, data, freeAddr(t))
	alice = filepath.Join(dir, "alice")
	mustRun(t, bin, alice, "init", "--invite", filepath.Join(data, "invite.txt"), "--name", "alice")
	return dir, bin, alice
}

// mustRun runs the binary on home and fails the test unless it exits 0.
func mustRun(t *testing.T, bin, home string, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, bin, home, "", args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	return out
}

// chatProc is a chat started by startChat.
type chatProc struct {
	stdin       io.WriteCloser
	out, errOut lockedBuffer
	done        chan error
}

// startChat starts 'chat' with args on home and waits until it is up to
// date; the test's end closes its input and waits for it.
func startChat(t *testing.T, bin, home string, args ...string) *chatProc {
	t.Helper()
	chat := exec.Command(bin, append([]string{"--home", home, "chat"}, args...)...)
	stdin, err := chat.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &chatProc{stdin: stdin, done: make(chan error, 1)}
	chat.Stdout, chat.Stderr = &p.out, &p.errOut
	if err := chat.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- chat.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			chat.Process.Kill()
		}
	})
	waitUntil(t, "the chat is up to date", func() bool { return strings.Contains(p.out.String(), "up to date") })
	return p
}
