package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"samizdat/manifest"
)

// cohortLine finds whoami's "cohort N of M".
var cohortLine = regexp.MustCompile(`cohort (\d+) of (\d+)`)

func whoamiCohort(t *testing.T, home string) string {
	t.Helper()
	code, out, errOut := runCLI(t, "--home", home, "whoami")
	m := cohortLine.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("whoami: %d %q %s", code, out, errOut)
	}
	return m[0]
}

// TestInviteCommand: a personal invite places its holder in the inviter's
// cohort (and the invitee's invite in it too); the relay bounds how many
// an account makes; a forged token, or one from another relay, is
// refused with the reason, and nothing is registered.
func TestInviteCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "relay")
	args := []string{"--data", data, "--listen", "tcp://127.0.0.1:0?name=a"}
	const cohorts = 8
	for c := 1; c <= cohorts; c++ {
		args = append(args, "--listen", fmt.Sprintf("tcp://127.0.0.1:0?name=c%d&cohort=%d", c, c))
	}
	startRelay(t, args...)
	home := func(name string) string { return filepath.Join(dir, name) }
	initWith := func(name, invite string) (int, string) {
		code, _, errOut := runCLI(t, "--home", home(name), "init", "--invite", invite, "--name", name)
		return code, errOut
	}
	if code, errOut := initWith("alice", filepath.Join(data, "invite.txt")); code != 0 {
		t.Fatalf("alice: %s", errOut)
	}
	aliceCohort := whoamiCohort(t, home("alice"))

	// To standard output, and to a file.
	code, out, errOut := runCLI(t, "--home", home("alice"), "invite")
	if code != 0 || !strings.Contains(out, "-----BEGIN SAMIZDAT INVITE-----") {
		t.Fatalf("invite: %d %q %s", code, out, errOut)
	}
	fromAlice := filepath.Join(dir, "from-alice.txt")
	if code, out, errOut := runCLI(t, "--home", home("alice"), "invite", "--out", fromAlice); code != 0 || !strings.Contains(out, "valid until") {
		t.Fatalf("invite --out: %d %q %s", code, out, errOut)
	}
	inv, err := manifest.ReadInvite(fromAlice)
	if err != nil || len(inv.Inviter) == 0 {
		t.Fatalf("the invite has no inviter token: %v", err)
	}
	// Bob and bob's invitee are in alice's cohort, whatever their keys.
	if code, errOut := initWith("bob", fromAlice); code != 0 {
		t.Fatalf("bob: %s", errOut)
	}
	fromBob := filepath.Join(dir, "from-bob.txt")
	if code, _, errOut := runCLI(t, "--home", home("bob"), "invite", "--out", fromBob); code != 0 {
		t.Fatalf("bob's invite: %s", errOut)
	}
	if code, errOut := initWith("carol", fromBob); code != 0 {
		t.Fatalf("carol: %s", errOut)
	}
	for _, u := range []string{"bob", "carol"} {
		if got := whoamiCohort(t, home(u)); got != aliceCohort {
			t.Errorf("%s is in %s, alice in %s", u, got, aliceCohort)
		}
	}

	// Five a day: alice made two, three more, then refused.
	for i := range 3 {
		if code, _, errOut := runCLI(t, "--home", home("alice"), "invite", "--out", filepath.Join(dir, fmt.Sprintf("more-%d.txt", i))); code != 0 {
			t.Fatalf("invite %d: %s", i+3, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "--home", home("alice"), "invite"); code != 1 || !strings.Contains(errOut, "too many invites") {
		t.Fatalf("a sixth invite: %d %s", code, errOut)
	}

	// A forged token; another relay's token with this network's manifest.
	forged := inv
	forged.Inviter = append([]byte(nil), inv.Inviter...)
	forged.Inviter[len(forged.Inviter)/2] ^= 1
	forgedFile := filepath.Join(dir, "forged.txt")
	if err := manifest.WriteInvite(forgedFile, forged); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	startRelay(t, "--data", other, "--listen", "tcp://127.0.0.1:0?name=a")
	if code, errOut := initWith("olga", filepath.Join(other, "invite.txt")); code != 0 {
		t.Fatalf("olga: %s", errOut)
	}
	fromOlga := filepath.Join(dir, "from-olga.txt")
	if code, _, errOut := runCLI(t, "--home", home("olga"), "invite", "--out", fromOlga); code != 0 {
		t.Fatalf("olga's invite: %s", errOut)
	}
	olgas, err := manifest.ReadInvite(fromOlga)
	if err != nil {
		t.Fatal(err)
	}
	mixed := inv
	mixed.Inviter = olgas.Inviter
	mixedFile := filepath.Join(dir, "mixed.txt")
	if err := manifest.WriteInvite(mixedFile, mixed); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{forgedFile, mixedFile} {
		name := "dan" + strings.TrimSuffix(filepath.Base(f), ".txt")
		code, errOut := initWith(name, f)
		if code != 1 || !strings.Contains(errOut, "forged or from another relay") {
			t.Errorf("%s: %d %s", filepath.Base(f), code, errOut)
		}
		if _, err := os.Stat(filepath.Join(home(name), "client.db")); err == nil {
			if code, _, _ := runCLI(t, "--home", home(name), "whoami"); code == 0 {
				t.Errorf("%s: registered after a refusal", filepath.Base(f))
			}
		}
	}
}
