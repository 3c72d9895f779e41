package bridge

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParseCredential: any text either is refused or is a credential that
// marshals and parses back to the same credential.
func FuzzParseCredential(f *testing.F) {
	n := newNetwork(f)
	text, err := MarshalCredential(n.credential(f, n.sign(f, 1, "127.0.0.1:1")))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(text)
	f.Add([]byte("-----BEGIN SAMIZDAT BRIDGE CREDENTIAL-----\nCAE=\n-----END SAMIZDAT BRIDGE CREDENTIAL-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ParseCredential(text)
		if err != nil {
			return
		}
		again, err := MarshalCredential(c)
		if err != nil {
			t.Fatalf("a parsed credential does not marshal: %v", err)
		}
		d, err := ParseCredential(again)
		if err != nil {
			t.Fatalf("a marshalled credential does not parse: %v", err)
		}
		if c.Network != d.Network || !bytes.Equal(c.NetworkKey, d.NetworkKey) || !bytes.Equal(c.Manifest, d.Manifest) ||
			c.Cohort != d.Cohort || !bytes.Equal(c.Key, d.Key) || !bytes.Equal(c.TLSKey, d.TLSKey) || c.SNI != d.SNI {
			t.Fatalf("round trip changed the credential: %+v != %+v", c, d)
		}
	})
}

// FuzzParseUpdate: any bytes either are refused or are an update that
// marshals to bytes that parse to the same update.
func FuzzParseUpdate(f *testing.F) {
	n := newNetwork(f)
	good, err := MarshalUpdate(Update{Manifest: n.sign(f, 1, "127.0.0.1:1"), Cohort: 3,
		Denied: []Denial{{Label: Label{1, 2, 3}, Until: time.Unix(1_900_000_000, 0)}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	empty, _ := MarshalUpdate(Update{})
	f.Add(empty)
	f.Add([]byte{0x08, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUpdate(b)
		if err != nil {
			return
		}
		again, err := MarshalUpdate(u)
		if err != nil {
			t.Fatalf("a parsed update does not marshal: %v", err)
		}
		v, err := ParseUpdate(again)
		if err != nil {
			t.Fatalf("a marshalled update does not parse: %v", err)
		}
		if !bytes.Equal(u.Manifest, v.Manifest) || u.Cohort != v.Cohort || len(u.Denied) != len(v.Denied) {
			t.Fatalf("round trip changed the update")
		}
		for i := range u.Denied {
			if u.Denied[i].Label != v.Denied[i].Label || !u.Denied[i].Until.Equal(v.Denied[i].Until) {
				t.Fatalf("round trip changed denial %d", i)
			}
		}
	})
}

// FuzzPath: a tunnel path either names no label or names one whose path
// is exactly the path given (one path per label and expiry).
func FuzzPath(f *testing.F) {
	k := newKeys(bytes.Repeat([]byte{9}, KeySize))
	f.Add(k.path(Label{1}, 1_900_000_000))
	f.Add(k.control)
	f.Add(k.base + "/")
	f.Add("/")
	f.Fuzz(func(t *testing.T, p string) {
		l, exp, ok := k.parsePath(p)
		if !ok {
			return
		}
		if again := k.path(l, exp); again != p {
			t.Fatalf("%q parses to a label whose path is %q", p, again)
		}
	})
}
