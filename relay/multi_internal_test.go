package relay

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"samizdat/relay/wire"
	"samizdat/session/curve"
	"samizdat/session/sealed"
)

// FuzzParseMulti feeds arbitrary v2 messages to the relay's parser of
// multi-recipient sends: it never panics, and what it accepts is
// consistent: every recipient has 1-127 distinct devices, each copy is a
// v2 received message, and the bounds hold.
func FuzzParseMulti(f *testing.F) {
	ik, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	root, _ := curve.GenerateKeyPair(rand.Reader)
	signer, _ := curve.GenerateKeyPair(rand.Reader)
	sc, err := sealed.NewServerCertificate(1, signer.Public, root.Private, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	cert, err := sealed.NewSenderCertificate(sealed.SenderCertificateParams{SenderUUID: "9d0652a3-dcc3-4d11-975f-74d61598733f",
		DeviceID: 1, Key: ik.Public, Expiration: time.Unix(1e9, 0)}, sc, signer.Private, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	content, err := sealed.NewContent(sealed.TypeSenderKey, cert, []byte("hello"), sealed.HintDefault, nil)
	if err != nil {
		f.Fatal(err)
	}
	a := sealed.NewServiceID(sealed.KindACI, [16]byte{1})
	b := sealed.NewServiceID(sealed.KindPNI, [16]byte{2})
	msg, err := sealed.EncryptV2(rand.Reader, []sealed.Destination{
		{ServiceID: a, DeviceID: 1, RegistrationID: 5, IdentityKey: ik.Public},
		{ServiceID: a, DeviceID: 3, RegistrationID: 6, IdentityKey: ik.Public},
		{ServiceID: b, DeviceID: 2, RegistrationID: 7, IdentityKey: ik.Public},
	}, []sealed.ServiceID{sealed.NewServiceID(sealed.KindACI, [16]byte{3})}, content, ik)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Add(msg[:60])
	f.Add([]byte{0x22, 0})
	f.Add([]byte{0x23, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := parseMulti(&wire.SendMultiRecipient{Message: b, AccessKey: make([]byte, 16), EnvelopeId: make([]byte, 16)})
		if err != nil {
			if _, perr := sealed.ParseSentMessage(b); perr != nil && !errors.Is(err, errMalformedMulti) {
				t.Fatalf("parser refused the message but the error is not malformed: %v", err)
			}
			return
		}
		n := 0
		for _, rc := range ms.recipients {
			if len(rc.msgs) == 0 || len(rc.msgs) > 127 || rc.acct != rc.sid.UUID() {
				t.Fatalf("recipient with %d devices", len(rc.msgs))
			}
			seen := map[uint32]bool{}
			for _, m := range rc.msgs {
				if m.DeviceId < 1 || m.DeviceId > 127 || seen[m.DeviceId] || m.RegistrationId > 0x3fff || m.Type != envelopeTypeSealed {
					t.Fatalf("bad device %v", m)
				}
				seen[m.DeviceId] = true
				if m.Content[0] != 0x22 || len(m.Content) < 1+48+32 || !bytes.Equal(m.Content, rc.msgs[0].Content) {
					t.Fatalf("bad received message of %d bytes", len(m.Content))
				}
				n++
				if n*len(m.Content) > maxMultiBytes {
					t.Fatal("bytes bound not enforced")
				}
			}
		}
		if n != ms.devices || n == 0 || n > maxMultiDevices {
			t.Fatalf("%d devices counted as %d", n, ms.devices)
		}
	})
}
