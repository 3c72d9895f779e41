package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samizdat/manifest"
)

func runCLIIn(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), &env{stdin: bytes.NewReader(stdin), stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

const testSource = `# the test network
{
  "network": "example.net",   // the name
  "issued": "2026-11-27T11:00:00Z",
  "ttl": "30d",
  "cohorts": 2,
  "trust_root": "05%s",
  "relays": [{
    "id": "relay-1",
    "noise_key": "%s",
    "endpoints": [
      {"transport": "tcp", "address": "127.0.0.1:7443"},
      {"transport": "wss", "address": "127.0.0.1:8443", "sni": "www.example.org", "host": "www.example.org",
       "path": "/chat#not-a-comment", "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "tls_pin": "%s", "cohort": 2}
    ]
  }],
  "channels": [
    {"kind": "https", "url": "https://mirror.example/m.bin"},
    {"kind": "doh", "url": "https://dns.example/dns-query", "name": "m.example.net"},
    {"kind": "front", "address": "cdn.example:443", "sni": "cdn.example", "host": "mirror.example", "path": "/m.bin"}
  ]
}
`

func TestManifestCLI(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "net.key")
	src := filepath.Join(dir, "m.json")
	blob := filepath.Join(dir, "m.bin")
	now := "2026-11-27T12:00:00Z"
	os.WriteFile(src, []byte(fmt.Sprintf(testSource, strings.Repeat("ab", 32), strings.Repeat("01", 32), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))), 0o644)

	code, out, errOut := runCLI(t, "manifest", "keygen", "--out", key)
	if code != 0 || !strings.Contains(out, "network public key: ") {
		t.Fatalf("keygen: %d %s %s", code, out, errOut)
	}
	pub := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "network public key: "))
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if code, _, errOut := runCLI(t, "manifest", "keygen", "--out", key); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("keygen over a key: %d %s", code, errOut)
	}

	// No serial, nothing to count from.
	if code, _, errOut := runCLI(t, "manifest", "sign", "--key", key, "--in", src, "--out", blob, "--now", now); code != 2 || !strings.Contains(errOut, "no serial") {
		t.Fatalf("sign without serial: %d %s", code, errOut)
	}
	invite := filepath.Join(dir, "invite.txt")
	if code, out, errOut := runCLI(t, "manifest", "sign", "--key", key, "--in", src, "--out", blob, "--serial", "41", "--now", now, "--invite-out", invite); code != 0 || !strings.Contains(out, "serial 41") {
		t.Fatalf("sign: %d %s %s", code, out, errOut)
	}
	// Auto-increment from --previous, and refuse a rollback.
	blob2 := filepath.Join(dir, "m2.bin")
	if code, out, errOut := runCLI(t, "manifest", "sign", "--key", key, "--in", src, "--out", blob2, "--previous", blob, "--now", now); code != 0 || !strings.Contains(out, "serial 42") {
		t.Fatalf("sign --previous: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "manifest", "sign", "--key", key, "--in", src, "--out", filepath.Join(dir, "x"), "--previous", blob2, "--serial", "41", "--now", now); code != 1 || !strings.Contains(errOut, "serial 41 is not newer than 42") {
		t.Fatalf("sign rollback: %d %s", code, errOut)
	}

	// verify: with the public key as text, as the .pub file, or the invite.
	for _, k := range []string{pub, key + ".pub", invite} {
		code, out, errOut := runCLI(t, "manifest", "verify", "--network-key", k, "--network", "example.net", "--now", now, blob2)
		if code != 0 || !strings.Contains(out, "ok: example.net serial 42") {
			t.Fatalf("verify with %s: %d %s %s", k, code, out, errOut)
		}
	}
	other := filepath.Join(dir, "other.key")
	runCLI(t, "manifest", "keygen", "--out", other)
	fails := []struct {
		args []string
		want string
	}{
		{[]string{"--network-key", other + ".pub", "--now", now, blob2}, "bad signature"},
		{[]string{"--network-key", pub, "--now", "2027-06-01T00:00:00Z", blob2}, "expired"},
		{[]string{"--network-key", pub, "--network", "example.org", "--now", now, blob2}, `manifest is for "example.net", want "example.org"`},
		{[]string{"--network-key", pub, "--now", now, src}, "not an invite or a manifest"},
		{[]string{"--network-key", "nonsense", blob2}, "network key"},
	}
	for _, f := range fails {
		code, _, errOut := runCLI(t, append([]string{"manifest", "verify"}, f.args...)...)
		if code != 1 || !strings.Contains(errOut, f.want) {
			t.Errorf("verify %v: %d %s, want %q", f.args, code, errOut, f.want)
		}
	}

	// show: human-readable, secrets hidden; from a blob (piped, in base64)
	// or from the invite.
	b, _ := os.ReadFile(blob2)
	code, out, errOut = runCLIIn(t, []byte(base64.StdEncoding.EncodeToString(b)), "manifest", "show", "--network-key", pub, "-")
	if code != 0 {
		t.Fatalf("show: %d %s", code, errOut)
	}
	for _, want := range []string{"serial      42", "signature   good", "cohorts     2", "wss    127.0.0.1:8443 sni=www.example.org", "path=/chat#not-a-comment", "secret=(20 bytes, hidden)", "cohort=2", "doh    url=https://dns.example/dns-query name=m.example.net", "front  address=cdn.example:443 sni=cdn.example host=mirror.example path=/m.bin"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-secret") || strings.Contains(out, "c2VjcmV0") || strings.Contains(out, "7365637265742d") {
		t.Fatalf("show printed a secret:\n%s", out)
	}
	if code, out, _ := runCLI(t, "manifest", "show", blob2); code != 0 || !strings.Contains(out, "NOT CHECKED") {
		t.Fatalf("show without key: %d %s", code, out)
	}
	if code, out, _ := runCLI(t, "manifest", "show", invite); code != 0 || !strings.Contains(out, "named by the invite") || !strings.Contains(out, "serial      41") {
		t.Fatalf("show invite: %d %s", code, out)
	}
	if code, _, errOut := runCLI(t, "manifest", "show", "--network-key", other+".pub", blob2); code != 1 || !strings.Contains(errOut, "bad signature") {
		t.Fatalf("show with another key: %d %s", code, errOut)
	}

	// The blob is what clients accept.
	inv, err := manifest.ReadInvite(invite)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Verify(b, inv.NetworkKey, time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	if err != nil || m.Serial != 42 || len(m.Channels) != 3 || string(m.Relays[0].Endpoints[1].Secret) != "secret-secret-secret" {
		t.Fatalf("verify: %v %v", m, err)
	}
}

func TestManifestCLIUsage(t *testing.T) {
	for _, args := range [][]string{
		{"manifest"}, {"manifest", "frob"}, {"manifest", "keygen"}, {"manifest", "sign", "--key", "k"},
		{"manifest", "verify", "x"}, {"manifest", "show"},
	} {
		if code, _, errOut := runCLI(t, args...); code != 2 || !strings.Contains(errOut, "usage: samizdat manifest") {
			t.Errorf("%v: %d %s", args, code, errOut)
		}
	}
}

func TestStripComments(t *testing.T) {
	in := "# top\n{\"a\": \"x // y # z\", // c\n\"b\": \"q\\\"#\" # d\n}"
	want := "\n{\"a\": \"x // y # z\", \n\"b\": \"q\\\"#\" \n}"
	if got := string(stripComments([]byte(in))); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
