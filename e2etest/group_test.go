//go:build linux

package e2etest

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIGroups drives the group commands as processes: three users in a
// group exchange messages; a removed member receives nothing after her
// removal; a name that clashes locally takes a suffix; rename, leave, chat
// and history work on a group. The relay's files and memory hold none of
// the texts or the group's names.
func TestCLIGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	relayP := startRelayProc(t, bin, data, freeAddr(t))
	invite := filepath.Join(data, "invite.txt")
	must := mustCLI(t, bin)
	home := map[string]string{}
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		home[name] = filepath.Join(dir, name)
		must(home[name], "init", "--invite", invite, "--name", name)
	}
	alice, bob, carol, dave := home["alice"], home["bob"], home["carol"], home["dave"]
	expect := func(h string, want string, args ...string) {
		t.Helper()
		if out := must(h, args...); out != want {
			t.Fatalf("%s %v printed %q, want %q", filepath.Base(h), args, out, want)
		}
	}

	must(alice, "group", "create", "samovar-circle", "bob", "carol")
	expect(alice, "samovar-circle 3 members\n", "group", "list")
	expect(alice, "alice (admin)\nbob\ncarol\n", "group", "members", "samovar-circle")
	for _, h := range []string{bob, carol} {
		expect(h, "samovar-circle: * alice added bob\nsamovar-circle: * alice added carol\n", "recv")
	}
	// Each writes; the other two read it.
	texts := map[string]string{"alice": "tea at five, alice says", "bob": "bob brings the jam", "carol": "carol has the samovar"}
	for _, from := range []string{"bob", "carol", "alice"} {
		must(home[from], "send", "samovar-circle", texts[from])
		for _, to := range []string{"alice", "bob", "carol"} {
			if to != from {
				expect(home[to], "samovar-circle/"+from+": "+texts[from]+"\n", "recv")
			}
		}
	}
	// A piped chat writes to the group.
	if code, _, errOut := cli(t, bin, bob, "bob writes from chat\n/quit\n", "chat", "samovar-circle"); code != 0 {
		t.Fatalf("chat: exit %d: %s", code, errOut)
	}
	expect(alice, "samovar-circle/bob: bob writes from chat\n", "recv")
	expect(carol, "samovar-circle/bob: bob writes from chat\n", "recv")

	// Names are local: creating one that clashes is refused; one we are
	// added to takes a suffix.
	if code, _, errOut := cli(t, bin, alice, "", "group", "create", "bob", "carol"); code != 1 || !strings.Contains(errOut, "taken") {
		t.Fatalf("a group named like a contact: exit %d, %q", code, errOut)
	}
	must(dave, "group", "create", "bob", "carol")
	expect(carol, "bob-2: * dave added carol\n", "recv")
	expect(carol, "bob-2 2 members\nsamovar-circle 3 members\n", "group", "list")

	// Bob is no admin; alice removes carol, who hears of it and of nothing
	// after it.
	if code, _, errOut := cli(t, bin, bob, "", "group", "remove", "samovar-circle", "carol"); code != 1 || !strings.Contains(errOut, "bob is not an admin") {
		t.Fatalf("bob removes carol: exit %d, %q", code, errOut)
	}
	must(alice, "group", "remove", "samovar-circle", "carol")
	expect(bob, "samovar-circle: * alice removed carol\n", "recv")
	expect(carol, "samovar-circle: * alice removed carol\n", "recv")
	texts["after"] = "after carol left the table"
	must(alice, "send", "samovar-circle", texts["after"])
	must(bob, "send", "samovar-circle", "bob agrees")
	expect(bob, "samovar-circle/alice: "+texts["after"]+"\n", "recv")
	expect(alice, "samovar-circle/bob: bob agrees\n", "recv")
	expect(carol, "", "recv")
	if code, _, errOut := cli(t, bin, carol, "", "send", "samovar-circle", "hello?"); code != 1 || !strings.Contains(errOut, "no longer a member") {
		t.Fatalf("carol sends after her removal: exit %d, %q", code, errOut)
	}
	expect(carol, "bob-2 2 members\n", "group", "list")
	if out := must(bob, "history", "samovar-circle"); !strings.Contains(out, "samovar-circle: * alice removed carol") ||
		!strings.Contains(out, "samovar-circle/alice: "+texts["after"]) || !strings.Contains(out, "bob → samovar-circle: bob agrees ✓") {
		t.Fatalf("bob's history of the group:\n%s", out)
	}

	// Rename reaches every member; leave too.
	must(alice, "group", "admin", "samovar-circle", "bob")
	expect(bob, "samovar-circle: * alice made bob an admin\n", "recv")
	must(bob, "group", "rename", "samovar-circle", "tea-party")
	expect(alice, "samovar-circle: * bob renamed the group to tea-party\n", "recv")
	expect(alice, "tea-party 2 members\n", "group", "list")
	must(bob, "group", "leave", "tea-party")
	expect(alice, "tea-party: * bob left\n", "recv")
	expect(alice, "alice (admin)\n", "group", "members", "tea-party")

	// The relay holds none of it.
	needles := []string{"samovar-circle", "tea-party", "bob writes from chat", "bob agrees"}
	for _, s := range texts {
		needles = append(needles, s)
	}
	memory, err := processMemory(relayP.cmd.Process.Pid)
	switch {
	case err == nil:
		if !bytes.Contains(memory, relayNoiseKey(t, invite)) {
			t.Errorf("the search of the relay's memory (%d bytes) did not find the relay's own Noise public key", len(memory))
		}
		for _, s := range needles {
			if bytes.Contains(memory, []byte(s)) {
				t.Errorf("the relay's memory holds %q", s)
			}
		}
	case !errors.Is(err, errMemoryRefused):
		t.Fatalf("reading the relay's memory: %v", err)
	default:
		t.Logf("memory not searched: %v", err)
	}
	relayP.kill()
	noPlaintext(t, data, needles...)
}
