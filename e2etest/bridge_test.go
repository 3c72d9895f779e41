//go:build linux

package e2etest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"samizdat/blocktest"
	"samizdat/bridge"
	"samizdat/client"
	"samizdat/transport/wss"
	"samizdat/transport/wss/wsstest"
)

// bridgeWorld is a relay whose every address a client learns goes
// through a blocker, and two users, alice and bob, who wrote to each
// other (so each accepted the other).
type bridgeWorld struct {
	t              *testing.T
	dir, bin, data string
	blocker        *blocktest.Blocker
	first          *blocktest.Proxy // the relay's first address
	alice, bob     string           // their homes
}

func newBridgeWorld(t *testing.T) *bridgeWorld {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs relay and bridge processes")
	}
	w := &bridgeWorld{t: t, dir: t.TempDir(), bin: buildBinary(t)}
	w.data = filepath.Join(w.dir, "relay")
	w.blocker = blocktest.New()
	t.Cleanup(func() { w.blocker.Close() })
	relayAddr := freeAddr(t)
	var err error
	if w.first, err = w.blocker.Add(relayAddr); err != nil {
		t.Fatal(err)
	}
	startRelayArgs(t, w.bin, w.data, relayAddr, "--listen", "tcp://"+relayAddr+"?name=a&address="+w.first.Addr())
	invite := filepath.Join(w.data, "invite.txt")
	w.alice, w.bob = filepath.Join(w.dir, "alice"), filepath.Join(w.dir, "bob")
	mustRun(t, w.bin, w.alice, "init", "--invite", invite, "--name", "alice")
	mustRun(t, w.bin, w.bob, "init", "--invite", invite, "--name", "bob")
	mustRun(t, w.bin, w.alice, "send", "bob", "hi bob")
	mustRun(t, w.bin, w.bob, "send", "alice", "hi alice")
	return w
}

// move has the operator add an endpoint named name (also behind the
// blocker) and waits until caughtUp says the one who must learn it has.
func (w *bridgeWorld) move(name string, caughtUp func(manifest []byte) bool) *blocktest.Proxy {
	t := w.t
	t.Helper()
	listen := freeAddr(t)
	p, err := w.blocker.Add(listen)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, e := cli(t, w.bin, w.dir, "", "relay", "endpoints", "add", "tcp://"+listen+"?name="+name+"&address="+p.Addr(), "--data", w.data); code != 0 {
		t.Fatalf("endpoints add: %s", e)
	}
	waitUntil(t, "the newer manifest got where it must", func() bool {
		want, err := os.ReadFile(filepath.Join(w.data, "manifest.bin"))
		return err == nil && caughtUp(want)
	})
	return p
}

// sameFile reports whether the file at path holds want.
func sameFile(path string, want []byte) bool {
	have, err := os.ReadFile(path)
	return err == nil && bytes.Equal(want, have)
}

// noPlaintext fails the test if a file below dir holds one of texts.
func noPlaintext(t *testing.T, dir string, texts ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, s := range texts {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", p, s)
			}
		}
		return nil
	})
}

// bridgeProc is a running `samizdat bridge` process.
type bridgeProc struct {
	cmd         *exec.Cmd
	out, errOut lockedBuffer
	done        chan error
}

// startBridgeProc runs the binary with args in dir, with env added.
func startBridgeProc(t *testing.T, bin, dir string, env []string, args ...string) *bridgeProc {
	t.Helper()
	p := &bridgeProc{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
		}
	})
	return p
}

// stop interrupts the bridge and checks that it carried something.
func (p *bridgeProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("bridge: %v\n%s", err, p.errOut.String())
		}
	case <-time.After(patience):
		t.Fatal("the bridge did not stop on an interrupt")
	}
	if s := p.out.String(); !strings.Contains(s, "bridge closed: carried ") || strings.Contains(s, "carried 0 tunnel") {
		t.Fatalf("the bridge carried nothing:\n%s", s)
	}
}

// TestBridgeCarriesAStrandedContact: alice's every relay address is
// blocked; bob, whose client still gets through, runs `samizdat bridge`.
// With no command of her own beyond recv and send, alice receives and
// sends through bob's bridge (and takes the newer manifest through it).
// The relay's files hold no plaintext.
func TestBridgeCarriesAStrandedContact(t *testing.T) {
	w := newBridgeWorld(t)
	bin, alice, bob := w.bin, w.alice, w.bob

	// Bob runs a bridge; it is offered to alice, whom bob wrote to.
	bridgeAddr := freeAddr(t)
	br := startBridgeProc(t, bin, w.dir, nil, "--home", bob, "bridge", "--listen", bridgeAddr)
	waitUntil(t, "the bridge offered to alice", func() bool { return strings.Contains(br.out.String(), "offered the bridge to alice") })
	if s := br.out.String(); !strings.Contains(s, "every contact you accepted learns the address "+bridgeAddr) || !strings.Contains(s, "loopback") {
		t.Fatalf("the bridge did not say who learns its address:\n%s", s)
	}
	// Alice receives bob's message and the offer.
	code, got, e := cli(t, bin, alice, "", "recv")
	if code != 0 || got != "bob: hi alice\n" || !strings.Contains(e, "bob offers you their bridge") {
		t.Fatalf("alice's recv: exit %d, %q, %q", code, got, e)
	}

	// The operator moves: a new address (also behind the blocker) that
	// bob's connected client learns at once, alice's offline one not.
	bobHasIt := func(m []byte) bool {
		mustRun(t, bin, bob, "history") // (a command beside the bridge: it must not disturb it)
		return sameFile(filepath.Join(bob, "manifest.bin"), m)
	}
	second := w.move("b", bobHasIt)
	w.first.Set(blocktest.Reset) // everything alice knows is blocked now
	mustRun(t, bin, bob, "send", "alice", "are you still there?")
	code, got, e = cli(t, bin, alice, "", "recv")
	if code != 0 || got != "bob: are you still there?\n" {
		t.Fatalf("alice's recv through the bridge: exit %d, %q, %q", code, got, e)
	}
	// Through the bridge alice took the newer manifest (the second
	// address); block that too, after bob learned a third.
	w.move("c", bobHasIt)
	second.Set(blocktest.Reset)
	if code, _, e := cli(t, bin, alice, "", "send", "bob", "through the bridge"); code != 0 {
		t.Fatalf("alice's send through the bridge: exit %d, %q", code, e)
	}
	waitUntil(t, "bob got alice's message", func() bool { return strings.Contains(br.out.String(), "alice: through the bridge") })
	br.stop(t)
	noPlaintext(t, w.data, "through the bridge", "are you still there", "hi alice")
}

// TestBridgeAbroadCarriesAStrandedContact: bob makes a bridge-only
// credential on his home and a "machine abroad" (a directory holding only
// that file, no home) runs the bridge from it. Alice, whose every relay
// address is blocked, receives and sends through it with nothing but recv
// and send; it learns the relay's moves from bob's home. A stranger, a
// wrong secret, an expired label and a replayed token get the decoy, and
// so does alice once bob blocks her. Neither the credential nor the
// machine abroad holds bob's keys or anyone's name, and the relay's files
// hold no plaintext.
func TestBridgeAbroadCarriesAStrandedContact(t *testing.T) {
	w := newBridgeWorld(t)
	bin, alice, bob := w.bin, w.alice, w.bob
	abroad := filepath.Join(w.dir, "abroad")
	if err := os.Mkdir(abroad, 0o700); err != nil {
		t.Fatal(err)
	}
	credFile := filepath.Join(abroad, "bridge.cred")
	bridgeAddr := freeAddr(t)
	out := mustRun(t, bin, bob, "bridge", "credential", "--out", credFile, "--address", bridgeAddr)
	if !strings.Contains(out, "none of your keys") || !strings.Contains(out, "every contact you accepted learns the address "+bridgeAddr) || !strings.Contains(out, "loopback") {
		t.Fatalf("bridge credential said:\n%s", out)
	}
	if st, err := os.Stat(credFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the credential file: %v, %v", err, st.Mode())
	}
	// Forgetting a bridge bob does not offer names what to look at.
	if code, _, errOut := cli(t, bin, bob, "", "bridge", "forget", "no-such-bridge"); code != 1 ||
		!strings.Contains(errOut, `no bridge of yours is "no-such-bridge"`) || !strings.Contains(errOut, "samizdat bridge list") {
		t.Fatalf("bridge forget of an unknown bridge: exit %d: %s", code, errOut)
	}
	// The credential holds none of bob's keys, not even his public
	// identity.
	text, _ := os.ReadFile(credFile)
	blk, _ := pem.Decode(text)
	if blk == nil {
		t.Fatal("no credential block")
	}
	for what, secret := range secrets(t, bob) {
		if bytes.Contains(blk.Bytes, secret) || bytes.Contains(text, secret) {
			t.Errorf("the credential holds bob's %s", what)
		}
	}

	// The machine abroad: only the credential, no home.
	br := startBridgeProc(t, bin, abroad, []string{"HOME=" + abroad, "SAMIZDAT_HOME="},
		"bridge", "--credential", credFile, "--listen", bridgeAddr)
	waitUntil(t, "the bridge abroad listens", func() bool { return strings.Contains(br.out.String(), "bridge listening on "+bridgeAddr) })
	if s := br.out.String(); !strings.Contains(s, "no home") || !strings.Contains(s, "loopback") {
		t.Fatalf("the bridge abroad said:\n%s", s)
	}

	// Alice gets bob's message and the offer of the bridge abroad.
	code, got, e := cli(t, bin, alice, "", "recv")
	if code != 0 || got != "bob: hi alice\n" || !strings.Contains(e, "bob offers you their bridge") {
		t.Fatalf("alice's recv: exit %d, %q, %q", code, got, e)
	}

	// The operator moves. Bob's next recv takes the newer manifest and
	// hands it to the bridge abroad; alice, offline, learns nothing.
	abroadHasIt := func(m []byte) bool {
		mustRun(t, bin, bob, "recv")
		return sameFile(filepath.Join(abroad, "bridge.cred.state", "manifest.bin"), m)
	}
	second := w.move("b", abroadHasIt)
	w.first.Set(blocktest.Reset) // everything alice knows is blocked now
	mustRun(t, bin, bob, "send", "alice", "are you still there?")
	code, got, e = cli(t, bin, alice, "", "recv")
	if code != 0 || got != "bob: are you still there?\n" {
		t.Fatalf("alice's recv through the bridge abroad: exit %d, %q, %q\nthe bridge's log:\n%s", code, got, e, br.errOut.String())
	}
	w.move("c", abroadHasIt)
	second.Set(blocktest.Reset)
	if code, _, e := cli(t, bin, alice, "", "send", "bob", "through the bridge abroad"); code != 0 {
		t.Fatalf("alice's send through the bridge abroad: exit %d, %q\nthe bridge's log:\n%s", code, e, br.errOut.String())
	}
	if code, got, e := cli(t, bin, bob, "", "recv"); code != 0 || got != "alice: through the bridge abroad\n" {
		t.Fatalf("bob's recv: exit %d, %q, %q", code, got, e)
	}

	// What alice holds, and what a prober can make of it.
	offer := heldOffer(t, alice, "bob")
	cred, err := bridge.ReadCredential(credFile)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := cred.Issuer()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(offer.TLSPin, iss.Pin) || offer.Address != bridgeAddr {
		t.Fatalf("alice holds %+v, not an offer of the bridge abroad", offer)
	}
	probe := func(path, tok string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		status, body, err := wsstest.Upgrade(ctx, bridgeAddr, iss.SNI, iss.Pin, path, tok)
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}
	// The decoy's answer to a path nobody was given (its error page is
	// drawn per deployment, and may be empty): every refusal must be
	// that answer, byte for byte.
	_, decoyPage := probe("/"+strings.Repeat("b", 22), "")
	upgrade := func(path, tok string) int {
		t.Helper()
		status, body := probe(path, tok)
		if status != http.StatusSwitchingProtocols && body != decoyPage {
			t.Fatalf("status %d with %q, not the decoy's page for an unknown path (%q)", status, body, decoyPage)
		}
		return status
	}
	token := func(secret []byte, path string, at time.Time) string {
		t.Helper()
		tok, err := wss.Cookie(secret, path, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	label, _ := bridge.NewLabel(rand.Reader)
	expired, err := iss.Offer(label, offer.Network, offer.RelayID, bridgeAddr, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	strangerPath := offer.Path[:strings.LastIndex(offer.Path, "/")+1] + strings.Repeat("A", len(offer.Path)-strings.LastIndex(offer.Path, "/")-1)
	guess := bytes.Repeat([]byte{7}, bridge.SecretSize)
	replayed := token(offer.Secret, offer.Path, time.Now())
	if got := upgrade(offer.Path, replayed); got != http.StatusSwitchingProtocols {
		t.Fatalf("alice's offer with a fresh token: status %d", got)
	}
	for _, tc := range []struct{ name, path, tok string }{
		{"a stranger (no offer, a guessed secret)", strangerPath, token(guess, strangerPath, time.Now())},
		{"a wrong secret on alice's path", offer.Path, token(guess, offer.Path, time.Now())},
		{"an expired label, with the bridge's own key", expired.Path, token(expired.Secret, expired.Path, time.Now())},
		{"a replayed token", offer.Path, replayed},
		{"no token at all", offer.Path, ""},
	} {
		if got := upgrade(tc.path, tc.tok); got != http.StatusNotFound {
			t.Errorf("%s: status %d, want the decoy", tc.name, got)
		}
	}

	// Bob blocks alice: the bridge abroad refuses her offer at once.
	out = mustRun(t, bin, bob, "block", "alice")
	if !strings.Contains(out, "refuses their offer now") {
		t.Fatalf("block said:\n%s", out)
	}
	if got := upgrade(offer.Path, token(offer.Secret, offer.Path, time.Now())); got != http.StatusNotFound {
		t.Fatalf("a blocked contact's offer: status %d, want the decoy", got)
	}

	br.stop(t)
	// The machine abroad holds the credential and the bridge's state:
	// no home, nobody's keys, no name, no message.
	var files []string
	filepath.WalkDir(abroad, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(abroad, p)
			files = append(files, rel)
		}
		return nil
	})
	if strings.Join(files, " ") != "bridge.cred bridge.cred.state/control.bin bridge.cred.state/manifest.bin" {
		t.Fatalf("the machine abroad holds %q", files)
	}
	// (Names are checked where they cannot turn up by chance in base64
	// or key bytes: "alice" is five letters.)
	noPlaintext(t, abroad, "alice", "through the bridge", "are you still there", "hi alice")
	noPlaintext(t, w.data, "through the bridge abroad", "are you still there", "hi alice")
}

// heldOffer is the one bridge offer the client in home holds from peer.
func heldOffer(t *testing.T, home, peer string) bridge.Offer {
	t.Helper()
	c, err := client.Open(context.Background(), client.Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	offers, peers, err := c.BridgeOffers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found []bridge.Offer
	for i, o := range offers {
		if peers[i] == peer {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s holds %d offers from %s", home, len(found), peer)
	}
	return found[0]
}
