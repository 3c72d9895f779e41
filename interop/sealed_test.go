package interop

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"samizdat/session/curve"
	"samizdat/session/sealed"
	"samizdat/session/senderkey"
)

// Sealed sender between Go and libsignal. The inner message is a sender-key
// message (so these checks do not depend on pairwise sessions), and where
// noted a session message (which does).

// goSealedSetup is a trust root, server certificate and sender certificate
// issued by the Go library for g.
type goSealedSetup struct {
	root       curve.KeyPair
	serverCert *sealed.ServerCertificate
	senderCert *sealed.SenderCertificate
}

func newGoSealedSetup(t *testing.T, g *goParty, expires time.Time) goSealedSetup {
	t.Helper()
	root, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	server, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sealed.NewServerCertificate(7, server.Public, root.Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := sealed.NewSenderCertificate(sealed.SenderCertificateParams{
		SenderUUID: g.addr.Name, SenderE164: "+15550002222", DeviceID: g.addr.DeviceID,
		Key: g.identity.Public, Expiration: expires,
	}, sc, server.Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return goSealedSetup{root: root, serverCert: sc, senderCert: cert}
}

// TestSealedSenderGoToLibsignal: Go issues certificates and seals; libsignal
// validates and opens.
func TestSealedSenderGoToLibsignal(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	now := time.Now()
	g := newGoParty(t, 2)
	ls := newLsParty(t, ctx, d, "ls-sealed", PartyOptions{})
	lsKey, err := curve.DecodePublicKey(ls.IdentityKey)
	if err != nil {
		t.Fatal(err)
	}
	setup := newGoSealedSetup(t, g, now.Add(time.Hour))

	t.Run("certificate", func(t *testing.T) {
		ci, err := d.ValidateSenderCertificate(ctx, setup.senderCert.Bytes(), setup.root.Public.Bytes(), now)
		if err != nil {
			t.Fatalf("libsignal cannot parse Go's sender certificate: %v", err)
		}
		if !ci.Valid || ci.SenderUUID != g.addr.Name || ci.SenderDeviceID != g.addr.DeviceID ||
			!bytes.Equal(ci.SenderKey, g.identity.Public.Bytes()) || ci.SenderE164 == nil || *ci.SenderE164 != "+15550002222" {
			t.Fatalf("libsignal's view of Go's certificate: %+v", ci)
		}
		if ci, err := d.ValidateSenderCertificate(ctx, setup.senderCert.Bytes(), setup.root.Public.Bytes(), now.Add(2*time.Hour)); err != nil || ci.Valid {
			t.Fatalf("expired certificate: valid=%v, %v", ci.Valid, err)
		}
	})

	t.Run("v1-sender-key-inner", func(t *testing.T) {
		dist, _ := newUUID(t)
		skStore := &senderkey.MemoryStore{}
		goSK := senderkey.SenderAddress{Name: g.addr.Name, DeviceID: g.addr.DeviceID}
		dm, err := senderkey.Create(ctx, skStore, goSK, dist, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := ls.SenderKeyProcess(ctx, g.peer(), dm.Bytes()); err != nil {
			t.Fatal(err)
		}
		inner, err := senderkey.Encrypt(ctx, skStore, goSK, dist, []byte("sealed group hello from go"), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		groupID := bytes.Repeat([]byte{0x42}, 32)
		content, err := sealed.NewContent(sealed.TypeSenderKey, setup.senderCert, inner, sealed.HintResendable, groupID)
		if err != nil {
			t.Fatal(err)
		}
		env, err := sealed.EncryptV1(rand.Reader, content, g.identity, lsKey)
		if err != nil {
			t.Fatal(err)
		}
		u, err := ls.SealedDecryptToUSMC(ctx, env)
		if err != nil {
			t.Fatalf("libsignal cannot open Go's sealed v1 message: %v", err)
		}
		if u.MsgType != 7 || u.ContentHint != 1 || !bytes.Equal(u.GroupID, groupID) || !bytes.Equal(u.SenderCertificate, setup.senderCert.Bytes()) {
			t.Fatalf("libsignal's view of the content: type %d hint %d", u.MsgType, u.ContentHint)
		}
		pt, err := ls.GroupDecrypt(ctx, g.peer(), u.Contents)
		if err != nil || string(pt) != "sealed group hello from go" {
			t.Fatalf("inner group message: %q, %v", pt, err)
		}
	})

	t.Run("v1-session-inner", func(t *testing.T) {
		goOpens(t, ctx, g, ls)
		ct, err := g.encrypt(ctx, ls.Peer(), []byte("sealed session hello from go"))
		if err != nil {
			t.Fatal(err)
		}
		content, err := sealed.NewContent(sealed.MessageType(ct.Type), setup.senderCert, ct.Body, sealed.HintDefault, nil)
		if err != nil {
			t.Fatal(err)
		}
		env, err := sealed.EncryptV1(rand.Reader, content, g.identity, lsKey)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ls.SealedDecrypt(ctx, env, setup.root.Public.Bytes(), now)
		if err != nil {
			t.Fatalf("libsignal sealedDecryptMessage: %v", err)
		}
		if string(r.Plaintext) != "sealed session hello from go" || r.SenderUUID != g.addr.Name || r.DeviceID != g.addr.DeviceID {
			t.Fatalf("libsignal's result: %q from %s.%d", r.Plaintext, r.SenderUUID, r.DeviceID)
		}
	})

	t.Run("v2", func(t *testing.T) { sealedV2GoToLibsignal(t, ctx, d, g, ls, setup) })
}

// TestSealedSenderLibsignalToGo: libsignal issues certificates and seals; Go
// validates and opens.
func TestSealedSenderLibsignalToGo(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	now := time.Now()
	g := newGoParty(t, 1)
	ls := newLsParty(t, ctx, d, "ls-sealed", PartyOptions{DeviceID: 4})
	if err := ls.SaveIdentity(ctx, g.peer(), g.identity.Public.Bytes()); err != nil {
		t.Fatal(err)
	}
	setup, err := d.SealedSetup(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	certBytes, err := d.SenderCertificate(ctx, SenderCertificateRequest{
		SenderUUID: ls.Address, SenderE164: "+15550003333", SenderDeviceID: ls.DeviceID, SenderKey: ls.IdentityKey,
		Expiration: now.Add(time.Hour).UnixMilli(), ServerCertificate: setup.ServerCertificate, ServerPrivate: setup.ServerPrivate,
	})
	if err != nil {
		t.Fatal(err)
	}
	root, err := curve.DecodePublicKey(setup.TrustRootPublic)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("certificate", func(t *testing.T) {
		cert, err := sealed.ParseSenderCertificate(certBytes)
		if err != nil {
			t.Fatalf("Go cannot parse libsignal's sender certificate: %v", err)
		}
		if err := cert.Validate(root, now); err != nil {
			t.Fatalf("Go rejects libsignal's sender certificate: %v", err)
		}
		if err := cert.Validate(root, now.Add(2*time.Hour)); err == nil {
			t.Fatal("Go accepts an expired certificate")
		}
		e164, ok := cert.SenderE164()
		if cert.SenderUUID() != ls.Address || cert.DeviceID() != ls.DeviceID || !ok || e164 != "+15550003333" ||
			!bytes.Equal(cert.Key().Bytes(), ls.IdentityKey) || !bytes.Equal(cert.Bytes(), certBytes) {
			t.Fatal("Go's view of libsignal's certificate differs")
		}
		sc, err := sealed.ParseServerCertificate(setup.ServerCertificate)
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Validate(root); err != nil || sc.KeyID() != 3 {
			t.Fatalf("server certificate: key id %d, %v", sc.KeyID(), err)
		}
	})

	t.Run("v1-sender-key-inner", func(t *testing.T) {
		_, distStr := newUUID(t)
		skdm, err := ls.SenderKeyCreate(ctx, distStr)
		if err != nil {
			t.Fatal(err)
		}
		dm, err := senderkey.ParseDistributionMessage(skdm)
		if err != nil {
			t.Fatal(err)
		}
		lsSK := senderkey.SenderAddress{Name: ls.Address, DeviceID: ls.DeviceID}
		skStore := &senderkey.MemoryStore{}
		if err := senderkey.Process(ctx, skStore, lsSK, dm); err != nil {
			t.Fatal(err)
		}
		groupID := bytes.Repeat([]byte{0x17}, 32)
		env, err := ls.SealedEncryptGroup(ctx, g.peer(), distStr, certBytes, groupID, []byte("sealed group hello from libsignal"))
		if err != nil {
			t.Fatal(err)
		}
		content := goOpenSealed(t, g, env, root, now)
		if content.Type() != sealed.TypeSenderKey || !bytes.Equal(content.GroupID(), groupID) || !bytes.Equal(content.Sender().Bytes(), certBytes) {
			t.Fatalf("Go's view of the content: type %d", content.Type())
		}
		pt, err := senderkey.Decrypt(ctx, skStore, lsSK, content.Contents())
		if err != nil || string(pt) != "sealed group hello from libsignal" {
			t.Fatalf("inner group message: %q, %v", pt, err)
		}
	})

	t.Run("v1-session-inner", func(t *testing.T) {
		lsOpens(t, ctx, ls, g)
		env, err := ls.SealedEncrypt(ctx, g.peer(), certBytes, []byte("sealed session hello from libsignal"))
		if err != nil {
			t.Fatal(err)
		}
		content := goOpenSealed(t, g, env, root, now)
		pt, err := g.decrypt(ctx, ls.Peer(), Ciphertext{Type: int(content.Type()), Body: content.Contents()})
		if err != nil || string(pt) != "sealed session hello from libsignal" {
			t.Fatalf("inner session message: %q, %v", pt, err)
		}
	})

	t.Run("v2", func(t *testing.T) { sealedV2LibsignalToGo(t, ctx, d, g, ls, certBytes, root, now) })
}

// goOpenSealed opens a sealed message addressed to g and validates its
// certificate.
func goOpenSealed(t *testing.T, g *goParty, env []byte, root curve.PublicKey, now time.Time) *sealed.Content {
	t.Helper()
	return goDecryptToContent(t, g, env, root, now)
}
