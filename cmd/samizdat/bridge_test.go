package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestReachability: an address contacts elsewhere cannot dial is named as
// such, with the way out; a public address or a name is not.
func TestReachability(t *testing.T) {
	for _, tc := range []struct {
		addr, want string
	}{
		{"127.0.0.1:7700", "loopback"},
		{"[::1]:7700", "loopback"},
		{"192.168.1.20:7700", "private address (behind NAT)"},
		{"10.1.2.3:443", "private address (behind NAT)"},
		{"172.16.0.9:443", "private address (behind NAT)"},
		{"[fd00::1]:443", "private address (behind NAT)"},
		{"100.64.12.1:443", "carrier-grade NAT"},
		{"203.0.113.7:443", ""},
		{"bridge.example.org:443", ""},
	} {
		got := reachability(tc.addr, "FIX")
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%s: %q, want no warning", tc.addr, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%s: %q, want %q", tc.addr, got, tc.want)
		case strings.Contains(tc.want, "NAT") && !strings.Contains(got, portForwarding):
			t.Errorf("%s: %q does not point to the port-forwarding section", tc.addr, got)
		}
	}
	if w := reachabilityWarnings([]string{"127.0.0.1:1", "127.0.0.1:1", "203.0.113.7:443"}, "FIX"); len(w) != 1 {
		t.Errorf("warnings %q, want one", w)
	}
}

// TestBridgeFlags: the bridge's commands refuse what does not fit, with
// the reason, before anything runs.
func TestBridgeFlags(t *testing.T) {
	cred := filepath.Join(t.TempDir(), "missing.cred")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bridge", "credential", "--out", "x.cred"}, exitUsage, "--out and --address are required"},
		{[]string{"bridge", "credential", "--out", "x.cred", "--address", "0.0.0.0:443"}, exitUsage, "names no address"},
		{[]string{"bridge", "credential", "--out", "x.cred", "--address", "[::]:443"}, exitUsage, "names no address"},
		{[]string{"bridge", "--listen", "[::]:8443"}, exitUsage, "names no address contacts can dial"},
		{[]string{"bridge", "credential", "--out", "x.cred", "--address", "host:0"}, exitUsage, "no valid port"},
		{[]string{"bridge", "--credential", cred, "--listen", "127.0.0.1:0", "--announce", "203.0.113.7:443"}, exitUsage, "--announce is for a bridge on your home"},
		{[]string{"bridge", "--credential", cred}, exitUsage, "need --listen"},
		{[]string{"bridge", "--credential", cred, "--listen", "127.0.0.1:0"}, exitFailed, "read credential"},
		{[]string{"bridge", "--listen", "127.0.0.1:0", "--state", "dir"}, exitUsage, "--state goes with --credential"},
		{[]string{"bridge", "forget"}, exitUsage, "need one ID or ADDRESS"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestBridgeSubcommandsForward: what changes the bridges a home offers
// runs inside the command that owns the home; running a bridge does not.
func TestBridgeSubcommandsForward(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"credential", "--out", "f"}, true},
		{[]string{"list"}, true},
		{[]string{"forget", "ab12"}, true},
		{[]string{"--listen", "127.0.0.1:1"}, false},
		{nil, false},
	} {
		if got := isForwardable("bridge", tc.args); got != tc.want {
			t.Errorf("bridge %v: forwardable %v", tc.args, got)
		}
	}
}
