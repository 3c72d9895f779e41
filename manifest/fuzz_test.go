package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"samizdat/manifest/internal/manifestpb"
)

func goodBlob(tb testing.TB) []byte {
	blob, err := Sign(testManifest(), testKey)
	if err != nil {
		tb.Fatal(err)
	}
	return blob
}

// fullBlob has every field set: endpoints of every transport, cohorts,
// channels.
func fullBlob(tb testing.TB) []byte {
	blob, err := Sign(fullManifest(), testKey)
	if err != nil {
		tb.Fatal(err)
	}
	return blob
}

func goodBody(tb testing.TB) []byte { return bodyOf(tb, goodBlob(tb)) }

func bodyOf(tb testing.TB, blob []byte) []byte {
	var sm manifestpb.SignedManifest
	if err := proto.Unmarshal(blob, &sm); err != nil {
		tb.Fatal(err)
	}
	return sm.Body
}

func goodInvite(tb testing.TB) []byte {
	text, err := MarshalInvite(Invite{NetworkKey: testPub, Manifest: goodBlob(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	return text
}

// typed reports whether err is one of the package's errors.
func typed(err error) bool {
	for _, e := range []error{ErrMalformed, ErrUnsupportedVersion, ErrBadKey, ErrBadSignature, ErrInvalid, ErrExpired, ErrNotYetValid, ErrBadInvite, ErrWrongNetwork, ErrRollback} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzVerify feeds arbitrary blobs to Verify: no panic, typed errors, and
// an accepted manifest re-signs to the same blob.
func FuzzVerify(f *testing.F) {
	f.Add(goodBlob(f))
	f.Add(fullBlob(f))
	f.Fuzz(func(t *testing.T, blob []byte) {
		if m, err := ParseUnverified(blob); err != nil && !typed(err) {
			t.Fatalf("ParseUnverified: untyped error: %v", err)
		} else if err == nil {
			_ = m.ForCohort(1).String()
		}
		m, err := Verify(blob, testPub, testNow)
		if err != nil {
			if !typed(err) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := Sign(m, testKey)
		if err != nil {
			t.Fatalf("re-sign: %v", err)
		}
		m2, err := Verify(again, testPub, testNow)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzDecodeBody exercises the checks behind the signature, which Verify's
// fuzzing cannot reach: a body that decodes re-encodes to an equal manifest.
func FuzzDecodeBody(f *testing.F) {
	f.Add(goodBody(f))
	f.Add(bodyOf(f, fullBlob(f)))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeBody(body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		enc, err := encodeBody(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := decodeBody(enc)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseInvite feeds arbitrary text to ParseInvite: no panic, typed
// errors, and an accepted invite marshals and parses back to itself.
func FuzzParseInvite(f *testing.F) {
	f.Add(goodInvite(f))
	f.Fuzz(func(t *testing.T, text []byte) {
		inv, err := ParseInvite(text)
		if err != nil {
			if !errors.Is(err, ErrBadInvite) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := MarshalInvite(inv)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		inv2, err := ParseInvite(again)
		if err != nil || !inv.NetworkKey.Equal(inv2.NetworkKey) || !bytes.Equal(inv.Manifest, inv2.Manifest) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestWriteSeeds regenerates the seed corpora in testdata/fuzz when
// SAMIZDAT_WRITE_SEEDS=1.
func TestWriteSeeds(t *testing.T) {
	if os.Getenv("SAMIZDAT_WRITE_SEEDS") != "1" {
		t.Skip("set SAMIZDAT_WRITE_SEEDS=1 to regenerate testdata/fuzz")
	}
	blob, body, inv := goodBlob(t), goodBody(t), goodInvite(t)
	full := fullBlob(t)
	fullBody := bodyOf(t, full)
	seeds := map[string][][]byte{
		"FuzzVerify":      {blob, blob[:len(blob)/2], {0x08, 0x01}, {}, full},
		"FuzzDecodeBody":  {body, body[:len(body)-3], {0x0a, 0x01, 'n'}, fullBody, fullBody[:len(fullBody)-20]},
		"FuzzParseInvite": {inv, inv[:len(inv)-40], []byte("-----BEGIN SAMIZDAT INVITE-----\nCAE=\n-----END SAMIZDAT INVITE-----\n")},
	}
	for name, list := range seeds {
		writeSeeds(t, name, list)
	}
}

func writeSeeds(t *testing.T, name string, list [][]byte) {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range list {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
