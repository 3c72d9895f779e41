package interop

import (
	"crypto/rand"
	"testing"

	"samizdat/session/curve"
	"samizdat/session/fingerprint"
)

// TestFingerprintSameSafetyNumber: the same two identities give the same
// safety number (displayable and scannable) in Go and in libsignal, from
// both sides, and each side's scan of the other matches.
func TestFingerprintSameSafetyNumber(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	ls := newLsParty(t, ctx, d, "ls-fp", PartyOptions{})
	lsKey, err := curve.DecodePublicKey(ls.IdentityKey)
	if err != nil {
		t.Fatal(err)
	}
	goID, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u1, _ := newUUID(t)
	u2, _ := newUUID(t)
	ids := []struct {
		name       string
		goID, lsID []byte
	}{
		{"service-ids", u1[:], u2[:]},
		{"phone-numbers", []byte("+14152222222"), []byte("+14153333333")},
	}
	for _, id := range ids {
		t.Run(id.name, func(t *testing.T) {
			// Go's view (local = Go) and libsignal's view (local = libsignal).
			goFP, err := fingerprint.New(2, 5200, id.goID, goID.Public, id.lsID, lsKey)
			if err != nil {
				t.Fatal(err)
			}
			lsFP, err := d.Fingerprint(ctx, id.lsID, ls.IdentityKey, id.goID, goID.Public.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if goFP.Displayable() != lsFP.Displayable {
				t.Fatalf("safety numbers differ:\n go        %s\n libsignal %s", goFP.Displayable(), lsFP.Displayable)
			}
			// The same side computed by both implementations is byte-identical.
			lsAsGo, err := d.Fingerprint(ctx, id.goID, goID.Public.Bytes(), id.lsID, ls.IdentityKey)
			if err != nil {
				t.Fatal(err)
			}
			if string(lsAsGo.Scannable) != string(goFP.Scannable()) {
				t.Errorf("scannable fingerprint bytes differ from libsignal's for the same side")
			}
			if ok, err := goFP.Compare(lsFP.Scannable); err != nil || !ok {
				t.Errorf("Go scanning libsignal's code: match=%v, %v", ok, err)
			}
			if ok, err := d.FingerprintCompare(ctx, lsFP.Scannable, goFP.Scannable()); err != nil || !ok {
				t.Errorf("libsignal scanning Go's code: match=%v, %v", ok, err)
			}
			// A different identity must not match.
			other, _ := curve.GenerateKeyPair(rand.Reader)
			bad, err := fingerprint.New(2, 5200, id.goID, other.Public, id.lsID, lsKey)
			if err != nil {
				t.Fatal(err)
			}
			if bad.Displayable() == lsFP.Displayable {
				t.Error("a different identity gives the same safety number")
			}
			if ok, _ := d.FingerprintCompare(ctx, lsFP.Scannable, bad.Scannable()); ok {
				t.Error("libsignal matched a fingerprint of a different identity")
			}
		})
	}
}
