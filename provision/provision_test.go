package provision

import (
	"bytes"
	"crypto/rand"
	"errors"
	"regexp"
	"testing"
)

func pair(t testing.TB) (Code, *NewDevice, []byte) {
	t.Helper()
	code, err := NewCode(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n, hello, err := Start(rand.Reader, code)
	if err != nil {
		t.Fatal(err)
	}
	return code, n, hello
}

func TestCodeShape(t *testing.T) {
	code, _, _ := pair(t)
	s := code.String()
	if !regexp.MustCompile(`^[a-z0-9]{4}(-[a-z0-9]{4}){4}$`).MatchString(s) {
		t.Fatalf("code %q has the wrong shape", s)
	}
	for _, typed := range []string{s, " " + s + " ", stringsUpper(s), removeDashes(s)} {
		got, err := ParseCode(typed)
		if err != nil || got != code {
			t.Fatalf("ParseCode(%q) = %v, %v; want %v", typed, got, err, code)
		}
	}
	for _, bad := range []string{"", s[:len(s)-1], s + "a", s[:5] + "u" + s[6:], "ab€d-" + s[5:]} {
		if _, err := ParseCode(bad); !errors.Is(err, ErrBadCode) {
			t.Errorf("ParseCode(%q) = %v, want ErrBadCode", bad, err)
		}
	}
}

func stringsUpper(s string) string { return string(bytes.ToUpper([]byte(s))) }
func removeDashes(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte("-"), nil)) }

func TestExchange(t *testing.T) {
	code, n, hello := pair(t)
	a, err := Approve(rand.Reader, code, hello)
	if err != nil {
		t.Fatal(err)
	}
	first := a.Seal([]byte("identity"))
	nc, pt, err := n.Accept(first)
	if err != nil || string(pt) != "identity" {
		t.Fatalf("Accept = %q, %v", pt, err)
	}
	reply := nc.Seal([]byte("device keys"))
	if pt, err := a.Open(reply); err != nil || string(pt) != "device keys" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	// A replay, a reflection and a tampered message fail.
	if _, err := a.Open(reply); !errors.Is(err, ErrAuth) {
		t.Errorf("replay: %v", err)
	}
	m2 := a.Seal([]byte("two"))
	m3 := a.Seal([]byte("three"))
	if _, err := nc.Open(m3); !errors.Is(err, ErrAuth) {
		t.Errorf("reordered: %v", err)
	}
	bad := bytes.Clone(m2)
	bad[3] ^= 1
	if _, err := nc.Open(bad); !errors.Is(err, ErrAuth) {
		t.Errorf("tampered: %v", err)
	}
	if _, err := nc.Open(nc.Seal([]byte("x"))); !errors.Is(err, ErrAuth) {
		t.Errorf("reflected: %v", err)
	}
	if pt, err := nc.Open(m2); err != nil || string(pt) != "two" {
		t.Errorf("in order after failures: %q, %v", pt, err)
	}
}

func TestWrongCodeRefused(t *testing.T) {
	code, n, hello := pair(t)
	other, _, _ := pair(t)
	other.Rendezvous = code.Rendezvous // a third party who knows the id only
	if _, err := Approve(rand.Reader, other, hello); !errors.Is(err, ErrMismatch) {
		t.Fatalf("approve with another secret: %v", err)
	}
	// A third party that sends anyway, having made up the exchange with
	// its own guess, is refused by the new device.
	fake, _, _ := pair(t)
	fake.Rendezvous = code.Rendezvous
	_, fakeHello, err := Start(rand.Reader, fake)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Approve(rand.Reader, fake, fakeHello)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Accept(a.Seal([]byte("evil identity"))); !errors.Is(err, ErrAuth) {
		t.Fatalf("accept from a third party: %v", err)
	}
	// A relay that swaps the hello's key cannot make the tag.
	swapped := bytes.Clone(hello)
	swapped[0] ^= 1
	if _, err := Approve(rand.Reader, code, swapped); !errors.Is(err, ErrMismatch) {
		t.Fatalf("swapped key: %v", err)
	}
	for _, short := range [][]byte{nil, hello[:10], hello[:len(hello)-1]} {
		if _, err := Approve(rand.Reader, code, short); !errors.Is(err, ErrMismatch) {
			t.Fatalf("short hello: %v", err)
		}
	}
	if _, _, err := n.Accept([]byte("short")); !errors.Is(err, ErrAuth) {
		t.Fatalf("short first: %v", err)
	}
}

func FuzzParseCode(f *testing.F) {
	code, _, _ := pair(f)
	f.Add(code.String())
	f.Add("")
	f.Add("IlOo-0000-0000-0000-0000")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			return
		}
		again, err := ParseCode(c.String())
		if err != nil || again != c {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
	})
}

func FuzzAccept(f *testing.F) {
	code, n, hello := pair(f)
	a, _ := Approve(rand.Reader, code, hello)
	f.Add(a.Seal([]byte("x")))
	f.Add(hello)
	f.Fuzz(func(t *testing.T, msg []byte) {
		if _, err := Approve(rand.Reader, code, msg); err == nil && !bytes.Equal(msg, hello) {
			t.Fatal("a hello the code did not make was taken")
		}
		if _, pt, err := n.Accept(msg); err == nil && string(pt) != "x" {
			t.Fatalf("a forged first message opened: %q", pt)
		}
	})
}
