//go:build linux

package e2etest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/manifest"
)

// binDir holds the samizdat binary the tests run, built once for all of
// them: on a busy machine a build takes tens of seconds.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2etest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var build = sync.OnceValue(func() error {
	cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, "samizdat"), "samizdat/cmd/samizdat")
	cmd.Stderr = os.Stderr
	return cmd.Run()
})

// buildBinary builds cmd/samizdat, the first time it is called, and
// returns the binary's path.
func buildBinary(t *testing.T) string {
	t.Helper()
	if err := build(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return filepath.Join(binDir, "samizdat")
}

// freeAddr returns a loopback address nobody listens on (for now).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// relayProc is a `samizdat relay` process.
type relayProc struct {
	cmd  *exec.Cmd
	done chan error
}

// startRelayProc starts the relay and waits until it listens.
func startRelayProc(t testing.TB, bin, data, addr string) *relayProc {
	t.Helper()
	return startRelayArgs(t, bin, data, addr, "--listen", addr)
}

// startRelayArgs starts the relay with args and waits until it listens on
// addr.
func startRelayArgs(t testing.TB, bin, data, addr string, args ...string) *relayProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"relay", "--data", data}, args...)...)
	// If the test binary dies (a timeout panic skips cleanups), the relay
	// goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &relayProc{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "invite written") {
				close(ready)
				signalled = true
			}
		}
		if !signalled {
			close(ready)
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case <-ready:
	case <-time.After(patience):
		t.Fatalf("relay did not start: %s", stderr.String())
	}
	// The listener is up once the invite is written.
	deadline := time.Now().Add(patience)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay not listening: %v; stderr: %s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *relayProc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

type counter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *counter) add(s string) {
	c.mu.Lock()
	c.counts[s]++
	c.mu.Unlock()
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// ackKey names one acknowledged message in the acked counter.
func ackKey(peer string, envelopeID [16]byte) string { return peer + "/" + fmt.Sprint(envelopeID) }

// TestCrashRelay sends messages from several clients to one recipient
// while the relay process is killed with SIGKILL twice and restarted, and
// checks that every message the relay acknowledged is delivered exactly
// once after the recipient's dedupe, and that each sender saw each of its
// messages acknowledged exactly once (EventSent).
func TestCrashRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	const (
		senders   = 4  // in-process clients
		perSender = 60 // messages each
		perCLI    = 20 // messages from `samizdat send` processes
	)
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

	delivered := &counter{counts: map[string]int{}}
	acked := &counter{counts: map[string]int{}}
	cfg := func(name string, onEvent func(client.Event)) client.Config {
		return client.Config{
			Home: filepath.Join(dir, name), OnEvent: onEvent,
			PreKeyBatch: 10, PingInterval: time.Second, RequestTimeout: 5 * time.Second, DialTimeout: 2 * time.Second,
		}
	}
	bob, err := client.Init(ctx, cfg("bob", func(e client.Event) {
		if e.Kind == client.EventMessage {
			delivered.add(e.Text)
		}
	}), inv, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	var clients []*client.Client
	for i := range senders {
		c, err := client.Init(ctx, cfg(fmt.Sprint("sender", i), func(e client.Event) {
			if e.Kind == client.EventSent {
				acked.add(ackKey(e.Peer, e.EnvelopeID))
			}
		}), inv, fmt.Sprint("sender", i))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}

	cliHome := filepath.Join(dir, "cli")
	if code, _, errOut := cli(t, bin, cliHome, "", "init", "--invite", filepath.Join(data, "invite.txt"), "--name", "clisender"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}

	rctx, stopRecv := context.WithCancel(ctx)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		bob.Receive(rctx)
	}()

	// Senders: every Send either returns nil (acknowledged) or leaves the
	// message queued; the text of each acknowledged message is recorded.
	var (
		attempts atomic.Int64
		okTexts  sync.Map // text → true once Send returned nil
		queued   sync.Map // ackKey of every message an in-process sender queued → whether Send returned nil
		failures atomic.Int64
		progress atomic.Int64
	)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perSender {
				text := fmt.Sprintf("m %d %d", i, j)
				attempts.Add(1)
				m, err := c.Send(ctx, "bob", text)
				if m.EnvelopeID == ([16]byte{}) {
					t.Errorf("Send(%q) queued nothing: %v", text, err)
				}
				queued.Store(ackKey("bob", m.EnvelopeID), err == nil)
				if err != nil {
					failures.Add(1)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				okTexts.Store(text, true)
				progress.Add(1)
			}
		}()
	}

	// One more sender, as processes: exit 0 means acknowledged; otherwise
	// the message waits in that home's outbox for the next run.
	var cliExit0, cliFailed int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := range perCLI {
			text := fmt.Sprintf("c %d", j)
			attempts.Add(1)
			if code, _, _ := cli(t, bin, cliHome, "", "send", "bob", text); code != 0 {
				cliFailed++
				failures.Add(1)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			cliExit0++
			okTexts.Store(text, true)
		}
	}()

	// Kill the relay twice while the senders run.
	kills := 0
	for _, at := range []int64{senders * perSender / 4, senders * perSender / 2} {
		waitUntil(t, fmt.Sprintf("%d messages acknowledged", at), func() bool { return progress.Load() >= at })
		relayP.kill()
		kills++
		time.Sleep(300 * time.Millisecond)
		relayP = startRelayProc(t, bin, data, addr)
	}
	wg.Wait()

	// Drain the outboxes: the messages whose Send failed go out now.
	deadline := time.Now().Add(patience)
	for _, c := range clients {
		for {
			if _, err := c.Flush(ctx); err == nil {
				if out, _ := c.Outbox(ctx); len(out) == 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("outbox did not drain")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Each message an in-process sender queued was acknowledged to it
	// exactly once, those whose Send returned nil included, and nothing
	// else was.
	ackedBySenders := acked.snapshot()
	nQueued := 0
	queued.Range(func(k, sendOK any) bool {
		nQueued++
		if n := ackedBySenders[k.(string)]; n != 1 {
			t.Errorf("message %s (Send returned nil: %v) acknowledged %d times, want once", k, sendOK, n)
		}
		return true
	})
	if nQueued != senders*perSender || len(ackedBySenders) != nQueued {
		t.Errorf("senders queued %d messages and saw %d acknowledged; want %d each", nQueued, len(ackedBySenders), senders*perSender)
	}
	cliClient, err := client.Open(ctx, cfg("cli", func(e client.Event) {
		if e.Kind == client.EventSent {
			acked.add(ackKey(e.Peer, e.EnvelopeID))
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cliClient.Close()
	var cliLeft []clientdb.Outgoing
	out, err := cliClient.Outbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.MessageID != 0 { // a message, not a receipt (EventSent is for messages)
			cliLeft = append(cliLeft, o)
		}
	}
	if _, err := cliClient.Flush(ctx); err != nil {
		t.Fatalf("flushing the cli sender's outbox: %v", err)
	}
	// What the failed `samizdat send` runs left queued is acknowledged
	// now, once each; the earlier runs' messages went out with later runs.
	if len(cliLeft) > cliFailed {
		t.Errorf("%d messages left in the cli outbox after %d failed runs", len(cliLeft), cliFailed)
	}
	allAcked := acked.snapshot()
	for _, o := range cliLeft {
		if n := allAcked[ackKey("bob", o.EnvelopeID)]; n != 1 {
			t.Errorf("queued cli message acknowledged %d times by the flush, want once", n)
		}
	}
	if len(allAcked) != len(ackedBySenders)+len(cliLeft) {
		t.Errorf("%d acknowledgements after the cli flush, want %d", len(allAcked), len(ackedBySenders)+len(cliLeft))
	}
	// Every message is now acknowledged; the texts whose Send returned an
	// error were acknowledged by a later flush.
	total := senders*perSender + perCLI
	deadline = time.Now().Add(patience)
	for {
		got := delivered.snapshot()
		if len(got) >= total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d distinct messages", len(got), total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Give late redeliveries a moment to show up as (dropped) duplicates.
	time.Sleep(500 * time.Millisecond)
	stopRecv()
	<-recvDone

	got := delivered.snapshot()
	ackedOnSend := 0
	okTexts.Range(func(k, _ any) bool {
		ackedOnSend++
		if got[k.(string)] != 1 {
			t.Errorf("acknowledged message %q delivered %d times", k, got[k.(string)])
		}
		return true
	})
	var want []string
	for i := range senders {
		for j := range perSender {
			want = append(want, fmt.Sprintf("m %d %d", i, j))
		}
	}
	for j := range perCLI {
		want = append(want, fmt.Sprintf("c %d", j))
	}
	for _, text := range want {
		if got[text] != 1 {
			t.Errorf("message %q delivered %d times", text, got[text])
		}
	}
	st := bob.Stats()
	msg := fmt.Sprintf("crash test: relay SIGKILLed %d times; sent %d (%d by `samizdat send` processes: %d exited 0, %d non-zero), acked at once %d, failed then sent from the outbox %d, acknowledged to in-process senders %d (%d left in the cli outbox), delivered %d distinct (%d deliveries shown), duplicates dropped %d, undecryptable %d",
		kills, total, perCLI, cliExit0, cliFailed, ackedOnSend, failures.Load(), len(ackedBySenders), len(cliLeft), len(got), sum(got), st.Duplicates, st.Undecryptable)
	t.Log(msg)
	fmt.Println(msg)
	if st.Undecryptable != 0 {
		t.Errorf("%d messages did not decrypt", st.Undecryptable)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
