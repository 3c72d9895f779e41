package manifest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/manifest/internal/manifestpb"
)

var (
	testSeed  = bytes.Repeat([]byte{7}, ed25519.SeedSize)
	testKey   = ed25519.NewKeyFromSeed(testSeed)
	testPub   = testKey.Public().(ed25519.PublicKey)
	otherKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
	testNow   = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	trustRoot = append([]byte{5}, bytes.Repeat([]byte{3}, 32)...)
)

func testManifest() *Manifest {
	return &Manifest{
		Network: "example.net",
		Serial:  1,
		Issued:  testNow.Add(-time.Hour),
		Expires: testNow.Add(30 * 24 * time.Hour),
		Relays: []Relay{{
			ID:        "relay-1",
			NoiseKey:  [32]byte{1, 2, 3},
			Endpoints: []Endpoint{{Transport: "tcp", Address: "127.0.0.1:7443"}, {Transport: "tcp", Address: "[::1]:7443"}},
		}},
		TrustRoot: trustRoot,
	}
}

func TestSignVerify(t *testing.T) {
	m := testManifest()
	blob, err := Sign(m, testKey)
	if err != nil {
		t.Fatal(err)
	}
	blob2, _ := Sign(m, testKey)
	if !bytes.Equal(blob, blob2) {
		t.Fatal("signing is not deterministic")
	}
	got, err := Verify(blob, testPub, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v\nwant %+v", got, m)
	}
	if r, ok := got.Relay("relay-1"); !ok || r.NoiseKey != m.Relays[0].NoiseKey {
		t.Fatal("Relay lookup failed")
	}
	if _, ok := got.Relay("nope"); ok {
		t.Fatal("Relay found a missing id")
	}
	if s := got.String(); !strings.Contains(s, "tcp:127.0.0.1:7443") {
		t.Fatalf("String: %s", s)
	}
	// Sub-second times are truncated to seconds.
	m.Issued = m.Issued.Add(300 * time.Millisecond)
	blob, _ = Sign(m, testKey)
	got, err = Verify(blob, testPub, testNow)
	if err != nil || !got.Issued.Equal(m.Issued.Truncate(time.Second)) {
		t.Fatalf("issued %v, %v", got.Issued, err)
	}
}

func TestVerifyRejects(t *testing.T) {
	good, err := Sign(testManifest(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	var sm manifestpb.SignedManifest
	if err := proto.Unmarshal(good, &sm); err != nil {
		t.Fatal(err)
	}
	reencode := func(edit func(*manifestpb.SignedManifest)) []byte {
		c := proto.Clone(&sm).(*manifestpb.SignedManifest)
		edit(c)
		b, _ := proto.Marshal(c)
		return b
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x10

	tests := []struct {
		name string
		blob []byte
		key  ed25519.PublicKey
		now  time.Time
		want error
	}{
		{"wrong key", good, otherKey.Public().(ed25519.PublicKey), testNow, ErrBadSignature},
		{"short key", good, testPub[:31], testNow, ErrBadKey},
		{"nil key", good, nil, testNow, ErrBadKey},
		{"flipped bit", flipped, testPub, testNow, nil}, // some error
		{"garbage", []byte("hello, world"), testPub, testNow, ErrMalformed},
		{"empty", nil, testPub, testNow, ErrUnsupportedVersion},
		{"too big", make([]byte, MaxBlobSize+1), testPub, testNow, ErrMalformed},
		{"version 3", reencode(func(s *manifestpb.SignedManifest) { s.Version = 3 }), testPub, testNow, ErrUnsupportedVersion},
		{"version 2 without delegation", reencode(func(s *manifestpb.SignedManifest) { s.Version = 2 }), testPub, testNow, ErrMalformed},
		{"version 1 with a delegation", reencode(func(s *manifestpb.SignedManifest) { s.Delegation = []byte{8, 1} }), testPub, testNow, ErrMalformed},
		{"no signature", reencode(func(s *manifestpb.SignedManifest) { s.Signature = nil }), testPub, testNow, ErrMalformed},
		{"signature without prefix", reencode(func(s *manifestpb.SignedManifest) { s.Signature = ed25519.Sign(testKey, s.Body) }), testPub, testNow, ErrBadSignature},
		{"body changed", reencode(func(s *manifestpb.SignedManifest) { s.Body = append(s.Body, 0x08, 0x05) }), testPub, testNow, ErrBadSignature},
		{"expired", good, testPub, testNow.Add(31 * 24 * time.Hour), ErrExpired},
		{"expired exactly", good, testPub, testManifest().Expires, ErrExpired},
		{"not yet valid", good, testPub, testNow.Add(-26 * time.Hour), ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Verify(tt.blob, tt.key, tt.now)
			if err == nil || m != nil {
				t.Fatalf("accepted: %v", m)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Within the clock skew is fine.
	if _, err := Verify(good, testPub, testNow.Add(-20*time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestSignRejectsInvalid(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Manifest)
	}{
		{"empty network", func(m *Manifest) { m.Network = "" }},
		{"uppercase network", func(m *Manifest) { m.Network = "Example" }},
		{"long network", func(m *Manifest) { m.Network = strings.Repeat("a", 65) }},
		{"no issue time", func(m *Manifest) { m.Issued = time.Time{} }},
		{"no expiry", func(m *Manifest) { m.Expires = time.Time{} }},
		{"expires before issue", func(m *Manifest) { m.Expires = m.Issued }},
		{"short trust root", func(m *Manifest) { m.TrustRoot = m.TrustRoot[:32] }},
		{"trust root type", func(m *Manifest) { m.TrustRoot = append([]byte{8}, m.TrustRoot[1:]...) }},
		{"no relays", func(m *Manifest) { m.Relays = nil }},
		{"bad relay id", func(m *Manifest) { m.Relays[0].ID = "relay 1" }},
		{"duplicate relay", func(m *Manifest) { m.Relays = append(m.Relays, m.Relays[0]) }},
		{"zero noise key", func(m *Manifest) { m.Relays[0].NoiseKey = [32]byte{} }},
		{"no endpoints", func(m *Manifest) { m.Relays[0].Endpoints = nil }},
		{"bad transport", func(m *Manifest) { m.Relays[0].Endpoints[0].Transport = "TCP" }},
		{"empty address", func(m *Manifest) { m.Relays[0].Endpoints[0].Address = "" }},
		{"address with space", func(m *Manifest) { m.Relays[0].Endpoints[0].Address = "a b" }},
		{"too many endpoints", func(m *Manifest) {
			m.Relays[0].Endpoints = make([]Endpoint, MaxEndpoints+1)
			for i := range m.Relays[0].Endpoints {
				m.Relays[0].Endpoints[i] = Endpoint{Transport: "tcp", Address: "h:1"}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testManifest()
			tt.edit(m)
			if _, err := Sign(m, testKey); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := Sign(testManifest(), testKey[:10]); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short private key: %v", err)
	}
	if _, err := Sign(nil, testKey); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil manifest: %v", err)
	}
	m := testManifest()
	m.TrustRoot = nil
	if _, err := Sign(m, testKey); err != nil {
		t.Fatalf("empty trust root: %v", err)
	}
}

// A signed body that breaks the rules is refused even with a good signature.
func TestVerifyRejectsSignedInvalidBody(t *testing.T) {
	sign := func(body *manifestpb.Body) []byte {
		b, _ := proto.Marshal(body)
		blob, _ := proto.Marshal(&manifestpb.SignedManifest{Version: 1, Body: b, Signature: ed25519.Sign(testKey, signedMessage(b))})
		return blob
	}
	for name, body := range map[string]*manifestpb.Body{
		"no relays":     {Network: "n", Issued: 1, Expires: testNow.Unix() + 10},
		"short key":     {Network: "n", Issued: 1, Expires: testNow.Unix() + 10, Relays: []*manifestpb.Relay{{Id: "r", NoiseKey: []byte{1}, Endpoints: []*manifestpb.Endpoint{{Transport: "tcp", Address: "a:1"}}}}},
		"bad network":   {Network: "N!", Issued: 1, Expires: testNow.Unix() + 10},
		"expires first": {Network: "n", Issued: 10, Expires: 5},
	} {
		if _, err := Verify(sign(body), testPub, testNow); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

func TestInvite(t *testing.T) {
	blob, err := Sign(testManifest(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	inv := Invite{NetworkKey: testPub, Manifest: blob}
	path := filepath.Join(t.TempDir(), "invite.txt")
	if err := WriteInvite(path, inv); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	if !bytes.Contains(text, []byte("-----BEGIN SAMIZDAT INVITE-----")) || !bytes.Contains(text, []byte(`"example.net"`)) {
		t.Fatalf("invite text:\n%s", text)
	}
	got, err := ReadInvite(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.NetworkKey.Equal(testPub) || !bytes.Equal(got.Manifest, blob) {
		t.Fatal("invite changed in the round trip")
	}
	if _, err := Verify(got.Manifest, got.NetworkKey, testNow); err != nil {
		t.Fatal(err)
	}
	// Overwriting works and leaves no temporary files.
	if err := WriteInvite(path, inv); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("%d files in the directory", len(ents))
	}
	// Writing an invite whose manifest is not signed by its key fails.
	if err := WriteInvite(path, Invite{NetworkKey: otherKey.Public().(ed25519.PublicKey), Manifest: blob}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("mismatched invite: %v", err)
	}
	if _, err := ReadInvite(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestParseInviteRejects(t *testing.T) {
	blob, _ := Sign(testManifest(), testKey)
	good, err := MarshalInvite(Invite{NetworkKey: testPub, Manifest: blob})
	if err != nil {
		t.Fatal(err)
	}
	encode := func(pi *manifestpb.Invite) []byte {
		b, _ := proto.Marshal(pi)
		var buf bytes.Buffer
		buf.WriteString("-----BEGIN SAMIZDAT INVITE-----\n")
		buf.WriteString(strings.TrimSpace(string(pemBody(b))))
		buf.WriteString("\n-----END SAMIZDAT INVITE-----\n")
		return buf.Bytes()
	}
	// Corrupt one base64 character of the body.
	corrupt := bytes.Clone(good)
	i := bytes.Index(corrupt, []byte("-----\n")) + 6 + 40
	if corrupt[i] == 'A' {
		corrupt[i] = 'B'
	} else {
		corrupt[i] = 'A'
	}
	tests := []struct {
		name string
		text []byte
		want error
	}{
		{"empty", nil, ErrBadInvite},
		{"garbage", []byte("not an invite at all\n"), ErrBadInvite},
		{"wrong block", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), ErrBadInvite},
		{"bad base64", []byte("-----BEGIN SAMIZDAT INVITE-----\n!!!!\n-----END SAMIZDAT INVITE-----\n"), ErrBadInvite},
		{"not protobuf", []byte("-----BEGIN SAMIZDAT INVITE-----\n//8=\n-----END SAMIZDAT INVITE-----\n"), ErrBadInvite},
		{"corrupted", corrupt, ErrBadInvite},
		{"version 0", encode(&manifestpb.Invite{NetworkKey: testPub, Manifest: blob}), ErrUnsupportedVersion},
		{"short key", encode(&manifestpb.Invite{Version: 1, NetworkKey: testPub[:16], Manifest: blob}), ErrBadKey},
		{"other key", encode(&manifestpb.Invite{Version: 1, NetworkKey: otherKey.Public().(ed25519.PublicKey), Manifest: blob}), ErrBadSignature},
		{"no manifest", encode(&manifestpb.Invite{Version: 1, NetworkKey: testPub}), ErrBadInvite},
		{"too big", append(bytes.Repeat([]byte(" "), MaxInviteSize), good...), ErrBadInvite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInvite(tt.text)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrBadInvite) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := ParseInvite(good); err != nil {
		t.Fatal(err)
	}
}

func pemBody(b []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(b))
}
