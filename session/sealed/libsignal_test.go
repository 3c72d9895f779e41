package sealed

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"samizdat/session/curve"
)

// libsignalSealed is testdata/libsignal_sealed.json: certificates, contents
// and sealed v1 and v2 messages produced by libsignal 0.103
// (generator: testdata/gen_libsignal_vectors.mjs).
type libsignalSealed struct {
	TrustRoot, ServerCertificate, SenderCertificate string
	SenderUUID, SenderE164                          string
	SenderDevice                                    uint32
	Expiration                                      int64
	SenderIdentity                                  string
	BobPrivate, BobUUID, CarolPrivate, CarolUUID    string
	Content                                         string
	ContentType                                     MessageType
	ContentHint                                     ContentHint
	GroupID, Inner                                  string
	V1ToBob, V2Sent                                 string
	V2Split                                         map[string]struct {
		DeviceIDs       []uint8  `json:"deviceIds"`
		RegistrationIDs []uint16 `json:"registrationIds"`
		Received        string
	}
	V2Excluded []string
}

func privateKeyPair(t *testing.T, h string) curve.KeyPair {
	t.Helper()
	k, err := curve.NewPrivateKey(unhex(t, h))
	if err != nil {
		t.Fatal(err)
	}
	return curve.KeyPair{Private: k, Public: k.PublicKey()}
}

func TestLibsignalSealedVectors(t *testing.T) {
	var v libsignalSealed
	readJSON(t, "testdata/libsignal_sealed.json", &v)
	root, err := curve.DecodePublicKey(unhex(t, v.TrustRoot))
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(v.Expiration)
	bob, carol := privateKeyPair(t, v.BobPrivate), privateKeyPair(t, v.CarolPrivate)

	sc, err := ParseServerCertificate(unhex(t, v.ServerCertificate))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Validate(root); err != nil {
		t.Fatal(err)
	}
	cert, err := ParseSenderCertificate(unhex(t, v.SenderCertificate))
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := cert.SenderE164(); cert.SenderUUID() != v.SenderUUID || e != v.SenderE164 || cert.DeviceID() != v.SenderDevice ||
		!bytes.Equal(cert.Key().Bytes(), unhex(t, v.SenderIdentity)) {
		t.Fatal("sender certificate fields")
	}
	if err := cert.Validate(root, now); err != nil {
		t.Fatal(err)
	}
	if err := cert.Validate(root, now.Add(time.Millisecond)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}

	check := func(t *testing.T, c *Content) {
		t.Helper()
		if c.Type() != v.ContentType || c.ContentHint() != v.ContentHint || !bytes.Equal(c.GroupID(), unhex(t, v.GroupID)) ||
			!bytes.Equal(c.Contents(), unhex(t, v.Inner)) || !bytes.Equal(c.Sender().Bytes(), unhex(t, v.SenderCertificate)) {
			t.Fatal("content fields")
		}
	}
	// Our encoding of the same content is libsignal's, byte for byte.
	c, err := ParseContent(unhex(t, v.Content))
	if err != nil {
		t.Fatal(err)
	}
	check(t, c)
	again, err := NewContent(c.Type(), c.Sender(), c.Contents(), c.ContentHint(), c.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), unhex(t, v.Content)) {
		t.Fatalf("content encoding differs from libsignal's\n got %x\nwant %s", again.Bytes(), v.Content)
	}

	t.Run("v1", func(t *testing.T) {
		got, err := Decrypt(unhex(t, v.V1ToBob), bob, root, now, Local{UUID: v.BobUUID, DeviceID: 1})
		if err != nil {
			t.Fatal(err)
		}
		check(t, got)
		if _, err := DecryptToContent(unhex(t, v.V1ToBob), carol); !errors.Is(err, ErrInvalidMessage) {
			t.Fatalf("wrong recipient: %v", err)
		}
	})

	t.Run("v2", func(t *testing.T) {
		m, err := ParseSentMessage(unhex(t, v.V2Sent))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Recipients) != len(v.V2Split)+len(v.V2Excluded) {
			t.Fatalf("%d recipients", len(m.Recipients))
		}
		for _, x := range v.V2Excluded {
			r, ok := m.Recipient(sid(t, x))
			if !ok || !r.Excluded() {
				t.Fatalf("excluded %s not found", x)
			}
		}
		keys := map[string]curve.KeyPair{v.BobUUID: bob, v.CarolUUID: carol}
		for id, want := range v.V2Split {
			r, ok := m.Recipient(sid(t, id))
			if !ok {
				t.Fatalf("recipient %s missing", id)
			}
			if len(r.Devices) != len(want.DeviceIDs) {
				t.Fatalf("%s: devices %v", id, r.Devices)
			}
			for i, d := range r.Devices {
				if d.DeviceID != want.DeviceIDs[i] || d.RegistrationID != want.RegistrationIDs[i] {
					t.Fatalf("%s: devices %v, want %v %v", id, r.Devices, want.DeviceIDs, want.RegistrationIDs)
				}
			}
			recv := m.ReceivedMessage(r)
			if !bytes.Equal(recv, unhex(t, want.Received)) {
				t.Fatalf("%s: received message differs from libsignal's split", id)
			}
			got, err := Decrypt(recv, keys[id], root, now, Local{UUID: id, DeviceID: 1})
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			check(t, got)
		}
	})
}
