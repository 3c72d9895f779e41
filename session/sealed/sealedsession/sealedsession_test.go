package sealedsession

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"samizdat/session"
	"samizdat/session/curve"
	"samizdat/session/sealed"
)

type party struct {
	addr  session.Address
	id    curve.KeyPair
	store *session.MemoryStore
}

func newParty(t *testing.T, name string, device, reg uint32) *party {
	t.Helper()
	id, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &party{addr: session.Address{Name: name, DeviceID: device}, id: id, store: session.NewMemoryStore(id, reg)}
}

// connect opens a session from a to b with b's bundle.
func connect(t *testing.T, a, b *party, reg uint32, now time.Time) {
	t.Helper()
	ctx := context.Background()
	signed, err := session.GenerateSignedPreKey(b.id, 1, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kyber, err := session.GenerateKyberPreKey(b.id, 1, true, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.StoreSignedPreKey(ctx, signed); err != nil {
		t.Fatal(err)
	}
	if err := b.store.StoreKyberPreKey(ctx, kyber); err != nil {
		t.Fatal(err)
	}
	bundle := &session.PreKeyBundle{
		RegistrationID: reg, DeviceID: b.addr.DeviceID,
		SignedPreKeyID: signed.ID, SignedPreKey: signed.KeyPair.Public, SignedPreKeySignature: signed.Signature,
		KyberPreKeyID: kyber.ID, KyberPreKey: kyber.KeyPair.Public, KyberPreKeySignature: kyber.Signature,
		IdentityKey: b.id.Public,
	}
	if err := session.ProcessPreKeyBundle(ctx, a.store.Stores(), a.addr, b.addr, bundle, now, rand.Reader); err != nil {
		t.Fatal(err)
	}
}

func certFor(t *testing.T, p *party, exp time.Time) (*sealed.SenderCertificate, curve.PublicKey) {
	t.Helper()
	root, _ := curve.GenerateKeyPair(rand.Reader)
	server, _ := curve.GenerateKeyPair(rand.Reader)
	sc, err := sealed.NewServerCertificate(1, server.Public, root.Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sealed.NewSenderCertificate(sealed.SenderCertificateParams{
		SenderUUID: p.addr.Name, DeviceID: p.addr.DeviceID, Key: p.id.Public, Expiration: exp,
	}, sc, server.Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c, root.Public
}

func TestSealedSession(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	alice := newParty(t, "9d0652a3-dcc3-4d11-975f-74d61598733f", 1, 1111)
	bob := newParty(t, "796abedb-ca4e-4f18-8803-1fde5b921f9f", 1, 2222)
	connect(t, alice, bob, 2222, now)
	cert, root := certFor(t, alice, now.Add(time.Hour))

	env, err := Encrypt(ctx, alice.store.Stores(), alice.addr, bob.addr, cert, []byte("hello sealed"), now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Decrypt(ctx, bob.store.Stores(), bob.addr, "", env, root, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Plaintext) != "hello sealed" || res.Sender != alice.addr || res.Content.Type() != sealed.TypePreKey {
		t.Fatalf("result %+v", res)
	}

	// Bob answers; alice's reply is a Whisper message, sealed v2 this time.
	bobCert, bobRoot := certFor(t, bob, now.Add(time.Hour))
	env, err = Encrypt(ctx, bob.store.Stores(), bob.addr, alice.addr, bobCert, []byte("hi"), now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := Decrypt(ctx, alice.store.Stores(), alice.addr, "", env, bobRoot, now, rand.Reader); err != nil || string(res.Plaintext) != "hi" {
		t.Fatalf("reply: %v", err)
	}
	msg, err := session.Encrypt(ctx, alice.store.Stores(), alice.addr, bob.addr, []byte("multi"), now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sealed.NewContent(sealed.MessageType(msg.Type()), cert, msg.Bytes(), sealed.HintResendable, nil)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := EncryptMulti(ctx, alice.store.Stores(), []session.Address{bob.addr}, nil, c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sealed.ParseSentMessage(sent)
	if err != nil {
		t.Fatal(err)
	}
	r := &m.Recipients[0]
	if r.Devices[0].RegistrationID != 2222 {
		t.Fatalf("registration id %d", r.Devices[0].RegistrationID)
	}
	res, err = Decrypt(ctx, bob.store.Stores(), bob.addr, "", m.ReceivedMessage(r), root, now, rand.Reader)
	if err != nil || string(res.Plaintext) != "multi" {
		t.Fatalf("v2: %v", err)
	}

	// Errors: expired certificate, self-send, no session, sender-key inner.
	env, _ = Encrypt(ctx, alice.store.Stores(), alice.addr, bob.addr, cert, []byte("late"), now, rand.Reader)
	if _, err := Decrypt(ctx, bob.store.Stores(), bob.addr, "", env, root, now.Add(2*time.Hour), rand.Reader); !errors.Is(err, sealed.ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := Decrypt(ctx, bob.store.Stores(), alice.addr, "", env, root, now, rand.Reader); !errors.Is(err, sealed.ErrSelfSend) {
		t.Errorf("self-send: %v", err)
	}
	carol := newParty(t, "aaaaaaaa-7000-11eb-b32a-33b8a8a487a6", 1, 3333)
	if _, err := Encrypt(ctx, alice.store.Stores(), alice.addr, carol.addr, cert, []byte("x"), now, rand.Reader); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("no session: %v", err)
	}
	if _, err := EncryptMulti(ctx, alice.store.Stores(), []session.Address{carol.addr}, nil, c, rand.Reader); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("multi, no session: %v", err)
	}
	sk, _ := sealed.NewContent(sealed.TypeSenderKey, cert, []byte("group"), sealed.HintImplicit, []byte{1})
	env, _ = EncryptContent(ctx, alice.store, bob.addr, sk, rand.Reader)
	res, err = Decrypt(ctx, bob.store.Stores(), bob.addr, "", env, root, now, rand.Reader)
	if !errors.Is(err, ErrUnexpectedType) || res == nil || string(res.Content.Contents()) != "group" {
		t.Errorf("sender-key inner: %v", err)
	}
}

func TestResultDoesNotPrintPlaintext(t *testing.T) {
	r := Result{Sender: session.Address{Name: "a", DeviceID: 2}, Plaintext: []byte("secret plaintext")}
	got := fmt.Sprintf("%v %+v %#v %s %x", r, r, r, &r, &r)
	if strings.Contains(got, "secret") || strings.Contains(got, fmt.Sprintf("%x", "secret")) {
		t.Fatalf("result prints its plaintext: %s", got)
	}
	if want := "sealedsession.Result{sender:a.2 plaintext:16 bytes}"; !strings.Contains(got, want) {
		t.Fatalf("printed %q, want %q", got, want)
	}
}
