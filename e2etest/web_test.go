//go:build linux

package e2etest

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/session"
	"samizdat/session/curve"
)

// chromium returns the path of a Chromium (or Chrome) binary. Without one
// the browser tests skip, unless SAMIZDAT_REQUIRE_BROWSER is set (make
// test sets it, and installs Chromium first): then they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SAMIZDAT_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium found and SAMIZDAT_REQUIRE_BROWSER is set (apt-get install -y chromium)")
	}
	t.Skip("no chromium found: apt-get install -y chromium (or set SAMIZDAT_REQUIRE_BROWSER=1 to make this a failure)")
	return ""
}

// webProc is a `samizdat web` process.
type webProc struct {
	cmd  *exec.Cmd
	url  string // with the token
	base string // http://host:port
	done chan error
	errs strings.Builder
}

// startWeb starts `samizdat web` on a free loopback port and waits for
// the address it prints.
func startWeb(t testing.TB, bin, home string) *webProc {
	t.Helper()
	return startWebEnv(t, bin, home, nil)
}

// startWebEnv is startWeb with more environment variables and arguments.
func startWebEnv(t testing.TB, bin, home string, env []string, args ...string) *webProc {
	t.Helper()
	p := &webProc{cmd: exec.Command(bin, append([]string{"--home", home, "web", "--listen", "127.0.0.1:0"}, args...)...), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stderr = &p.errs
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		io.Copy(io.Discard, out)
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case p.url = <-line:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("samizdat web exited: %v: %s", err, p.errs.String())
	case <-time.After(patience):
		t.Fatalf("samizdat web printed no address: %s", p.errs.String())
	}
	u, err := url.Parse(p.url)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("samizdat web printed %q, want an address with a token", p.url)
	}
	p.base = "http://" + u.Host
	return p
}

// stop ends the process with SIGTERM, as Ctrl-C would, and waits.
func (p *webProc) stop(t testing.TB) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("samizdat web exited with %v after SIGTERM: %s", err, p.errs.String())
		}
	case <-time.After(patience):
		p.cmd.Process.Kill()
		t.Errorf("samizdat web did not end after SIGTERM")
	}
}

// TestWebRefusesStrangers checks, against a running `samizdat web`, that a
// request without the token, from a foreign Origin, under a wrong Host or
// changing state without the CSRF token is refused.
func TestWebRefusesStrangers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a relay process")
	}
	bin := buildBinary(t)
	w := startWeb(t, bin, filepath.Join(t.TempDir(), "alice"))
	jar := &cookieJar{}
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, hdr map[string]string, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, w.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("GET", "/api/state", nil, ""); code != http.StatusForbidden {
		t.Fatalf("without the token: %d, want 403", code)
	}
	if code := do("GET", "/?token=wrong", nil, ""); code != http.StatusForbidden {
		t.Fatalf("with a wrong token: %d, want 403", code)
	}
	u, _ := url.Parse(w.url)
	if code := do("GET", u.RequestURI(), nil, ""); code != http.StatusSeeOther {
		t.Fatalf("with the token: %d, want a redirect that strips it", code)
	}
	if code := do("GET", "/api/state", nil, ""); code != http.StatusOK {
		t.Fatalf("with the cookie: %d, want 200", code)
	}
	if code := do("GET", "/api/state", map[string]string{"Origin": "http://evil.example"}, ""); code != http.StatusForbidden {
		t.Fatalf("from a foreign Origin: %d, want 403", code)
	}
	if code := do("GET", "/api/state", map[string]string{"Sec-Fetch-Site": "cross-site"}, ""); code != http.StatusForbidden {
		t.Fatalf("a cross-site fetch: %d, want 403", code)
	}
	_, port, _ := strings.Cut(u.Host, ":")
	if code := do("GET", "/api/state", map[string]string{"Host": "rebind.example:" + port}, ""); code != http.StatusMisdirectedRequest {
		t.Fatalf("under a wrong Host (DNS rebinding): %d, want 421", code)
	}
	json := map[string]string{"Content-Type": "application/json"}
	if code := do("POST", "/api/setup", json, `{"name":"mallory","invite":"x"}`); code != http.StatusForbidden {
		t.Fatalf("a POST without the CSRF token: %d, want 403", code)
	}
	if code := do("POST", "/api/setup", map[string]string{"Content-Type": "application/json", "X-CSRF-Token": "guess"}, `{}`); code != http.StatusForbidden {
		t.Fatalf("a POST with a wrong CSRF token: %d, want 403", code)
	}
}

// cookieJar is the smallest http.CookieJar: one host, every cookie.
type cookieJar struct{ cookies []*http.Cookie }

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.cookies = append(j.cookies, cs...) }
func (j *cookieJar) Cookies(*url.URL) []*http.Cookie          { return j.cookies }

// browser starts headless Chromium; tabs opened from the returned context
// share its cookies.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.WindowSize(1000, 700),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// tab opens a new tab in the browser; its actions time out after
// patience.
func tab(t *testing.T, b context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(b)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 5*patience)
	t.Cleanup(cancel)
	return ctx
}

// run runs browser actions, failing the test with what was being done.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, page)
	}
}

// value runs one browser action and returns its value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// clickJS waits for the element and clicks it in one step in the page:
// the list it is in is redrawn as updates arrive, and a node found first
// and clicked after may be gone.
func clickJS(sel string) chromedp.Action[chromedp.Void] {
	return waitJS(`(() => { const e = document.querySelector(` + jsString(sel) + `); if (!e) return false; e.click(); return true; })()`)
}

// waitJS waits until the JavaScript expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(patience))
}

// screenshot saves the tab's viewport as docs/screenshots/NAME.png when
// SAMIZDAT_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("SAMIZDAT_SCREENSHOTS") != "1" {
		return
	}
	png := value(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// xss is a payload that runs script if it is ever parsed as HTML.
// It fits a device name (64 bytes).
const xss = `<img src=x onerror="document.title='pwned'"><b>b</b>`

// TestWebChat drives two browser sessions of `samizdat web` against a
// real relay: the first run (one imports the invite file, the other pastes
// its text), messages both ways, one arriving live, the safety number
// shown and verified, an identity change warned about, and hostile text in
// a device name and a message rendered as text.
func TestWebChat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs a relay and a browser")
	}
	b := browser(t)
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	relayAddr := freeAddr(t)
	relayP := startRelayProc(t, bin, data, relayAddr)
	invite := filepath.Join(data, "invite.txt")
	inviteText, err := os.ReadFile(invite)
	if err != nil {
		t.Fatal(err)
	}
	aliceHome, bobHome := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	// Bob's starts with --open, the browser a stand-in xdg-open that
	// notes what it was asked to open.
	fakeBin := filepath.Join(dir, "fakebin")
	opened := filepath.Join(dir, "opened")
	if err := os.MkdirAll(fakeBin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fakeBin, "xdg-open"), []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+opened+".tmp && mv "+opened+".tmp "+opened+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	aw := startWeb(t, bin, aliceHome)
	startWebEnv(t, bin, bobHome, []string{"PATH=" + fakeBin + ":" + os.Getenv("PATH")}, "--open")
	var openURL string
	waitUntil(t, "samizdat web --open to start a browser", func() bool {
		b, err := os.ReadFile(opened)
		openURL = string(b)
		return err == nil
	})
	// What the browser is given is a file only Bob can read, not the
	// token: it does not show in the process list.
	if !strings.HasPrefix(openURL, "file://") || strings.Contains(openURL, "token") {
		t.Fatalf("--open started the browser with %q; want a file", openURL)
	}
	if fi, err := os.Stat(strings.TrimPrefix(openURL, "file://")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the page --open wrote: %v, %v", fi, err)
	}
	alice, bob := tab(t, b), tab(t, b)

	// First run: Alice picks the invite file, Bob pastes its text and
	// names his device with markup.
	run(t, alice, "alice's first run",
		chromedp.Navigate(aw.url),
		chromedp.WaitVisible(chromedp.CSS("#setup-form")),
	)
	screenshot(t, alice, "first-run")
	run(t, alice, "alice's first run",
		chromedp.SendKeys(chromedp.CSS("#setup-name"), "alice"),
		chromedp.SetUploadFiles(chromedp.CSS("#setup-file"), []string{invite}),
		chromedp.Click(chromedp.CSS("#setup-submit")),
		waitJS(`document.getElementById("me").textContent === "alice"`),
	)
	run(t, bob, "bob's first run, from the page --open wrote",
		chromedp.Navigate(openURL),
		chromedp.WaitVisible(chromedp.CSS("#setup-form")),
		chromedp.SendKeys(chromedp.CSS("#setup-name"), "bob"),
		chromedp.SetValue(chromedp.CSS("#setup-device"), xss),
		chromedp.SetValue(chromedp.CSS("#setup-text"), string(inviteText)),
		chromedp.Click(chromedp.CSS("#setup-submit")),
		waitJS(`document.getElementById("me").textContent === "bob"`),
	)
	for who, ctx := range map[string]context.Context{"alice": alice, "bob": bob} {
		run(t, ctx, who+" connects", waitJS(`document.getElementById("status").dataset.state === "connected"`))
	}

	// Alice writes to Bob; it arrives on Bob's page live, with an unread
	// count, without a reload.
	run(t, alice, "alice writes to bob",
		chromedp.SendKeys(chromedp.CSS("#new-name"), "bob"),
		chromedp.Click(chromedp.CSS("#new-chat-submit")),
		waitJS(`document.getElementById("conv-title").textContent === "bob" && !document.getElementById("conv").hidden`),
		chromedp.SendKeys(chromedp.CSS("#text"), "hello bob, from the browser"),
		chromedp.Click(chromedp.CSS("#send")),
		waitJS(`[...document.querySelectorAll("#messages li.out .body")].some(e => e.textContent === "hello bob, from the browser")`),
	)
	run(t, bob, "the message arrives live",
		waitJS(`(() => { const b = document.querySelector('#convs button[data-name="alice"]');
			return b && b.querySelector(".badge") && b.querySelector(".badge").textContent === "1"; })()`),
	)
	screenshot(t, bob, "unread")
	// From here on, nothing on Alice's page may move as messages and
	// receipts arrive (layout shifts not caused by input).
	run(t, alice, "watch for layout shifts", waitJS(`(() => { window.shifts = 0;
		new PerformanceObserver(l => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.shifts += e.value; }).observe({type: "layout-shift"});
		return true; })()`))
	run(t, bob, "bob reads and answers",
		clickJS(`#convs button[data-name="alice"]`),
		waitJS(`[...document.querySelectorAll("#messages li.in .body")].some(e => e.textContent === "hello bob, from the browser")`),
		// A message request: Bob accepts Alice.
		chromedp.WaitVisible(chromedp.CSS("#request-accept")),
		chromedp.Click(chromedp.CSS("#request-accept")),
		waitJS(`document.getElementById("request-bar").hidden`),
		chromedp.SetValue(chromedp.CSS("#text"), xss),
		chromedp.Click(chromedp.CSS("#send")),
		waitJS(`[...document.querySelectorAll("#messages li.out .body")].some(e => e.textContent === `+jsString(xss)+`)`),
	)
	run(t, alice, "bob's answer arrives live in the open conversation, as text",
		waitJS(`[...document.querySelectorAll("#messages li.in .body")].some(e => e.textContent === `+jsString(xss)+`)`),
		// Receipts: Bob's device confirmed Alice's message.
		waitJS(`document.querySelector("#messages li.out").dataset.status === "delivered"`),
	)
	if shift := value(t, alice, "layout shifts", chromedp.Evaluate[float64](`window.shifts`)); shift != 0 {
		t.Fatalf("alice's page moved as the answer and receipts arrived: layout shift %v", shift)
	}
	screenshot(t, alice, "chat")
	for who, ctx := range map[string]context.Context{"alice": alice, "bob": bob} {
		n := value(t, ctx, "no markup ran on "+who+"'s page", chromedp.Evaluate[int](`document.querySelectorAll("#messages img, #messages script").length`))
		title := value(t, ctx, "no markup ran on "+who+"'s page", chromedp.Title())
		if n != 0 || title != "samizdat" {
			t.Fatalf("%s's page: %d elements from the message, title %q", who, n, title)
		}
	}
	// Bob's device name holds markup: shown as text in the device list.
	run(t, bob, "bob's devices",
		chromedp.Click(chromedp.CSS("#show-devices")),
		waitJS(`document.querySelector("#devices-list li") && document.querySelector("#devices-list li").textContent.includes("this one")`),
	)
	devText := value(t, bob, "bob's devices", chromedp.TextContent(chromedp.CSS("#devices-list li")))
	imgs := value(t, bob, "bob's devices", chromedp.Evaluate[int](`document.querySelectorAll("#devices-list img, #devices-list script").length`))
	if !strings.Contains(devText, xss) || imgs != 0 {
		t.Fatalf("device list shows %q with %d elements; want the name as text", devText, imgs)
	}
	screenshot(t, bob, "devices")

	// The safety number: the same on both pages; Alice marks it verified.
	run(t, alice, "alice's safety number",
		chromedp.Click(chromedp.CSS("#safety-btn")),
		waitJS(`document.getElementById("safety-number").textContent.split(" ").length === 12`),
		waitJS(`document.getElementById("safety-qr").complete && document.getElementById("safety-qr").naturalWidth > 0`),
	)
	aNum := value(t, alice, "alice's safety number", chromedp.TextContent(chromedp.CSS("#safety-number")))
	screenshot(t, alice, "safety-number")
	run(t, alice, "alice verifies", chromedp.Click(chromedp.CSS("#verify-btn")), chromedp.WaitVisible(chromedp.CSS("#safety-verified")),
		chromedp.Click(chromedp.CSS("#safety-close")), chromedp.WaitVisible(chromedp.CSS("#conv-verified")))
	run(t, bob, "bob's safety number",
		chromedp.Click(chromedp.CSS("#back")),
		clickJS(`#convs button[data-name="alice"]`),
		chromedp.Click(chromedp.CSS("#safety-btn")),
		waitJS(`document.getElementById("safety-number").textContent.split(" ").length === 12`),
	)
	bNum := value(t, bob, "bob's safety number", chromedp.TextContent(chromedp.CSS("#safety-number")))
	if aNum != bNum || len(strings.Fields(aNum)) != 12 {
		t.Fatalf("safety numbers %q and %q", aNum, bNum)
	}

	// The network page lists the path the client took.
	run(t, alice, "alice's network page",
		chromedp.Click(chromedp.CSS("#show-network")),
		waitJS(`[...document.querySelectorAll("#paths td")].some(e => e.textContent === "connected")`),
	)
	screenshot(t, alice, "network")

	// An identity change: Alice's home is made to remember another key
	// for Bob (as a relay swapping keys would); her next message finds
	// Bob's real one, and the page warns where it cannot be missed.
	aw.stop(t)
	swapIdentity(t, aliceHome, "bob")
	aw = startWeb(t, bin, aliceHome)
	run(t, alice, "alice's page after the restart",
		chromedp.Navigate(aw.url),
		waitJS(`document.getElementById("me").textContent === "alice"`),
		clickJS(`#convs button[data-name="bob"]`),
		chromedp.SendKeys(chromedp.CSS("#text"), "are you still you?"),
		chromedp.Click(chromedp.CSS("#send")),
		waitJS(`document.querySelector('#alerts .warning[data-peer="bob"]') !== null`),
		waitJS(`!document.getElementById("conv-warning").hidden`),
		waitJS(`document.querySelector('#convs button[data-name="bob"] .flag') !== null`),
		waitJS(`document.getElementById("conv-verified").hidden`),
	)
	screenshot(t, alice, "identity-changed")
	run(t, bob, "bob gets the message", chromedp.Click(chromedp.CSS("#safety-close")),
		waitJS(`[...document.querySelectorAll("#messages li.in .body")].some(e => e.textContent === "are you still you?")`))
	run(t, alice, "alice checks the new number and accepts it",
		chromedp.Click(chromedp.CSS("#conv-warning-check")),
		chromedp.WaitVisible(chromedp.CSS("#safety-changed")),
		chromedp.Click(chromedp.CSS("#verify-btn")),
		waitJS(`document.querySelector("#alerts .warning") === null`),
	)

	// A group: Alice creates one with Bob; his page shows it and the
	// message live.
	run(t, alice, "alice creates a group",
		chromedp.Click(chromedp.CSS("#safety-close")),
		chromedp.Click(chromedp.CSS("#show-groups")),
		chromedp.SendKeys(chromedp.CSS("#group-name"), "friends"),
		chromedp.SendKeys(chromedp.CSS("#group-members"), "bob"),
		chromedp.Click(chromedp.CSS("#group-create button")),
		waitJS(`document.getElementById("conv-title").textContent === "friends" && !document.getElementById("conv").hidden`),
		chromedp.SendKeys(chromedp.CSS("#text"), "hello group"),
		chromedp.Click(chromedp.CSS("#send")),
		waitJS(`[...document.querySelectorAll("#messages li.out .body")].some(e => e.textContent === "hello group")`),
	)
	run(t, bob, "bob sees the group",
		waitJS(`document.querySelector('#convs button[data-name="friends"][data-kind="group"] .badge') !== null`),
		clickJS(`#convs button[data-name="friends"]`),
		waitJS(`[...document.querySelectorAll("#messages li.in")].some(e => e.querySelector(".from").textContent === "alice" && e.querySelector(".body").textContent === "hello group")`),
	)

	// The group's members: Alice (its admin) sees both and removes Bob,
	// then adds him back.
	run(t, alice, "alice manages the group",
		chromedp.Click(chromedp.CSS("#members-btn")),
		waitJS(`[...document.querySelectorAll("#members-list li")].map(e => e.dataset.name).join() === "alice,bob"`),
		waitJS(`document.querySelector('#members-list li[data-name="bob"] button')?.textContent === "Make admin"`),
		clickJS(`#members-list li[data-name="bob"] button.danger`),
		waitJS(`[...document.querySelectorAll("#members-list li")].map(e => e.dataset.name).join() === "alice"`),
		chromedp.SendKeys(chromedp.CSS("#members-add-name"), "bob"),
		chromedp.Click(chromedp.CSS("#members-add button")),
		waitJS(`[...document.querySelectorAll("#members-list li")].map(e => e.dataset.name).join() === "alice,bob"`),
	)
	run(t, bob, "bob is told",
		waitJS(`[...document.querySelectorAll("#messages li.notice .body")].filter(e => e.textContent.includes("bob")).length >= 2`))

	// Alice renames the group and makes Bob an admin from the members
	// page: her list marks him, and his page shows the new name and marks
	// him too.
	run(t, alice, "alice renames the group and makes bob an admin",
		chromedp.SendKeys(chromedp.CSS("#members-rename-name"), "crew"),
		chromedp.Click(chromedp.CSS("#members-rename button")),
		waitJS(`document.getElementById("members-group").textContent === "crew"`),
		waitJS(`document.querySelector('#convs button[data-name="crew"][data-kind="group"]') !== null && document.querySelector('#convs button[data-name="friends"]') === null`),
		clickJS(`#members-list li[data-name="bob"] button:not(.danger)`),
		waitJS(`document.querySelector('#members-list li[data-name="bob"] span')?.textContent === "bob (admin)"`),
	)
	run(t, bob, "bob sees the new name and is an admin",
		waitJS(`document.querySelector('#convs button[data-name="crew"][data-kind="group"]') !== null && document.querySelector('#convs button[data-name="friends"]') === null`),
		clickJS(`#convs button[data-name="crew"]`),
		waitJS(`document.getElementById("conv-title").textContent === "crew"`),
		chromedp.Click(chromedp.CSS("#members-btn")),
		waitJS(`document.querySelector('#members-list li[data-name="bob"] span')?.textContent === "bob (admin)" && !document.getElementById("members-rename").hidden`),
		clickJS(`#convs button[data-name="crew"]`),
	)

	// A channel: Alice creates one; Bob joins with the code and reads
	// her post live; he may not post.
	run(t, alice, "alice creates a channel",
		chromedp.Click(chromedp.CSS("#show-groups")),
		chromedp.SendKeys(chromedp.CSS("#channel-name"), "news"),
		chromedp.Click(chromedp.CSS("#channel-create button")),
		chromedp.WaitVisible(chromedp.CSS("#channel-code")),
	)
	code := value(t, alice, "the join code", chromedp.Evaluate[string](`document.getElementById("channel-code").dataset.code`))
	run(t, bob, "bob joins the channel",
		chromedp.Click(chromedp.CSS("#show-groups")),
		chromedp.SetValue(chromedp.CSS("#channel-join-code"), code),
		chromedp.Click(chromedp.CSS("#channel-join button")),
		waitJS(`document.getElementById("conv-title").textContent === "news" && !document.getElementById("conv").hidden`),
		waitJS(`document.getElementById("composer").hidden`),
	)
	run(t, alice, "alice posts",
		clickJS(`#convs button[data-name="news"]`),
		chromedp.SendKeys(chromedp.CSS("#text"), "first post"),
		chromedp.Click(chromedp.CSS("#send")),
		waitJS(`[...document.querySelectorAll("#messages li .body")].some(e => e.textContent === "first post")`),
	)
	run(t, bob, "bob reads the post live",
		waitJS(`[...document.querySelectorAll("#messages li .body")].some(e => e.textContent === "first post")`))
	// Alice makes Bob an admin of the channel: his page lets him post.
	run(t, alice, "alice makes bob a channel admin",
		waitJS(`!document.getElementById("channel-admin").hidden`),
		chromedp.SendKeys(chromedp.CSS("#channel-admin-name"), "bob"),
		chromedp.Click(chromedp.CSS("#channel-admin button")),
		waitJS(`document.getElementById("notice").textContent === "bob is now an admin of news"`))
	run(t, bob, "bob may post",
		waitJS(`!document.getElementById("composer").hidden && !document.getElementById("channel-admin").hidden`),
		clickJS(`#convs button[data-name="crew"]`),
		waitJS(`document.getElementById("conv-title").textContent === "crew"`))
	run(t, alice, "back to the group", clickJS(`#convs button[data-name="crew"]`),
		waitJS(`document.getElementById("conv-title").textContent === "crew"`))

	// The relay goes away: the status line says so and counts what waits
	// in the outbox; it goes out when the relay is back.
	relayP.kill()
	run(t, alice, "offline",
		waitJS(`document.getElementById("status").dataset.state === "offline"`),
		chromedp.SendKeys(chromedp.CSS("#text"), "while the relay is down"),
		chromedp.Click(chromedp.CSS("#send")),
		waitJS(`document.getElementById("status").textContent.includes("1 message(s) waiting to go out")`),
	)
	screenshot(t, alice, "offline")
	startRelayProc(t, bin, data, relayAddr)
	run(t, alice, "back online", waitJS(`document.getElementById("status").dataset.state === "connected"`))
	run(t, bob, "the queued message arrives",
		waitJS(`[...document.querySelectorAll("#messages li.in .body")].some(e => e.textContent === "while the relay is down")`))

	// Bob blocks Alice, then unblocks her: she is a message request again.
	run(t, bob, "bob blocks alice",
		clickJS(`#convs button[data-name="alice"]`),
		chromedp.WaitVisible(chromedp.CSS("#block-btn")),
		chromedp.Click(chromedp.CSS("#block-btn")),
		waitJS(`document.querySelector('#convs button[data-name="alice"]').dataset.kind === "blocked"`),
		chromedp.WaitVisible(chromedp.CSS("#blocked-bar")),
		waitJS(`document.getElementById("composer").hidden`),
		chromedp.Click(chromedp.CSS("#unblock-btn")),
		waitJS(`document.querySelector('#convs button[data-name="alice"]').dataset.kind === "request"`),
		chromedp.WaitVisible(chromedp.CSS("#request-bar")),
		// What was read stays read whatever the conversation is now.
		waitJS(`document.querySelector('#convs button[data-name="alice"] .badge') === null`),
	)

	// At 360 px wide the layout holds: nothing wider than the screen.
	run(t, alice, "a narrow screen",
		chromedp.EmulateViewport(360, 740),
		waitJS(`!document.getElementById("conv").hidden`),
	)
	wide := value(t, alice, "a narrow screen", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > 360`))
	if wide {
		t.Fatal("at 360 px the page scrolls sideways")
	}
	screenshot(t, alice, "narrow")

	// The dark theme follows the system's.
	run(t, alice, "dark theme",
		chromedp.EmulateViewport(1000, 700),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
			return err
		}),
		waitJS(`getComputedStyle(document.body).backgroundColor === "rgb(18, 18, 18)"`),
	)
	screenshot(t, alice, "dark")
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return fmt.Sprintf("%q", s)
}

// swapIdentity makes home remember a fresh identity key for peer (and
// accept it), as a relay that swapped keys would have made it.
func swapIdentity(t *testing.T, home, peer string) {
	t.Helper()
	ctx := context.Background()
	c, err := client.Open(ctx, client.Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ct, err := c.DB().Store().ContactByName(ctx, peer)
	if err != nil {
		t.Fatal(err)
	}
	other, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := fmt.Sprintf("%x", ct.AccountID[:])
	a := session.Address{Name: h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], DeviceID: 1}
	err = c.DB().Tx(ctx, func(s *clientdb.Store) error {
		if _, err := s.SaveIdentity(ctx, a, other.Public); err != nil {
			return err
		}
		return s.AcceptIdentity(ctx, a.Name)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWebColdStart measures the first page load from a cold start of
// `samizdat web` on an initialized home: start-ms is from starting the
// process to the address printed (the client opened, the home owned, the
// port listening), page-ms from the browser's navigation to the first
// screen drawn (the page's samizdat-ready mark: HTML, script, style and
// the first /api/state), total-ms the two together; each the median of
// the runs. floor-page-ms is the same shape of page (HTML, a module
// script, one JSON fetch) from a bare Go server, the floor the browser
// sets on this machine; page/floor their ratio.
//
//	go test ./e2etest/ -run '^$' -bench WebColdStart -benchtime 20x
func BenchmarkWebColdStart(b *testing.B) {
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		b.Skip("no chromium")
	}
	dir := b.TempDir()
	if err := build(); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(binDir, "samizdat")
	data := filepath.Join(dir, "relay")
	startRelayProc(b, bin, data, freeAddr(b))
	home := filepath.Join(dir, "alice")
	if out, err := exec.Command(bin, "--home", home, "init", "--invite", filepath.Join(data, "invite.txt"), "--name", "alice").CombinedOutput(); err != nil {
		b.Fatalf("init: %v: %s", err, out)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx); err != nil {
		b.Fatal(err)
	}
	// The floor to compare with: the same shape of page (HTML, a module
	// script, one JSON fetch) from a bare Go server in this process.
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		switch r.URL.Path {
		case "/":
			fmt.Fprint(w, `<!doctype html><title>floor</title><script type="module" src="b.js"></script><p id="x">`)
		case "/b.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `fetch("/s").then(r => r.json()).then(v => { document.getElementById("x").textContent = v.me; performance.mark("samizdat-ready"); });`)
		case "/s":
			fmt.Fprint(w, `{"me":"alice"}`)
		}
	}))
	defer floor.Close()
	pageReady := func(url string) time.Duration {
		err := chromedp.Do(bctx,
			chromedp.Navigate(url),
			chromedp.Poll[chromedp.Void](`performance.getEntriesByName("samizdat-ready").length > 0`, chromedp.WithPollingTimeout(patience)),
		)
		if err != nil {
			b.Fatal(err)
		}
		ms, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`performance.getEntriesByName("samizdat-ready")[0].startTime`))
		if err != nil {
			b.Fatal(err)
		}
		return time.Duration(ms * float64(time.Millisecond))
	}
	var starts, pages, floors []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		w := startWeb(b, bin, home)
		starts = append(starts, time.Since(t0))
		pages = append(pages, pageReady(w.url))
		b.StopTimer()
		w.stop(b)
		floors = append(floors, pageReady(floor.URL+fmt.Sprintf("/?i=%d", i)))
		b.StartTimer()
	}
	// Medians: the machine is shared, and a build next door makes a few
	// runs many times slower.
	totals := make([]time.Duration, len(starts))
	for i := range starts {
		totals[i] = starts[i] + pages[i]
	}
	ms := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	b.ReportMetric(ms(starts), "start-p50-ms")
	b.ReportMetric(ms(pages), "page-p50-ms")
	b.ReportMetric(ms(totals), "total-p50-ms")
	b.ReportMetric(ms(floors), "floor-page-p50-ms")
	b.ReportMetric(ms(pages)/ms(floors), "page/floor")
}
