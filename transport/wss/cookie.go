package wss

import (
	"crypto/rand"
	"fmt"
	"time"

	"samizdat/transport/internal/token"
)

// Cookie returns the Cookie header with which Dial presents a fresh token
// for secret and path, made at now: for tools that speak to an endpoint
// by hand, such as a load generator that replays tokens to show they open
// nothing twice.
func Cookie(secret []byte, path string, now time.Time) (string, error) {
	tok, err := token.New(secret, path, now, rand.Reader)
	if err != nil {
		return "", fmt.Errorf("wss: %w", err)
	}
	return cookieName + "=" + tok, nil
}
