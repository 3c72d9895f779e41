package wss

import (
	"net"
	"strings"
	"sync"
	"time"

	"samizdat/transport/internal/token"
)

// Keyring opens a listener to many callers, each with a secret of its own
// (a user's bridge: one secret per contact), so that one caller can be
// told apart, limited or dropped without touching the others. It holds no
// secrets: each tunnel's path names its caller, and a function derives the
// secret from the path (NewDerivedKeyring). It is safe for concurrent use.
type Keyring struct {
	path   string                                                                   // the prefix of every tunnel's path
	derive func(path string, now time.Time) (caller string, secret []byte, ok bool) // a tunnel's caller and secret from its path

	mu      sync.Mutex
	derived map[string]*pathVerifier // tunnel path -> its verifier; guarded by mu
	pruned  time.Time                // when derived was last pruned; guarded by mu
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

// verify returns the caller whose secret, derived from path, made tok
// for a tunnel on path, presented by src.
func (k *Keyring) verify(path, tok string, now time.Time, src token.Source) (string, bool) {
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
