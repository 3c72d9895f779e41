//go:build linux

package procstat

import (
	"os"
	"testing"
	"time"
)

// TestReadSelf: the test's own process has a parent, and its CPU grows
// while it works.
func TestReadSelf(t *testing.T) {
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.PPID != os.Getppid() {
		t.Fatalf("PPID %d, want %d", s.PPID, os.Getppid())
	}
	before := CPU(os.Getpid())
	for deadline := time.Now().Add(time.Minute); CPU(os.Getpid()) == before && time.Now().Before(deadline); {
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
	}
	if CPU(os.Getpid()) <= before {
		t.Fatal("the process's CPU did not grow while it worked")
	}
	if _, err := Read(-1); err == nil {
		t.Fatal("a process that cannot exist was read")
	}
}
