package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"samizdat/internal/leaktest"
	"samizdat/relay"
	"samizdat/store/sqlite"
)

func open(t *testing.T, path string, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func env(acct byte, dev uint32, n int, size int) relay.Envelope {
	e := relay.Envelope{Device: dev, Type: 1, Content: make([]byte, size)}
	e.Account[0] = acct
	e.ID[0], e.ID[1], e.ID[2], e.ID[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return e
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "relay.db")
	s := open(t, path, sqlite.Options{})
	var a relay.Account
	a.ID[0] = 1
	a.Username = "alice"
	a.IdentityKey = []byte{5, 1, 2}
	d := relay.Device{Account: a.ID, ID: 1, NoiseKey: [32]byte{9}}
	if err := s.CreateAccount(ctx, a, d); err != nil {
		t.Fatal(err)
	}
	envs := []relay.Envelope{env(1, 1, 1, 10), env(1, 1, 2, 10)}
	if err := s.Append(ctx, envs); err != nil {
		t.Fatal(err)
	}
	// Delete the newest envelope: its Seq must not come back after reopening.
	if err := s.Ack(ctx, a.ID, 1, [][16]byte{envs[1].ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, sqlite.Options{})
	if got, err := s.AccountByUsername(ctx, "alice"); err != nil || got.ID != a.ID {
		t.Fatalf("after reopen: AccountByUsername = %+v, %v", got, err)
	}
	more := []relay.Envelope{env(1, 1, 3, 10)}
	if err := s.Append(ctx, more); err != nil {
		t.Fatal(err)
	}
	if more[0].Seq <= envs[1].Seq {
		t.Errorf("Seq %d after reopen reuses %d", more[0].Seq, envs[1].Seq)
	}
	got, err := s.Fetch(ctx, a.ID, 1, 0, 10)
	if err != nil || len(got) != 2 || got[0].ID != envs[0].ID || got[1].ID != more[0].ID {
		t.Errorf("Fetch after reopen = %+v, %v", got, err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	s := open(t, path, sqlite.Options{})
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != sqlite.SchemaVersion {
		t.Errorf("user_version = %d, %v; want %d", v, err, sqlite.SchemaVersion)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	// A database from a newer program is refused, not damaged.
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", sqlite.SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := sqlite.Open(context.Background(), path, sqlite.Options{}); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
}

// TestGroupCommit checks that concurrent writes share commits and that each
// write's outcome is its own: a quota failure in a batch fails only that call.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "relay.db"), sqlite.Options{MaxMessages: 5, FlushInterval: 5 * time.Millisecond})
	const writers = 40
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for g := range writers {
		wg.Go(func() {
			// Writers 0..9 write 1 envelope to device 1 (quota 5: half fail);
			// the rest write to a device of their own.
			dev := uint32(100 + g)
			if g < 10 {
				dev = 1
			}
			errs[g] = s.Append(ctx, []relay.Envelope{env(1, dev, g, 10)})
		})
	}
	wg.Wait()
	quota := 0
	for g, err := range errs {
		switch {
		case g < 10 && errors.Is(err, relay.ErrQuotaExceeded):
			quota++
		case err != nil:
			t.Errorf("writer %d: %v", g, err)
		}
	}
	if quota != 5 {
		t.Errorf("%d writers hit the quota, want 5", quota)
	}
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.Writes != writers-5 {
		t.Errorf("Stats.Writes = %d, want %d", st.Writes, writers-5)
	}
	if st.Commits >= st.Writes/2 {
		t.Errorf("%d commits for %d concurrent writes: not grouped", st.Commits, st.Writes)
	}
	var a relay.AccountID
	a[0] = 1
	if got, _ := s.Fetch(ctx, a, 1, 0, 100); len(got) != 5 {
		t.Errorf("device 1 holds %d envelopes, want 5", len(got))
	}
}

func TestCloseWaits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "relay.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for g := range 20 {
		wg.Go(func() {
			if err := s.Append(ctx, []relay.Envelope{env(1, 1, g, 10)}); err == nil {
				mu.Lock()
				acked++
				mu.Unlock()
			} else if !errors.Is(err, sqlite.ErrClosed) {
				t.Errorf("Append: %v", err)
			}
		})
	}
	time.Sleep(5 * time.Millisecond) // some are queued in the writer
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	wg.Wait()
	s = open(t, path, sqlite.Options{})
	var a relay.AccountID
	a[0] = 1
	got, err := s.Fetch(ctx, a, 1, 0, 100)
	if err != nil || len(got) != acked {
		t.Errorf("after Close: %d stored, %d acknowledged (%v)", len(got), acked, err)
	}
}

func TestCanceled(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "relay.db"), sqlite.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Append(ctx, []relay.Envelope{env(1, 1, 1, 1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a canceled context = %v", err)
	}
	if _, err := s.TakeBundle(ctx, relay.AccountID{}, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("TakeBundle with a canceled context = %v", err)
	}
}

// TestCrash kills a process that appends with SIGKILL, reopens its database
// and checks that every envelope the process saw acknowledged is there.
func TestCrash(t *testing.T) {
	if dir := os.Getenv("SAMIZDAT_STORE_CRASH_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	for _, relaxed := range []bool{false, true} {
		t.Run(fmt.Sprintf("RelaxedSync=%v", relaxed), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
			cmd.Env = append(os.Environ(), "SAMIZDAT_STORE_CRASH_DIR="+dir, fmt.Sprintf("SAMIZDAT_STORE_CRASH_RELAXED=%v", relaxed))
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[string]bool{}
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
					acked[id] = true
					if len(acked) == 1500 {
						cmd.Process.Signal(syscall.SIGKILL)
					}
				}
			}
			werr := cmd.Wait()
			if len(acked) < 1500 {
				t.Fatalf("child acknowledged only %d envelopes before exiting: %v", len(acked), werr)
			}
			s := open(t, filepath.Join(dir, "relay.db"), sqlite.Options{})
			stored := map[string]bool{}
			for dev := uint32(1); dev <= 8; dev++ {
				var a relay.AccountID
				a[0] = 7
				got, err := s.Fetch(context.Background(), a, dev, 0, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range got {
					stored[hex.EncodeToString(e.ID[:])] = true
				}
			}
			lost := 0
			for id := range acked {
				if !stored[id] {
					lost++
				}
			}
			t.Logf("SIGKILL after %d acknowledged appends: %d stored after restart, %d acknowledged ones lost", len(acked), len(stored), lost)
			if lost > 0 {
				t.Errorf("%d acknowledged envelopes lost", lost)
			}
		})
	}
}

func crashChild(dir string) {
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "relay.db"),
		sqlite.Options{RelaxedSync: os.Getenv("SAMIZDAT_STORE_CRASH_RELAXED") == "true"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e := env(7, uint32(1+g%8), g<<20|i, 1024)
				if err := s.Append(context.Background(), []relay.Envelope{e}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(w, "acked %x\n", e.ID)
				w.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "relay.db"), sqlite.Options{ExpireInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), []relay.Envelope{env(1, 1, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(context.Background(), relay.AccountID{1}, 1, 0, 10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // let the expiry loop run
	s.Close()
	leaktest.AtMost(t, before)
	if _, err := s.Fetch(context.Background(), relay.AccountID{1}, 1, 0, 10); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("Fetch after Close = %v, want ErrClosed", err)
	}
}
