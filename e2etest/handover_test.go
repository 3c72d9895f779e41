//go:build linux

package e2etest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"samizdat/broadcast"
	"samizdat/client/clientdb"
	"samizdat/manifest"
)

const publicControl = "identity public key (control)"

// secrets returns the private keys a client keeps: identity, Noise device
// key, signed prekey, last-resort Kyber prekey and every one-time prekey
// still stored (a 32-byte prefix of each Kyber secret).
func secrets(t *testing.T, home string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	db, err := clientdb.Open(ctx, filepath.Join(home, "client.db"), clientdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := db.Store()
	out := map[string][]byte{}
	id, err := st.IdentityKeyPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out["identity"] = id.Private.Bytes()
	out[publicControl] = id.Public.Bytes()
	nk, err := st.Meta(ctx, clientdb.MetaNoisePrivate)
	if err != nil {
		t.Fatal(err)
	}
	out["noise"] = nk[:32]
	if spk, err := st.SignedPreKey(ctx, 1); err == nil {
		out["signed prekey"] = spk.KeyPair.Private.Bytes()
	}
	for i := uint32(1); i < 300; i++ {
		if pk, err := st.PreKey(ctx, i); err == nil {
			out[fmt.Sprint("prekey ", i)] = pk.KeyPair.Private.Bytes()
		}
		if k, err := st.KyberPreKey(ctx, i); err == nil {
			out[fmt.Sprint("kyber prekey ", i)] = k.KeyPair.Secret.Bytes()[:32]
		}
	}
	return out
}

// errMemoryRefused means the system does not let this process read its
// child's memory (no /proc, or ptrace rules that refuse even a parent).
var errMemoryRefused = errors.New("the system refuses to let the test read the relay's memory")

// processMemory reads the writable memory of a child process (which
// ptrace rules let a parent read). An error wrapping errMemoryRefused says
// the system refuses; any other error is a failure of the search itself.
func processMemory(pid int) ([]byte, error) {
	refused := func(err error) error {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("%w: %w", errMemoryRefused, err)
		}
		return err
	}
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, refused(err)
	}
	defer maps.Close()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return nil, refused(err)
	}
	defer mem.Close()
	var all []byte
	var regions int
	var readErr error
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.Contains(f[1], "rw") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start || end-start > 1<<30 {
			continue
		}
		regions++
		buf := make([]byte, end-start)
		n, err := mem.ReadAt(buf, int64(start))
		if err != nil && n == 0 && readErr == nil {
			readErr = err // some regions ([vvar] and the like) never read
		}
		// Keep only pages that are not all zero (most of a Go process's
		// reserved memory), so the search stays fast.
		zero := make([]byte, 4096)
		for off := 0; off < n; off += 4096 {
			page := buf[off:min(off+4096, n)]
			if !bytes.Equal(page, zero[:len(page)]) {
				all = append(all, page...)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, refused(fmt.Errorf("read nothing from %d writable regions (first error: %v)", regions, readErr))
	}
	return all, nil
}

// TestNothingToHandOver has a conversation through a relay process, then
// searches every file under the relay's data directory and the relay's
// memory for the plaintexts and the clients' private keys.
func TestNothingToHandOver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	addr := freeAddr(t)
	relayP := startRelayProc(t, bin, data, addr)
	invite := filepath.Join(data, "invite.txt")
	homes := map[string]string{"alice": filepath.Join(dir, "alice"), "bob": filepath.Join(dir, "bob")}
	for name, home := range homes {
		if code, _, errOut := cli(t, bin, home, "", "init", "--invite", invite, "--name", name); code != 0 {
			t.Fatalf("init %s: %s", name, errOut)
		}
	}
	texts := []string{
		"the quick brown fox meets at the old mill at nine",
		"bring the leaflets, the printer is fixed",
		"понедельник в шесть, у фонтана",
	}
	for i, text := range texts {
		from, to := "alice", "bob"
		if i%2 == 1 {
			from, to = "bob", "alice"
		}
		if code, _, errOut := cli(t, bin, homes[from], "", "send", to, text); code != 0 {
			t.Fatalf("send: %s", errOut)
		}
	}
	// Leave the last message unread, so it sits in the relay's mailbox.
	if code, _, errOut := cli(t, bin, homes["bob"], "", "recv"); code != 0 {
		t.Fatalf("recv: %s", errOut)
	}
	if code, _, errOut := cli(t, bin, homes["alice"], "", "send", "bob", "still in the mailbox, unread"); code != 0 {
		t.Fatalf("send: %s", errOut)
	}
	texts = append(texts, "still in the mailbox, unread")

	// A broadcast channel: its name, a post and its keys stay off the relay.
	const channelName = "printers-guild-of-the-mill"
	code, out, errOut := cli(t, bin, homes["alice"], "", "channel", "create", channelName)
	if code != 0 {
		t.Fatalf("channel create: %s", errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	join, err := broadcast.ParseCode(lines[len(lines)-1])
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli(t, bin, homes["bob"], "", "channel", "join", join.String()); code != 0 {
		t.Fatalf("channel join: %s", errOut)
	}
	const post = "a channel post: the leaflets are at the mill"
	if code, _, errOut := cli(t, bin, homes["alice"], "", "channel", "post", channelName, post); code != 0 {
		t.Fatalf("channel post: %s", errOut)
	}
	texts = append(texts, post, channelName)

	needles := map[string][]byte{}
	for _, text := range texts {
		needles["plaintext "+strconv.Quote(text)] = []byte(text)
		// A distinctive slice too, in case of a different encoding.
		needles["plaintext part "+strconv.Quote(text[:16])] = []byte(text[:16])
	}
	// The code's content key: after its kind, network tag and admin key.
	needles["the channel's content key"] = join.Marshal()[1+8+32 : 1+8+32+32]
	for name, home := range homes {
		for what, key := range secrets(t, home) {
			needles[name+"'s "+what] = key
		}
	}

	// Positive controls: the identity public keys are meant to be on the
	// relay, so finding them shows the search works.
	controls := map[string][]byte{}
	for what, b := range needles {
		if strings.HasSuffix(what, publicControl) {
			controls[what] = b
			delete(needles, what)
		}
	}
	var files int
	found := map[string]bool{}
	search := func(where string, b []byte) {
		for what, needle := range needles {
			if bytes.Contains(b, needle) {
				t.Errorf("%s holds %s", where, what)
			}
		}
		for what, needle := range controls {
			if bytes.Contains(b, needle) {
				found[what] = true
			}
		}
	}
	memory, memErr := processMemory(relayP.cmd.Process.Pid)
	switch {
	case memErr == nil:
		search("the relay's memory", memory)
		// A positive control of its own: the relay's Noise public key
		// is in its memory, so a search that misses it is broken.
		if !bytes.Contains(memory, relayNoiseKey(t, invite)) {
			t.Errorf("the search of the relay's memory (%d bytes) did not find the relay's own Noise public key", len(memory))
		}
	case !errors.Is(memErr, errMemoryRefused):
		t.Fatalf("reading the relay's memory: %v", memErr)
	}
	relayP.kill() // SIGKILL: whatever is on disk is what a seizure finds
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err // directories, sockets
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		search(path, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("searched %d files and %d bytes of relay memory for %d plaintexts and keys", files, len(memory), len(needles))
	if len(found) != len(controls) {
		t.Fatalf("the search did not find the identity public keys the relay keeps (%d of %d)", len(found), len(controls))
	}
	if files < 2 {
		t.Fatalf("only %d files under the data directory", files)
	}
	if memErr != nil {
		// Not silently: the files passed, but half the test did not run.
		t.Skipf("searched the relay's files only, not its memory: %v", memErr)
	}
}

// relayNoiseKey is the relay's Noise public key, from its invite.
func relayNoiseKey(t *testing.T, invite string) []byte {
	t.Helper()
	inv, err := manifest.ReadInvite(invite)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Verify(inv.Manifest, inv.NetworkKey, time.Now())
	if err != nil || len(m.Relays) == 0 {
		t.Fatalf("the relay's invite: %v", err)
	}
	return m.Relays[0].NoiseKey[:]
}
