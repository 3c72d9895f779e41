//go:build linux

package e2etest

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// linkProc is a 'samizdat link' waiting for approval.
type linkProc struct {
	cmd         *exec.Cmd
	out, errOut lockedBuffer
	done        chan error
	code        string
}

var pairingCode = regexp.MustCompile(`(?m)^([0-9a-z]{4}(?:-[0-9a-z]{4}){4})$`)

// startLink starts 'link' on the new home newHome and waits for the
// pairing code it prints alone on a line.
func startLink(t *testing.T, bin, newHome string, args ...string) *linkProc {
	t.Helper()
	p := &linkProc{cmd: exec.Command(bin, append([]string{"--home", newHome, "link"}, args...)...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done; p.done <- nil })
	waitUntil(t, "the pairing code", func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("link ended before printing a code: %v: %s", err, p.errOut.String())
		default:
		}
		return pairingCode.MatchString(p.out.String())
	})
	p.code = pairingCode.FindStringSubmatch(p.out.String())[1]
	return p
}

// end waits for the link command to end and returns its exit status and
// output.
func (p *linkProc) end(t *testing.T) (int, string, string) {
	t.Helper()
	var err error
	waitUntil(t, "link to end", func() bool {
		select {
		case err = <-p.done:
			p.done <- err
			return true
		default:
			return false
		}
	})
	return exitCode(t, err), p.out.String(), p.errOut.String()
}

// linkCLI links a new device in newHome to the account of home, through
// the relay of invite, and returns what link printed.
func linkCLI(t *testing.T, bin, invite, home, newHome string, args ...string) string {
	t.Helper()
	p := startLink(t, bin, newHome, append([]string{"--invite", invite}, args...)...)
	mustRun(t, bin, home, "devices", "approve", p.code)
	code, out, errOut := p.end(t)
	if code != 0 {
		t.Fatalf("link: exit %d: %s", code, errOut)
	}
	return out
}

// TestLinkAnotherMachine links bob's second device from another home with a
// pairing code: it gets the history, alice's next message reaches both,
// device 2's reply shows in device 1's history, and after devices remove 2
// device 2 gets nothing. A code works once, and a wrong one is refused
// before anything is sent.
func TestLinkAnotherMachine(t *testing.T) {
	dir, bin, alice := relayAndAlice(t)
	invite := filepath.Join(dir, "relay", "invite.txt")
	bob, bob2 := filepath.Join(dir, "bob"), filepath.Join(dir, "bob2")
	must := mustCLI(t, bin)
	must(bob, "init", "--invite", invite, "--name", "bob")
	must(alice, "send", "bob", "before the link")
	if out := must(bob, "recv"); out != "alice: before the link\n" {
		t.Fatalf("bob recv printed %q", out)
	}
	must(bob, "send", "alice", "my answer")
	if out := must(alice, "recv"); out != "bob: my answer\n" {
		t.Fatalf("alice recv printed %q", out)
	}

	p := startLink(t, bin, bob2, "--invite", invite, "--device-name", "laptop")
	// A code with the right rendezvous and a wrong secret is refused by
	// the approving device before it sends anything; the pairing stays
	// open for the right one.
	wrong := p.code[:5] + strings.Map(func(r rune) rune {
		if r == '-' {
			return r
		}
		if r == 'a' {
			return 'b'
		}
		return 'a'
	}, p.code[5:])
	if code, _, errOut := cli(t, bin, bob, "", "devices", "approve", wrong); code != 1 || !strings.Contains(errOut, "does not match") {
		t.Fatalf("approve with a wrong code: exit %d, %q", code, errOut)
	}
	if out := must(bob, "devices", "approve", p.code); out != "linked device 2\n" {
		t.Fatalf("approve printed %q", out)
	}
	code, out, errOut := p.end(t)
	if code != 0 || !strings.HasSuffix(out, "linked device 2 of bob; state in "+bob2+"\n") {
		t.Fatalf("link: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Used twice: refused.
	if code, _, errOut := cli(t, bin, bob, "", "devices", "approve", p.code); code != 1 || !strings.Contains(errOut, "no such pairing") {
		t.Fatalf("approve twice: exit %d, %q", code, errOut)
	}

	hist := must(bob2, "history")
	for _, want := range []string{"alice: before the link", "bob → alice: my answer"} {
		if !strings.Contains(hist, want) {
			t.Errorf("device 2's history lacks %q: %q", want, hist)
		}
	}
	if out := must(bob2, "devices"); !strings.Contains(out, "\n2 laptop now\n") {
		t.Errorf("devices on device 2: %q", out)
	}

	must(alice, "send", "bob", "to both")
	for _, home := range []string{bob, bob2} {
		if out := must(home, "recv"); out != "alice: to both\n" {
			t.Fatalf("%s recv printed %q", filepath.Base(home), out)
		}
	}
	// Both of bob's devices showed it: alice sees it read. Read receipts
	// can be turned off.
	must(alice, "recv")
	if hist := must(alice, "history", "bob"); !strings.Contains(hist, "alice → bob: to both ✓✓ read") {
		t.Errorf("alice's history does not show her message read: %q", hist)
	}
	must(alice, "send", "bob", "unread")
	if out := must(bob, "recv", "--no-read-receipts"); out != "alice: unread\n" {
		t.Fatalf("bob recv printed %q", out)
	}
	must(alice, "recv")
	if hist := must(alice, "history", "bob"); !strings.Contains(hist, "alice → bob: unread ✓✓\n") {
		t.Errorf("a read receipt went despite --no-read-receipts: %q", hist)
	}
	must(bob2, "recv", "--no-read-receipts")
	must(bob2, "send", "alice", "from device 2")
	if out := must(alice, "recv"); out != "bob: from device 2\n" {
		t.Fatalf("alice recv printed %q", out)
	}
	must(bob, "recv")
	if hist := must(bob, "history", "alice"); !strings.Contains(hist, "bob → alice: from device 2 ✓✓") {
		t.Errorf("device 1's history lacks device 2's message, delivered: %q", hist)
	}

	if out := must(bob, "devices", "remove", "2"); !strings.HasPrefix(out, "removed device 2") {
		t.Fatalf("devices remove printed %q", out)
	}
	must(alice, "send", "bob", "after the removal")
	if out := must(bob, "recv"); out != "alice: after the removal\n" {
		t.Fatalf("bob recv printed %q", out)
	}
	if code, out, errOut := cli(t, bin, bob2, "", "recv"); code != 1 || out != "" || !strings.Contains(errOut, "removed from its account") {
		t.Fatalf("recv on the removed device: exit %d, %q, %q", code, out, errOut)
	}
}

// TestLinkTimesOut: a code nobody approves ends link with exit 1 and
// leaves the home empty, ready for another try.
func TestLinkTimesOut(t *testing.T) {
	dir, bin, _ := relayAndAlice(t)
	invite := filepath.Join(dir, "relay", "invite.txt")
	home := filepath.Join(dir, "new")
	p := startLink(t, bin, home, "--invite", invite, "--wait", "1")
	if code, _, errOut := p.end(t); code != 1 || !strings.Contains(errOut, "no device approved the pairing in time") {
		t.Fatalf("link: exit %d, %q", code, errOut)
	}
	q := startLink(t, bin, home, "--invite", invite, "--wait", "1")
	q.end(t)
}

// TestCLITimer: a timer set by alice reaches bob end to end, and a text
// under it disappears from both histories once it runs out.
func TestCLITimer(t *testing.T) {
	dir, bin, alice := relayAndAlice(t)
	bob := filepath.Join(dir, "bob")
	must := mustCLI(t, bin)
	must(bob, "init", "--invite", filepath.Join(dir, "relay", "invite.txt"), "--name", "bob")
	must(alice, "send", "bob", "kept")
	if out := must(alice, "timer", "bob", "2s"); out != "bob: 2s\n" {
		t.Fatalf("timer printed %q", out)
	}
	must(alice, "send", "bob", "ephemeral")
	if out := must(bob, "recv"); out != "alice: kept\nalice: * messages disappear after 2s\nalice: ephemeral\n" {
		t.Fatalf("bob recv printed %q", out)
	}
	if out := must(bob, "timer", "alice"); out != "alice: 2s\n" {
		t.Fatalf("bob's timer: %q", out)
	}
	for _, home := range []string{alice, bob} {
		waitUntil(t, "the text to disappear", func() bool {
			h := must(home, "history")
			return strings.Contains(h, "kept") && !strings.Contains(h, "ephemeral")
		})
	}
	if code, _, errOut := cli(t, bin, alice, "", "timer", "bob", "5 years"); code != 2 || !strings.Contains(errOut, "a timer is off") {
		t.Fatalf("a bad timer: exit %d, %q", code, errOut)
	}
	if code, _, errOut := cli(t, bin, alice, "", "timer", "nobody", "1h"); code != 1 || !strings.Contains(errOut, `no user named "nobody"`) {
		t.Fatalf("a timer for nobody: exit %d, %q", code, errOut)
	}
}

// TestLinkApprovedInsideChat: with a chat owning bob's home, devices
// approve typed in another terminal runs inside the chat, on its
// connection, and links the device; a message the chat shows gets alice
// a read receipt.
func TestLinkApprovedInsideChat(t *testing.T) {
	dir, bin, alice := relayAndAlice(t)
	invite := filepath.Join(dir, "relay", "invite.txt")
	bob, bob2 := filepath.Join(dir, "bob"), filepath.Join(dir, "bob2")
	must := mustCLI(t, bin)
	must(bob, "init", "--invite", invite, "--name", "bob")
	must(bob, "send", "alice", "hi alice")

	chat := startChat(t, bin, bob, "alice")

	out2 := linkCLI(t, bin, invite, bob, bob2)
	if !strings.Contains(out2, "linked device 2 of bob") {
		t.Fatalf("link printed %q", out2)
	}
	if hist := must(bob2, "history"); !strings.Contains(hist, "bob → alice: hi alice") {
		t.Fatalf("device 2's history: %q", hist)
	}
	must(alice, "send", "bob", "seen in the chat")
	waitUntil(t, "the chat shows alice's message", func() bool { return strings.Contains(chat.out.String(), "alice: seen in the chat") })
	waitUntil(t, "alice's message read", func() bool {
		must(alice, "recv")
		return strings.Contains(must(alice, "history", "bob"), "seen in the chat ✓✓ read")
	})
}
