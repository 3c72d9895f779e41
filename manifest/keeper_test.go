package manifest

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func signed(t testing.TB, edit func(*Manifest)) []byte {
	t.Helper()
	m := testManifest()
	if edit != nil {
		edit(m)
	}
	blob, err := Sign(m, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func withSerial(n uint64) func(*Manifest) { return func(m *Manifest) { m.Serial = n } }

func TestKeeper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manifest")
	k, err := OpenKeeper(path, testPub, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	if hm, hb := k.Held(); k.Current() != nil || k.Blob() != nil || hm != nil || hb != nil {
		t.Fatal("new keeper holds a manifest")
	}
	b42 := signed(t, withSerial(42))
	m, err := k.Offer(b42, testNow)
	if err != nil || m.Serial != 42 || k.Current() != m || !bytes.Equal(k.Blob(), b42) {
		t.Fatalf("offer 42: %v %v", m, err)
	}
	if hm, hb := k.Held(); hm != m || !bytes.Equal(hb, b42) {
		t.Fatalf("held after offer 42: %v", hm)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored file: %v %v", fi, err)
	}

	otherNet := signed(t, func(m *Manifest) { m.Serial = 50; m.Network = "other.net" })
	expired := signed(t, func(m *Manifest) { m.Serial = 50; m.Expires = testNow.Add(-time.Minute) })
	future := signed(t, func(m *Manifest) {
		m.Serial = 50
		m.Issued = testNow.Add(48 * time.Hour)
		m.Expires = testNow.Add(72 * time.Hour)
	})
	forged, _ := Sign(func() *Manifest { m := testManifest(); m.Serial = 50; return m }(), otherKey)
	tests := []struct {
		name string
		blob []byte
		want error
		msg  string
	}{
		{"rollback", signed(t, withSerial(41)), ErrRollback, "serial 41 is not newer than 42"},
		{"same serial, other body", signed(t, func(m *Manifest) { m.Serial = 42; m.Relays[0].ID = "r2" }), ErrRollback, "serial 42 is not newer than 42"},
		{"replay of current", b42, ErrRollback, "serial 42 is the current one"},
		{"wrong network", otherNet, ErrWrongNetwork, `manifest is for "other.net", want "example.net"`},
		{"expired", expired, ErrExpired, "serial 50 expired at"},
		{"not yet valid", future, ErrNotYetValid, "serial 50 issued at"},
		{"wrongly signed", forged, ErrBadSignature, "bad signature"},
		{"garbage", []byte("not a manifest"), ErrMalformed, "malformed"},
		{"empty", nil, ErrUnsupportedVersion, "unsupported version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := k.Offer(tt.blob, testNow)
			if m != nil || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, %v; want %v containing %q", m, err, tt.want, tt.msg)
			}
			if k.Current().Serial != 42 {
				t.Fatal("current changed")
			}
		})
	}

	b43 := signed(t, withSerial(43))
	if m, err := k.Offer(b43, testNow); err != nil || m.Serial != 43 {
		t.Fatalf("offer 43: %v", err)
	}
	// Reopening finds 43 and still refuses 42, even after 43 has expired.
	k2, err := OpenKeeper(path, testPub, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(k2.Current(), k.Current()) {
		t.Fatal("reopened keeper differs")
	}
	late := testNow.Add(365 * 24 * time.Hour)
	if _, err := k2.Offer(signed(t, withSerial(42)), testNow); !errors.Is(err, ErrRollback) {
		t.Fatalf("after reopen: %v", err)
	}
	if _, err := OpenKeeper(path, testPub, "example.net"); err != nil {
		t.Fatalf("reopen at %v: %v", late, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("%d files in the directory", len(ents))
	}

	// The stored file must match the keeper's key and network.
	if _, err := OpenKeeper(path, otherKey.Public().(ed25519.PublicKey), "example.net"); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}
	if _, err := OpenKeeper(path, testPub, "other.net"); !errors.Is(err, ErrWrongNetwork) {
		t.Fatalf("other network: %v", err)
	}
	os.WriteFile(path, []byte("junk"), 0o600)
	if _, err := OpenKeeper(path, testPub, "example.net"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("junk file: %v", err)
	}
	if _, err := OpenKeeper(path, testPub[:5], "example.net"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short key: %v", err)
	}
}

// A keeper opened without a network adopts the first one it accepts.
func TestKeeperAdoptsNetwork(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m")
	k, err := OpenKeeper(path, testPub, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Offer(signed(t, nil), testNow); err != nil {
		t.Fatal(err)
	}
	if k.Network() != "example.net" {
		t.Fatalf("network %q", k.Network())
	}
	if _, err := k.Offer(signed(t, func(m *Manifest) { m.Serial = 9; m.Network = "x" }), testNow); !errors.Is(err, ErrWrongNetwork) {
		t.Fatalf("got %v", err)
	}
	k2, err := OpenKeeper(path, testPub, "")
	if err != nil || k2.Network() != "example.net" {
		t.Fatalf("reopen: %v %q", err, k2.Network())
	}
}

// A failed write leaves the keeper as it was.
func TestKeeperWriteFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	k, err := OpenKeeper(filepath.Join(dir, "m"), testPub, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Offer(signed(t, nil), testNow); err == nil || k.Current() != nil {
		t.Fatalf("write into a missing directory: %v", err)
	}
}

// Concurrent offers of many serials end with the highest.
func TestKeeperConcurrent(t *testing.T) {
	k, err := OpenKeeper(filepath.Join(t.TempDir(), "m"), testPub, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	blobs := make([][]byte, 20)
	for i := range blobs {
		blobs[i] = signed(t, withSerial(uint64(i+1)))
	}
	done := make(chan error)
	for _, b := range blobs {
		go func() { _, err := k.Offer(b, testNow); done <- err }()
	}
	for range blobs {
		if err := <-done; err != nil && !errors.Is(err, ErrRollback) {
			t.Error(err)
		}
	}
	if k.Current().Serial != 20 {
		t.Fatalf("serial %d", k.Current().Serial)
	}
}

func TestVerifyNetwork(t *testing.T) {
	blob := signed(t, nil)
	if _, err := VerifyNetwork(blob, testPub, "example.net", testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyNetwork(blob, testPub, "example.org", testNow); !errors.Is(err, ErrWrongNetwork) {
		t.Fatalf("got %v", err)
	}
	if _, err := VerifyNetwork(blob, testPub, "example.net", testNow.Add(100*24*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("got %v", err)
	}
}

func fullManifest() *Manifest {
	m := testManifest()
	m.Cohorts = 4
	m.Relays[0].Endpoints = append(m.Relays[0].Endpoints,
		Endpoint{Transport: "wss", Address: "127.0.0.2:443", SNI: "www.example.com", Host: "www.example.com", Path: "/chat", Secret: []byte("hunter2-secret"), TLSPin: bytes.Repeat([]byte{0xab}, 32), Cohort: 2},
		Endpoint{Transport: "front", Address: "127.0.0.3:443", SNI: "cdn.example", Host: "hidden.example", Path: "/t", Secret: []byte{1, 2}, Cohort: 3},
	)
	m.Relays = append(m.Relays, Relay{ID: "relay-2", NoiseKey: [32]byte{9}, Endpoints: []Endpoint{{Transport: "tcp", Address: "127.0.0.4:1", Cohort: 3}}})
	m.Channels = []Channel{
		{Kind: "https", URL: "https://mirror.example/m/{cohort}.bin", TLSPin: bytes.Repeat([]byte{1}, 32)},
		{Kind: "doh", URL: "https://127.0.0.1:8443/dns-query", Name: "c{cohort}.m.example.net"},
		{Kind: "front", Address: "127.0.0.5:443", SNI: "cdn.example", Host: "mirror.example", Path: "/m.bin"},
		{Kind: "carrier-pigeon", URL: "https://future.example/"},
	}
	return m
}

func TestFullRoundTrip(t *testing.T) {
	m := fullManifest()
	blob, err := Sign(m, testKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(blob, testPub, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v\nwant %+v", got, m)
	}
	if !got.Relays[0].Endpoints[2].Equal(m.Relays[0].Endpoints[2]) || got.Relays[0].Endpoints[2].Equal(m.Relays[0].Endpoints[3]) {
		t.Fatal("Endpoint.Equal")
	}
	// Secrets never print.
	for _, s := range []string{got.String(), fmt.Sprint(got.Relays[0]), fmt.Sprintf("%+v", got.Relays), fmt.Sprintf("%#v", got.Relays[0].Endpoints[2])} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "104 117 110") {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if s := got.String(); !strings.Contains(s, "wss:127.0.0.2:443,sni=www.example.com") || !strings.Contains(s, "secret=set") || !strings.Contains(s, "doh:https://127.0.0.1:8443/dns-query,name=c{cohort}.m.example.net") {
		t.Fatalf("String: %s", s)
	}
}

func TestForCohort(t *testing.T) {
	m := fullManifest()
	count := func(m *Manifest) (n int) {
		for _, r := range m.Relays {
			n += len(r.Endpoints)
		}
		return n
	}
	tests := []struct {
		cohort    uint32
		endpoints int
		relays    int
	}{{0, 2, 1}, {1, 2, 1}, {2, 3, 1}, {3, 4, 2}, {4, 2, 1}}
	for _, tt := range tests {
		c := m.ForCohort(tt.cohort)
		if count(c) != tt.endpoints || len(c.Relays) != tt.relays {
			t.Errorf("cohort %d: %d endpoints in %d relays, want %d in %d", tt.cohort, count(c), len(c.Relays), tt.endpoints, tt.relays)
		}
		for _, r := range c.Relays {
			for _, e := range r.Endpoints {
				if e.Cohort != 0 && e.Cohort != tt.cohort {
					t.Errorf("cohort %d got %v", tt.cohort, e)
				}
			}
		}
		want := fmt.Sprintf("https://mirror.example/m/%d.bin", tt.cohort)
		if c.Channels[0].URL != want || c.Channels[1].Name != fmt.Sprintf("c%d.m.example.net", tt.cohort) {
			t.Errorf("cohort %d channels %v", tt.cohort, c.Channels)
		}
	}
	if count(m) != 5 || m.Channels[0].URL != "https://mirror.example/m/{cohort}.bin" {
		t.Fatal("ForCohort modified the manifest")
	}
}

func TestCohortOf(t *testing.T) {
	if CohortOf([]byte("k"), 0) != 0 {
		t.Fatal("no cohorts must give 0")
	}
	// Known answer: pins the derivation, which the relay and clients share.
	if got := CohortOf(bytes.Repeat([]byte{1}, 33), 1000); got != cohortKAT {
		t.Fatalf("cohort %d, want %d", got, cohortKAT)
	}
	const n = 8
	counts := make([]int, n+1)
	for i := 0; i < 8000; i++ {
		c := CohortOf([]byte{byte(i), byte(i >> 8), 5}, n)
		if c < 1 || c > n {
			t.Fatalf("cohort %d out of range", c)
		}
		counts[c]++
	}
	for c := 1; c <= n; c++ {
		if counts[c] < 800 || counts[c] > 1200 {
			t.Fatalf("uneven cohorts: %v", counts)
		}
	}
	m := &Manifest{Cohorts: 8}
	if m.CohortOf(KeySlot([]byte("x"))) != CohortOf([]byte("x"), 8) {
		t.Fatal("method differs")
	}
	// A slot's cohort is its remainder, plus 1; no cohorts is cohort 0.
	for _, tc := range []struct {
		s    Slot
		n, c uint32
	}{{0, 4, 1}, {3, 4, 4}, {4, 4, 1}, {1<<64 - 1, 16, 16}, {7, 0, 0}} {
		if got := tc.s.Cohort(tc.n); got != tc.c {
			t.Errorf("Slot(%d).Cohort(%d) = %d, want %d", tc.s, tc.n, got, tc.c)
		}
	}
}

func TestSignRejectsInvalidNewFields(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Manifest)
	}{
		{"bad sni", func(m *Manifest) { m.Relays[0].Endpoints[2].SNI = "a b" }},
		{"bad host", func(m *Manifest) { m.Relays[0].Endpoints[2].Host = "a\x00" }},
		{"relative path", func(m *Manifest) { m.Relays[0].Endpoints[2].Path = "chat" }},
		{"long secret", func(m *Manifest) { m.Relays[0].Endpoints[2].Secret = make([]byte, 257) }},
		{"short pin", func(m *Manifest) { m.Relays[0].Endpoints[2].TLSPin = []byte{1} }},
		{"cohort beyond", func(m *Manifest) { m.Relays[0].Endpoints[2].Cohort = 5 }},
		{"cohort without cohorts", func(m *Manifest) { m.Cohorts = 0 }},
		{"too many cohorts", func(m *Manifest) { m.Cohorts = MaxCohorts + 1 }},
		{"http mirror", func(m *Manifest) { m.Channels[0].URL = "http://mirror.example/m" }},
		{"https without url", func(m *Manifest) { m.Channels[0].URL = "" }},
		{"doh without name", func(m *Manifest) { m.Channels[1].Name = "" }},
		{"doh bad name", func(m *Manifest) { m.Channels[1].Name = "a/b" }},
		{"front without host", func(m *Manifest) { m.Channels[2].Host = "" }},
		{"bad kind", func(m *Manifest) { m.Channels[0].Kind = "HTTPS" }},
		{"channel pin", func(m *Manifest) { m.Channels[0].TLSPin = []byte{1, 2} }},
		{"too many channels", func(m *Manifest) { m.Channels = make([]Channel, MaxChannels+1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := fullManifest()
			tt.edit(m)
			if _, err := Sign(m, testKey); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

// cohortKAT was computed independently (Python hashlib).
const cohortKAT = 760

func TestOpenAndParseUnverified(t *testing.T) {
	expired := signed(t, func(m *Manifest) { m.Expires = testNow.Add(-time.Second) })
	if m, err := Open(expired, testPub); err != nil || m.Serial != 1 {
		t.Fatalf("Open: %v", err)
	}
	if _, err := Open(expired, otherKey.Public().(ed25519.PublicKey)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Open with another key: %v", err)
	}
	forged, _ := Sign(testManifest(), otherKey)
	if m, err := ParseUnverified(forged); err != nil || m.Network != "example.net" {
		t.Fatalf("ParseUnverified: %v", err)
	}
	for _, b := range [][]byte{nil, []byte("junk"), make([]byte, MaxBlobSize+1)} {
		if _, err := ParseUnverified(b); err == nil {
			t.Fatal("ParseUnverified accepted junk")
		}
	}
}
