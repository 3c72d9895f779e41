// Package username is the one rule for samizdat usernames, shared by the
// relay (which registers and looks them up) and the client (which checks a
// name before asking the relay about it): a username is 3 to 32 of a-z,
// 0-9, '_' and '.', compared after trimming spaces and lowercasing.
package username

import (
	"errors"
	"strings"
)

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
