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
	for _, e := range []error{ErrMalformed, ErrUnsupportedVersion, ErrBadKey, ErrBadSignature, ErrInvalid, ErrExpired, ErrNotYetValid, ErrBadInvite, ErrWrongNetwork, ErrRollback,
		ErrBadDelegation, ErrDelegationExpired, ErrRevoked, ErrSerialAhead} {
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
	f.Add(delegatedBlob(f))
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

func delegatedBlob(tb testing.TB) []byte {
	return delegated(tb, nodeKey, delegation(tb, testKey, nodePub, nil), nil)
}

// FuzzParseDelegation feeds arbitrary certificates to ParseDelegation: no
// panic, only ErrBadDelegation, and an accepted certificate verifies under
// the key it names, re-encodes to an equal one and survives its text
// form.
func FuzzParseDelegation(f *testing.F) {
	f.Add(delegation(f, testKey, nodePub, nil))
	f.Add(delegation(f, otherKey, node2Pub, func(d *Delegation) { d.Network = "other.net" }))
	f.Fuzz(func(t *testing.T, cert []byte) {
		d, err := ParseDelegation(cert)
		if err != nil {
			if !errors.Is(err, ErrBadDelegation) {
				t.Fatalf("untyped error: %v", err)
			}
			if d != nil {
				t.Fatal("a delegation with an error")
			}
			return
		}
		_ = d.String()
		if _, err := VerifyDelegation(cert, d.NetworkKey, d.Network, d.NotBefore); err != nil {
			t.Fatalf("verify under its own key: %v", err)
		}
		text, err := MarshalDelegationText(cert)
		if err != nil {
			t.Fatalf("text: %v", err)
		}
		again, d2, err := ParseDelegationText(text)
		if err != nil || !bytes.Equal(again, cert) || !reflect.DeepEqual(d, d2) {
			t.Fatalf("text round trip: %v", err)
		}
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(d.body())
		if err != nil {
			t.Fatal(err)
		}
		d3, err := decodeDelegationBody(body)
		if err != nil || !reflect.DeepEqual(d, d3) {
			t.Fatalf("body round trip: %v", err)
		}
	})
}

// FuzzDecodeDelegationBody exercises the checks behind the signature: a
// body that decodes re-encodes to an equal delegation.
func FuzzDecodeDelegationBody(f *testing.F) {
	f.Add(delegationBodyOf(f, delegation(f, testKey, nodePub, nil)))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := decodeDelegationBody(body)
		if err != nil {
			if !errors.Is(err, ErrBadDelegation) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if err := d.validate(); err != nil {
			t.Fatalf("decoded but invalid: %v", err)
		}
		enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(d.body())
		if err != nil {
			t.Fatal(err)
		}
		d2, err := decodeDelegationBody(enc)
		if err != nil || !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseDelegationText feeds arbitrary text to ParseDelegationText: no
// panic, only ErrBadDelegation, and what it returns parses alone.
func FuzzParseDelegationText(f *testing.F) {
	cert := delegation(f, testKey, nodePub, nil)
	text, err := MarshalDelegationText(cert)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(text)
	f.Add(cert)
	f.Fuzz(func(t *testing.T, text []byte) {
		cert, d, err := ParseDelegationText(text)
		if err != nil {
			if !errors.Is(err, ErrBadDelegation) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		d2, err := ParseDelegation(cert)
		if err != nil || !reflect.DeepEqual(d, d2) {
			t.Fatalf("certificate alone: %v", err)
		}
	})
}

func delegationBodyOf(tb testing.TB, cert []byte) []byte {
	var pc manifestpb.Delegation
	if err := proto.Unmarshal(cert, &pc); err != nil {
		tb.Fatal(err)
	}
	return pc.Body
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
	cert := delegation(t, testKey, nodePub, nil)
	certText, err := MarshalDelegationText(cert)
	if err != nil {
		t.Fatal(err)
	}
	dblob := delegatedBlob(t)
	seeds := map[string][][]byte{
		"FuzzVerify":               {blob, blob[:len(blob)/2], {0x08, 0x01}, {}, full, dblob, dblob[:len(dblob)-30]},
		"FuzzParseDelegation":      {cert, cert[:len(cert)-10], {0x08, 0x01}, {}},
		"FuzzDecodeDelegationBody": {delegationBodyOf(t, cert), {0x0a, 0x01, 'n'}},
		"FuzzParseDelegationText":  {certText, certText[:len(certText)-30], cert},
		"FuzzDecodeBody":           {body, body[:len(body)-3], {0x0a, 0x01, 'n'}, fullBody, fullBody[:len(fullBody)-20]},
		"FuzzParseInvite":          {inv, inv[:len(inv)-40], []byte("-----BEGIN SAMIZDAT INVITE-----\nCAE=\n-----END SAMIZDAT INVITE-----\n")},
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
