//go:build linux

package e2etest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFileThroughRelayCrashes sends a large random file from alice to bob
// with real processes while the relay is SIGKILLed and restarted twice
// during the upload and twice during the download: the file arrives
// bit-identical, each client process's peak RSS stays under 100 MiB, and
// the relay's files hold neither a plaintext canary nor the file's name.
// 64 MiB in the normal suite, 1 GiB with SAMIZDAT_SOAK=1.
func TestFileThroughRelayCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs relay and client processes")
	}
	size := int64(64 << 20)
	if soak() {
		size = 1 << 30
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	addr := freeAddr(t)
	relay := startRelayProc(t, bin, data, addr)
	alice, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	invite := filepath.Join(data, "invite.txt")
	mustRun(t, bin, alice, "init", "--invite", invite, "--name", "alice")
	mustRun(t, bin, bob, "init", "--invite", invite, "--name", "bob")

	var tag [8]byte
	rand.Read(tag[:])
	canary := []byte("CANARY-" + hex.EncodeToString(tag[:]))
	name := "secret-report-" + hex.EncodeToString(tag[:4]) + ".bin"
	path := filepath.Join(dir, name)
	want := writeRandomFile(t, path, size, canary)

	chunks := func(root string) int { // chunk files the relay has stored
		n := 0
		filepath.WalkDir(filepath.Join(root, "blobs"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && len(d.Name()) == 8 {
				n++
			}
			return nil
		})
		return n
	}
	total := int((size + 256<<10 - 1) / (256 << 10))
	var relayRSS []int64 // each relay process's peak, in KiB
	relayWatch := watchRSS(relay.cmd.Process.Pid)
	stopRelay := func() {
		// The last sample is taken before the kill: a killed process's
		// /proc entry no longer holds its memory figures.
		relayRSS = append(relayRSS, mustRSS(t, relayWatch))
		relay.kill()
	}
	restart := func() {
		stopRelay()
		relay = startRelayProc(t, bin, data, addr)
		relayWatch = watchRSS(relay.cmd.Process.Pid)
	}

	// Upload: alice's send rides out two relay crashes (or, should it give
	// up, the next send resumes: the contract).
	var sendRSS []int64
	sends, upKills := 0, 0
	for kills, done := 0, false; !done; {
		sends++
		if sends > 6 {
			t.Fatal("send did not complete in 6 runs")
		}
		p := startCLI(t, bin, alice, "", "send", "bob", "--file", path, "the report")
		rss := watchRSS(p.cmd.Process.Pid)
		for kills < 2 {
			at := total * (kills + 1) / 3
			if !waitOrExit(p, func() bool { return chunks(data) >= at }) {
				break
			}
			restart()
			kills++
		}
		code, _, errOut := p.wait(t)
		sendRSS, upKills = append(sendRSS, mustRSS(t, rss)), kills
		switch {
		case code == 0:
			done = true
		case kills < 2 || !strings.Contains(errOut, "resume"):
			t.Fatalf("send: exit %d: %s", code, errOut)
		default:
			t.Logf("send stopped (%s); running it again resumes", strings.TrimSpace(errOut))
		}
	}
	if got := chunks(data); got != total {
		t.Fatalf("relay holds %d chunks, want %d", got, total)
	}

	// Download: bob's recv rides out two more.
	var recvRSS []int64
	var out string
	filesDir := filepath.Join(bob, "files")
	part := func() int64 {
		ents, _ := os.ReadDir(filesDir)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".part") {
				if fi, err := e.Info(); err == nil {
					return fi.Size()
				}
			}
		}
		return 0
	}
	recvs, downKills := 0, 0
	for kills := 0; out == ""; {
		recvs++
		if recvs > 6 {
			t.Fatal("recv did not complete in 6 runs")
		}
		p := startCLI(t, bin, bob, "", "recv")
		rss := watchRSS(p.cmd.Process.Pid)
		for kills < 2 {
			at := size * int64(kills+1) / 3
			if !waitOrExit(p, func() bool { return part() >= at }) {
				break
			}
			restart()
			kills++
		}
		code, stdout, errOut := p.wait(t)
		recvRSS, downKills = append(recvRSS, mustRSS(t, rss)), kills
		if code != 0 {
			if kills < 2 {
				t.Fatalf("recv: exit %d: %s", code, errOut)
			}
			t.Logf("recv stopped (%s); running it again resumes", strings.TrimSpace(errOut))
			continue
		}
		out = stdout
	}
	wantLine := fmt.Sprintf("alice: [file %s, %d bytes] the report\n", name, size)
	if out != wantLine {
		t.Fatalf("recv printed %q, want %q", out, wantLine)
	}
	if got := fileSHA256(t, filepath.Join(filesDir, name)); got != want {
		t.Fatal("the received file differs from the sent one")
	}
	stopRelay()
	t.Logf("%d MiB: %d send run(s), peak RSS %v KiB; %d recv run(s), peak RSS %v KiB; relay processes' peak RSS %v KiB",
		size>>20, sends, sendRSS, recvs, recvRSS, relayRSS)
	if upKills != 2 || downKills != 2 {
		t.Errorf("the relay was killed %d times during the upload and %d during the download, want 2 and 2", upKills, downKills)
	}
	for _, rss := range append(sendRSS, recvRSS...) {
		if rss > 100<<10 {
			t.Errorf("a client process peaked at %d KiB, over 100 MiB", rss)
		}
	}
	// The relay keeps sealed chunks only: no plaintext, no name.
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, canary) {
			t.Errorf("relay file %s holds plaintext of the file", p)
		}
		if bytes.Contains(b, []byte(name)) || bytes.Contains(b, []byte("secret-report")) {
			t.Errorf("relay file %s holds the file's name", p)
		}
		return nil
	})
}

// waitOrExit waits until cond holds (true) or p exits (false).
func waitOrExit(p *cliProc, cond func() bool) bool {
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			return false
		default:
		}
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// mustRSS returns the peak resident set w saw, in KiB, and fails the test
// if it saw none: a memory bound that cannot be measured is not met.
func mustRSS(t *testing.T, w *rssWatch) int64 {
	t.Helper()
	kib, err := w.result()
	if err != nil {
		t.Fatal(err)
	}
	return kib
}

// writeRandomFile writes size random bytes with canary at the start of
// every MiB to path, and returns their SHA-256 (hex).
func writeRandomFile(t *testing.T, path string, size int64, canary []byte) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		b := buf[:min(left, int64(len(buf)))]
		rand.Read(b)
		copy(b, canary)
		h.Write(b)
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileSHA256 returns the SHA-256 of the file at path (hex).
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestFileCLIContract: send --file to a user and to a group; recv saves
// under the sender's name made safe (a clash gets " (1)") and prints the
// line only then, with no trailing space when there is no text; history
// shows the files.
func TestFileCLIContract(t *testing.T) {
	dir, bin, alice := relayAndAlice(t)
	bob := filepath.Join(dir, "bob")
	mustRun(t, bin, bob, "init", "--invite", filepath.Join(dir, "relay", "invite.txt"), "--name", "bob")
	// A name with a leading dot, a backslash and a control character.
	path := filepath.Join(dir, ".notes\\q3\x07.txt")
	if err := os.WriteFile(path, []byte("quarterly numbers"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, bin, alice, "send", "bob", "--file", path)
	mustRun(t, bin, alice, "send", "bob", "--file", path, "again,", "with text")
	out := mustRun(t, bin, bob, "recv")
	want := "alice: [file q3.txt, 17 bytes]\nalice: [file q3 (1).txt, 17 bytes] again, with text\n"
	if out != want {
		t.Fatalf("recv printed %q, want %q", out, want)
	}
	for _, name := range []string{"q3.txt", "q3 (1).txt"} {
		if b, err := os.ReadFile(filepath.Join(bob, "files", name)); err != nil || string(b) != "quarterly numbers" {
			t.Fatalf("%s: %q, %v", name, b, err)
		}
	}
	if h := mustRun(t, bin, alice, "history", "bob"); !strings.Contains(h, "[file q3.txt, 17 bytes] again, with text") {
		t.Fatalf("alice's history: %q", h)
	}
	if h := mustRun(t, bin, bob, "history", "alice"); !strings.Contains(h, "[file q3 (1).txt, 17 bytes] again, with text") {
		t.Fatalf("bob's history: %q", h)
	}
	// To a group, saved where --files says.
	mustRun(t, bin, alice, "group", "create", "team", "bob")
	mustRun(t, bin, bob, "recv")
	mustRun(t, bin, alice, "send", "team", "--file", path, "for the team")
	elsewhere := filepath.Join(dir, "elsewhere")
	if out := mustRun(t, bin, bob, "recv", "--files", elsewhere); out != "team/alice: [file q3.txt, 17 bytes] for the team\n" {
		t.Fatalf("group recv printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "q3.txt")); err != nil {
		t.Fatal(err)
	}
	// A missing file, or a directory, is refused with the reason, and
	// nothing is queued (no hint of an outbox or a resume).
	before := mustRun(t, bin, alice, "history", "bob")
	for what, path := range map[string]string{"no such file": filepath.Join(dir, "nope"), "not a regular file": dir} {
		code, _, errOut := cli(t, bin, alice, "", "send", "bob", "--file", path)
		if code != 1 || !strings.Contains(errOut, what) || !strings.Contains(errOut, "nothing was sent") {
			t.Fatalf("%s: exit %d, %q", what, code, errOut)
		}
	}
	if out := mustRun(t, bin, alice, "history", "bob"); out != before {
		t.Fatalf("alice's history after two refused files:\n%s\nbefore them:\n%s", out, before)
	}
}

// TestFileSyncCLI: a file bob sends from his first device is saved by his
// second device's recv (which prints nothing for it, as for a synced
// text) and shows in its history.
func TestFileSyncCLI(t *testing.T) {
	dir, bin, alice := relayAndAlice(t)
	invite := filepath.Join(dir, "relay", "invite.txt")
	bob, laptop := filepath.Join(dir, "bob"), filepath.Join(dir, "laptop")
	mustRun(t, bin, bob, "init", "--invite", invite, "--name", "bob")
	linkCLI(t, bin, invite, bob, laptop)
	path := filepath.Join(dir, "minutes.txt")
	if err := os.WriteFile(path, []byte("the minutes of the meeting"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, bin, bob, "send", "alice", "--file", path, "as promised")
	if out := mustRun(t, bin, laptop, "recv"); out != "" {
		t.Fatalf("the laptop's recv printed %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(laptop, "files", "minutes.txt")); err != nil || string(b) != "the minutes of the meeting" {
		t.Fatalf("the laptop saved %q, %v", b, err)
	}
	if h := mustRun(t, bin, laptop, "history", "alice"); !strings.Contains(h, "[file minutes.txt, 26 bytes] as promised") {
		t.Fatalf("the laptop's history: %q", h)
	}
	if out := mustRun(t, bin, alice, "recv"); out != "bob: [file minutes.txt, 26 bytes] as promised\n" {
		t.Fatalf("alice's recv printed %q", out)
	}
}
