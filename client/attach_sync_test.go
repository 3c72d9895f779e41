package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/attachment"
	"samizdat/client"
	"samizdat/internal/poll"
	"samizdat/relay"
	"samizdat/store/blobdir"
)

// TestFileSyncAndTimer: a file bob sends from his phone shows in his
// laptop's history and is saved there too; under a disappearing-message
// timer, files both ways disappear with their messages on every device,
// the saved copies included, while the sender's own original and a file
// from before the timer stay.
func TestFileSyncAndTimer(t *testing.T) {
	ctx := context.Background()
	bd, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	tweak := func(cfg *client.Config) { cfg.Now = now }
	n := startRelayOn(t, relay.Config{Blobs: bd}, false)
	alice := newUser(t, n, "alice", tweak)
	bob := newUser(t, n, "bob", tweak)
	bob2 := &user{wake: make(chan struct{}, 1)}
	bob2.Client = linkDevice(t, bob.Client, client.Config{Home: t.TempDir(), OnEvent: bob2.onEvent, PingInterval: time.Second, Now: now})
	dirs := map[*user]string{}
	for _, u := range []*user{alice, bob, bob2} {
		dirs[u] = filepath.Join(t.TempDir(), "files")
		u.SaveFilesTo(dirs[u])
		u.receive(t)
	}
	file := func(name string, size int) (string, []byte) {
		path := filepath.Join(t.TempDir(), name)
		b := make([]byte, size)
		rand.Read(b)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path, b
	}
	// saved waits until u has saved want as name, with label in its
	// history with peer.
	saved := func(u *user, peer, name, label string, want []byte) {
		t.Helper()
		if !poll.Until(patience, func() bool {
			got, err := os.ReadFile(filepath.Join(dirs[u], name))
			if err != nil || !bytes.Equal(got, want) {
				return false
			}
			h, err := u.History(ctx, peer, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range h {
				if m.Body == label {
					return true
				}
			}
			return false
		}) {
			t.Fatalf("%s device %d did not save %s with %q in its history", u.Username(), u.DeviceID(), name, label)
		}
	}

	// Sent from the phone: the laptop shows and saves it.
	oldPath, old := file("old.bin", attachment.ChunkSize+7)
	if _, err := bob.SendFile(ctx, "alice", oldPath, "before the timer", nil); err != nil {
		t.Fatal(err)
	}
	oldLabel := fmt.Sprintf("[file old.bin, %d bytes] before the timer", len(old))
	saved(alice, "bob", "old.bin", oldLabel, old)
	saved(bob2, "alice", "old.bin", oldLabel, old)

	// Under a timer, both ways.
	if err := alice.SetTimer(ctx, "bob", time.Hour); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, client.EventTimer, 1)
	bob2.waitFor(t, client.EventTimer, 1)
	toBobPath, toBob := file("to-bob.bin", 1000)
	if _, err := alice.SendFile(ctx, "bob", toBobPath, "", nil); err != nil {
		t.Fatal(err)
	}
	toBobLabel := "[file to-bob.bin, 1000 bytes]"
	for _, u := range []*user{bob, bob2} {
		saved(u, "alice", "to-bob.bin", toBobLabel, toBob)
	}
	toAlicePath, toAlice := file("to-alice.bin", 2000)
	if _, err := bob2.SendFile(ctx, "alice", toAlicePath, "from the laptop", nil); err != nil {
		t.Fatal(err)
	}
	toAliceLabel := "[file to-alice.bin, 2000 bytes] from the laptop"
	saved(alice, "bob", "to-alice.bin", toAliceLabel, toAlice)
	saved(bob, "alice", "to-alice.bin", toAliceLabel, toAlice)

	skew.Store(int64(time.Hour + time.Minute))
	gone := func(path string) bool {
		_, err := os.Stat(path)
		return errors.Is(err, fs.ErrNotExist)
	}
	for _, u := range []*user{alice, bob, bob2} {
		h, err := u.History(ctx, "", 100) // runs the timers
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0].Body != oldLabel {
			t.Fatalf("%s device %d holds %+v after the timer ran out; want only the file from before it", u.Username(), u.DeviceID(), h)
		}
		for _, name := range []string{"to-bob.bin", "to-alice.bin"} {
			if !gone(filepath.Join(dirs[u], name)) {
				t.Errorf("%s device %d kept %s after its message disappeared", u.Username(), u.DeviceID(), name)
			}
		}
	}
	if got, err := os.ReadFile(filepath.Join(dirs[bob2], "old.bin")); err != nil || !bytes.Equal(got, old) {
		t.Errorf("the file from before the timer went: %v", err)
	}
	for _, p := range []string{toBobPath, toAlicePath} {
		if gone(p) {
			t.Errorf("the sender's own %s was deleted", filepath.Base(p))
		}
	}
}
