package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWebServesLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:8385", "[::]:0", "example.com:80"} {
		code, _, errOut := runCLI(t, "web", "--listen", addr)
		if code != exitUsage || !strings.Contains(errOut, "loopback") {
			t.Errorf("web --listen %s: exit %d, %q; want a usage error about loopback", addr, code, errOut)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:8385", "localhost:0", "127.0.0.2:1"} {
		if err := checkLoopback(addr); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

func TestWriteOpenPage(t *testing.T) {
	home := filepath.Join(t.TempDir(), "new")
	url := `http://127.0.0.1:8385/?token=abc&x="<b>`
	path, err := writeOpenPage(home, url)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || !filepath.IsAbs(path) {
		t.Fatalf("%s: %v, %v; want an absolute path, mode 0600", path, fi, err)
	}
	b, _ := os.ReadFile(path)
	if want := `content="0;url=http://127.0.0.1:8385/?token=abc&amp;x=&#34;&lt;b&gt;"`; !strings.Contains(string(b), want) {
		t.Fatalf("page %s; want %s", b, want)
	}
}
