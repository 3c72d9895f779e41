// Package poll waits for a condition by checking it again and again, for
// tests and tools that cannot be told when it comes true.
package poll

import "time"

// Every is how long Until sleeps between checks.
const Every = 10 * time.Millisecond

// Until checks cond until it holds, and reports whether it did before
// limit passed. It returns as soon as cond holds.
func Until(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Every)
	}
	return true
}
