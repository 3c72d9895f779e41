package session

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"

	"samizdat/session/curve"
	"samizdat/session/kem"
)

// eightTorsion is a point of order 8 on edwards25519.
const eightTorsion = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"

func torsionPoint(t *testing.T) *edwards25519.Point {
	t.Helper()
	b, _ := hex.DecodeString(eightTorsion)
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	id := edwards25519.NewIdentityPoint()
	q := new(edwards25519.Point).Set(p)
	for i := 1; i < 8; i++ {
		if q.Equal(id) == 1 {
			t.Fatalf("torsion point has order %d", i)
		}
		q.Add(q, p)
	}
	if q.Equal(id) != 1 {
		t.Fatal("torsion point does not have order 8")
	}
	return p
}

// recipientSetup runs the initiator side and returns what the recipient
// needs, so tests can tamper with the base key.
func recipientSetup(t *testing.T) (recipientParams, handshakeKeys) {
	t.Helper()
	r := testRand(42)
	gen := func() curve.KeyPair {
		kp, err := curve.GenerateKeyPair(r)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	aliceID, aliceBase, bobID, bobSigned := gen(), gen(), gen(), gen()
	bobKyber, err := kem.GenerateKeyPair(r)
	if err != nil {
		t.Fatal(err)
	}
	keys, ct, err := pqxdhInitiate(initiatorParams{
		ourIdentity: aliceID, ourBase: aliceBase, theirIdentity: bobID.Public,
		theirSigned: bobSigned.Public, theirKyber: bobKyber.Public,
	}, r)
	if err != nil {
		t.Fatal(err)
	}
	return recipientParams{
		ourIdentity: bobID, ourSigned: bobSigned, ourKyber: bobKyber,
		theirIdentity: aliceID.Public, theirBase: aliceBase.Public, kyberCiphertext: ct,
	}, keys
}

func TestPQXDHAgreement(t *testing.T) {
	p, alice := recipientSetup(t)
	bob, err := pqxdhAccept(p)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(bob.rootKey) != hex.EncodeToString(alice.rootKey) ||
		hex.EncodeToString(bob.chainKey.key) != hex.EncodeToString(alice.chainKey.key) ||
		hex.EncodeToString(bob.pqAuthKey) != hex.EncodeToString(alice.pqAuthKey) {
		t.Fatal("initiator and recipient disagree")
	}
}

func TestRecipientRejectsBadBaseKeys(t *testing.T) {
	p, _ := recipientSetup(t)
	if !p.theirBase.IsCanonical() {
		t.Fatal("honest base key rejected")
	}
	u := p.theirBase.Raw()

	// Torsioned: add a point of order 8 on the Edwards side.
	fu := edwardsFromMontgomery(t, u)
	tweaked := new(edwards25519.Point).Add(fu, torsionPoint(t))
	torsioned, err := curve.NewPublicKey(tweaked.BytesMontgomery())
	if err != nil {
		t.Fatal(err)
	}
	// High bit set: the same point for X25519, but not a canonical encoding.
	hb := append([]byte(nil), u...)
	hb[31] |= 0x80
	highBit, err := curve.NewPublicKey(hb)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]curve.PublicKey{"torsion": torsioned, "high bit": highBit} {
		q := p
		q.theirBase = k
		if _, err := pqxdhAccept(q); !errors.Is(err, ErrInvalidBaseKey) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func edwardsFromMontgomery(t *testing.T, u []byte) *edwards25519.Point {
	t.Helper()
	// Find the sign-0 Edwards point by trying both encodings of y.
	for _, p := range candidatesFromU(u) {
		if hex.EncodeToString(p.BytesMontgomery()) == hex.EncodeToString(u) {
			return p
		}
	}
	t.Fatal("no Edwards point for u")
	return nil
}

func candidatesFromU(u []byte) []*edwards25519.Point {
	var out []*edwards25519.Point
	y := montgomeryToEdwardsY(u)
	for _, sign := range []byte{0, 0x80} {
		b := append([]byte(nil), y...)
		b[31] |= sign
		if p, err := new(edwards25519.Point).SetBytes(b); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func TestPreKeyMessageWithTorsionedBaseKeyIsRejected(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	b := bob.bundle(t, true, false)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	ct := alice.encrypt(t, bob, "x").(*PreKeySignalMessage)
	u := ct.BaseKey().Raw()
	hb := append([]byte(nil), u...)
	hb[31] |= 0x80
	bad, err := curve.NewPublicKey(hb)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := newPreKeySignalMessage(ct.version, ct.registrationID, ct.preKeyID, ct.signedPreKeyID,
		ct.kyberPreKeyID, ct.kyberCiphertext, bad, ct.identityKey, ct.message)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.decrypt(alice, forged); !errors.Is(err, ErrInvalidBaseKey) {
		t.Fatalf("got %v", err)
	}
}

// montgomeryToEdwardsY returns the encoded Edwards y = (u-1)/(u+1).
func montgomeryToEdwardsY(u []byte) []byte {
	fu, err := new(field.Element).SetBytes(u)
	if err != nil {
		return nil
	}
	one := new(field.Element).One()
	den := new(field.Element).Add(fu, one)
	y := new(field.Element).Multiply(new(field.Element).Subtract(fu, one), new(field.Element).Invert(den))
	return y.Bytes()
}
