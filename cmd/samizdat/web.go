package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"samizdat/client"
	"samizdat/internal/atomicfile"
	"samizdat/manifest"
	"samizdat/webui"
)

// defaultWebListen is where `samizdat web` listens unless --listen says
// otherwise.
const defaultWebListen = "127.0.0.1:8385"

func runWeb(ctx context.Context, e *env, args []string) error {
	f := newFlags("web", "", `Chat in your browser: serve a local web client on loopback and print its address,
with a secret token, on one line; open that address (--open does it for you). The page
and everything it needs are in the binary: it works while the internet is censored.

The token in the address becomes a cookie only this browser holds; the server refuses
requests without it, from another site or under another host name. Anyone who can read
the printed address can use your account: do not share it.

On a home without an identity the page asks for your name and the invite (its file or
its text), as 'samizdat init' does. While it runs, web owns the home as chat does: send,
recv and the other one-shot commands typed in a terminal run inside it.`)
	f.homeFlag(e)
	listen := f.String("listen", defaultWebListen, "the loopback `ADDR`ess to serve on (port 0: any free port)")
	open := f.Bool("open", false, "open the address in the default browser")
	if err := f.noArgs(args); err != nil {
		return err
	}
	if err := checkLoopback(*listen); err != nil {
		return f.usagef("%v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("%w\nhint: another program uses the port; try --listen 127.0.0.1:0 for any free one", err)
	}
	defer ln.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &webRun{e: e, ctx: ctx, removed: make(chan error, 1)}
	defer w.stop()
	srv, err := webui.New(webui.Config{
		Addr:      ln.Addr().String(),
		Setup:     w.setup,
		Started:   w.start,
		BlockHook: func(ctx context.Context, c *client.Client, _ string) { tellBridges(ctx, e, c) },
		StateFile: filepath.Join(e.home, "web.json"),
		FilesDir:  filesDir(e, ""),
		TempDir:   filepath.Join(e.home, webUploads),
	}, nil)
	if err != nil {
		return err
	}
	w.srv = srv
	e.onDial = srv.Dial
	if client.Initialized(e.home) {
		c, err := w.own()
		if err != nil {
			return err
		}
		srv.SetClient(c)
		w.start(c)
	}

	// Requests live in ctx: when it ends, the live-update streams do.
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintln(e.stdout, srv.URL())
	if *open {
		page, err := writeOpenPage(e.home, srv.URL())
		if err == nil {
			defer os.Remove(page)
			err = openBrowser("file://" + page)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "could not open a browser (%v): open the address above yourself\n", err)
		}
	}
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		runErr = err
	case err := <-w.removed:
		runErr = err
	}
	cancel() // before w.stop (deferred) waits for Receive
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	return runErr
}

// webUploads is the directory in the home where files the page uploads
// wait while they are sent.
const webUploads = "web-uploads"

// checkLoopback refuses an address other than loopback: the page holds the
// account.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--listen %s: only a loopback address (127.0.0.1, [::1]) is served", addr)
}

// webRun is the life of `samizdat web`'s client: owned and receiving once
// the home has an identity (at start, or after the first run).
type webRun struct {
	e       *env
	ctx     context.Context
	srv     *webui.Server
	removed chan error

	mu       sync.Mutex
	release  func() // guarded by mu; gives the home back
	wg       sync.WaitGroup
	received bool
}

// own makes this process the owner of the home and opens its client.
func (w *webRun) own() (*client.Client, error) {
	oc, stop, err := ownHome(w.ctx, w.e, "web", w.srv.Event)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.release = stop
	w.mu.Unlock()
	return oc.c, nil
}

// setup is the first run (webui.Setup): init, as 'samizdat init' does,
// then own the home.
func (w *webRun) setup(ctx context.Context, invite []byte, name, device string) (*client.Client, error) {
	inv, err := manifest.ParseInvite(invite)
	if err != nil {
		return nil, fmt.Errorf("that is not an invite: %w", err)
	}
	if err := client.CheckDeviceName(device); err != nil {
		return nil, err
	}
	c, err := client.Init(ctx, client.Config{Home: w.e.home, DeviceName: device}, inv, client.NormalizeUsername(name))
	if err != nil {
		return nil, err
	}
	c.Close()
	return w.own()
}

// start receives on c until the command ends.
func (w *webRun) start(c *client.Client) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.received {
		return
	}
	w.received = true
	c.SaveFilesTo(filesDir(w.e, "")) // received files are saved, then shown with a download link
	// What a web killed mid-upload left (this process owns the home now).
	_ = os.RemoveAll(filepath.Join(w.e.home, webUploads))
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := c.Receive(w.ctx); errors.Is(err, client.ErrDeviceRemoved) {
			w.removed <- err
		}
	}()
}

// stop waits for Receive and gives the home back.
func (w *webRun) stop() {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.release != nil {
		w.release()
	}
}

// writeOpenPage writes, in home, a page only this user can read that
// sends the browser on to url: the browser is started with the page's
// path, so the token does not show in the process list.
func writeOpenPage(home, url string) (string, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(home, "web-open.html"))
	if err != nil {
		return "", err
	}
	u := html.EscapeString(url)
	page := `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=` + u + `"><title>samizdat</title><a href="` + u + `">Open samizdat</a>` + "\n"
	return path, atomicfile.Write(path, []byte(page), 0o600)
}

// openBrowser opens url in the desktop's browser.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
