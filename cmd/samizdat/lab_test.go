package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samizdat/lab/scenario"
)

func TestLabList(t *testing.T) {
	code, out, errOut := runCLI(t, "lab", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, name := range scenario.Names() {
		if !strings.Contains(out, name+" ") {
			t.Errorf("lab list does not show %q:\n%s", name, out)
		}
	}
}

func TestLabBadCommandLines(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"lab", "nonesuch"}, `unknown subcommand "nonesuch"`},
		{[]string{"lab", "run"}, "which scenario?"},
		{[]string{"lab", "run", "nonesuch"}, `no scenario "nonesuch"`},
		{[]string{"lab", "run", "ci", "extra"}, "one scenario at a time"},
		{[]string{"lab", "run", "ci", "--seed", "x"}, "invalid value"},
		{[]string{"lab", "list", "x"}, `unexpected argument "x"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want exit 2 containing %q", code, errOut, tt.wantErr)
			}
		})
	}
}

// TestLabRunFile runs a tiny scenario file through the command and checks
// that the report files exist and, with no censor, every message arrived.
func TestLabRunFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a lab scenario")
	}
	dir := t.TempDir()
	sc := filepath.Join(dir, "tiny.json")
	if err := os.WriteFile(sc, []byte(`{
  "name": "tiny",
  "description": "Two static clients and no censor, for the command's own test.",
  "seed": 7,
  "duration": "3s",
  "drain": "2s",
  "clients": 2,
  "message_every": "500ms",
  "bystanders": 2,
  "strategies": ["static"],
  "censor": {"preset": "none"}
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, stdout, errOut := runCLI(t, "lab", "run", sc, "--out", out, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errOut)
	}
	if !strings.Contains(stdout, "static") || !strings.Contains(stdout, filepath.Join(out, "index.html")) {
		t.Fatalf("summary lacks the strategy or the report path:\n%s", stdout)
	}
	var rep struct {
		Scenario   string `json:"scenario"`
		Seed       int64  `json:"seed"`
		Strategies map[string]struct {
			Sent      int `json:"sent"`
			Delivered int `json:"delivered"`
		} `json:"strategies"`
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	st, ok := rep.Strategies["static"]
	if rep.Scenario != "tiny" || rep.Seed != 7 || !ok || st.Sent == 0 || st.Delivered != st.Sent {
		t.Fatalf("report: %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Fatal(err)
	}
}
