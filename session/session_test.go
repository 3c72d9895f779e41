package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"
	"time"

	"samizdat/session/curve"
)

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func testRand(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mrand.NewChaCha8(s)
}

// party is one device with its stores and a supply of prekeys.
type party struct {
	addr  Address
	store *MemoryStore
	rand  io.Reader
	next  uint32
}

func newParty(t testing.TB, name string, seed uint64) *party {
	t.Helper()
	r := testRand(seed)
	id, err := curve.GenerateKeyPair(r)
	if err != nil {
		t.Fatal(err)
	}
	return &party{
		addr:  Address{Name: name, DeviceID: 1},
		store: NewMemoryStore(id, uint32(seed)+1000),
		rand:  r,
		next:  1,
	}
}

func (p *party) stores() Stores { return p.store.Stores() }

// bundle makes fresh prekeys, stores them and returns the bundle.
func (p *party) bundle(t testing.TB, oneTime, lastResort bool) *PreKeyBundle {
	t.Helper()
	ctx := context.Background()
	id := p.store.identity
	p.next++
	signed, err := GenerateSignedPreKey(id, p.next, testNow, p.rand)
	if err != nil {
		t.Fatal(err)
	}
	kyber, err := GenerateKyberPreKey(id, p.next, lastResort, testNow, p.rand)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.store.StoreSignedPreKey(ctx, signed); err != nil {
		t.Fatal(err)
	}
	if err := p.store.StoreKyberPreKey(ctx, kyber); err != nil {
		t.Fatal(err)
	}
	b := &PreKeyBundle{
		RegistrationID:        p.store.registrationID,
		DeviceID:              p.addr.DeviceID,
		SignedPreKeyID:        signed.ID,
		SignedPreKey:          signed.KeyPair.Public,
		SignedPreKeySignature: signed.Signature,
		KyberPreKeyID:         kyber.ID,
		KyberPreKey:           kyber.KeyPair.Public,
		KyberPreKeySignature:  kyber.Signature,
		IdentityKey:           id.Public,
	}
	if oneTime {
		pks, err := GeneratePreKeys(p.next*100, 1, p.rand)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.store.StorePreKey(ctx, pks[0]); err != nil {
			t.Fatal(err)
		}
		b.HasPreKey, b.PreKeyID, b.PreKey = true, pks[0].ID, pks[0].KeyPair.Public
	}
	return b
}

func (p *party) encrypt(t testing.TB, to *party, msg string) CiphertextMessage {
	t.Helper()
	ct, err := Encrypt(context.Background(), p.stores(), p.addr, to.addr, []byte(msg), testNow, p.rand)
	if err != nil {
		t.Fatalf("%s encrypt: %v", p.addr, err)
	}
	return ct
}

func (p *party) decrypt(from *party, ct CiphertextMessage) ([]byte, error) {
	parsed, err := ParseCiphertextMessage(ct.Type(), ct.Bytes())
	if err != nil {
		return nil, err
	}
	return Decrypt(context.Background(), p.stores(), p.addr, from.addr, parsed, p.rand)
}

func (p *party) mustDecrypt(t testing.TB, from *party, ct CiphertextMessage, want string) {
	t.Helper()
	got, err := p.decrypt(from, ct)
	if err != nil {
		t.Fatalf("%s decrypt: %v", p.addr, err)
	}
	if string(got) != want {
		t.Fatalf("%s decrypted %q, want %q", p.addr, got, want)
	}
}

func (p *party) sessionBytes(t testing.TB, with *party) []byte {
	t.Helper()
	rec, err := p.store.LoadSession(context.Background(), with.addr)
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil {
		return nil
	}
	b, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	aliceACI = "9d0652a3-dcc3-4d11-975f-74d61598733f"
	bobACI   = "796abedb-ca4e-4f18-8803-1fde5b921f9f"
)

// establish runs setup and one round trip, so both sides send
// SignalMessages afterwards.
func establish(t testing.TB, oneTime bool) (alice, bob *party) {
	t.Helper()
	alice, bob = newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	b := bob.bundle(t, oneTime, false)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	ct := alice.encrypt(t, bob, "hello bob")
	if ct.Type() != TypePreKey {
		t.Fatalf("first message type %d", ct.Type())
	}
	bob.mustDecrypt(t, alice, ct, "hello bob")
	reply := bob.encrypt(t, alice, "hello alice")
	if reply.Type() != TypeWhisper {
		t.Fatalf("reply type %d", reply.Type())
	}
	alice.mustDecrypt(t, bob, reply, "hello alice")
	return alice, bob
}

func TestSessionSetupAndConversation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		oneTime bool
	}{{"with one-time prekey", true}, {"without one-time prekey", false}} {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob := establish(t, tc.oneTime)
			ct := alice.encrypt(t, bob, "after ack")
			if ct.Type() != TypeWhisper {
				t.Fatalf("after ack type %d", ct.Type())
			}
			bob.mustDecrypt(t, alice, ct, "after ack")
			// Several turns with several messages per turn.
			for turn := 0; turn < 6; turn++ {
				from, to := alice, bob
				if turn%2 == 1 {
					from, to = bob, alice
				}
				for i := 0; i < 3; i++ {
					msg := fmt.Sprintf("turn %d msg %d", turn, i)
					to.mustDecrypt(t, from, from.encrypt(t, to, msg), msg)
				}
			}
			if _, err := bob.store.PreKey(context.Background(), 300); !errors.Is(err, ErrNoPreKey) {
				t.Errorf("one-time prekey still present: %v", err)
			}
			if _, err := bob.store.KyberPreKey(context.Background(), 3); !errors.Is(err, ErrNoPreKey) {
				t.Errorf("one-time kyber prekey still present: %v", err)
			}
		})
	}
}

func TestUnacknowledgedSessionKeepsSendingPreKeyMessages(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	b := bob.bundle(t, true, false)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	var cts []CiphertextMessage
	for i := 0; i < 3; i++ {
		ct := alice.encrypt(t, bob, fmt.Sprint("m", i))
		if ct.Type() != TypePreKey {
			t.Fatalf("message %d type %d", i, ct.Type())
		}
		cts = append(cts, ct)
	}
	// Delivered out of order; all but the first find the session by base key.
	bob.mustDecrypt(t, alice, cts[2], "m2")
	bob.mustDecrypt(t, alice, cts[0], "m0")
	bob.mustDecrypt(t, alice, cts[1], "m1")
	// A replayed PreKeySignalMessage is a duplicate.
	if _, err := bob.decrypt(alice, cts[0]); !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("replay: %v", err)
	}
}

func TestOutOfOrderDropsAndDuplicates(t *testing.T) {
	alice, bob := establish(t, true)
	const n = 40
	cts := make([]CiphertextMessage, n)
	for i := range cts {
		cts[i] = alice.encrypt(t, bob, fmt.Sprint("msg ", i))
	}
	order := mrand.New(mrand.NewPCG(1, 2)).Perm(n)
	delivered := map[int]bool{}
	for _, i := range order {
		if i%7 == 3 { // dropped
			continue
		}
		bob.mustDecrypt(t, alice, cts[i], fmt.Sprint("msg ", i))
		delivered[i] = true
	}
	// A reply and an answer move the ratchet on; old chains still work.
	alice.mustDecrypt(t, bob, bob.encrypt(t, alice, "reply"), "reply")
	bob.mustDecrypt(t, alice, alice.encrypt(t, bob, "new chain"), "new chain")
	bob.mustDecrypt(t, alice, cts[3], "msg 3") // a dropped one arrives late

	for i := range delivered {
		before := bob.sessionBytes(t, alice)
		_, err := bob.decrypt(alice, cts[i])
		if !errors.Is(err, ErrDuplicateMessage) {
			t.Fatalf("duplicate %d: %v", i, err)
		}
		if !bytes.Equal(before, bob.sessionBytes(t, alice)) {
			t.Fatalf("duplicate %d changed the stored session", i)
		}
	}
}

// advanceSender moves alice's sending chain forward by n without sending.
func advanceSender(t *testing.T, p, with *party, n int) {
	t.Helper()
	ctx := context.Background()
	rec, err := p.store.LoadSession(ctx, with.addr)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := senderChainKey(rec.current)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		ck = ck.next()
	}
	rec.current.SenderChain.ChainKey = chainKeyPB(ck)
	if err := p.store.StoreSession(ctx, with.addr, rec); err != nil {
		t.Fatal(err)
	}
}

func TestForwardJumpLimit(t *testing.T) {
	t.Run("at the limit", func(t *testing.T) {
		alice, bob := establish(t, true)
		advanceSender(t, alice, bob, MaxForwardJumps)
		bob.mustDecrypt(t, alice, alice.encrypt(t, bob, "far"), "far")
		rec, _ := bob.store.LoadSession(context.Background(), alice.addr)
		for _, c := range rec.current.ReceiverChains {
			if len(c.MessageKeys) > MaxMessageKeys {
				t.Fatalf("%d skipped keys kept", len(c.MessageKeys))
			}
		}
	})
	t.Run("beyond the limit", func(t *testing.T) {
		alice, bob := establish(t, true)
		advanceSender(t, alice, bob, MaxForwardJumps+1)
		ct := alice.encrypt(t, bob, "too far")
		before := bob.sessionBytes(t, alice)
		_, err := bob.decrypt(alice, ct)
		if !errors.Is(err, ErrTooFarAhead) || !errors.Is(err, ErrInvalidMessage) {
			t.Fatalf("got %v", err)
		}
		if !bytes.Equal(before, bob.sessionBytes(t, alice)) {
			t.Fatal("failed decrypt changed the stored session")
		}
	})
}

func TestSessionResetArchivedSessionStillDecrypts(t *testing.T) {
	alice, bob := establish(t, true)
	late := alice.encrypt(t, bob, "sent before the reset")

	// Alice starts over with a new bundle of Bob's.
	b := bob.bundle(t, true, false)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	ct := alice.encrypt(t, bob, "new session")
	if ct.Type() != TypePreKey {
		t.Fatalf("type %d", ct.Type())
	}
	bob.mustDecrypt(t, alice, ct, "new session")
	alice.mustDecrypt(t, bob, bob.encrypt(t, alice, "ack"), "ack")

	rec, _ := bob.store.LoadSession(context.Background(), alice.addr)
	if len(rec.previous) != 1 {
		t.Fatalf("%d archived sessions", len(rec.previous))
	}
	newBase := rec.current.AliceBaseKey
	bob.mustDecrypt(t, alice, late, "sent before the reset")
	rec, _ = bob.store.LoadSession(context.Background(), alice.addr)
	if bytes.Equal(rec.current.AliceBaseKey, newBase) {
		t.Fatal("archived session was not promoted")
	}
	if len(rec.previous) != 1 {
		t.Fatalf("%d archived sessions after promotion", len(rec.previous))
	}
}

func TestArchiveLimit(t *testing.T) {
	rec := NewSessionRecord()
	for i := 0; i < ArchivedStatesMaxLength+5; i++ {
		rec.promoteState(newTestState(byte(i)))
	}
	if len(rec.previous) != ArchivedStatesMaxLength {
		t.Fatalf("%d archived", len(rec.previous))
	}
}

func TestTamperedMessages(t *testing.T) {
	alice, bob := establish(t, true)
	ct := alice.encrypt(t, bob, "genuine")
	good := ct.Bytes()
	flip := func(i int) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= 0x01
		return b
	}
	cases := []struct {
		name    string
		bytes   []byte
		wantErr error
	}{
		{"bad mac", flip(len(good) - 1), ErrBadMAC},
		{"flipped ciphertext", flip(len(good) - 12), ErrBadMAC},
		{"legacy version", append([]byte{0x22}, good[1:]...), ErrLegacyVersion},
		{"future version", append([]byte{0x55}, good[1:]...), ErrUnknownVersion},
		{"truncated", good[:5], ErrTruncated},
		{"empty", nil, ErrTruncated},
		{"garbled", append([]byte{good[0]}, bytes.Repeat([]byte{0xff}, 30)...), ErrMalformed},
		{"mac cut", good[:len(good)-1], ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := bob.sessionBytes(t, alice)
			var err error
			msg, perr := ParseSignalMessage(tc.bytes)
			if perr != nil {
				err = perr
			} else {
				_, err = DecryptSignalMessage(context.Background(), bob.stores(), bob.addr, alice.addr, msg, bob.rand)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if !bytes.Equal(before, bob.sessionBytes(t, alice)) {
				t.Fatal("failed decrypt changed the stored session")
			}
		})
	}
	bob.mustDecrypt(t, alice, ct, "genuine")
}

func TestTamperedPreKeyMessage(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	b := bob.bundle(t, true, false)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	ct := alice.encrypt(t, bob, "first")
	good := ct.Bytes()
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1 // inner MAC
	msg, err := ParsePreKeySignalMessage(bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecryptPreKeyMessage(context.Background(), bob.stores(), bob.addr, alice.addr, msg, bob.rand)
	if !errors.Is(err, ErrBadMAC) || !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("got %v", err)
	}
	if bob.sessionBytes(t, alice) != nil {
		t.Fatal("session stored after failed prekey message")
	}
	if _, err := bob.store.PreKey(context.Background(), b.PreKeyID); err != nil {
		t.Fatalf("one-time prekey consumed by failed message: %v", err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"legacy", append([]byte{0x11}, good[1:]...), ErrLegacyVersion},
		{"future", append([]byte{0x54}, good[1:]...), ErrUnknownVersion},
		{"garbled", append([]byte{good[0]}, 0x0a, 0xff), ErrMalformed},
		{"truncated", good[:len(good)/2], ErrMalformed},
	} {
		if _, err := ParsePreKeySignalMessage(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	bob.mustDecrypt(t, alice, ct, "first")
}

func TestAddressBinding(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	b := bob.bundle(t, true, false)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	ct := alice.encrypt(t, bob, "bound").(*PreKeySignalMessage)
	if len(ct.Message().addresses) != 36 {
		t.Fatalf("addresses field of %d bytes", len(ct.Message().addresses))
	}
	// Bob believes the message came from another device of Alice's.
	other := Address{Name: aliceACI, DeviceID: 2}
	_, err := DecryptPreKeyMessage(context.Background(), bob.stores(), bob.addr, other, ct, bob.rand)
	if !errors.Is(err, ErrBadMAC) {
		t.Fatalf("got %v", err)
	}
	bob.mustDecrypt(t, alice, ct, "bound")

	// Names that are not service IDs are not bound.
	carol, dave := newParty(t, "carol", 3), newParty(t, "dave", 4)
	if err := ProcessPreKeyBundle(context.Background(), carol.stores(), carol.addr, dave.addr, dave.bundle(t, false, true), testNow, carol.rand); err != nil {
		t.Fatal(err)
	}
	ct2 := carol.encrypt(t, dave, "unbound").(*PreKeySignalMessage)
	if ct2.Message().addresses != nil {
		t.Fatal("addresses set for non-service-id names")
	}
	dave.mustDecrypt(t, carol, ct2, "unbound")
}

func TestUntrustedIdentity(t *testing.T) {
	alice, bob := establish(t, true)
	// Bob reinstalls: same address, new identity.
	bob2 := newParty(t, bobACI, 22)
	err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob2.addr, bob2.bundle(t, true, false), testNow, alice.rand)
	var ue *UntrustedIdentityError
	if !errors.Is(err, ErrUntrustedIdentity) || !errors.As(err, &ue) || ue.Address != bob.addr {
		t.Fatalf("got %v", err)
	}
	// Incoming session from the new identity is refused as well.
	if err := ProcessPreKeyBundle(context.Background(), bob2.stores(), bob2.addr, alice.addr, alice.bundle(t, true, false), testNow, bob2.rand); err != nil {
		t.Fatal(err)
	}
	_, err = alice.decrypt(bob2, bob2.encrypt(t, alice, "it's me"))
	if !errors.Is(err, ErrUntrustedIdentity) {
		t.Fatalf("got %v", err)
	}
	// After the user accepts the new identity, it works.
	if _, err := alice.store.SaveIdentity(context.Background(), bob.addr, bob2.store.identity.Public); err != nil {
		t.Fatal(err)
	}
	alice.mustDecrypt(t, bob2, bob2.encrypt(t, alice, "it's me"), "it's me")
}

func TestBundleSignatures(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	good := bob.bundle(t, true, false)
	if err := good.Verify(); err != nil {
		t.Fatal(err)
	}
	badSigned := *good
	badSigned.SignedPreKeySignature = append([]byte(nil), good.SignedPreKeySignature...)
	badSigned.SignedPreKeySignature[3] ^= 1
	badKyber := *good
	badKyber.KyberPreKeySignature = append([]byte(nil), good.KyberPreKeySignature...)
	badKyber.KyberPreKeySignature[3] ^= 1
	swapped := *good
	swapped.SignedPreKeySignature, swapped.KyberPreKeySignature = good.KyberPreKeySignature, good.SignedPreKeySignature
	for name, b := range map[string]*PreKeyBundle{"signed": &badSigned, "kyber": &badKyber, "swapped": &swapped} {
		err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand)
		if !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if alice.sessionBytes(t, bob) != nil {
		t.Fatal("session stored for a bad bundle")
	}
}

func TestLastResortKyberKey(t *testing.T) {
	bob := newParty(t, bobACI, 2)
	b := bob.bundle(t, false, true)
	for i, name := range []string{"9d0652a3-dcc3-4d11-975f-74d61598733f", "0d0652a3-dcc3-4d11-975f-74d61598733f"} {
		alice := newParty(t, name, uint64(10+i))
		if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
			t.Fatal(err)
		}
		bob.mustDecrypt(t, alice, alice.encrypt(t, bob, "hi"), "hi")
	}
	if _, err := bob.store.KyberPreKey(context.Background(), b.KyberPreKeyID); err != nil {
		t.Fatalf("last-resort key removed: %v", err)
	}
	// The same base key again (a replay to a fresh session record) is refused.
	ctx := context.Background()
	err := bob.store.MarkKyberPreKeyUsed(ctx, b.KyberPreKeyID, b.SignedPreKeyID, bob.store.identity.Public)
	if err != nil {
		t.Fatal(err)
	}
	err = bob.store.MarkKyberPreKeyUsed(ctx, b.KyberPreKeyID, b.SignedPreKeyID, bob.store.identity.Public)
	if !errors.Is(err, ErrReusedBaseKey) {
		t.Fatalf("got %v", err)
	}
}

func TestStaleUnacknowledgedSession(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, bob.bundle(t, true, false), testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	later := testNow.Add(MaxUnacknowledgedSessionAge + time.Hour)
	_, err := Encrypt(context.Background(), alice.stores(), alice.addr, bob.addr, []byte("x"), later, alice.rand)
	if !errors.Is(err, ErrNoSession) {
		t.Fatalf("got %v", err)
	}
	rec, _ := alice.store.LoadSession(context.Background(), bob.addr)
	if rec.HasUsableSenderChain(later) || !rec.HasUsableSenderChain(testNow) {
		t.Fatal("HasUsableSenderChain disagrees with Encrypt")
	}
}

func TestNoSession(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	if _, err := Encrypt(context.Background(), alice.stores(), alice.addr, bob.addr, []byte("x"), testNow, alice.rand); !errors.Is(err, ErrNoSession) {
		t.Fatalf("encrypt: %v", err)
	}
	a2, b2 := establish(t, true)
	ct := a2.encrypt(t, b2, "x")
	if _, err := alice.decrypt(bob, ct); !errors.Is(err, ErrNoSession) {
		t.Fatalf("decrypt: %v", err)
	}
}

func TestMissingPreKeys(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	b := bob.bundle(t, true, false)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	ct := alice.encrypt(t, bob, "x")
	if err := bob.store.RemovePreKey(context.Background(), b.PreKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.decrypt(alice, ct); !errors.Is(err, ErrNoPreKey) {
		t.Fatalf("got %v", err)
	}
}

func TestSelfSession(t *testing.T) {
	me := newParty(t, aliceACI, 1)
	other := &party{addr: Address{Name: aliceACI, DeviceID: 2}, store: NewMemoryStore(me.store.identity, 77), rand: testRand(9), next: 50}
	if err := ProcessPreKeyBundle(context.Background(), me.stores(), me.addr, other.addr, other.bundle(t, true, false), testNow, me.rand); err != nil {
		t.Fatal(err)
	}
	other.mustDecrypt(t, me, me.encrypt(t, other, "note to self"), "note to self")
	advanceSender(t, other, me, MaxForwardJumps+10)
	me.mustDecrypt(t, other, other.encrypt(t, me, "far but self"), "far but self")
}

func TestEncryptRefusesChangedIdentity(t *testing.T) {
	alice, bob := establish(t, true)
	other := newParty(t, bobACI, 33)
	if _, err := alice.store.SaveIdentity(context.Background(), bob.addr, other.store.identity.Public); err != nil {
		t.Fatal(err)
	}
	before := alice.sessionBytes(t, bob)
	_, err := Encrypt(context.Background(), alice.stores(), alice.addr, bob.addr, []byte("x"), testNow, alice.rand)
	if !errors.Is(err, ErrUntrustedIdentity) {
		t.Fatalf("got %v", err)
	}
	if !bytes.Equal(before, alice.sessionBytes(t, bob)) {
		t.Fatal("refused encrypt changed the stored session")
	}
}

func TestX3DHPreKeyMessageRefused(t *testing.T) {
	alice, bob := newParty(t, aliceACI, 1), newParty(t, bobACI, 2)
	b := bob.bundle(t, true, false)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	ct := alice.encrypt(t, bob, "x").(*PreKeySignalMessage)
	legacy, err := newPreKeySignalMessage(preKyberVersion, ct.registrationID, ct.preKeyID, ct.signedPreKeyID,
		nil, nil, ct.baseKey, ct.identityKey, ct.message)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParsePreKeySignalMessage(legacy.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecryptPreKeyMessage(context.Background(), bob.stores(), bob.addr, alice.addr, parsed, bob.rand)
	if !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("got %v", err)
	}
	// Version 4 without a Kyber part does not even parse.
	noKyber, err := newPreKeySignalMessage(CurrentVersion, ct.registrationID, ct.preKeyID, ct.signedPreKeyID,
		nil, nil, ct.baseKey, ct.identityKey, ct.message)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePreKeySignalMessage(noKyber.Bytes()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
}
