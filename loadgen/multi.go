package loadgen

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"time"

	"samizdat/relay/wire"
	"samizdat/session/curve"
	"samizdat/session/sealed"
)

// sealedGroup seals messages to a group's devices with sealed sender v2,
// as a client sending one message to a group does, and builds the
// SendMultiRecipient that carries one.
type sealedGroup struct {
	dests  []sealed.Destination
	key    []byte // the XOR of the members' unidentified access keys
	cert   *sealed.SenderCertificate
	sender curve.KeyPair
}

// newSealedGroup prepares from's sends to members: a sender certificate
// under a trust root of its own (the relay never reads it; the members
// would check it) and the members' destinations and combined access key.
func newSealedGroup(from ident, members []ident) (*sealedGroup, error) {
	var keys [3]curve.KeyPair // trust root, server certificate key, sender identity
	for i := range keys {
		k, err := curve.GenerateKeyPair(rand.Reader)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	sc, err := sealed.NewServerCertificate(1, keys[1].Public, keys[0].Private, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("loadgen: server certificate: %w", err)
	}
	cert, err := sealed.NewSenderCertificate(sealed.SenderCertificateParams{SenderUUID: from.account.UUID(),
		DeviceID: from.dev, Key: keys[2].Public, Expiration: time.Now().Add(24 * time.Hour)}, sc, keys[1].Private, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("loadgen: sender certificate: %w", err)
	}
	g := &sealedGroup{key: make([]byte, 16), cert: cert, sender: keys[2]}
	for _, m := range members {
		g.dests = append(g.dests, sealed.Destination{ServiceID: sealed.NewServiceID(sealed.KindACI, m.account),
			DeviceID: m.dev, RegistrationID: m.regID, IdentityKey: m.ik})
		subtle.XORBytes(g.key, g.key, m.uak)
	}
	return g, nil
}

// seal encrypts content once for every member.
func (g *sealedGroup) seal(content []byte) ([]byte, error) {
	c, err := sealed.NewContent(sealed.TypeSenderKey, g.cert, content, sealed.HintResendable, []byte("loadgen-group"))
	if err != nil {
		return nil, fmt.Errorf("loadgen: sealed content: %w", err)
	}
	msg, err := sealed.EncryptV2(rand.Reader, g.dests, nil, c, g.sender)
	if err != nil {
		return nil, fmt.Errorf("loadgen: seal: %w", err)
	}
	return msg, nil
}

// request is the SendMultiRecipient carrying msg under envelope id id.
func (g *sealedGroup) request(id, msg []byte) *wire.Request {
	return &wire.Request{Op: &wire.Request_SendMulti{SendMulti: &wire.SendMultiRecipient{
		Message: msg, AccessKey: g.key, Timestamp: uint64(time.Now().UnixMilli()), EnvelopeId: id}}}
}
