package wss

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"samizdat/transport/internal/token"
)

// Keyring holds the secrets of a listener that many callers open, each
// with a secret of its own (a user's bridge: one secret per contact), so
// that one caller can be told apart, limited or dropped without touching
// the others. It is safe for concurrent use; a change applies to the next
// tunnel, not to the ones already open.
//
// A keyring made by NewDerivedKeyring holds no secrets at all: each
// tunnel's path names its caller, and a function derives the secret from
// the path.
type Keyring struct {
	path string
	// derive, if set, derives a tunnel's caller and secret from its path
	// (NewDerivedKeyring); else the keyring holds verifiers.
	derive func(path string, now time.Time) (caller string, secret []byte, ok bool)

	mu        sync.Mutex
	verifiers map[string]*token.Verifier // caller -> its secret's verifier; guarded by mu
	derived   map[string]*pathVerifier   // tunnel path -> its verifier (derived keyrings); guarded by mu
	pruned    time.Time                  // when derived was last pruned; guarded by mu
}

// pathVerifier remembers the tokens accepted on one derived path.
type pathVerifier struct {
	v    *token.Verifier
	used time.Time // the last token accepted; guarded by Keyring.mu
}

// maxDerived bounds the paths whose tokens a derived keyring remembers at
// once. Only a caller holding a path's secret adds one, and a path is
// forgotten once every token accepted on it has expired; when full, new
// paths are refused (failing closed) until some are forgotten.
const maxDerived = 1 << 14

// NewKeyring returns an empty keyring for tunnels on path.
func NewKeyring(path string) *Keyring {
	return &Keyring{path: path, verifiers: make(map[string]*token.Verifier)}
}

// NewDerivedKeyring returns a keyring that keeps no list of callers: a
// tunnel's path, below prefix (prefix + "/" + anything), names its caller,
// and secretFor derives the caller's name and secret from the path, or
// returns ok false (the request gets the decoy). A bridge run abroad
// derives each contact's secret from the label and expiry in its path, so
// that a seized machine holds no list of contacts.
//
// secretFor is called for every tunnel request under prefix before its
// token is checked, so it must be cheap, and must give the same secret for
// the same path. Tokens are still accepted once only: the keyring keeps a
// verifier per path while tokens accepted on it may be replayed.
func NewDerivedKeyring(prefix string, secretFor func(path string, now time.Time) (caller string, secret []byte, ok bool)) *Keyring {
	return &Keyring{path: prefix, derive: secretFor, derived: make(map[string]*pathVerifier)}
}

// Set gives caller the secret (replacing its previous one, whose tokens
// stop working). A derived keyring holds no secrets (ErrConfig).
func (k *Keyring) Set(caller string, secret []byte) error {
	if k.derive != nil {
		return fmt.Errorf("%w: a derived keyring holds no secrets", ErrConfig)
	}
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

// Len is how many callers hold a secret (none in a derived keyring).
func (k *Keyring) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.verifiers)
}

// verify returns the caller whose secret made tok for a tunnel on path,
// presented by src.
func (k *Keyring) verify(path, tok string, now time.Time, src token.Source) (string, bool) {
	if k.derive != nil {
		return k.verifyDerived(path, tok, now, src)
	}
	if path != k.path {
		return "", false
	}
	// Every secret is tried, so the time taken does not tell which one
	// matched.
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

// verifyDerived checks tok against the secret derived from path.
func (k *Keyring) verifyDerived(path, tok string, now time.Time, src token.Source) (string, bool) {
	if !strings.HasPrefix(path, k.path+"/") {
		return "", false
	}
	caller, secret, ok := k.derive(path, now)
	if !ok {
		return "", false
	}
	k.mu.Lock()
	pv := k.derived[path]
	k.mu.Unlock()
	if pv == nil {
		// Check the token on a verifier of its own first, so that only a
		// caller holding the path's secret makes the keyring remember
		// the path.
		v, err := token.NewVerifier(secret, path)
		if err != nil || v.Verify(tok, now, src) != nil {
			return "", false
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		k.prune(now)
		if pv = k.derived[path]; pv == nil {
			if len(k.derived) >= maxDerived {
				return "", false
			}
			k.derived[path] = &pathVerifier{v: v, used: now}
			return caller, true
		}
		// Another tunnel on the path got in first: its verifier, which
		// may hold this token already, decides.
		if pv.v.Verify(tok, now, src) != nil {
			return "", false
		}
		pv.used = now
		return caller, true
	}
	if pv.v.Verify(tok, now, src) != nil {
		return "", false
	}
	k.mu.Lock()
	pv.used = now
	k.mu.Unlock()
	return caller, true
}

// prune forgets the paths on which every accepted token has expired (a
// token accepted at t carries a time before t+Window, which expires by
// t+2·Window), at most once a Window; mu must be held.
func (k *Keyring) prune(now time.Time) {
	if now.Sub(k.pruned) < token.Window {
		return
	}
	k.pruned = now
	for p, pv := range k.derived {
		if now.Sub(pv.used) > 2*token.Window {
			delete(k.derived, p)
		}
	}
}

// CallerConn is a tunnel accepted by a listener with a Keyring: it names
// the caller whose secret opened it.
type CallerConn struct {
	net.Conn
	Caller string
}
