package interop

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// requiredEnv, when set (CI and `make interop` set it), turns a missing npm
// install into a failure instead of a skip.
const requiredEnv = "SAMIZDAT_INTEROP_REQUIRED"

var (
	casesPassed  atomic.Int64
	casesFailed  atomic.Int64
	casesSkipped atomic.Int64

	driverOnce sync.Once
	driver     *Driver
	driverErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if driver != nil {
		if err := driver.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	line := fmt.Sprintf("interop: %d passed, %d failed", casesPassed.Load(), casesFailed.Load())
	if s := casesSkipped.Load(); s > 0 {
		line += fmt.Sprintf(", %d skipped", s)
	}
	fmt.Println(line)
	os.Exit(code)
}

// interopCase marks t as one counted interop case: its outcome goes into
// the closing "interop: N passed, M failed" line.
func interopCase(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		switch {
		case t.Failed():
			casesFailed.Add(1)
		case t.Skipped():
			casesSkipped.Add(1)
		default:
			casesPassed.Add(1)
		}
	})
}

// missing fails the case because a piece of the Go library it needs has not
// landed yet; it never passes or hides silently.
func missing(t *testing.T, what string) {
	t.Helper()
	t.Fatalf("missing: %s", what)
}

// harness returns the shared harness driver, skipping (or, with
// SAMIZDAT_INTEROP_REQUIRED set, failing) when npm dependencies are absent.
func harness(t testing.TB) *Driver {
	t.Helper()
	driverOnce.Do(func() {
		const dir = "node"
		if !Installed(dir) {
			driverErr = fmt.Errorf("%w: run `cd interop/node && npm ci` (or `make interop`)", ErrNotInstalled)
			return
		}
		driver, driverErr = Start(context.Background(), dir)
		if driverErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var v struct {
				Libsignal string `json:"libsignal"`
			}
			driverErr = driver.Call(ctx, "version", nil, &v)
		}
	})
	if driverErr != nil {
		if os.Getenv(requiredEnv) == "" && !Installed("node") {
			t.Skipf("libsignal harness not installed (%v); set %s=1 to make this a failure", driverErr, requiredEnv)
		}
		t.Fatalf("libsignal harness: %v", driverErr)
	}
	return driver
}

// ctxFor gives a case a deadline well inside go test's default timeout.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// uniq makes harness party names unique within one run.
var partySeq atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, partySeq.Add(1)) }
