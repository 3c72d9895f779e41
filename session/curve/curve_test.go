package curve

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"

	"filippo.io/edwards25519"
)

type vectors struct {
	Agreement []struct {
		AlicePrivate hexBytes `json:"alice_private"`
		AlicePublic  hexBytes `json:"alice_public"`
		BobPrivate   hexBytes `json:"bob_private"`
		BobPublic    hexBytes `json:"bob_public"`
		Shared       hexBytes `json:"shared"`
	} `json:"agreement"`
	Signature []struct {
		Private   hexBytes `json:"private"`
		Public    hexBytes `json:"public"`
		Message   hexBytes `json:"message"`
		Signature hexBytes `json:"signature"`
	} `json:"signature"`
}

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

// vectorFiles hold known answers: vectors.json from libsignal's own tests,
// libsignal-0.103.json produced by the libsignal-client 0.103.0 npm package.
var vectorFiles = []string{"testdata/vectors.json", "testdata/libsignal-0.103.json"}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	var all vectors
	for _, name := range vectorFiles {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var v vectors
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(v.Agreement) == 0 || len(v.Signature) == 0 {
			t.Fatalf("%s: no vectors", name)
		}
		all.Agreement = append(all.Agreement, v.Agreement...)
		all.Signature = append(all.Signature, v.Signature...)
	}
	return all
}

func mustPriv(t *testing.T, b []byte) PrivateKey {
	t.Helper()
	k, err := NewPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustPub(t *testing.T, b []byte) PublicKey {
	t.Helper()
	k, err := DecodePublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAgreementVectors(t *testing.T) {
	for i, v := range loadVectors(t).Agreement {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			alice, bob := mustPriv(t, v.AlicePrivate), mustPriv(t, v.BobPrivate)
			alicePub, bobPub := mustPub(t, v.AlicePublic), mustPub(t, v.BobPublic)
			if !alice.PublicKey().Equal(alicePub) || !bytes.Equal(alice.PublicKey().Bytes(), v.AlicePublic) {
				t.Error("alice public key mismatch")
			}
			if !bob.PublicKey().Equal(bobPub) {
				t.Error("bob public key mismatch")
			}
			s1, err := alice.Agree(bobPub)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := bob.Agree(alicePub)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s1, v.Shared) || !bytes.Equal(s2, v.Shared) {
				t.Errorf("shared secret mismatch: %x %x", s1, s2)
			}
		})
	}
}

func TestSignatureVectors(t *testing.T) {
	for i, v := range loadVectors(t).Signature {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			priv := mustPriv(t, v.Private)
			pub := mustPub(t, v.Public)
			if !priv.PublicKey().Equal(pub) {
				t.Fatal("public key mismatch")
			}
			if !pub.VerifySignature(v.Signature, v.Message) {
				t.Fatal("libsignal signature rejected")
			}
			cut := min(7, len(v.Message))
			if !pub.VerifySignature(v.Signature, v.Message[:cut], nil, v.Message[cut:]) {
				t.Error("libsignal signature rejected for multipart message")
			}
			for j := range v.Signature {
				bad := bytes.Clone(v.Signature)
				bad[j] ^= 1
				if pub.VerifySignature(bad, v.Message) {
					t.Errorf("signature with byte %d flipped accepted", j)
				}
			}
			msg := append(bytes.Clone(v.Message), 0)
			if len(v.Message) > 0 {
				msg = msg[:len(v.Message)]
				msg[0] ^= 1
			}
			if pub.VerifySignature(v.Signature, msg) {
				t.Error("signature accepted for another message")
			}
			// Our own signatures with the same key verify too.
			sig, err := priv.Sign(rand.Reader, v.Message)
			if err != nil {
				t.Fatal(err)
			}
			if !pub.VerifySignature(sig, v.Message) {
				t.Error("own signature rejected")
			}
		})
	}
}

// zeroReader supplies deterministic (all-zero) randomness.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestSignDeterministicGivenRandomness(t *testing.T) {
	k := mustPriv(t, bytes.Repeat([]byte{7}, 32))
	a, err := k.Sign(zeroReader{}, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Sign(zeroReader{}, []byte("hel"), []byte("lo"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("multipart signing differs from signing the concatenation")
	}
	c, err := k.Sign(rand.Reader, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Error("signature does not depend on randomness")
	}
	if _, err := k.Sign(bytes.NewReader(make([]byte, 63)), []byte("x")); err == nil {
		t.Error("short randomness accepted")
	}
}

func TestSignVerifyRandom(t *testing.T) {
	signBits := map[byte]bool{}
	for i := range 64 {
		kp, err := GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, i*7)
		rand.Read(msg)
		sig, err := kp.Private.Sign(rand.Reader, msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 64 {
			t.Fatalf("signature length %d", len(sig))
		}
		signBits[sig[63]>>7] = true
		if !kp.Public.VerifySignature(sig, msg) {
			t.Fatal("signature rejected")
		}
		other, _ := GenerateKeyPair(rand.Reader)
		if other.Public.VerifySignature(sig, msg) {
			t.Fatal("signature accepted under another key")
		}
	}
	if len(signBits) != 2 {
		t.Error("sign bit never varied across 64 keys")
	}
}

// groupOrder is l = 2^252 + 27742317777372353535851937790883648493.
var groupOrder, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

func leBytesToInt(b []byte) *big.Int {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(r)
}

func intToLE32(x *big.Int) []byte {
	be := x.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return be
}

// TestVerifyScalarRules checks libsignal's rules for s: the top bit is the
// sign bit, the next two bits must be zero, and otherwise s is reduced
// modulo l (so s + l is accepted when it fits).
func TestVerifyScalarRules(t *testing.T) {
	msg := []byte("scalar rules")
	var checkedPlusL, checkedHigh bool
	for range 32 {
		kp, _ := GenerateKeyPair(rand.Reader)
		sig, _ := kp.Private.Sign(rand.Reader, msg)
		sign := sig[63] & 0x80
		s := leBytesToInt(append(bytes.Clone(sig[32:63]), sig[63]&0x7F))

		if sPlus := new(big.Int).Add(s, groupOrder); sPlus.BitLen() <= 253 {
			alt := append(bytes.Clone(sig[:32]), intToLE32(sPlus)...)
			alt[63] |= sign
			if !kp.Public.VerifySignature(alt, msg) {
				t.Error("s + l (< 2^253) rejected; libsignal accepts it")
			}
			checkedPlusL = true
		}
		for _, bit := range []byte{0x20, 0x40} {
			alt := bytes.Clone(sig)
			alt[63] |= bit
			if kp.Public.VerifySignature(alt, msg) {
				t.Errorf("s with bit %#x in the last byte accepted", bit)
			}
			checkedHigh = true
		}
		flipped := bytes.Clone(sig)
		flipped[63] ^= 0x80
		if kp.Public.VerifySignature(flipped, msg) {
			t.Error("signature with flipped sign bit accepted")
		}
	}
	if !checkedPlusL || !checkedHigh {
		t.Error("scalar rules not exercised")
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	kp, _ := GenerateKeyPair(rand.Reader)
	msg := []byte("m")
	sig, _ := kp.Private.Sign(rand.Reader, msg)
	minusOne := intToLE32(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(20)))
	tests := []struct {
		name string
		key  []byte
		sig  []byte
	}{
		{"empty signature", kp.Public.Raw(), nil},
		{"short signature", kp.Public.Raw(), sig[:63]},
		{"long signature", kp.Public.Raw(), append(bytes.Clone(sig), 0)},
		{"zero signature", kp.Public.Raw(), make([]byte, 64)},
		{"u = -1", minusOne, sig},
		{"zero key", make([]byte, 32), sig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := NewPublicKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if pub.VerifySignature(tt.sig, msg) {
				t.Error("accepted")
			}
		})
	}
}

// TestVerifyIgnoresKeyHighBit: like libsignal (curve25519-dalek), the top
// bit of the u-coordinate is ignored when converting to Edwards form.
func TestVerifyIgnoresKeyHighBit(t *testing.T) {
	kp, _ := GenerateKeyPair(rand.Reader)
	sig, _ := kp.Private.Sign(rand.Reader, []byte("m"))
	raw := kp.Public.Raw()
	raw[31] |= 0x80
	pub, _ := NewPublicKey(raw)
	if !pub.VerifySignature(sig, []byte("m")) {
		t.Error("rejected")
	}
}

func TestDecodePublicKey(t *testing.T) {
	kp, _ := GenerateKeyPair(rand.Reader)
	for kp.Public.Raw()[0] == KeyTypeDJB {
		// The raw key must not itself start with the type byte, or the
		// "raw key without type" case below would parse its first byte as one.
		kp, _ = GenerateKeyPair(rand.Reader)
	}
	good := kp.Public.Bytes()
	badType := bytes.Clone(good)
	badType[0] = 0x01
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"exact", good, nil},
		{"trailing byte", append(bytes.Clone(good), 0), nil},
		{"empty", nil, ErrBadKeyType},
		{"bad type", badType, ErrBadKeyType},
		{"raw key without type", good[1:], ErrBadKeyType},
		{"short", good[:32], ErrBadKeyLength},
		{"type only", good[:1], ErrBadKeyLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := DecodePublicKey(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && (!k.Equal(kp.Public) || !bytes.Equal(k.Bytes(), good)) {
				t.Error("decoded key differs")
			}
		})
	}
	if len(good) != 33 || good[0] != KeyTypeDJB {
		t.Errorf("Bytes() = %x", good)
	}
	if !bytes.Equal(kp.Public.Raw(), good[1:]) {
		t.Error("Raw() is not Bytes() without the type byte")
	}
	for _, n := range []int{0, 31, 33} {
		if _, err := NewPublicKey(make([]byte, n)); !errors.Is(err, ErrBadKeyLength) {
			t.Errorf("NewPublicKey(%d bytes): %v", n, err)
		}
		if _, err := NewPrivateKey(make([]byte, n)); !errors.Is(err, ErrBadKeyLength) {
			t.Errorf("NewPrivateKey(%d bytes): %v", n, err)
		}
	}
}

func TestPrivateKeyClampingAndPublic(t *testing.T) {
	k := mustPriv(t, bytes.Repeat([]byte{0xFF}, 32))
	b := k.Bytes()
	if b[0] != 0xF8 || b[31] != 0x7F {
		t.Errorf("not clamped: %x", b)
	}
	k2 := mustPriv(t, b)
	if !k.Equal(k2) || !bytes.Equal(k2.Bytes(), b) {
		t.Error("clamping is not idempotent")
	}
	for range 16 {
		raw := make([]byte, 32)
		rand.Read(raw)
		k := mustPriv(t, raw)
		ref, err := ecdh.X25519().NewPrivateKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.PublicKey().Raw(), ref.PublicKey().Bytes()) {
			t.Fatal("public key differs from crypto/ecdh")
		}
	}
	if (PrivateKey{}).IsZero() != true || k.IsZero() {
		t.Error("IsZero")
	}
	if !(PublicKey{}).IsZero() || k.PublicKey().IsZero() {
		t.Error("PublicKey.IsZero")
	}
}

func TestAgreeRejectsLowOrder(t *testing.T) {
	kp, _ := GenerateKeyPair(rand.Reader)
	for _, u := range [][]byte{make([]byte, 32), append([]byte{1}, make([]byte, 31)...)} {
		pub, _ := NewPublicKey(u)
		if _, err := kp.Private.Agree(pub); !errors.Is(err, ErrInvalidKeyAgreement) {
			t.Errorf("u=%x: err = %v", u[0], err)
		}
	}
}

// leaks reports whether out shows key in hex (either case), as decimals or
// as Go-syntax hex bytes.
func leaks(out string, key []byte) bool {
	dec := strings.Trim(fmt.Sprint(key[:8]), "[]")
	goHex := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%#v", key[:8]), "[]byte{"), "}")
	return strings.Contains(strings.ToLower(out), hex.EncodeToString(key[:8])) ||
		strings.Contains(out, dec) || strings.Contains(out, goHex)
}

func TestLeaksDetector(t *testing.T) {
	key := bytes.Repeat([]byte{0xA7, 0x13}, 16)
	var arr [32]byte
	copy(arr[:], key)
	type raw struct{ k [32]byte }
	for _, f := range []string{"%v", "%+v", "%#v", "%x", "%X", "%d"} {
		if !leaks(fmt.Sprintf(f, raw{arr}), key) {
			t.Errorf("detector misses %q", f)
		}
	}
}

func TestPrivateKeyRedacted(t *testing.T) {
	kp, _ := GenerateKeyPair(rand.Reader)
	key := kp.Private.Bytes()
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, v := range []any{kp.Private, &kp.Private, kp, &kp} {
			if out := fmt.Sprintf(f, v); leaks(out, key) {
				t.Errorf("Sprintf(%q) leaks the key: %s", f, out)
			}
		}
		// fmt cannot call Format on unexported fields; the key must still
		// not show.
		type holder struct {
			priv  PrivateKey
			pair  KeyPair
			inner struct{ k PrivateKey }
		}
		h := holder{priv: kp.Private, pair: kp}
		h.inner.k = kp.Private
		for _, v := range []any{h, &h, []holder{h}, map[string]holder{"x": h}} {
			if out := fmt.Sprintf(f, v); leaks(out, key) {
				t.Errorf("Sprintf(%q) of a holder leaks the key: %s", f, out)
			}
		}
	}
}

func TestIsCanonical(t *testing.T) {
	// A point of order 8 (from the list of Ed25519 small-order points).
	order8, _ := hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	torsion, err := new(edwards25519.Point).SetBytes(order8)
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		kp, _ := GenerateKeyPair(rand.Reader)
		if !kp.Public.IsCanonical() {
			t.Fatal("honest key not canonical")
		}
		// Tweak the key with each non-trivial torsion point.
		p := new(edwards25519.Point).ScalarBaseMult(kp.Private.scalar())
		tw := new(edwards25519.Point).Set(torsion)
		for i := 1; i < 8; i++ {
			q := new(edwards25519.Point).Add(p, tw)
			tweaked, _ := NewPublicKey(q.BytesMontgomery())
			if tweaked.IsCanonical() {
				t.Errorf("key plus %d·T is canonical", i)
			}
			tw.Add(tw, torsion)
		}
		high := kp.Public.Raw()
		high[31] |= 0x80
		if k, _ := NewPublicKey(high); k.IsCanonical() {
			t.Error("key with the high bit set is canonical")
		}
	}

	fromHex := func(s string) PublicKey {
		b, _ := hex.DecodeString(s)
		k, err := NewPublicKey(b)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// 2^255 - 19 + i for i in 0..18 are non-reduced encodings of i.
	for i := range 19 {
		u := bytes.Repeat([]byte{0xFF}, 32)
		u[31] = 0x7F
		u[0] = byte(0xED + i)
		k, _ := NewPublicKey(u)
		if k.IsCanonical() {
			t.Errorf("2^255-19+%d is canonical", i)
		}
	}
	for _, tc := range []struct {
		u    string
		want bool
	}{
		{"0000000000000000000000000000000000000000000000000000000000000000", false}, // order 2
		{"0100000000000000000000000000000000000000000000000000000000000000", false}, // order 4
		{"0900000000000000000000000000000000000000000000000000000000000000", true},  // base point
		{"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false}, // u = -1
		{"0000000000000000000000000000000000000000000000000000000000000080", false},
	} {
		if got := fromHex(tc.u).IsCanonical(); got != tc.want {
			t.Errorf("IsCanonical(%s) = %v", tc.u, got)
		}
	}
}
