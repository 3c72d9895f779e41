//go:build linux

package e2etest

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"samizdat/blocktest"
)

// TestBridgeCarriesAStrandedContact: alice's every relay address is
// blocked; bob, whose client still gets through, runs `samizdat bridge`.
// With no command of her own beyond recv and send, alice receives and
// sends through bob's bridge (and takes the newer manifest through it).
// The relay's files hold no plaintext.
func TestBridgeCarriesAStrandedContact(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs relay and bridge processes")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	blocker := blocktest.New()
	defer blocker.Close()
	// Every relay address a client learns goes through a blocker.
	relayAddr := freeAddr(t)
	first, err := blocker.Add(relayAddr)
	if err != nil {
		t.Fatal(err)
	}
	startRelayArgs(t, bin, data, relayAddr, "--listen", "tcp://"+relayAddr+"?name=a&address="+first.Addr())
	invite := filepath.Join(data, "invite.txt")
	alice, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	mustRun(t, bin, alice, "init", "--invite", invite, "--name", "alice")
	mustRun(t, bin, bob, "init", "--invite", invite, "--name", "bob")
	mustRun(t, bin, alice, "send", "bob", "hi bob")
	mustRun(t, bin, bob, "send", "alice", "hi alice")

	// Bob runs a bridge; it is offered to alice, whom bob wrote to.
	bridgeAddr := freeAddr(t)
	br := exec.Command(bin, "--home", bob, "bridge", "--listen", bridgeAddr)
	br.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errOut lockedBuffer
	br.Stdout, br.Stderr = &out, &errOut
	if err := br.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- br.Wait() }()
	t.Cleanup(func() {
		br.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			br.Process.Kill()
		}
	})
	waitUntil(t, "the bridge offered to alice", func() bool { return strings.Contains(out.String(), "offered the bridge to alice") })
	if s := out.String(); !strings.Contains(s, "every contact you accepted learns the address "+bridgeAddr) || !strings.Contains(s, "loopback") {
		t.Fatalf("the bridge did not say who learns its address:\n%s", s)
	}
	// Alice receives bob's message and the offer.
	code, got, e := cli(t, bin, alice, "", "recv")
	if code != 0 || got != "bob: hi alice\n" || !strings.Contains(e, "bob offers you their bridge") {
		t.Fatalf("alice's recv: exit %d, %q, %q", code, got, e)
	}

	// The operator moves: a new address (also behind the blocker) that
	// bob's connected client learns at once, alice's offline one not.
	moveTo := func(name string) *blocktest.Proxy {
		t.Helper()
		listen := freeAddr(t)
		p, err := blocker.Add(listen)
		if err != nil {
			t.Fatal(err)
		}
		mustRun(t, bin, bob, "history") // (a command beside the bridge: it must not disturb it)
		if code, _, e := cli(t, bin, dir, "", "relay", "endpoints", "add", "tcp://"+listen+"?name="+name+"&address="+p.Addr(), "--data", data); code != 0 {
			t.Fatalf("endpoints add: %s", e)
		}
		waitUntil(t, "bob's bridge has the newer manifest", func() bool {
			want, err1 := os.ReadFile(filepath.Join(data, "manifest.bin"))
			have, err2 := os.ReadFile(filepath.Join(bob, "manifest.bin"))
			return err1 == nil && err2 == nil && bytes.Equal(want, have)
		})
		return p
	}
	second := moveTo("b")
	first.Set(blocktest.Reset) // everything alice knows is blocked now
	mustRun(t, bin, bob, "send", "alice", "are you still there?")
	code, got, e = cli(t, bin, alice, "", "recv")
	if code != 0 || got != "bob: are you still there?\n" {
		t.Fatalf("alice's recv through the bridge: exit %d, %q, %q", code, got, e)
	}
	// Through the bridge alice took the newer manifest (the second
	// address); block that too, after bob learned a third.
	moveTo("c")
	second.Set(blocktest.Reset)
	if code, _, e := cli(t, bin, alice, "", "send", "bob", "through the bridge"); code != 0 {
		t.Fatalf("alice's send through the bridge: exit %d, %q", code, e)
	}
	waitUntil(t, "bob got alice's message", func() bool { return strings.Contains(out.String(), "alice: through the bridge") })

	br.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("bridge: %v\n%s", err, errOut.String())
		}
	case <-time.After(patience):
		t.Fatal("the bridge did not stop on an interrupt")
	}
	if s := out.String(); !strings.Contains(s, "bridge closed: carried ") || strings.Contains(s, "carried 0 tunnel") {
		t.Fatalf("the bridge carried nothing:\n%s", s)
	}
	// The relay's files hold no plaintext.
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, s := range []string{"through the bridge", "are you still there", "hi alice"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", p, s)
			}
		}
		return nil
	})
}
