package fingerprint

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"samizdat/session/curve"
)

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

type vectors struct {
	AliceIdentity hexBytes `json:"alice_identity"`
	BobIdentity   hexBytes `json:"bob_identity"`
	AliceID       string   `json:"alice_stable_id"`
	BobID         string   `json:"bob_stable_id"`
	Iterations    int      `json:"iterations"`
	Versions      []struct {
		Version        uint32   `json:"version"`
		Displayable    string   `json:"displayable"`
		AliceScannable hexBytes `json:"alice_scannable"`
		BobScannable   hexBytes `json:"bob_scannable"`
	} `json:"versions"`
	Libsignal struct {
		Cases []struct {
			Version         uint32   `json:"version"`
			Iterations      int      `json:"iterations"`
			LocalID         hexBytes `json:"local_id"`
			LocalKey        hexBytes `json:"local_key"`
			RemoteID        hexBytes `json:"remote_id"`
			RemoteKey       hexBytes `json:"remote_key"`
			Displayable     string   `json:"displayable"`
			LocalScannable  hexBytes `json:"local_scannable"`
			RemoteScannable hexBytes `json:"remote_scannable"`
		} `json:"cases"`
	} `json:"libsignal_0_103"`
	Encoding struct {
		Version  uint32   `json:"version"`
		Local    hexBytes `json:"local"`
		Remote   hexBytes `json:"remote"`
		Expected hexBytes `json:"expected"`
	} `json:"encoding"`
}

func loadVectors(t testing.TB) (vectors, curve.PublicKey, curve.PublicKey) {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Versions) == 0 {
		t.Fatal("no vectors")
	}
	alice, err := curve.DecodePublicKey(v.AliceIdentity)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := curve.DecodePublicKey(v.BobIdentity)
	if err != nil {
		t.Fatal(err)
	}
	return v, alice, bob
}

func TestVectors(t *testing.T) {
	v, alice, bob := loadVectors(t)
	for _, tc := range v.Versions {
		t.Run(fmt.Sprintf("v%d", tc.Version), func(t *testing.T) {
			a, err := New(tc.Version, v.Iterations, []byte(v.AliceID), alice, []byte(v.BobID), bob)
			if err != nil {
				t.Fatal(err)
			}
			b, err := New(tc.Version, v.Iterations, []byte(v.BobID), bob, []byte(v.AliceID), alice)
			if err != nil {
				t.Fatal(err)
			}
			if a.Displayable() != tc.Displayable || b.Displayable() != tc.Displayable {
				t.Errorf("displayable %s / %s, want %s", a.Displayable(), b.Displayable(), tc.Displayable)
			}
			if !bytes.Equal(a.Scannable(), tc.AliceScannable) {
				t.Errorf("alice scannable %x", a.Scannable())
			}
			if !bytes.Equal(b.Scannable(), tc.BobScannable) {
				t.Errorf("bob scannable %x", b.Scannable())
			}
			for _, c := range []struct {
				name         string
				ours, theirs []byte
				want         bool
			}{
				{"alice scans bob", tc.AliceScannable, tc.BobScannable, true},
				{"bob scans alice", tc.BobScannable, tc.AliceScannable, true},
				{"alice scans herself", tc.AliceScannable, tc.AliceScannable, false},
				{"bob scans himself", tc.BobScannable, tc.BobScannable, false},
			} {
				got, err := CompareScannable(c.ours, c.theirs)
				if err != nil || got != c.want {
					t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
				}
			}
			if ok, err := a.Compare(b.Scannable()); !ok || err != nil {
				t.Errorf("Compare: %v, %v", ok, err)
			}
		})
	}
}

// TestLibsignalGenerated checks fingerprints that libsignal-client 0.103.0
// computed for random keys, identifiers, versions and iteration counts.
func TestLibsignalGenerated(t *testing.T) {
	v, _, _ := loadVectors(t)
	if len(v.Libsignal.Cases) == 0 {
		t.Fatal("no vectors")
	}
	for i, c := range v.Libsignal.Cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			lk, err := curve.DecodePublicKey(c.LocalKey)
			if err != nil {
				t.Fatal(err)
			}
			rk, err := curve.DecodePublicKey(c.RemoteKey)
			if err != nil {
				t.Fatal(err)
			}
			l, err := New(c.Version, c.Iterations, c.LocalID, lk, c.RemoteID, rk)
			if err != nil {
				t.Fatal(err)
			}
			r, err := New(c.Version, c.Iterations, c.RemoteID, rk, c.LocalID, lk)
			if err != nil {
				t.Fatal(err)
			}
			if l.Displayable() != c.Displayable || r.Displayable() != c.Displayable {
				t.Errorf("displayable %s / %s, want %s", l.Displayable(), r.Displayable(), c.Displayable)
			}
			if !bytes.Equal(l.Scannable(), c.LocalScannable) || !bytes.Equal(r.Scannable(), c.RemoteScannable) {
				t.Error("scannable differs")
			}
			if ok, err := CompareScannable(c.LocalScannable, c.RemoteScannable); !ok || err != nil {
				t.Errorf("compare: %v, %v", ok, err)
			}
		})
	}
}

func TestEncoding(t *testing.T) {
	v, _, _ := loadVectors(t)
	e := v.Encoding
	got, err := encodeScannable(e.Version, e.Local, e.Remote)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, e.Expected) {
		t.Errorf("got %x\nwant %x", got, e.Expected)
	}
}

func TestVersionMismatch(t *testing.T) {
	v, alice, bob := loadVectors(t)
	a1, _ := New(1, v.Iterations, []byte(v.AliceID), alice, []byte(v.BobID), bob)
	b2, _ := New(2, v.Iterations, []byte(v.BobID), bob, []byte(v.AliceID), alice)
	if a1.Displayable() != b2.Displayable() {
		t.Error("displayable depends on version")
	}
	_, err := CompareScannable(b2.Scannable(), a1.Scannable())
	var vm *VersionMismatchError
	if !errors.Is(err, ErrVersionMismatch) || !errors.As(err, &vm) || vm.Ours != 2 || vm.Theirs != 1 {
		t.Fatalf("err = %v", err)
	}

	// A missing version on their side counts as version 0.
	noVersion := a1.Scannable()[2:]
	_, err = CompareScannable(b2.Scannable(), noVersion)
	if !errors.As(err, &vm) || vm.Theirs != 0 {
		t.Errorf("missing version: err = %v", err)
	}
}

func TestMismatches(t *testing.T) {
	kp := func() curve.PublicKey {
		k, err := curve.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k.Public
	}
	a, b, m := kp(), kp(), kp()
	const aliceID, bobID = "+14152222222", "+14153333333"
	tests := []struct {
		name   string
		aLocal []byte
		aLKey  curve.PublicKey
		aRKey  curve.PublicKey
		want   bool
	}{
		{"matching", []byte(aliceID), a, b, true},
		{"man in the middle key", []byte(aliceID), a, m, false},
		{"different identifier", []byte("+141512222222"), a, b, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fa, err := New(1, 1024, tt.aLocal, tt.aLKey, []byte(bobID), tt.aRKey)
			if err != nil {
				t.Fatal(err)
			}
			fb, err := New(1, 1024, []byte(bobID), b, []byte(aliceID), a)
			if err != nil {
				t.Fatal(err)
			}
			if len(fa.Displayable()) != 60 {
				t.Errorf("displayable has %d digits", len(fa.Displayable()))
			}
			if (fa.Displayable() == fb.Displayable()) != tt.want {
				t.Errorf("displayable equal = %v", !tt.want)
			}
			for _, pair := range [][2]*Fingerprint{{fa, fb}, {fb, fa}} {
				ok, err := pair[0].Compare(pair[1].Scannable())
				if err != nil || ok != tt.want {
					t.Errorf("compare = %v, %v", ok, err)
				}
			}
		})
	}
}

func TestIterations(t *testing.T) {
	k, _ := curve.GenerateKeyPair(rand.Reader)
	for _, n := range []int{-1, 0, 1, MaxIterations + 1} {
		if _, err := New(2, n, nil, k.Public, nil, k.Public); !errors.Is(err, ErrInvalidIterations) {
			t.Errorf("iterations %d: err = %v", n, err)
		}
	}
	if _, err := New(2, 2, nil, k.Public, nil, k.Public); err != nil {
		t.Errorf("iterations 2: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	v, alice, bob := loadVectors(t)
	a, _ := New(1, v.Iterations, []byte(v.AliceID), alice, []byte(v.BobID), bob)
	b, _ := New(1, v.Iterations, []byte(v.BobID), bob, []byte(v.AliceID), alice)
	ours, theirs := a.Scannable(), b.Scannable()

	// From java NumericFingerprintGeneratorTest.testFingerprintParsingFail:
	// bump the length of their local content past the end of its message.
	bumped := bytes.Clone(theirs)
	bumped[5]++

	field := func(num protowire.Number, content []byte) []byte {
		inner := protowire.AppendTag(nil, 1, protowire.BytesType)
		inner = protowire.AppendBytes(inner, content)
		out := protowire.AppendTag(nil, num, protowire.BytesType)
		return protowire.AppendBytes(out, inner)
	}
	version1 := []byte{0x08, 0x01}
	local := field(2, bytes.Repeat([]byte{1}, 32))
	remote := field(3, bytes.Repeat([]byte{2}, 32))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// Version 1 sent as a length-delimited field: prost fails to decode it.
	badVersionType := cat([]byte{0x0a, 0x01, 0x01}, local, remote)
	// Content as a varint: prost fails too.
	badContentType := cat(version1, []byte{0x12, 0x02, 0x08, 0x01}, remote)

	tests := []struct {
		name         string
		ours, theirs []byte
	}{
		{"their length bumped", ours, bumped},
		{"their garbage", ours, []byte{0xff, 0xff}},
		{"their local missing", ours, cat(version1, remote)},
		{"their remote missing", ours, cat(version1, local)},
		{"their local empty message", ours, cat(version1, []byte{0x12, 0x00}, remote)},
		{"their version wrong wire type", ours, badVersionType},
		{"their content wrong wire type", ours, badContentType},
		{"our version missing", cat(local, remote), theirs},
		{"our local missing", cat(version1, remote), theirs},
		{"our remote missing", cat(version1, local), theirs},
		{"ours empty", nil, theirs},
		{"ours truncated", ours[:len(ours)-1], theirs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := CompareScannable(tt.ours, tt.theirs)
			if ok || !errors.Is(err, ErrParse) {
				t.Errorf("got %v, %v; want ErrParse", ok, err)
			}
		})
	}

	// Unknown fields are skipped, and an empty content is present (it
	// simply does not match).
	withUnknown := cat(theirs, []byte{0x20, 0x05})
	if ok, err := CompareScannable(ours, withUnknown); !ok || err != nil {
		t.Errorf("unknown field: %v, %v", ok, err)
	}
	emptyContent := cat(version1, field(2, nil), field(3, nil))
	if ok, err := CompareScannable(ours, emptyContent); ok || err != nil {
		t.Errorf("empty contents: %v, %v", ok, err)
	}
}

// TestCompareConformance replays comparisons of malformed and unusual
// scannable fingerprints whose outcome was recorded from libsignal.
func TestCompareConformance(t *testing.T) {
	b, err := os.ReadFile("testdata/compare.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Cases []struct {
			Name   string   `json:"name"`
			Ours   hexBytes `json:"ours"`
			Theirs hexBytes `json:"theirs"`
			Want   string   `json:"want"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range d.Cases {
		t.Run(c.Name, func(t *testing.T) {
			ok, err := CompareScannable(c.Ours, c.Theirs)
			got := fmt.Sprint(ok)
			switch {
			case errors.Is(err, ErrVersionMismatch):
				got = "version_mismatch"
			case errors.Is(err, ErrParse):
				got = "parse"
			case err != nil:
				got = "unexpected error: " + err.Error()
			}
			if got != c.Want {
				t.Errorf("got %s, want %s", got, c.Want)
			}
		})
	}
}
