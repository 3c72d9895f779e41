//go:build linux

package e2etest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestWebFilesAndDevices: Alice sends a file from her page, with its
// progress told over the live updates; Bob's page shows it, escaped, with a
// link that downloads the same bytes as an attachment. Bob then approves
// a new device's pairing code from his page and removes that device.
func TestWebFilesAndDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs a relay and a browser")
	}
	b := browser(t)
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "relay")
	startRelayProc(t, bin, data, freeAddr(t))
	invite := filepath.Join(data, "invite.txt")
	aliceHome, bobHome := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	mustRun(t, bin, aliceHome, "init", "--invite", invite, "--name", "alice")
	mustRun(t, bin, bobHome, "init", "--invite", invite, "--name", "bob")
	aw, bw := startWeb(t, bin, aliceHome), startWeb(t, bin, bobHome)
	alice, bob := tab(t, b), tab(t, b)
	run(t, alice, "alice's page", chromedp.Navigate(aw.url), waitJS(`document.getElementById("me").textContent === "alice"`))
	run(t, bob, "bob's page", chromedp.Navigate(bw.url), waitJS(`document.getElementById("me").textContent === "bob"`))

	// A file with markup in its name and bytes of every value.
	content := make([]byte, 3000)
	if _, err := rand.Read(content); err != nil {
		t.Fatal(err)
	}
	const name = `report <img src=x onerror="document.title='pwned'">.bin`
	path := filepath.Join(dir, "upload", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	label := "[file " + name + ", 3000 bytes]"

	run(t, alice, "alice opens the conversation and listens for progress",
		chromedp.SendKeys(chromedp.CSS("#new-name"), "bob"),
		chromedp.Click(chromedp.CSS("#new-chat-submit")),
		waitJS(`document.getElementById("conv-title").textContent === "bob" && !document.getElementById("conv").hidden`),
		waitJS(`(() => { if (window.progress) return window.progressOpen;
			window.progress = [];
			const es = new EventSource("/api/events");
			es.onopen = () => { window.progressOpen = true; };
			es.onmessage = (m) => { const u = JSON.parse(m.data); if (u.kind === "progress") window.progress.push(u); };
			return false; })()`),
	)
	run(t, alice, "alice sends the file",
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{path}),
		waitJS(`[...document.querySelectorAll("#messages li.out .body")].some(e => e.textContent === `+jsString(label)+`)`),
		waitJS(`window.progress.some(u => u.peer === "bob" && u.done === 3000 && u.total === 3000)`),
	)
	screenshot(t, alice, "file-sent")
	run(t, bob, "the file arrives with a download link",
		clickJS(`#convs button[data-name="alice"]`),
		waitJS(`[...document.querySelectorAll("#messages li.in")].some(e => e.querySelector(".body").textContent === `+jsString(label)+` && e.querySelector("a.file"))`),
	)
	screenshot(t, bob, "file-received")
	got := value(t, bob, "download the file through the page's link", chromedp.Evaluate[string](`(async () => {
		const a = [...document.querySelectorAll("#messages li.in a.file")].pop();
		const r = await fetch(a.href);
		const b = new Uint8Array(await r.arrayBuffer());
		return JSON.stringify({status: r.status, disposition: r.headers.get("Content-Disposition"), nosniff: r.headers.get("X-Content-Type-Options"),
			hex: [...b].map(x => x.toString(16).padStart(2, "0")).join("")});
	})()`, chromedp.EvalAwaitPromise))
	var dl struct {
		Status      int
		Disposition string
		Nosniff     string
		Hex         string
	}
	if err := json.Unmarshal([]byte(got), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Status != 200 || !strings.HasPrefix(dl.Disposition, "attachment;") || dl.Nosniff != "nosniff" {
		t.Fatalf("download: status %d, Content-Disposition %q, X-Content-Type-Options %q", dl.Status, dl.Disposition, dl.Nosniff)
	}
	if dl.Hex != hex.EncodeToString(content) {
		t.Fatalf("downloaded %d bytes that differ from the %d sent", len(dl.Hex)/2, len(content))
	}
	for who, c := range map[string]context.Context{"alice": alice, "bob": bob} {
		n := value(t, c, "no markup ran on "+who+"'s page", chromedp.Evaluate[int](`document.querySelectorAll("#messages img, #messages script").length`))
		title := value(t, c, "no markup ran on "+who+"'s page", chromedp.Title())
		if n != 0 || title != "samizdat" {
			t.Fatalf("%s's page: %d elements from the file's name, title %q", who, n, title)
		}
	}
	// No request path reaches another file: a message without a file,
	// and one that is not Bob's, are refused.
	refused := value(t, bob, "downloads refused", chromedp.Evaluate[string](`(async () => {
		const ids = [...document.querySelectorAll("#messages li")].map(e => e.dataset.id);
		const s = [];
		for (const q of ["kind=contact&peer=alice&id=999999", "kind=contact&peer=nobody&id=" + ids[0], "kind=contact&peer=alice&id=../files"]) {
			s.push((await fetch("/api/file?" + q)).status);
		}
		return s.join();
	})()`, chromedp.EvalAwaitPromise))
	if refused != "404,404,400" {
		t.Fatalf("downloads of no file: statuses %s, want 404,404,400", refused)
	}

	// Devices: a new device shows a pairing code; Bob approves it from
	// his page, then removes it.
	bob2 := filepath.Join(dir, "bob2")
	p := startLink(t, bin, bob2, "--invite", invite)
	run(t, bob, "bob approves the code",
		chromedp.Click(chromedp.CSS("#show-devices")),
		waitJS(`document.querySelectorAll("#devices-list li[data-id]").length === 1`),
		chromedp.SendKeys(chromedp.CSS("#approve-code"), p.code),
		chromedp.Click(chromedp.CSS("#approve-submit")),
		waitJS(`document.querySelectorAll("#devices-list li[data-id]").length === 2`),
	)
	if code, out, errOut := p.end(t); code != 0 || !strings.Contains(out, "linked device 2 of bob") {
		t.Fatalf("link: exit %d, %q, %q", code, out, errOut)
	}
	screenshot(t, bob, "devices-linked")
	run(t, bob, "bob removes the new device",
		clickJS(`#devices-list li[data-id="2"] button`),
		waitJS(`document.querySelector('#devices-list li[data-id="2"] button').textContent.startsWith("Remove for good")`),
		clickJS(`#devices-list li[data-id="2"] button`),
		waitJS(`document.querySelectorAll("#devices-list li[data-id]").length === 1 && document.querySelector('#devices-list li[data-id="1"]')`),
	)
}
