package main

import (
	"strings"
	"testing"
)

// TestBenchNodesFlags: the nodes scenario refuses what it cannot run with a
// usage error, before starting anything.
func TestBenchNodesFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "1,2"}, "--nodes needs a PostgreSQL server"},
		{[]string{"--nodes", "1,x", "--store", "postgres://u@127.0.0.1:1/db"}, "node counts"},
		{[]string{"--nodes", "0", "--store", "postgres://u@127.0.0.1:1/db"}, "node counts"},
		{[]string{"--nodes", "1", "--store", "postgres://u@127.0.0.1:1/db", "--nats", "nats://127.0.0.1:1", "--nats-server", "/bin/true"}, "give one"},
	} {
		code, _, errOut := runCLI(t, append([]string{"bench"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d: %s", tc.args, code, errOut)
		}
	}
}
