package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeConfig writes a config file and returns its path.
func writeConfig(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRelayConfigFlags starts a relay whose flags come from the config
// file, one of them overridden on the command line, and has SIGHUP say
// what it did not reload.
func TestRelayConfigFlags(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "relay")
	other := filepath.Join(tmp, "other-invite.txt")
	cfg := filepath.Join(tmp, "relay.json")
	writeConfig(t, cfg, `{"network": "filenet", "relay": {
		"data": "`+dir+`", "listen": ["tcp://127.0.0.1:0"], "invite_out": "`+filepath.Join(tmp, "file-invite.txt")+`",
		"delivery_poll": 5, "verbose": true}}`)
	_, out, _ := startRelay(t, "--config", cfg, "--invite-out", other)
	if !strings.Contains(out.String(), "invite written to "+other) {
		t.Fatalf("the command line's --invite-out did not win: %s", out.String())
	}
	if m := inviteManifest(t, other); m.Network != "filenet" {
		t.Errorf("network %q, want the file's", m.Network)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys.json")); err != nil {
		t.Errorf("the relay did not use the file's data directory: %v", err)
	}

	writeConfig(t, cfg, `{"network": "othernet", "relay": {
		"data": "`+dir+`", "listen": ["tcp://127.0.0.1:0"], "invite_out": "`+filepath.Join(tmp, "file-invite.txt")+`",
		"delivery_poll": "10s", "verbose": true},
		"endpoints": [{"name": "y", "transport": "tcp", "listen": "127.0.0.1:0"}]}`)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "reloaded: 2 endpoints") ||
		!strings.Contains(out.String(), "not reloaded (restart the relay to apply): network, relay.delivery_poll\n") {
		t.Errorf("after SIGHUP: %s", out.String())
	}
}

// TestRelayCheck validates configs without starting a relay.
func TestRelayCheck(t *testing.T) {
	tmp := t.TempDir()
	for _, tt := range []struct {
		name, config string
		args         []string
		code         int
		want         string
	}{
		{"good", `{"relay": {"listen": ["tcp://127.0.0.1:7001", "wss://127.0.0.1:7443?sni=www.example.org"], "admin": "127.0.0.1:9464"}}`, nil, 0, "ok: network samizdat, 2 endpoints"},
		{"endpoints", `{"network": "n", "endpoints": [{"transport": "tcp", "listen": "127.0.0.1:7001"}]}`, nil, 0, "ok: network n, 1 endpoints"},
		{"flag overrides", `{"relay": {"admin": "192.0.2.1:9464", "listen": ["tcp://127.0.0.1:7001"]}}`, []string{"--admin", "127.0.0.1:9"}, 0, "ok:"},
		{"unknown setting", `{"relay": {"listen_on": "x"}}`, nil, 1, `relay.listen_on: no such relay flag`},
		{"bad listen", `{"relay": {"listen": ["garbage://x"]}}`, nil, 1, "--listen garbage://x"},
		{"list for one", `{"relay": {"store": ["a", "b"]}}`, nil, 1, "relay.store: takes one value, not a list"},
		{"bad duration", `{"relay": {"delivery_poll": "soon"}}`, nil, 1, `relay.delivery_poll: invalid value "soon"`},
		{"public admin", `{"relay": {"admin": "192.0.2.1:9464", "listen": ["tcp://127.0.0.1:7001"]}}`, nil, 2, "not a loopback address"},
		{"s3 blobs", `{"relay": {"listen": ["tcp://127.0.0.1:7001"], "blobs": "s3+http://key:secret@127.0.0.1:9/bucket/relay1"}}`, nil, 0, "attachments in S3 at 127.0.0.1:9/bucket/relay1, data"},
		{"bad blobs", `{"relay": {"listen": ["tcp://127.0.0.1:7001"], "blobs": "/var/blobs"}}`, nil, 1, "--blobs: scheme"},
		{"nats alone", `{"relay": {"nats": "nats://127.0.0.1:4222", "listen": ["tcp://127.0.0.1:7001"]}}`, nil, 1, "--nats needs a database"},
		{"network inside", `{"relay": {"network": "x"}}`, nil, 1, "network and manifest_ttl go at the top"},
		{"not json", `{"relay": `, nil, 1, "the config file is not valid"},
		{"bad endpoint", `{"endpoints": [{"transport": "udp", "listen": "127.0.0.1:1"}]}`, nil, 1, `unknown transport "udp"`},
		{"relay not object", `{"relay": [1]}`, nil, 1, `"relay" must be an object`},
		{"nothing to listen on", `{}`, nil, 1, "no endpoint to listen on"},
		{"acme without email", `{"relay": {"listen": ["tcp://127.0.0.1:7001"], "acme_http": "127.0.0.1:80"}}`, nil, 2, "need --acme-email"},
		{"acme", `{"relay": {"listen": ["wss://127.0.0.1:443?sni=relay.example.org"], "acme_email": "ops@example.org", "acme_http": "0.0.0.0:80"}}`, nil, 0, "ok:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, filepath.Join(tmp, strings.ReplaceAll(tt.name, " ", "-")+".json"), tt.config)
			code, out, errOut := runCLI(t, append([]string{"relay", "check", "--config", cfg}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d, %q %q; want %d saying %q", code, out, errOut, tt.code, tt.want)
			}
		})
	}
	if code, _, errOut := runCLI(t, "relay", "check", "--config", filepath.Join(tmp, "none.json")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
}

// TestRelaySubcommandHelp asks the relay's operator subcommands for help.
func TestRelaySubcommandHelp(t *testing.T) {
	for _, sub := range []string{"check", "backup", "restore"} {
		for _, form := range [][]string{{"help", "relay", sub}, {"relay", sub, "--help"}, {"relay", sub, "-h"}} {
			code, out, errOut := runCLI(t, form...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: samizdat relay "+sub) {
				t.Errorf("%v: exit %d, %q %q", form, code, out, errOut)
			}
		}
	}
}
