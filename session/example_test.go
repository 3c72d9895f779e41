package session_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"samizdat/session"
	"samizdat/session/curve"
)

// Bob publishes a bundle; Alice opens a session with it and sends; Bob
// answers on the new session.
func Example() {
	ctx := context.Background()
	now := time.Now()
	aliceAddr := session.Address{Name: "9d0652a3-dcc3-4d11-975f-74d61598733f", DeviceID: 1}
	bobAddr := session.Address{Name: "796abedb-ca4e-4f18-8803-1fde5b921f9f", DeviceID: 1}

	aliceID, _ := curve.GenerateKeyPair(rand.Reader)
	bobID, _ := curve.GenerateKeyPair(rand.Reader)
	alice := session.NewMemoryStore(aliceID, 1111)
	bob := session.NewMemoryStore(bobID, 2222)

	// Bob's prekeys and the bundle a server would hand out.
	signed, _ := session.GenerateSignedPreKey(bobID, 1, now, rand.Reader)
	kyber, _ := session.GenerateKyberPreKey(bobID, 1, true, now, rand.Reader)
	oneTime, _ := session.GeneratePreKeys(100, 1, rand.Reader)
	_ = bob.StoreSignedPreKey(ctx, signed)
	_ = bob.StoreKyberPreKey(ctx, kyber)
	_ = bob.StorePreKey(ctx, oneTime[0])
	bundle := &session.PreKeyBundle{
		RegistrationID: 2222, DeviceID: 1,
		HasPreKey: true, PreKeyID: oneTime[0].ID, PreKey: oneTime[0].KeyPair.Public,
		SignedPreKeyID: signed.ID, SignedPreKey: signed.KeyPair.Public, SignedPreKeySignature: signed.Signature,
		KyberPreKeyID: kyber.ID, KyberPreKey: kyber.KeyPair.Public, KyberPreKeySignature: kyber.Signature,
		IdentityKey: bobID.Public,
	}

	if err := session.ProcessPreKeyBundle(ctx, alice.Stores(), aliceAddr, bobAddr, bundle, now, rand.Reader); err != nil {
		panic(err)
	}
	ct, _ := session.Encrypt(ctx, alice.Stores(), aliceAddr, bobAddr, []byte("hello"), now, rand.Reader)

	// On the wire: ct.Type() and ct.Bytes().
	msg, _ := session.ParseCiphertextMessage(ct.Type(), ct.Bytes())
	plaintext, err := session.Decrypt(ctx, bob.Stores(), bobAddr, aliceAddr, msg, rand.Reader)
	fmt.Println(ct.Type() == session.TypePreKey, string(plaintext), err)

	reply, _ := session.Encrypt(ctx, bob.Stores(), bobAddr, aliceAddr, []byte("hi"), now, rand.Reader)
	plaintext, err = session.Decrypt(ctx, alice.Stores(), aliceAddr, bobAddr, reply, rand.Reader)
	fmt.Println(reply.Type() == session.TypeWhisper, string(plaintext), err)
	// Output:
	// true hello <nil>
	// true hi <nil>
}
