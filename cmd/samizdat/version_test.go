package main

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReleaseVersion(t *testing.T) {
	for _, tt := range []struct {
		set, module, want string
	}{
		{"", "(devel)", develVersion},
		{"", "", develVersion},
		{"", "v0.1.0", "v0.1.0"},
		{"", "v0.0.0-20261207230000-659c63c1a2b3+dirty", "v0.0.0-20261207230000-659c63c1a2b3+dirty"},
		{"v0.2.0", "v0.1.0", "v0.2.0"},
		{"v0.2.0", "(devel)", "v0.2.0"},
	} {
		version = tt.set
		if got := releaseVersion(&debug.BuildInfo{Main: debug.Module{Version: tt.module}}); got != tt.want {
			t.Errorf("version %q, module version %q: %q, want %q", tt.set, tt.module, got, tt.want)
		}
	}
	version = ""
	if got := releaseVersion(nil); got != develVersion {
		t.Errorf("without build information: %q", got)
	}
}

// TestVersionFromLdflags builds the binary as a release is built and runs
// its version command.
func TestVersionFromLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "samizdat")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v0.9.1", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "samizdat v0.9.1 ") {
		t.Fatalf("version: %q, %v", out, err)
	}
}
