package sealed

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/pb"
)

func keyPair(t testing.TB) curve.KeyPair {
	t.Helper()
	kp, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// zeroRoot is libsignal's test trust root: the private key of all zeros.
func zeroRoot(t testing.TB) curve.PublicKey {
	k, err := curve.NewPrivateKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

func senderCertFrom(t *testing.T, certificate, signature []byte) *SenderCertificate {
	t.Helper()
	raw, err := proto.Marshal(&pb.SenderCertificate{Certificate: certificate, Signature: signature})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseSenderCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Vectors from libsignal's sealed_sender.rs unit tests.
func TestLibsignalCertificateVectors(t *testing.T) {
	tests := []struct {
		name, cert, sig string
	}{
		{
			// test_lossless_round_trip: uuid string and an unknown field 999.
			"unknown field",
			"100119697a0000000000002221056c9d1f8deb82b9a898f9c277a1b74989ec009afb5c0acb5e8e69e3d5ca29d6322a690a2508011221053b03ca070e6f6b2f271d32f27321689cdf4e59b106c10b58fbe15063ed868a5a124024bc92954e52ad1a105b5bda85c9db410dcfeb42a671b45a523b3a46e9594a8bde0efc671d8e8e046b32c67f59b80a46ffdf24071850779bc21325107902af89322461616161616161612d373030302d313165622d623332612d333362386138613438376136ba3e136372617368696e6720726967687420646f776e",
			"a22d8f86f5d00794f319add821e342c6ffffb6b34f741e569f8b321ab0255f2d1757ecf648e53a3602cae8f09b3fc80dcf27534d67efd272b6739afc31f75c8c",
		},
		{
			// test_uuid_bytes_representation.
			"uuid bytes",
			"100119697a000000000000222105e083a8ce423d1c1955174107a85a6a7f3bcbf566723624077f75eafe8e0a07752a690a25080112210507a24397ae27d06fa76d2f02cfb5546e0b23a7e0c3670c1eb1e73b135a8e1e4d12407d127509ae1f5e9dcaa511793d3e94350dcb269e4ca54500da6e1f4dc13d95940c15badef019edfe8666315500c54e4489d4b83f6ce79c7f65c9772a1a83d88c3a10aaaaaaaa700011ebb32a33b8a8a487a6",
			"755c428e9bf6ba367152f1e545834649b4e8f70df8383a352a953fdb774862af5d42fab573fc52b90ad47c331c36f93b1a4fa7a2504917d895452ffe7f44bd0e",
		},
		{
			// test_known_server_cert: signer referenced by id 0x7357C357.
			"known server certificate",
			"100119697a000000000000222105d75b13e15c7700079dd226f51e5a790ba395e819e88a74d0cf5cedfad8b4334840d786df9a07322461616161616161612d373030302d313165622d623332612d333362386138613438376136",
			"e62667bce627caed56ca2ab309b6ae7bc890a30a7482c0e1fd77ec9c3b7528abfd45c8c42b240509a71d973ef5e0f1dbd2685fe01410f0fdbaa8fb247a67e08f",
		},
	}
	root := zeroRoot(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := senderCertFrom(t, unhex(t, tt.cert), unhex(t, tt.sig))
			if c.SenderUUID() != "aaaaaaaa-7000-11eb-b32a-33b8a8a487a6" || c.DeviceID() != 1 || c.ExpirationMillis() != 31337 {
				t.Fatalf("fields: %q %d %d", c.SenderUUID(), c.DeviceID(), c.ExpirationMillis())
			}
			if _, ok := c.SenderE164(); ok {
				t.Error("unexpected e164")
			}
			if err := c.Validate(root, time.UnixMilli(31336)); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if err := c.Validate(root, time.UnixMilli(31337)); err != nil {
				t.Fatalf("validate at expiry: %v", err)
			}
			if err := c.Validate(root, time.UnixMilli(31338)); !errors.Is(err, ErrExpired) {
				t.Fatalf("after expiry: err = %v", err)
			}
			if err := c.Validate(keyPair(t).Public, time.UnixMilli(0)); !errors.Is(err, ErrUntrusted) {
				t.Fatalf("other root: err = %v", err)
			}
		})
	}
}

func TestKnownServerCertificates(t *testing.T) {
	roots := map[uint32]string{
		2:          "BYhU6tPjqP46KGZEzRs1OL4U39V5dlPJ/X09ha4rErkm",
		3:          "BUkY0I+9+oPgDCn4+Ac6Iu813yvqkDr/ga8DzLxFxuk6",
		0x7357C357: "BS/lfaNHzWJDFSjarF+7KQcw//aEr8TPwu2QmV9Yyzt0",
	}
	if len(roots) != len(knownServerCertificates) {
		t.Fatal("known certificate list changed")
	}
	for id, b64 := range roots {
		raw, _ := base64.StdEncoding.DecodeString(b64)
		root, err := curve.DecodePublicKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		c := knownServerCertificates[id]
		if c.KeyID() != id {
			t.Errorf("%#x: id %#x", id, c.KeyID())
		}
		if err := c.Validate(root); err != nil {
			t.Errorf("%#x: %v", id, err)
		}
	}
	// The test root is the all-zeros private key.
	raw, _ := base64.StdEncoding.DecodeString(roots[0x7357C357])
	if !bytes.Equal(zeroRoot(t).Bytes(), raw) {
		t.Error("all-zeros private key does not give libsignal's test root")
	}
}

func TestServerCertificate(t *testing.T) {
	root, server := keyPair(t), keyPair(t)
	c, err := NewServerCertificate(1, server.Public, root.Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseServerCertificate(c.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(root.Public); err != nil {
		t.Fatal(err)
	}
	if p.KeyID() != 1 || !p.Key().Equal(server.Public) {
		t.Fatal("fields differ")
	}
	if err := p.Validate(server.Public); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("wrong root: err = %v", err)
	}
	// Every single-bit flip fails to parse or to validate.
	data := bytes.Clone(c.Bytes())
	for b := range len(data) * 8 {
		data[b/8] ^= 1 << (b % 8)
		if p, err := ParseServerCertificate(data); err == nil {
			if p.Validate(root.Public) == nil {
				t.Fatalf("bit %d flipped still validates", b)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("bit %d: untyped error %v", b, err)
		}
		data[b/8] ^= 1 << (b % 8)
	}

	revoked, err := NewServerCertificate(0xDEADC357, server.Public, root.Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := revoked.Validate(root.Public); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked: err = %v", err)
	}
}

func issue(t testing.TB, root, server, sender curve.KeyPair, serverID uint32, exp time.Time) *SenderCertificate {
	t.Helper()
	sc, err := NewServerCertificate(serverID, server.Public, root.Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewSenderCertificate(SenderCertificateParams{
		SenderUUID: "9d0652a3-dcc3-4d11-975f-74d61598733f",
		SenderE164: "+14152222222",
		DeviceID:   42,
		Key:        sender.Public,
		Expiration: exp,
	}, sc, server.Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSenderCertificate(t *testing.T) {
	root, server, sender := keyPair(t), keyPair(t), keyPair(t)
	exp := time.UnixMilli(1605722925)
	c := issue(t, root, server, sender, 1, exp)
	if err := c.Validate(root.Public, exp); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(root.Public, exp.Add(time.Millisecond)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: err = %v", err)
	}
	if err := c.ValidateWithTrustRoots([]curve.PublicKey{keyPair(t).Public, root.Public}, exp); err != nil {
		t.Fatalf("second root: %v", err)
	}
	p, err := ParseSenderCertificate(c.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := p.SenderE164(); !ok || e != "+14152222222" || p.DeviceID() != 42 || !p.Key().Equal(sender.Public) || !p.Expiration().Equal(exp) {
		t.Fatal("fields differ")
	}

	// Signed by a key other than the server certificate's.
	sc, _ := NewServerCertificate(1, server.Public, root.Private, rand.Reader)
	forged, err := NewSenderCertificate(SenderCertificateParams{SenderUUID: "x", DeviceID: 1, Key: sender.Public, Expiration: exp}, sc, keyPair(t).Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := forged.Validate(root.Public, exp); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged: err = %v", err)
	}
	// Revoked signer.
	if err := issue(t, root, server, sender, 0xDEADC357, exp).Validate(root.Public, exp); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked signer: err = %v", err)
	}

	// Every single-bit flip fails to parse or to validate.
	data := bytes.Clone(c.Bytes())
	for b := range len(data) * 8 {
		data[b/8] ^= 1 << (b % 8)
		if p, err := ParseSenderCertificate(data); err == nil {
			err := p.Validate(root.Public, exp)
			if err == nil {
				t.Fatalf("bit %d flipped still validates", b)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("bit %d: untyped error %v", b, err)
		}
		data[b/8] ^= 1 << (b % 8)
	}

	for _, bad := range []SenderCertificateParams{{DeviceID: 0, Key: sender.Public}, {DeviceID: 128, Key: sender.Public}} {
		if _, err := NewSenderCertificate(bad, sc, server.Private, rand.Reader); err == nil {
			t.Errorf("device %d accepted", bad.DeviceID)
		}
	}
}

func TestUnknownServerCertificateID(t *testing.T) {
	server := keyPair(t)
	inner, _ := proto.Marshal(&pb.SenderCertificate_Certificate{
		SenderUuid:   &pb.SenderCertificate_Certificate_UuidString{UuidString: "u"},
		SenderDevice: proto.Uint32(1),
		Expires:      proto.Uint64(1),
		IdentityKey:  server.Public.Bytes(),
		Signer:       &pb.SenderCertificate_Certificate_Id{Id: 77},
	})
	sig, _ := server.Private.Sign(rand.Reader, inner)
	c := senderCertFrom(t, inner, sig)
	if err := c.Validate(zeroRoot(t), time.UnixMilli(0)); !errors.Is(err, ErrUnknownServerCertificate) {
		t.Fatalf("err = %v", err)
	}
}
