package owner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, o *Owner, h Handler) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- o.Serve(h) }()
	t.Cleanup(func() {
		o.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func TestCallRunsInOwner(t *testing.T) {
	home := t.TempDir()
	o, err := Claim(home, "test owner (pid 1)")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, o, func(ctx context.Context, req Request, stdout, stderr io.Writer) int {
		fmt.Fprintf(stdout, "args %q in %s\n", req.Args, req.Cwd)
		fmt.Fprintf(stderr, "a warning\n")
		return 7
	})
	st, err := os.Stat(filepath.Join(home, SocketFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	var out, errOut bytes.Buffer
	code, fwd, err := Call(context.Background(), home, Request{Args: []string{"send", "bob", "--", "hi"}, Cwd: "/x"}, &out, &errOut)
	if err != nil || !fwd || code != 7 {
		t.Fatalf("code %d forwarded %v err %v", code, fwd, err)
	}
	if out.String() != "args [\"send\" \"bob\" \"--\" \"hi\"] in /x\n" || errOut.String() != "a warning\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestSecondClaimRefused(t *testing.T) {
	home := t.TempDir()
	o, err := Claim(home, "samizdat chat (pid 42)")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Claim(home, "samizdat chat (pid 43)")
	var held *HeldError
	if !errors.As(err, &held) || held.By != "samizdat chat (pid 42)" {
		t.Fatalf("second claim: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o.Close() // twice is fine
	// Released: the home can be claimed again, and the socket is gone.
	if _, err := os.Stat(filepath.Join(home, SocketFile)); !os.IsNotExist(err) {
		t.Fatalf("socket after Close: %v", err)
	}
	o2, err := Claim(home, "again")
	if err != nil {
		t.Fatal(err)
	}
	o2.Close()
}

func TestCallWithoutOwner(t *testing.T) {
	home := t.TempDir()
	code, fwd, err := Call(context.Background(), home, Request{Args: []string{"recv"}}, io.Discard, io.Discard)
	if fwd || err != nil || code != 0 {
		t.Fatalf("no owner: code %d forwarded %v err %v", code, fwd, err)
	}
	// A stale socket file left by a dead owner is not an owner either, and
	// the next Claim replaces it.
	if err := os.WriteFile(filepath.Join(home, SocketFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, fwd, _ := Call(context.Background(), home, Request{Args: []string{"recv"}}, io.Discard, io.Discard); fwd {
		t.Fatal("a stale socket file took the call")
	}
	o, err := Claim(home, "new")
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
}

// TestCallerGoesAway: Ctrl-C in the caller's terminal cancels the command
// in the owner.
func TestCallerGoesAway(t *testing.T) {
	home := t.TempDir()
	o, err := Claim(home, "owner")
	if err != nil {
		t.Fatal(err)
	}
	started, cancelled := make(chan struct{}), make(chan struct{})
	serve(t, o, func(ctx context.Context, req Request, stdout, stderr io.Writer) int {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return 0
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := Call(ctx, home, Request{Args: []string{"recv", "--wait", "1h"}}, io.Discard, io.Discard)
		errc <- err
	}()
	<-started
	cancel()
	select {
	case <-cancelled:
	case <-time.After(time.Minute):
		t.Fatal("the owner's command was not cancelled")
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Call: %v", err)
	}
}

// TestCloseEndsCommands: the owner quitting cancels what runs for others
// and the caller is told.
func TestCloseEndsCommands(t *testing.T) {
	home := t.TempDir()
	o, err := Claim(home, "owner")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go o.Serve(func(ctx context.Context, req Request, stdout, stderr io.Writer) int {
		close(started)
		<-ctx.Done()
		return 1
	})
	errc := make(chan error, 1)
	go func() {
		code, fwd, err := Call(context.Background(), home, Request{Args: []string{"recv"}}, io.Discard, io.Discard)
		if err == nil && (!fwd || code != 1) {
			err = fmt.Errorf("code %d forwarded %v", code, fwd)
		}
		errc <- err
	}()
	<-started
	o.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestLongHomePath(t *testing.T) {
	home := filepath.Join(t.TempDir(), strings.Repeat("h", 120))
	p, err := SocketPath(home)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) > maxSocketPath || strings.HasPrefix(p, home) {
		t.Fatalf("socket path %q for a long home", p)
	}
	o, err := Claim(home, "owner")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, o, func(ctx context.Context, req Request, stdout, stderr io.Writer) int { return 3 })
	if code, fwd, err := Call(context.Background(), home, Request{Args: []string{"x"}}, io.Discard, io.Discard); code != 3 || !fwd || err != nil {
		t.Fatalf("code %d forwarded %v err %v", code, fwd, err)
	}
}

func TestMalformedRequest(t *testing.T) {
	for _, in := range [][]byte{
		{0, 0, 0, 2, '{', '}'},           // no args
		{0xff, 0xff, 0xff, 0xff},         // too large
		{0, 0, 0, 5, 'n', 'o', 'p', 'e'}, // truncated
	} {
		if _, err := readRequest(bytes.NewReader(in)); err == nil {
			t.Errorf("%x: accepted", in)
		}
	}
}
