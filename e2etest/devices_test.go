//go:build linux

package e2etest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCLIDevices drives devices and devices remove with the binary and a
// relay process: the listing, every refusal with its exit status, and a
// removed device that gets nothing more and is told why.
func TestCLIDevices(t *testing.T) {
	dir, bin, alice := relayAndAlice(t)
	invite := filepath.Join(dir, "relay", "invite.txt")
	bob, laptop := filepath.Join(dir, "bob"), filepath.Join(dir, "laptop")
	must := mustCLI(t, bin)
	must(bob, "init", "--invite", invite, "--name", "bob", "--device-name", "bob's phone")
	if out := linkCLI(t, bin, invite, bob, laptop, "--device-name", "old laptop"); !strings.Contains(out, "linked device 2") {
		t.Fatalf("link printed %q", out)
	}

	list := must(bob, "devices")
	lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^1 bob's phone now$`),
		regexp.MustCompile(`^2 old laptop never$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("devices printed %q", list)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("devices line %d: %q, want %v", i+1, lines[i], re)
		}
	}
	if out := must(laptop, "devices", "list"); !regexp.MustCompile(`^1 bob's phone \d{4}-\d\d-\d\d\n2 old laptop now\n$`).MatchString(out) {
		t.Fatalf("devices list on the laptop printed %q", out)
	}

	// Mistakes and refusals: exit 2 for the command line, 1 for the rest,
	// each with the reason.
	for _, tc := range []struct {
		home string
		args []string
		code int
		want string
	}{
		{bob, []string{"devices", "remove", "laptop"}, 2, "not a device ID"},
		{bob, []string{"devices", "remove"}, 2, "need one device ID"},
		{bob, []string{"devices", "remove", "1"}, 1, "cannot be removed"},
		{bob, []string{"devices", "remove", "9"}, 1, "no device 9"},
		{laptop, []string{"devices", "remove", "1"}, 1, "device 1 is the primary: it cannot be removed (this is device 2)"},
		{laptop, []string{"devices", "remove", "3"}, 1, "only the primary device (1) removes devices; this is device 2\nhint: run 'samizdat devices remove 3' on the primary device"},
		{laptop, []string{"devices", "remove", "2"}, 1, "a device cannot remove itself"},
	} {
		code, out, errOut := cli(t, bin, tc.home, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%v on %s: exit %d, stdout %q, stderr %q; want exit %d with %q", tc.args, filepath.Base(tc.home), code, out, errOut, tc.code, tc.want)
		}
	}

	// The laptop gets what alice sends until it is removed.
	must(alice, "send", "bob", "before")
	if out := must(laptop, "recv"); out != "alice: before\n" {
		t.Fatalf("laptop recv printed %q", out)
	}
	if out := must(bob, "devices", "remove", "2"); !strings.HasPrefix(out, "removed device 2") {
		t.Fatalf("devices remove printed %q", out)
	}
	if out := must(bob, "devices"); strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "1 ") {
		t.Fatalf("devices after the removal printed %q", out)
	}
	must(alice, "send", "bob", "after")
	if out := must(bob, "recv"); out != "alice: before\nalice: after\n" {
		t.Fatalf("bob recv printed %q", out)
	}
	for _, args := range [][]string{{"recv"}, {"send", "alice", "from the stolen laptop"}, {"devices"}} {
		code, out, errOut := cli(t, bin, laptop, "", args...)
		if code != 1 || out != "" || !strings.Contains(errOut, "removed from its account") {
			t.Errorf("%v on the removed laptop: exit %d, stdout %q, stderr %q; want exit 1 saying it was removed", args, code, out, errOut)
		}
	}
	if out := must(alice, "recv"); out != "" {
		t.Fatalf("alice received %q from the removed laptop", out)
	}
}
