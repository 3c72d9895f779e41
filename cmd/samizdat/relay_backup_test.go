package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelayBackupCommands backs up a running relay, restores it elsewhere
// and checks what each command refuses, with its exit status.
func TestRelayBackupCommands(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "relay")
	_, out, stop := startRelay(t, "--data", dir, "--listen", "127.0.0.1:0")
	id := listenLine.FindStringSubmatch(out.String())[1]

	// A second relay on the same data directory is refused.
	code, _, errOut := runCLI(t, "relay", "--data", dir, "--listen", "127.0.0.1:0")
	if code != exitFailed || !strings.Contains(errOut, "a relay is running on this data directory") {
		t.Errorf("second relay on %s: exit %d, %q", dir, code, errOut)
	}

	backup := filepath.Join(tmp, "relay.backup")
	code, stdout, errOut := runCLI(t, "relay", "backup", "--data", dir, backup)
	if code != 0 || !strings.Contains(stdout, "backed up "+dir+" to "+backup) {
		t.Fatalf("backup: exit %d, %q %q", code, stdout, errOut)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v; want mode 0600", fi, err)
	}
	good, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(tmp, "bad")
	restoreTo := filepath.Join(tmp, "restored")
	for _, tt := range []struct {
		name    string
		content []byte
		args    []string
		code    int
		want    string
	}{
		{"in use", good, []string{"--data", dir, "--force"}, exitFailed, "a relay is running on this data directory"},
		{"not a backup", []byte("#!/bin/sh\necho hello\n"), []string{"--data", restoreTo}, exitFailed, "not a samizdat relay backup"},
		{"truncated", good[:len(good)/2], []string{"--data", restoreTo}, exitFailed, "the backup is truncated"},
		{"no file", nil, []string{"--data", restoreTo}, exitFailed, "no such file"},
		{"no argument", nil, []string{"--data", restoreTo, "--"}, exitUsage, "restore takes one argument"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(bad)
			if tt.content != nil {
				if err := os.WriteFile(bad, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"relay", "restore"}, tt.args...)
			if tt.code != exitUsage {
				args = append(args, bad)
			}
			code, _, errOut := runCLI(t, args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, %q; want %d saying %q", code, errOut, tt.code, tt.want)
			}
			if _, err := os.Stat(restoreTo); err == nil {
				t.Errorf("a refused restore made %s", restoreTo)
			}
		})
	}
	if code, _, errOut := runCLI(t, "relay", "backup", "--data", dir); code != exitUsage || !strings.Contains(errOut, "backup takes one argument") {
		t.Errorf("backup without OUT: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "relay", "backup", "--data", filepath.Join(tmp, "nothing"), filepath.Join(tmp, "b2")); code != exitFailed || !strings.Contains(errOut, "no relay store") {
		t.Errorf("backup of no relay: exit %d, %q", code, errOut)
	}

	code, stdout, errOut = runCLI(t, "relay", "restore", "--data", restoreTo, backup)
	if code != 0 || !strings.Contains(stdout, "restored "+backup+" into "+restoreTo) {
		t.Fatalf("restore: exit %d, %q %q", code, stdout, errOut)
	}
	if code, _, errOut := runCLI(t, "relay", "restore", "--data", restoreTo, backup); code != exitFailed || !strings.Contains(errOut, "give --force") {
		t.Errorf("restore over a relay without --force: exit %d, %q", code, errOut)
	}
	code, stdout, _ = runCLI(t, "relay", "restore", "--data", restoreTo, "--force", backup)
	if code != 0 || !strings.Contains(stdout, "moved the old data directory to "+restoreTo+".replaced-") {
		t.Errorf("restore --force: exit %d, %q", code, stdout)
	}
	if stop() != 0 {
		t.Fatal("relay exit status")
	}

	// The restored relay is the same relay: same keys, same relay ID.
	_, out2, _ := startRelay(t, "--data", restoreTo, "--listen", "127.0.0.1:0")
	if got := listenLine.FindStringSubmatch(out2.String())[1]; got != id {
		t.Errorf("restored relay is %s, want %s", got, id)
	}
}
