package natsbus_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The NATS server is for tests only: neither the bus nor the samizdat
// binary may link it, nor may the bus link client code.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, pkg := range []string{"samizdat/bus/natsbus", "samizdat/cmd/samizdat"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed only %v", pkg, deps)
		}
		for _, dep := range deps {
			if strings.HasPrefix(dep, "github.com/nats-io/nats-server") || strings.HasSuffix(dep, "/natstest") ||
				(pkg == "samizdat/bus/natsbus" && strings.HasPrefix(dep, "samizdat/client")) {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
