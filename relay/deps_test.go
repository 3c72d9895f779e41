package relay_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The relay must not link client key storage or the session library's
// stateful parts: it has no business holding a client's secrets.
func TestRelayDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "samizdat/relay").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(dep, "samizdat/client"),
			dep == "samizdat/session",
			strings.HasPrefix(dep, "samizdat/session/spqr"),
			strings.HasPrefix(dep, "samizdat/session/senderkey"),
			strings.HasPrefix(dep, "samizdat/session/sealed/sealedsession"),
			strings.HasPrefix(dep, "samizdat/store/"):
			t.Errorf("relay links %s", dep)
		}
	}
}
