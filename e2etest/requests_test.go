//go:build linux

package e2etest

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIMessageRequests drives requests, accept, block and unblock with
// the binary and a relay process: a stranger's message is shown but gets
// no receipt until accepted; a blocked sender's messages are not shown; a
// group from a stranger is listed as a request until accepted.
func TestCLIMessageRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	startRelayProc(t, bin, data, freeAddr(t))
	invite := filepath.Join(data, "invite.txt")
	bob, mallory := filepath.Join(dir, "bob"), filepath.Join(dir, "mallory")
	must := mustCLI(t, bin)
	must(bob, "init", "--invite", invite, "--name", "bob")
	must(mallory, "init", "--invite", invite, "--name", "mallory")

	must(mallory, "send", "bob", "hi bob")
	if out := must(bob, "recv"); out != "mallory: hi bob\n" {
		t.Fatalf("recv printed %q", out)
	}
	if out := must(bob, "requests"); out != "mallory\n" {
		t.Fatalf("requests printed %q", out)
	}
	must(mallory, "recv", "--wait", "300ms")
	if out := must(mallory, "history", "bob"); strings.Contains(out, "✓✓") {
		t.Fatalf("a pending stranger got a delivery receipt:\n%s", out)
	}
	if out := must(bob, "accept", "mallory"); out != "accepted mallory\n" {
		t.Fatalf("accept printed %q", out)
	}
	if out := must(bob, "requests"); out != "" {
		t.Fatalf("requests after accept printed %q", out)
	}
	must(mallory, "recv", "--wait", "300ms")
	if out := must(mallory, "history", "bob"); !strings.Contains(out, "✓✓") {
		t.Fatalf("no receipt after accept:\n%s", out)
	}

	must(bob, "block", "mallory")
	must(mallory, "send", "bob", "let me in")
	if out := must(bob, "recv"); out != "" {
		t.Fatalf("recv showed a blocked sender's message: %q", out)
	}
	if out := must(bob, "history", "mallory"); strings.Contains(out, "let me in") {
		t.Fatalf("a blocked sender's message was stored:\n%s", out)
	}
	must(bob, "unblock", "mallory")
	must(mallory, "send", "bob", "third")
	if out := must(bob, "recv"); out != "mallory: third\n" {
		t.Fatalf("recv after unblock printed %q", out)
	}
	// A group from a stranger (mallory is pending again) is a request.
	must(mallory, "group", "create", "deals", "bob")
	// stdout keeps the contract's lines; the request is a note on stderr.
	if code, out, errOut := cli(t, bin, bob, "", "recv"); code != 0 || out != "deals: * mallory added bob\n" || !strings.Contains(errOut, "deals: mallory is not a contact you accepted: a group request") {
		t.Fatalf("recv of a stranger's group: exit %d, printed %q, stderr %q", code, out, errOut)
	}
	if out := must(bob, "requests"); out != "mallory\ndeals (group; mallory added you)\n" {
		t.Fatalf("requests printed %q", out)
	}
	if out := must(bob, "accept", "deals"); out != "accepted deals\n" {
		t.Fatalf("accept printed %q", out)
	}
	if out := must(bob, "requests"); out != "mallory\n" {
		t.Fatalf("requests after accepting the group printed %q", out)
	}
	if code, _, errOut := cli(t, bin, bob, "", "block"); code != 2 || !strings.Contains(errOut, "NAME") {
		t.Fatalf("block without NAME: exit %d, %q", code, errOut)
	}
}
