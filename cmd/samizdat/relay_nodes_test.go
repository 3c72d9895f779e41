package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRelayNodesShareKeys starts two relay nodes (SQLite, so no bus) with
// one keys file and each other as --peer: they have the same relay id and
// keys, and each node's manifest lists both nodes' endpoints.
func TestRelayNodesShareKeys(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "relay-keys.json")
	addr1, out1, _ := startRelay(t, "--data", filepath.Join(dir, "n1"), "--keys", keys, "--listen", "127.0.0.1:0",
		"--peer", "tcp://192.0.2.2:7002", "--delivery-poll", "2s")
	addr2, out2, _ := startRelay(t, "--data", filepath.Join(dir, "n2"), "--keys", keys, "--listen", "127.0.0.1:0",
		"--peer", "tcp://"+addr1)
	if !strings.Contains(out1.String(), "created relay keys in "+keys) || strings.Contains(out2.String(), "created relay keys") {
		t.Fatalf("outputs:\n%s\n%s", out1.String(), out2.String())
	}
	id1 := listenLine.FindStringSubmatch(out1.String())[1]
	id2 := listenLine.FindStringSubmatch(out2.String())[1]
	if id1 != id2 {
		t.Errorf("relay ids %s and %s differ", id1, id2)
	}
	m1 := inviteManifest(t, filepath.Join(dir, "n1", "invite.txt"))
	m2 := inviteManifest(t, filepath.Join(dir, "n2", "invite.txt"))
	if m1.Relays[0].NoiseKey != m2.Relays[0].NoiseKey || string(m1.TrustRoot) != string(m2.TrustRoot) {
		t.Error("the nodes' manifests name different keys")
	}
	addrs := func(i int, want ...string) {
		t.Helper()
		mf := m1
		if i == 2 {
			mf = m2
		}
		var got []string
		for _, e := range mf.Relays[0].Endpoints {
			got = append(got, e.Address)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("node %d's manifest lists %v, want %v", i, got, want)
		}
	}
	addrs(1, addr1, "192.0.2.2:7002")
	addrs(2, addr2, addr1)
}

func TestRelayNodeFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats", "nats://127.0.0.1:4222"}, "--nats needs a database"},
		{[]string{"--store", "mysql://user:secretpw@db/x"}, "postgres://"},
		{[]string{"--peer", "udp://1.2.3.4:5"}, "--peer"},
		{[]string{"--delivery-poll", "-1s"}, "--delivery-poll"},
	} {
		code, _, errOut := runCLI(t, append([]string{"relay", "--data", filepath.Join(dir, "x"), "--listen", "127.0.0.1:0"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d: %s", tc.args, code, errOut)
		}
		if strings.Contains(errOut, "secretpw") {
			t.Errorf("%v: the error shows the password: %s", tc.args, errOut)
		}
	}
}
