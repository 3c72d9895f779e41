//go:build linux

package e2etest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/manifest"
)

// TestBackupRestoreRelay backs up a relay process while it takes
// messages, kills it during a later backup, kills a backup process too,
// and restores the last good backup: the restored relay delivers every
// message it acknowledged before that backup began.
func TestBackupRestoreRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	addr := freeAddr(t)
	relayP := startRelayProc(t, bin, data, addr)
	inv, err := manifest.ReadInvite(filepath.Join(data, "invite.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	delivered := map[string]int{}
	cfg := func(name string) client.Config {
		return client.Config{
			Home: filepath.Join(dir, name), PreKeyBatch: 10, PingInterval: time.Second,
			RequestTimeout: 5 * time.Second, DialTimeout: 2 * time.Second,
			OnEvent: func(e client.Event) {
				if e.Kind == client.EventMessage {
					mu.Lock()
					delivered[e.Text]++
					mu.Unlock()
				}
			},
		}
	}
	alice, err := client.Init(ctx, cfg("alice"), inv, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	bob, err := client.Init(ctx, cfg("bob"), inv, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()

	// acked holds the texts whose Send returned nil: the relay stored them.
	var ackMu sync.Mutex
	var acked []string
	ackedSoFar := func() []string {
		ackMu.Lock()
		defer ackMu.Unlock()
		return append([]string(nil), acked...)
	}
	send := func(text string) error {
		_, err := alice.Send(ctx, "bob", text)
		if err == nil {
			ackMu.Lock()
			acked = append(acked, text)
			ackMu.Unlock()
		}
		return err
	}
	for i := range 15 {
		if err := send(fmt.Sprint("first ", i)); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(dir, "relay.backup")
	backupCLI := func() *cliProc {
		return startCLI(t, bin, filepath.Join(dir, "cli"), "", "relay", "backup", "--data", data, backup)
	}
	if code, out, errOut := backupCLI().wait(t); code != 0 {
		t.Fatalf("backup: exit %d: %s%s", code, out, errOut)
	}
	inFirst := ackedSoFar()
	first, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli(t, bin, filepath.Join(dir, "cli"), "", "relay", "restore", "--data", data, "--force", backup); code == 0 || !strings.Contains(errOut, "a relay is running on this data directory") {
		t.Fatalf("restore over the running relay: exit %d, %s", code, errOut)
	}

	for i := range 15 {
		if err := send(fmt.Sprint("second ", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Alice keeps sending while the next backup runs; the relay is killed
	// once that backup has begun writing.
	stopSending := make(chan struct{})
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for i := 0; ; i++ {
			select {
			case <-stopSending:
				return
			default:
			}
			if send(fmt.Sprint("during ", i)) != nil {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	waitUntil(t, "a message sent during the backup", func() bool { return len(ackedSoFar()) > len(inFirst)+15 })
	inSecond := ackedSoFar()
	p := backupCLI()
	// begun waits until p has made its temporary file, or has ended.
	begun := func(p *cliProc) bool {
		return eventually(func() bool {
			tmp, _ := filepath.Glob(filepath.Join(dir, ".relay.backup.tmp*"))
			return len(tmp) > 0 || len(p.done) > 0
		})
	}
	during := begun(p)
	relayP.kill()
	code, out, errOut := p.wait(t)
	close(stopSending)
	<-sending
	t.Logf("second backup (relay killed once it had begun: %v): exit %d: %s%s", during, code, out, errOut)
	lastGood := inSecond
	if code != 0 {
		lastGood = inFirst
		if now, _ := os.ReadFile(backup); !bytes.Equal(now, first) {
			t.Fatal("a failed backup replaced the previous one")
		}
	}

	// A backup killed itself leaves the last good one in place.
	before, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	p = backupCLI()
	begun(p)
	p.cmd.Process.Kill()
	if code, _, _ := p.wait(t); code == 0 {
		t.Log("the third backup finished before it was killed")
	} else if now, _ := os.ReadFile(backup); !bytes.Equal(now, before) {
		t.Fatal("a killed backup replaced the previous one")
	}

	if code, _, errOut := cli(t, bin, filepath.Join(dir, "cli"), "", "relay", "restore", "--data", data, backup); code == 0 || !strings.Contains(errOut, "give --force") {
		t.Fatalf("restore over a relay without --force: exit %d, %s", code, errOut)
	}
	if code, out, errOut := cli(t, bin, filepath.Join(dir, "cli"), "", "relay", "restore", "--data", data, "--force", backup); code != 0 {
		t.Fatalf("restore: exit %d: %s%s", code, out, errOut)
	}
	startRelayProc(t, bin, data, addr)

	rctx, stopRecv := context.WithCancel(ctx)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		bob.Receive(rctx)
	}()
	defer func() { stopRecv(); <-recvDone }()
	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var m []string
		for _, text := range lastGood {
			if delivered[text] == 0 {
				m = append(m, text)
			}
		}
		return m
	}
	if !eventually(func() bool { return len(missing()) == 0 }) {
		t.Fatalf("the restored relay lost %d of the %d messages acknowledged before the backup: %v", len(missing()), len(lastGood), missing())
	}
	mu.Lock()
	t.Logf("restored from a backup of %d acknowledged messages; %d distinct messages delivered, %d acknowledged in all", len(lastGood), len(delivered), len(ackedSoFar()))
	mu.Unlock()
}

// TestBackupRestoreFiles uploads a file through a relay process, backs the
// relay up while it runs, restores the backup over its data directory and
// downloads the file from the restored relay: the attachment (blobs/) is
// in the backup, and arrives bit-identical.
func TestBackupRestoreFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	addr := freeAddr(t)
	relayP := startRelayProc(t, bin, data, addr)
	alice, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	invite := filepath.Join(data, "invite.txt")
	mustRun(t, bin, alice, "init", "--invite", invite, "--name", "alice")
	mustRun(t, bin, bob, "init", "--invite", invite, "--name", "bob")

	const size = 3<<20 + 12345 // several chunks
	path := filepath.Join(dir, "report.bin")
	want := writeRandomFile(t, path, size, []byte("backup"))
	mustRun(t, bin, alice, "send", "bob", "--file", path, "the report")

	backup := filepath.Join(dir, "relay.backup")
	mustRun(t, bin, filepath.Join(dir, "cli"), "relay", "backup", "--data", data, backup)
	relayP.kill()
	if out := mustRun(t, bin, filepath.Join(dir, "cli"), "relay", "restore", "--data", data, "--force", backup); !strings.Contains(out, "moved the old data directory to") {
		t.Fatalf("restore printed %q", out)
	}
	startRelayProc(t, bin, data, addr)

	if out := mustRun(t, bin, bob, "recv"); out != fmt.Sprintf("alice: [file report.bin, %d bytes] the report\n", size) {
		t.Fatalf("recv from the restored relay printed %q", out)
	}
	if got := fileSHA256(t, filepath.Join(bob, "files", "report.bin")); got != want {
		t.Fatalf("the file from the restored relay has sha256 %s, want %s", got, want)
	}
}
