package username_test

import (
	"errors"
	"strings"
	"testing"

	"samizdat/username"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"alice", "alice", true},
		{" Alice ", "alice", true},
		{"a.b_9", "a.b_9", true},
		{"ab", "", false},
		{"", "", false},
		{"  ab  ", "", false},
		{"abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345", true},
		{"abcdefghijklmnopqrstuvwxyz0123456", "", false},
		{"al ice", "", false},
		{"alice-", "", false},
		{"ålice", "", false},
	} {
		got, err := username.Normalize(tc.in)
		if got != tc.want || (err == nil) != tc.ok || (err != nil && !errors.Is(err, username.ErrInvalid)) {
			t.Errorf("Normalize(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCheckLocal(t *testing.T) {
	for _, name := range []string{"a", "news", "my-group_2.0", "abcdefghijklmnopqrstuvwxyz012345"} {
		if err := username.CheckLocal("group", name); err != nil {
			t.Errorf("CheckLocal(%q) = %v, want nil", name, err)
		}
	}
	for name, want := range map[string]string{
		"":                                  "a group name has 1 to 32 characters",
		"abcdefghijklmnopqrstuvwxyz0123456": "a group name has 1 to 32 characters",
		"News":                              `a group name has only a-z, 0-9, '_', '.' and '-', not 'N'`,
		"a/b":                               `not '/'`,
		"#x":                                `not '#'`,
		"a b":                               `not ' '`,
	} {
		if err := username.CheckLocal("group", name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckLocal(%q) = %v, want an error containing %q", name, err, want)
		}
	}
}
