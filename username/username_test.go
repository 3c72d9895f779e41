package username_test

import (
	"errors"
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
