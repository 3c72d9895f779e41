package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImport takes newer manifests by hand and refuses what is not one:
// the same or an older serial, another network's, garbage; "-" reads
// standard input.
func TestImport(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "relay")
	startRelay(t, "--data", data, "--listen", "tcp://127.0.0.1:0?name=a")
	invite := filepath.Join(data, "invite.txt")
	home := filepath.Join(dir, "alice")
	if code, _, errOut := runCLI(t, "--home", home, "init", "--invite", invite, "--name", "alice"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	old, err := os.ReadFile(invite)
	if err != nil {
		t.Fatal(err)
	}
	m1 := inviteManifest(t, invite)
	if code, _, errOut := runCLI(t, "--home", home, "import", invite); code != 1 || !strings.Contains(errOut, fmt.Sprintf("serial %d is the current one", m1.Serial)) {
		t.Fatalf("same manifest: exit %d, %q", code, errOut)
	}
	// The relay moves while alice is away: the new invite brings her back.
	if code, _, errOut := runCLI(t, "relay", "endpoints", "--data", data, "add", "tcp://127.0.0.1:0?name=b"); code != 0 {
		t.Fatalf("add: %s", errOut)
	}
	m2 := inviteManifest(t, invite)
	code, out, errOut := runCLI(t, "--home", home, "import", invite)
	if code != 0 || out != fmt.Sprintf("imported manifest %d of samizdat: 2 endpoint(s), 0 channel(s)\n", m2.Serial) {
		t.Fatalf("newer manifest: exit %d, %q, %q", code, out, errOut)
	}
	// Older now, from a file and from standard input.
	oldFile := filepath.Join(dir, "old.txt")
	os.WriteFile(oldFile, old, 0o600)
	if code, _, errOut := runCLI(t, "--home", home, "import", oldFile); code != 1 || !strings.Contains(errOut, "is not newer than") {
		t.Fatalf("older manifest: exit %d, %q", code, errOut)
	}
	var sout, serr bytes.Buffer
	code = run(context.Background(), &env{stdin: bytes.NewReader(old), stdout: &sout, stderr: &serr}, []string{"--home", home, "import", "-"})
	if code != 1 || !strings.Contains(serr.String(), "is not newer than") {
		t.Fatalf("older manifest on stdin: exit %d, %q", code, serr.String())
	}
	// Another network's invite, and garbage.
	other := filepath.Join(dir, "other")
	startRelay(t, "--data", other, "--listen", "127.0.0.1:0", "--network", "elsewhere")
	if code, _, errOut := runCLI(t, "--home", home, "import", filepath.Join(other, "invite.txt")); code != 1 || !strings.Contains(errOut, "not imported: manifest: bad signature") {
		t.Fatalf("another network: exit %d, %q", code, errOut)
	}
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("hello, this is not a manifest"), 0o600)
	if code, _, errOut := runCLI(t, "--home", home, "import", garbage); code != 1 || !strings.Contains(errOut, "neither an invite nor a manifest") {
		t.Fatalf("garbage: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "--home", home, "import"); code != 2 || !strings.Contains(errOut, "need one FILE") {
		t.Fatalf("no file: exit %d, %q", code, errOut)
	}
	// Nothing refused changed the manifest alice holds.
	if code, _, errOut := runCLI(t, "--home", home, "import", invite); code != 1 || !strings.Contains(errOut, fmt.Sprintf("serial %d is the current one", m2.Serial)) {
		t.Fatalf("after the refusals: exit %d, %q", code, errOut)
	}
}
