package client

import (
	"bytes"
	"crypto/rand"
	"testing"

	"samizdat/relay"
	"samizdat/session/curve"
)

// FuzzDeviceName opens arbitrary bytes as a sealed device name (what the
// relay hands back in a device list): it never panics, and opens only what
// a device of the account sealed; a name sealed and opened comes back as
// it was.
func FuzzDeviceName(f *testing.F) {
	ik, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	other, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	cfg := Config{}.withDefaults()
	sealed, err := cfg.sealName(ik.Private, "bob's phone")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, "laptop")
	f.Add([]byte{}, "")
	f.Add(make([]byte, 24), "ünïcödé")
	f.Fuzz(func(t *testing.T, blob []byte, name string) {
		if got, err := openName(ik.Private, blob); err == nil && len(blob) > 0 && !bytes.Equal(blob, sealed) {
			t.Fatalf("opened %q from bytes no device sealed", got)
		}
		s, err := cfg.sealName(ik.Private, name)
		if CheckDeviceName(name) != nil {
			if err == nil {
				t.Fatalf("sealed a name the client refuses: %q", name)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := openName(ik.Private, s)
		if err != nil || got != name {
			t.Fatalf("sealed %q, opened %q, %v", name, got, err)
		}
		if len(s) > relay.MaxDeviceName {
			t.Fatalf("sealed %d bytes, more than the relay keeps", len(s))
		}
		if name != "" {
			if _, err := openName(other.Private, s); err == nil {
				t.Fatal("another identity opened the name")
			}
		}
	})
}
