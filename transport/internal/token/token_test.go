package token

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	v, err := NewVerifier(secret, "/t")
	if err != nil {
		t.Fatal(err)
	}
	good, err := New(secret, "/t", now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(good) != Len {
		t.Fatalf("len %d, want %d", len(good), Len)
	}
	otherPath, _ := New(secret, "/u", now, rand.Reader)
	otherSecret, _ := New([]byte("fedcba9876543210"), "/t", now, rand.Reader)
	old, _ := New(secret, "/t", now.Add(-Window-time.Second), rand.Reader)
	future, _ := New(secret, "/t", now.Add(Window+time.Second), rand.Reader)
	edge, _ := New(secret, "/t", now.Add(-Window), rand.Reader)
	flipped := []byte(good)
	flipped[Len-1] ^= 1
	for _, tc := range []struct {
		name string
		tok  string
		want error
	}{
		{"good", good, nil},
		{"replayed", good, ErrReplayed},
		{"edge of window", edge, nil},
		{"other path", otherPath, ErrBadTag},
		{"other secret", otherSecret, ErrBadTag},
		{"old", old, ErrExpired},
		{"future", future, ErrExpired},
		{"empty", "", ErrMalformed},
		{"short", good[:Len-1], ErrMalformed},
		{"not base64", string(bytes.Repeat([]byte("!"), Len)), ErrMalformed},
		{"flipped", string(flipped), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(tc.tok, now, Source{Key: "192.0.2.1"})
			if tc.name == "flipped" {
				// the last character carries padding bits or tag bits;
				// either way it must be rejected
				if err == nil {
					t.Fatal("accepted a flipped token")
				}
				return
			}
			if !errors.Is(err, tc.want) && err != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNoSecret(t *testing.T) {
	if _, err := NewVerifier(nil, "/"); !errors.Is(err, ErrNoSecret) {
		t.Fatal(err)
	}
	if _, err := New(nil, "/", time.Now(), rand.Reader); !errors.Is(err, ErrNoSecret) {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	tok, _ := New([]byte("k"), "/", time.Unix(1, 0), bytes.NewReader(make([]byte, 16)))
	f.Add(tok)
	f.Add("")
	f.Add("AAAA")
	v, _ := NewVerifier([]byte("k"), "/")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("round trip: %q -> %q", s, p.String())
		}
		if v.Verify(s, time.Unix(1, 0), Source{}) == nil && s != tok {
			t.Fatalf("forged token accepted: %q", s)
		}
	})
}
