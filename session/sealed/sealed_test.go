package sealed

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"samizdat/session/curve"
)

type fixture struct {
	root, server, alice, bob curve.KeyPair
	exp                      time.Time
	cert                     *SenderCertificate
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{root: keyPair(t), server: keyPair(t), alice: keyPair(t), bob: keyPair(t), exp: time.UnixMilli(1605722925)}
	f.cert = issue(t, f.root, f.server, f.alice, 1, f.exp)
	return f
}

func (f *fixture) content(t *testing.T, typ MessageType, body []byte, hint ContentHint, group []byte) *Content {
	t.Helper()
	c, err := NewContent(typ, f.cert, body, hint, group)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sameContent(t *testing.T, got, want *Content) {
	t.Helper()
	if got.Type() != want.Type() || !bytes.Equal(got.Contents(), want.Contents()) || got.ContentHint() != want.ContentHint() ||
		!bytes.Equal(got.GroupID(), want.GroupID()) || !bytes.Equal(got.Sender().Bytes(), want.Sender().Bytes()) || !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("content differs")
	}
}

var bobLocal = Local{UUID: "796abedb-ca4e-4f18-8803-1fde5b921f9f", DeviceID: 1}

func TestV1RoundTrip(t *testing.T) {
	f := newFixture(t)
	for _, c := range []*Content{
		f.content(t, TypeWhisper, []byte("smert shpionam"), HintDefault, nil),
		f.content(t, TypePreKey, nil, HintResendable, nil),
		f.content(t, TypeSenderKey, bytes.Repeat([]byte{7}, 5000), HintImplicit, []byte{42}),
		f.content(t, TypePlaintext, []byte{1}, ContentHint(77), []byte("group")),
	} {
		ct, err := EncryptV1(rand.Reader, c, f.alice, f.bob.Public)
		if err != nil {
			t.Fatal(err)
		}
		if ct[0] != 0x11 {
			t.Fatalf("version byte %#x", ct[0])
		}
		if v, err := Version(ct); err != nil || v != 1 {
			t.Fatalf("Version = %d, %v", v, err)
		}
		got, err := Decrypt(ct, f.bob, f.root.Public, f.exp, bobLocal)
		if err != nil {
			t.Fatal(err)
		}
		sameContent(t, got, c)
		if !got.Sender().Key().Equal(f.alice.Public) {
			t.Fatal("sender key")
		}
	}
}

func TestV1Errors(t *testing.T) {
	f := newFixture(t)
	c := f.content(t, TypeWhisper, []byte("hello"), HintDefault, nil)
	ct, err := EncryptV1(rand.Reader, c, f.alice, f.bob.Public)
	if err != nil {
		t.Fatal(err)
	}
	// Every single-byte corruption is refused with a typed error.
	for i := 1; i < len(ct); i++ { // byte 0: only the major version matters
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		_, err := DecryptToContent(bad, f.bob)
		if err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalidMessage) && !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("byte %d flipped: untyped error %v", i, err)
		}
	}
	tests := []struct {
		name string
		in   []byte
		us   curve.KeyPair
		want error
	}{
		{"empty", nil, f.bob, ErrMalformed},
		{"version 3", append([]byte{0x33}, ct[1:]...), f.bob, ErrUnknownVersion},
		{"garbage", []byte{0x11, 0xff}, f.bob, ErrMalformed},
		{"truncated", ct[:len(ct)-3], f.bob, ErrMalformed},
		{"wrong recipient", ct, f.alice, ErrInvalidMessage},
	}
	for _, tt := range tests {
		if _, err := DecryptToContent(tt.in, tt.us); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// Version nibble 0 is accepted as v1, as libsignal does.
	if _, err := DecryptToContent(append([]byte{0x01}, ct[1:]...), f.bob); err != nil {
		t.Errorf("version 0: %v", err)
	}
	// A sender whose identity is not the certificate's.
	mallory := keyPair(t)
	ct2, _ := EncryptV1(rand.Reader, c, mallory, f.bob.Public)
	if _, err := DecryptToContent(ct2, f.bob); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("impersonation: err = %v", err)
	}
	// Certificate checks and self-send.
	if _, err := Decrypt(ct, f.bob, f.root.Public, f.exp.Add(time.Millisecond), bobLocal); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: err = %v", err)
	}
	if _, err := Decrypt(ct, f.bob, keyPair(t).Public, f.exp, bobLocal); !errors.Is(err, ErrUntrusted) {
		t.Errorf("untrusted: err = %v", err)
	}
	self := Local{UUID: f.cert.SenderUUID(), DeviceID: f.cert.DeviceID()}
	if _, err := Decrypt(ct, f.bob, f.root.Public, f.exp, self); !errors.Is(err, ErrSelfSend) {
		t.Errorf("self by uuid: err = %v", err)
	}
	self = Local{UUID: "other", E164: "+14152222222", DeviceID: f.cert.DeviceID()}
	if _, err := Decrypt(ct, f.bob, f.root.Public, f.exp, self); !errors.Is(err, ErrSelfSend) {
		t.Errorf("self by e164: err = %v", err)
	}
	self.DeviceID++ // another of our own devices is fine
	if _, err := Decrypt(ct, f.bob, f.root.Public, f.exp, self); err != nil {
		t.Errorf("sibling device: %v", err)
	}
}

func sid(t *testing.T, s string) ServiceID {
	t.Helper()
	id, err := ParseServiceID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestV2RoundTrip(t *testing.T) {
	f := newFixture(t)
	carol := keyPair(t)
	bobID := sid(t, "796abedb-ca4e-4f18-8803-1fde5b921f9f")
	carolID := sid(t, "PNI:aaaaaaaa-7000-11eb-b32a-33b8a8a487a6")
	excluded := sid(t, "9d0652a3-dcc3-4d11-975f-74d61598733f")
	dests := []Destination{
		{ServiceID: bobID, DeviceID: 1, RegistrationID: 0x3fff, IdentityKey: f.bob.Public},
		{ServiceID: bobID, DeviceID: 2, RegistrationID: 7, IdentityKey: f.bob.Public},
		{ServiceID: carolID, DeviceID: 127, RegistrationID: 1234, IdentityKey: carol.Public},
	}
	c := f.content(t, TypeSenderKey, []byte("group message"), HintImplicit, []byte{42})
	sent, err := EncryptV2(rand.Reader, dests, []ServiceID{excluded}, c, f.alice)
	if err != nil {
		t.Fatal(err)
	}
	if sent[0] != 0x23 {
		t.Fatalf("version byte %#x", sent[0])
	}
	m, err := ParseSentMessage(sent)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Recipients) != 3 {
		t.Fatalf("%d recipients", len(m.Recipients))
	}
	rb, _ := m.Recipient(bobID)
	if len(rb.Devices) != 2 || rb.Devices[0] != (SentDevice{1, 0x3fff}) || rb.Devices[1] != (SentDevice{2, 7}) {
		t.Fatalf("bob's devices %v", rb.Devices)
	}
	rc, _ := m.Recipient(carolID)
	if len(rc.Devices) != 1 || rc.Devices[0] != (SentDevice{127, 1234}) {
		t.Fatalf("carol's devices %v", rc.Devices)
	}
	rx, _ := m.Recipient(excluded)
	if !rx.Excluded() || m.ReceivedMessage(rx) != nil {
		t.Fatal("excluded recipient has devices")
	}
	for _, r := range []struct {
		rcpt *SentRecipient
		us   curve.KeyPair
	}{{rb, f.bob}, {rc, carol}} {
		recv := m.ReceivedMessage(r.rcpt)
		if recv[0] != 0x22 {
			t.Fatalf("received version %#x", recv[0])
		}
		if v, err := Version(recv); err != nil || v != 2 {
			t.Fatalf("Version = %d, %v", v, err)
		}
		got, err := Decrypt(recv, r.us, f.root.Public, f.exp, bobLocal)
		if err != nil {
			t.Fatal(err)
		}
		sameContent(t, got, c)
	}
	// Bob cannot open carol's copy.
	if _, err := DecryptToContent(m.ReceivedMessage(rc), f.bob); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("wrong recipient: err = %v", err)
	}
}

func TestV2Errors(t *testing.T) {
	f := newFixture(t)
	bobID := sid(t, "796abedb-ca4e-4f18-8803-1fde5b921f9f")
	c := f.content(t, TypeWhisper, []byte("hello"), HintDefault, nil)
	dest := []Destination{{ServiceID: bobID, DeviceID: 1, RegistrationID: 1, IdentityKey: f.bob.Public}}
	sent, err := EncryptV2(rand.Reader, dest, nil, c, f.alice)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseSentMessage(sent)
	if err != nil {
		t.Fatal(err)
	}
	recv := m.ReceivedMessage(&m.Recipients[0])
	for i := range recv {
		bad := bytes.Clone(recv)
		bad[i] ^= 0x01
		if i == 0 {
			bad[i] = 0x23 // still major version 2
		}
		_, err := DecryptToContent(bad, f.bob)
		if i == 0 {
			if err != nil {
				t.Fatalf("minor version: %v", err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidMessage) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("byte %d flipped: err = %v", i, err)
		}
	}
	if _, err := DecryptToContent(recv[:1+32+16+31], f.bob); !errors.Is(err, ErrMalformed) {
		t.Errorf("short: err = %v", err)
	}
	// Impersonation: the tag binds the sender's identity.
	mallory := keyPair(t)
	sent2, _ := EncryptV2(rand.Reader, dest, nil, c, mallory)
	m2, _ := ParseSentMessage(sent2)
	if _, err := DecryptToContent(m2.ReceivedMessage(&m2.Recipients[0]), f.bob); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("impersonation: err = %v", err)
	}
	for _, d := range []Destination{
		{ServiceID: bobID, DeviceID: 0, IdentityKey: f.bob.Public},
		{ServiceID: bobID, DeviceID: 128, IdentityKey: f.bob.Public},
		{ServiceID: bobID, DeviceID: 1, RegistrationID: 0x4000, IdentityKey: f.bob.Public},
	} {
		if _, err := EncryptV2(rand.Reader, []Destination{d}, nil, c, f.alice); !errors.Is(err, ErrInvalidRecipient) {
			t.Errorf("%+v: err = %v", d, err)
		}
	}
}

func TestParseSentMessage(t *testing.T) {
	f := newFixture(t)
	bobID := sid(t, "796abedb-ca4e-4f18-8803-1fde5b921f9f")
	c := f.content(t, TypeWhisper, []byte("hello"), HintDefault, nil)
	d := Destination{ServiceID: bobID, DeviceID: 1, RegistrationID: 1, IdentityKey: f.bob.Public}
	for _, tt := range []struct {
		name     string
		dests    []Destination
		excluded []ServiceID
		ok       bool
	}{
		{"excluded and included", []Destination{d}, []ServiceID{bobID}, false},
		{"excluded twice", nil, []ServiceID{bobID, bobID}, false},
		{"split devices merge", []Destination{d, {ServiceID: sid(t, "PNI:796abedb-ca4e-4f18-8803-1fde5b921f9f"), DeviceID: 1, IdentityKey: f.bob.Public}, {ServiceID: bobID, DeviceID: 3, IdentityKey: f.bob.Public}}, nil, true},
		{"nobody", nil, nil, true},
	} {
		sent, err := EncryptV2(rand.Reader, tt.dests, tt.excluded, c, f.alice)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseSentMessage(sent)
		if tt.ok != (err == nil) {
			t.Fatalf("%s: err = %v", tt.name, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: untyped error %v", tt.name, err)
		}
		if tt.name == "split devices merge" {
			r, _ := m.Recipient(bobID)
			if len(m.Recipients) != 2 || len(r.Devices) != 2 || r.Devices[1].DeviceID != 3 {
				t.Fatalf("merge: %+v", m.Recipients)
			}
		}
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"v1", []byte{0x11}, ErrUnknownVersion},
		{"no count", []byte{0x23}, ErrMalformed},
		{"truncated recipient", []byte{0x23, 1, 0}, ErrMalformed},
		{"bad kind", append(append([]byte{0x23, 1, 2}, make([]byte, 16)...), 0), ErrMalformed},
		{"device 128", append(append([]byte{0x23, 1}, make([]byte, 17)...), 128, 0, 0), ErrMalformed},
		{"no shared bytes", append(append([]byte{0x23, 1}, make([]byte, 17)...), 0), ErrMalformed},
		{"huge count", []byte{0x23, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrMalformed},
	} {
		if _, err := ParseSentMessage(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// Legacy 0x22 sent messages carry raw ACI UUIDs.
	legacy := append([]byte{0x22, 1}, bytes.Repeat([]byte{0xaa}, 16)...)
	legacy = append(legacy, 0)
	legacy = append(legacy, make([]byte, 32)...)
	m, err := ParseSentMessage(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if m.Recipients[0].ServiceID.Kind() != KindACI || m.Recipients[0].ServiceID.String() != "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa" {
		t.Fatalf("legacy recipient %v", m.Recipients[0].ServiceID)
	}
}

func TestServiceID(t *testing.T) {
	for _, s := range []string{"796abedb-ca4e-4f18-8803-1fde5b921f9f", "PNI:796abedb-ca4e-4f18-8803-1fde5b921f9f"} {
		if got := sid(t, s).String(); got != s {
			t.Errorf("%q -> %q", s, got)
		}
	}
	for _, s := range []string{"", "ACI:796abedb-ca4e-4f18-8803-1fde5b921f9f", "796abedbca4e4f1888031fde5b921f9f", "796abedb-ca4e-4f18-8803-1fde5b921f9g"} {
		if _, err := ParseServiceID(s); !errors.Is(err, ErrInvalidRecipient) {
			t.Errorf("%q: err = %v", s, err)
		}
	}
}

func TestContentHintUnknown(t *testing.T) {
	f := newFixture(t)
	for _, h := range []ContentHint{HintDefault, HintResendable, HintImplicit, 3, 1 << 31, 0xffffffff} {
		c := f.content(t, TypeSenderKey, []byte("x"), h, nil)
		p, err := ParseContent(c.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if p.ContentHint() != h {
			t.Errorf("hint %d parsed as %d", h, p.ContentHint())
		}
	}
	if _, err := NewContent(MessageType(4), f.cert, nil, 0, nil); err == nil {
		t.Error("unknown type accepted")
	}
}

func TestWrongWireType(t *testing.T) {
	f := newFixture(t)
	c := f.content(t, TypeWhisper, []byte("x"), HintDefault, nil)
	// Field 3 (content) as a varint.
	if _, err := ParseContent(append(bytes.Clone(c.Bytes()), 0x18, 0x01)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	// An out-of-range content hint is kept, not refused.
	p, err := ParseContent(append(bytes.Clone(c.Bytes()), 0x20, 0x09))
	if err != nil || p.ContentHint() != 9 {
		t.Fatalf("hint 9: %v, %v", p, err)
	}
}

func TestContentDoesNotPrintContents(t *testing.T) {
	f := newFixture(t)
	c := f.content(t, TypePlaintext, []byte("secret plaintext"), HintResendable, []byte("group"))
	got := fmt.Sprintf("%v %+v %#v %s %x %q", c, c, *c, *c, *c, *c)
	if strings.Contains(got, "secret") || strings.Contains(got, fmt.Sprintf("%x", "secret")) {
		t.Fatalf("content prints its contents: %s", got)
	}
	if want := "sealed.Content{type:8 hint:1 contents:16 bytes group:5 bytes}"; !strings.Contains(got, want) {
		t.Fatalf("printed %q, want %q", got, want)
	}
}
