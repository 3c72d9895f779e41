// Package username is the one rule for samizdat usernames, shared by the
// relay (which registers and looks them up) and the client (which checks a
// name before asking the relay about it): a username is 3 to 32 of a-z,
// 0-9, '_' and '.', compared after trimming spaces and lowercasing. It
// also holds the rule for local names, the names a home gives its groups
// and channels in the one namespace they share with its contacts: 1 to 32
// of a-z, 0-9, '_', '.' and '-'.
package username

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLocal is the longest local name (a group's or a channel's), in bytes.
const MaxLocal = 32

// CheckLocal returns nil if name is a local name, else an error saying
// why, naming what kind of name it is ("group", "channel").
func CheckLocal(kind, name string) error {
	if len(name) == 0 || len(name) > MaxLocal {
		return fmt.Errorf("a %s name has 1 to %d characters", kind, MaxLocal)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
		default:
			return fmt.Errorf("a %s name has only a-z, 0-9, '_', '.' and '-', not %q", kind, r)
		}
	}
	return nil
}

// ErrInvalid means a name breaks the rule (Rule says it in words).
var ErrInvalid = errors.New("username must be 3-32 of a-z 0-9 _ .")

// Rule is the rule in words, for peers and users.
const Rule = "username must be 3-32 of a-z 0-9 _ ."

// Canonical trims and lowercases name without checking it: the form a name
// is stored and shown in.
func Canonical(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// Normalize returns name in canonical form, or ErrInvalid if it breaks the
// rule.
func Normalize(name string) (string, error) {
	name = Canonical(name)
	if len(name) < 3 || len(name) > 32 {
		return "", ErrInvalid
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '.') {
			return "", ErrInvalid
		}
	}
	return name, nil
}
