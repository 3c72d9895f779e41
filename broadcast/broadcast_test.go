package broadcast

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func newTestChannel(t testing.TB) Code {
	t.Helper()
	c, err := NewChannel(TagOf(ed25519.PublicKey(bytes.Repeat([]byte{7}, 32))), "news.ru-1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCodeRoundTrip(t *testing.T) {
	admin := newTestChannel(t)
	for _, c := range []Code{admin, admin.Subscriber()} {
		s := c.String()
		if strings.ContainsAny(s, " \n+/=") {
			t.Fatalf("code %q is not one base64url word", s)
		}
		got, err := ParseCode("  " + s + "\n")
		if err != nil {
			t.Fatalf("ParseCode: %v", err)
		}
		if got.String() != s || got.Name != c.Name || got.Network != c.Network || !got.ContentKey.Equal(c.ContentKey) ||
			!bytes.Equal(got.AdminKey, c.AdminKey) || (got.Admin == nil) != (c.Admin == nil) || got.ID() != c.ID() {
			t.Fatalf("round trip changed the code")
		}
	}
	if admin.Subscriber().Admin != nil || admin.Admin == nil {
		t.Fatal("Subscriber kept the admin key, or NewChannel made none")
	}
	if strings.Contains(admin.ContentKey.String(), "0") || strings.Contains(strings.ToLower(admin.ContentKey.GoString()), "b:") {
		t.Fatalf("a content key prints: %s", admin.ContentKey.String())
	}
}

func TestCodeRefused(t *testing.T) {
	c := newTestChannel(t)
	good := c.String()
	flip := []byte(good)
	i := len(codePrefix) + 20
	if flip[i] == 'A' {
		flip[i] = 'B'
	} else {
		flip[i] = 'A'
	}
	other := c
	other.Admin, _, _ = func() (ed25519.PrivateKey, int, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, 0, err
	}()
	for name, s := range map[string]string{
		"empty":        "",
		"no prefix":    good[len(codePrefix):],
		"mistyped":     string(flip),
		"truncated":    good[:len(good)-3],
		"padding":      good + "=",
		"wrong admin":  other.String(),
		"bad name":     Code{Network: c.Network, Name: "Caps", AdminKey: c.AdminKey, ContentKey: c.ContentKey}.String(),
		"empty name":   Code{Network: c.Network, AdminKey: c.AdminKey, ContentKey: c.ContentKey}.String(),
		"not base64":   codePrefix + "!!!!",
		"another kind": codePrefix + "AwAAAAAAAAAA",
	} {
		if _, err := ParseCode(s); !errors.Is(err, ErrBadCode) {
			t.Errorf("%s: ParseCode = %v, want ErrBadCode", name, err)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"a", "news", "a.b-c_d", "0", strings.Repeat("x", 32)} {
		if !ValidName(n) {
			t.Errorf("ValidName(%q) = false", n)
		}
	}
	for _, n := range []string{"", "News", "a/b", "#news", "a b", strings.Repeat("x", 33), "é"} {
		if ValidName(n) {
			t.Errorf("ValidName(%q) = true", n)
		}
	}
}

func TestPost(t *testing.T) {
	c := newTestChannel(t)
	id := c.ID()
	var pid PostID
	rand.Read(pid[:])
	ct, err := Seal(c.ContentKey, id, pid, Body{SentAt: 1234, Text: "hello subscribers"}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("hello")) {
		t.Fatal("the ciphertext holds the text")
	}
	if (len(ct)-24-16)%padBlock != 0 {
		t.Fatalf("ciphertext of %d bytes is not padded", len(ct))
	}
	sig := SignPost(c.Admin, id, pid, ct)
	if !VerifyPost(c.AdminKey, id, pid, ct, sig) {
		t.Fatal("VerifyPost refused the admin's post")
	}
	b, err := Open(c.ContentKey, id, pid, ct)
	if err != nil || b.Text != "hello subscribers" || b.SentAt != 1234 {
		t.Fatalf("Open = %+v, %v", b, err)
	}
	// Another channel's key, another post id, a changed byte: refused.
	other := newTestChannel(t)
	if VerifyPost(other.AdminKey, id, pid, ct, sig) || VerifyPost(c.AdminKey, id, PostID{1}, ct, sig) {
		t.Fatal("VerifyPost accepted a post under another key or id")
	}
	if _, err := Open(other.ContentKey, id, pid, ct); !errors.Is(err, ErrBadPost) {
		t.Fatalf("Open with another key: %v", err)
	}
	if _, err := Open(c.ContentKey, id, PostID{1}, ct); !errors.Is(err, ErrBadPost) {
		t.Fatalf("Open moved to another post id: %v", err)
	}
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 1
	if _, err := Open(c.ContentKey, id, pid, bad); !errors.Is(err, ErrBadPost) {
		t.Fatalf("Open of a changed ciphertext: %v", err)
	}
	if _, err := Seal(c.ContentKey, id, pid, Body{Text: strings.Repeat("x", MaxText+1)}, rand.Reader); err == nil {
		t.Fatal("Seal took a text over MaxText")
	}
	big, err := Seal(c.ContentKey, id, pid, Body{Text: strings.Repeat("x", MaxText)}, rand.Reader)
	if err != nil || len(big) > MaxCiphertext {
		t.Fatalf("the largest post: %d bytes (max %d), %v", len(big), MaxCiphertext, err)
	}
}

func TestTokenAndCreate(t *testing.T) {
	c := newTestChannel(t)
	tok := ReadToken(c.ContentKey, c.ID())
	h := TokenHash(tok)
	if !CheckToken(tok, h) || CheckToken(ReadToken(newTestChannel(t).ContentKey, c.ID()), h) {
		t.Fatal("CheckToken")
	}
	sig := SignCreate(c.Admin, h)
	if !VerifyCreate(c.AdminKey, h, sig) || VerifyCreate(c.AdminKey, [32]byte{}, sig) || VerifyCreate(newTestChannel(t).AdminKey, h, sig) {
		t.Fatal("VerifyCreate")
	}
}

func TestParseBody(t *testing.T) {
	good, err := encodeBody(Body{SentAt: 5, Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := ParseBody(good); err != nil || b.Text != "hi" {
		t.Fatalf("ParseBody(good) = %+v, %v", b, err)
	}
	long := append(bytes.Clone(good), make([]byte, padBlock)...)
	nonzero := bytes.Clone(good)
	nonzero[len(nonzero)-1] = 1
	over := bytes.Clone(good)
	over[12] = 200
	version := bytes.Clone(good)
	version[0] = 2
	for name, p := range map[string][]byte{"empty": nil, "short": good[:10], "unpadded": good[:bodyHeader+2], "extra block": long,
		"nonzero padding": nonzero, "length past the end": over, "version": version} {
		if _, err := ParseBody(p); !errors.Is(err, ErrBadPost) {
			t.Errorf("%s: ParseBody = %v", name, err)
		}
	}
}
