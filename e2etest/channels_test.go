//go:build linux

package e2etest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChannelCLI drives broadcast channels through the CLI with real
// processes: a user creates a channel and posts, others join by code and
// read with recv, a subscriber cannot post until an admin makes them one,
// a code for another network is refused, and the relay's files hold no
// post or channel name in the clear.
func TestChannelCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs relay processes")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	startRelayProc(t, bin, data, freeAddr(t))
	invite := filepath.Join(data, "invite.txt")
	alice, bob, carol := filepath.Join(dir, "alice"), filepath.Join(dir, "bob"), filepath.Join(dir, "carol")
	must := mustCLI(t, bin)
	must(alice, "init", "--invite", invite, "--name", "alice")
	must(bob, "init", "--invite", invite, "--name", "bob")
	must(carol, "init", "--invite", invite, "--name", "carol")

	out := must(alice, "channel", "create", "zebrachannel")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	code := lines[len(lines)-1]
	if !strings.HasPrefix(code, "szch1") || strings.Contains(code, " ") {
		t.Fatalf("channel create printed %q; want the join code alone on the last line", out)
	}
	must(alice, "channel", "post", "zebrachannel", "before anyone joined")
	if out := must(bob, "channel", "join", code); out != "joined #zebrachannel\n" {
		t.Fatalf("join printed %q", out)
	}
	if out := must(carol, "channel", "join", code, "--name", "zc"); out != "joined #zc\n" {
		t.Fatalf("join --name printed %q", out)
	}
	if code, _, errOut := cli(t, bin, bob, "", "channel", "post", "zebrachannel", "not mine"); code != 1 || !strings.Contains(errOut, "not an admin") {
		t.Fatalf("a subscriber's post: exit %d, %q", code, errOut)
	}
	const secret = "the-quick-brown-fox-jumps-42"
	must(alice, "channel", "post", "zebrachannel", secret)
	if out := must(bob, "recv"); out != "#zebrachannel: "+secret+"\n" {
		t.Fatalf("bob's recv printed %q", out)
	}
	if out := must(carol, "recv"); out != "#zc: "+secret+"\n" {
		t.Fatalf("carol's recv printed %q", out)
	}
	if out := must(bob, "recv"); out != "" {
		t.Fatalf("bob's second recv printed %q", out)
	}

	// Alice makes bob an admin (he wrote to her, so she is his contact).
	must(bob, "send", "alice", "make me an admin please")
	must(alice, "channel", "admin", "zebrachannel", "bob")
	if code, out, errOut := cli(t, bin, bob, "", "recv"); code != 0 || out != "" || !strings.Contains(errOut, "alice made you an admin of the channel zebrachannel") {
		t.Fatalf("bob's recv of the admin key: exit %d, %q, %q", code, out, errOut)
	}
	must(bob, "channel", "post", "zebrachannel", "posted by bob")
	if out := must(carol, "recv"); out != "#zc: posted by bob\n" {
		t.Fatalf("carol's recv printed %q", out)
	}
	if out := must(alice, "recv"); out != "bob: make me an admin please\n#zebrachannel: posted by bob\n" {
		t.Fatalf("alice's recv printed %q", out)
	}
	if out := must(bob, "channel", "list"); out != "zebrachannel (admin)\n" {
		t.Fatalf("bob's channel list: %q", out)
	}
	if out := must(carol, "channel", "list"); out != "zc\n" {
		t.Fatalf("carol's channel list: %q", out)
	}

	// A code for another network is refused.
	other := filepath.Join(dir, "other")
	startRelayProc(t, bin, other, freeAddr(t))
	dave := filepath.Join(dir, "dave")
	must(dave, "init", "--invite", filepath.Join(other, "invite.txt"), "--name", "dave")
	if code, _, errOut := cli(t, bin, dave, "", "channel", "join", code); code != 1 || !strings.Contains(errOut, "another network") {
		t.Fatalf("a code for another network: exit %d, %q", code, errOut)
	}
	if out := must(dave, "channel", "list"); out != "" {
		t.Fatalf("dave's channel list after the refusal: %q", out)
	}

	// Bad usage exits 2 with the reason.
	for _, args := range [][]string{
		{"channel"},
		{"channel", "nope"},
		{"channel", "create"},
		{"channel", "create", "Bad/Name"},
		{"channel", "post", "zc"},
		{"channel", "join"},
		{"channel", "join", code, "--name", "#zc"},
		{"channel", "admin", "zc"},
	} {
		if code, _, errOut := cli(t, bin, carol, "", args...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, %q; want 2 and the reason", args, code, errOut)
		}
	}
	if code, _, errOut := cli(t, bin, carol, "", "channel", "join", "szch1nonsense"); code != 1 || !strings.Contains(errOut, "join code") {
		t.Fatalf("a malformed code: exit %d, %q", code, errOut)
	}
	for _, name := range []string{"alice", "zebrachannel"} {
		if code, _, errOut := cli(t, bin, bob, "", "channel", "create", name); code != 1 || !strings.Contains(errOut, "taken") {
			t.Fatalf("a channel named as a contact or a channel (%s): exit %d, %q", name, code, errOut)
		}
	}
	must(carol, "channel", "leave", "zc")
	if out := must(carol, "channel", "list"); out != "" {
		t.Fatalf("carol's channel list after leaving: %q", out)
	}

	// The relay's files (database, WAL, keys) hold no post and no channel
	// name in the clear.
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err // sockets and directories hold no data
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range []string{secret, "posted by bob", "before anyone joined", "zebrachannel"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q in the clear", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
