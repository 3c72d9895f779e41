package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unitPath is the relay's systemd unit, from this package's directory.
var unitPath = filepath.Join("..", "..", "contrib", "systemd", "samizdat-relay.service")

// unitSettings reads a unit's [Service] settings: each key's values in
// order.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnit checks the relay's hardening in the unit and has
// systemd-analyze verify it.
func TestSystemdUnit(t *testing.T) {
	s := unitSettings(t, unitPath)
	for k, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "samizdat-relay", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
		"AmbientCapabilities": "CAP_NET_BIND_SERVICE", "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE", "Restart": "on-failure",
		"ProtectHome": "yes", "PrivateTmp": "yes",
	} {
		if got := s[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(s["ReadWritePaths"]) == 0 {
		t.Error("no ReadWritePaths")
	}
	if exec := s["ExecStart"]; len(exec) != 1 || !strings.Contains(exec[0], "--data ${STATE_DIRECTORY}") {
		t.Errorf("ExecStart = %q; want the relay's data in the state directory", exec)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed here: the unit's syntax is not verified")
	}
	// verify wants ExecStart's program to exist: point it at this test
	// binary, in a copy named like the unit.
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), filepath.Base(unitPath))
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/samizdat", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	// verify exits 0 even for an unknown setting, which it only reports:
	// any output is a finding.
	if err != nil || len(out) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDockerfile runs the Dockerfile's build command here (there is no
// container engine in the tests) and checks that it makes a static binary
// that reports the version given, and that the image runs it as a user
// without privileges with its data in a volume.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	final := df[strings.LastIndex(df, "\nFROM "):]
	for _, want := range []string{"\nUSER 65532:65532\n", "\nVOLUME /data\n", "\nENTRYPOINT [\"/samizdat\"]\n"} {
		if !strings.Contains(final, want) {
			t.Errorf("the image's stage lacks %q", strings.TrimSpace(want))
		}
	}
	m := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*) -o /out/samizdat (\./cmd/samizdat)$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("no RUN CGO_ENABLED=0 go build ... -o /out/samizdat ./cmd/samizdat in the Dockerfile")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "samizdat")
	// Without -trimpath, which only changes the paths recorded in the
	// binary but would compile every package again (minutes on a busy
	// machine) instead of reusing the build cache.
	cmd := strings.Replace(m[1], " -trimpath", "", 1)
	build := exec.Command("sh", "-c", cmd+" -o "+bin+" "+m[2])
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "VERSION=v0.0.7")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is linked dynamically (program header %v)", p.Type)
		}
	}
	if out, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(out), "samizdat v0.0.7 ") {
		t.Errorf("version: %q, %v", out, err)
	}
}
