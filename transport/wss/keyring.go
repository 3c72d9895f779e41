package wss

import (
	"fmt"
	"net"
	"sync"
	"time"

	"samizdat/transport/internal/token"
)

// Keyring holds the secrets of a listener that many callers open, each
// with a secret of its own (a user's bridge: one secret per contact), so
// that one caller can be told apart, limited or dropped without touching
// the others. It is safe for concurrent use; a change applies to the next
// tunnel, not to the ones already open.
type Keyring struct {
	path string

	mu        sync.Mutex
	verifiers map[string]*token.Verifier // caller -> its secret's verifier; guarded by mu
}

// NewKeyring returns an empty keyring for tunnels on path.
func NewKeyring(path string) *Keyring {
	return &Keyring{path: path, verifiers: make(map[string]*token.Verifier)}
}

// Set gives caller the secret (replacing its previous one, whose tokens
// stop working).
func (k *Keyring) Set(caller string, secret []byte) error {
	v, err := token.NewVerifier(secret, k.path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	k.mu.Lock()
	k.verifiers[caller] = v
	k.mu.Unlock()
	return nil
}

// Remove takes caller's secret out: its tokens stop working.
func (k *Keyring) Remove(caller string) {
	k.mu.Lock()
	delete(k.verifiers, caller)
	k.mu.Unlock()
}

// Len is how many callers hold a secret.
func (k *Keyring) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.verifiers)
}

// verify returns the caller whose secret made tok. Every secret is tried,
// so the time taken does not tell which one matched.
func (k *Keyring) verify(tok string, now time.Time, src token.Source) (string, bool) {
	k.mu.Lock()
	vs := make(map[string]*token.Verifier, len(k.verifiers))
	for c, v := range k.verifiers {
		vs[c] = v
	}
	k.mu.Unlock()
	caller, ok := "", false
	for c, v := range vs {
		if v.Verify(tok, now, src) == nil {
			caller, ok = c, true
		}
	}
	return caller, ok
}

// CallerConn is a tunnel accepted by a listener with a Keyring: it names
// the caller whose secret opened it.
type CallerConn struct {
	net.Conn
	Caller string
}
