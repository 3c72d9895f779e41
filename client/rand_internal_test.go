package client

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestConfigRandSafeForGoroutines: a caller's reader that is not safe for
// concurrent use (the lab's seeded ChaCha8) is read from several
// goroutines, as the client does; run under -race.
func TestConfigRandSafeForGoroutines(t *testing.T) {
	cfg := Config{Rand: rand.NewChaCha8([32]byte{1})}.withDefaults()
	again := cfg.withDefaults()
	if _, ok := again.Rand.(*lockedReader); !ok || again.Rand != cfg.Rand {
		t.Fatalf("withDefaults twice wraps the reader twice: %T", again.Rand)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 32)
			for range 200 {
				if _, err := cfg.Rand.Read(b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
