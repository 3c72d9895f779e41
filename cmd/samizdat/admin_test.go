package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var adminLine = regexp.MustCompile(`admin \(metrics, health\) on (http://\S+)\n`)

// TestRelayAdmin: `samizdat relay --admin 127.0.0.1:0` serves /metrics
// (the relay's and the store's series, the handshake of a connection
// counted under its listener's transport) and /healthz.
func TestRelayAdmin(t *testing.T) {
	addr, out, _ := startRelay(t, "--data", filepath.Join(t.TempDir(), "relay"), "--listen", "tcp://127.0.0.1:0", "--admin", "127.0.0.1:0")
	m := adminLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no admin address in %q", out.String())
	}
	base := m[1]
	// One connection that never completes a handshake.
	c, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("not noise at all, not noise at all, not noise at all, not noise at all, not noise at all"))
	io.ReadAll(c)
	c.Close()

	if got := fetch(t, base+"/healthz"); strings.TrimSpace(got) != "ok" {
		t.Fatalf("healthz: %q", got)
	}
	// The failed handshake is counted after the relay closes the
	// connection: on a busy machine the first scrape may come before it.
	failed := `samizdat_relay_handshakes_total{result="failed",transport="tcp"} 1`
	page := fetch(t, base+"/metrics")
	for deadline := time.Now().Add(time.Minute); !strings.Contains(page, failed) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		page = fetch(t, base+"/metrics")
	}
	for _, want := range []string{
		`samizdat_relay_handshakes_total{result="failed",transport="tcp"} 1`,
		"samizdat_store_commit_seconds_count",
		"samizdat_relay_mailbox_envelopes 0",
		"go_goroutines",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestRelayAdminRefusesPublicAddress: --admin off loopback is a usage
// error, found before the relay creates anything.
func TestRelayAdminRefusesPublicAddress(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	code := run(context.Background(), &env{stdout: io.Discard, stderr: io.Discard},
		[]string{"relay", "--data", dir, "--listen", "tcp://127.0.0.1:0", "--admin", "0.0.0.0:0"})
	if code != 2 {
		t.Fatalf("exit %d, want 2 (usage)", code)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused relay created its data directory: %v", err)
	}
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}
