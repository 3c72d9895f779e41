package relay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/session/curve"
	"samizdat/session/sealed"
	"samizdat/store/sqlite"
)

// group is a sender's view of some users for multi-recipient sends.
type group struct {
	t       *testing.T
	members []*user
	content *sealed.Content
	sender  curve.KeyPair
}

// newGroup builds a real sealed content from from, with a sender
// certificate the relay issued.
func newGroup(t *testing.T, from *user, members ...*user) *group {
	r := from.dev1().mustOK(&wire.Request{Op: &wire.Request_SenderCertificate{SenderCertificate: &wire.GetSenderCertificate{}}})
	cert, err := sealed.ParseSenderCertificate(r.GetSenderCertificate().GetCertificate())
	if err != nil {
		t.Fatal(err)
	}
	c, err := sealed.NewContent(sealed.TypeSenderKey, cert, []byte("to the group"), sealed.HintResendable, []byte("group-1"))
	if err != nil {
		t.Fatal(err)
	}
	return &group{t: t, members: members, content: c, sender: from.identity}
}

func sid(u *user) sealed.ServiceID { return sealed.NewServiceID(sealed.KindACI, [16]byte(u.account)) }

// message seals the content for every member's device 1 (registration id
// reg(u), 1234 unless tweaked), excluding excluded.
func (g *group) message(reg func(*user) uint32, excluded ...sealed.ServiceID) []byte {
	var dests []sealed.Destination
	for _, u := range g.members {
		r := uint32(1234)
		if reg != nil {
			r = reg(u)
		}
		dests = append(dests, sealed.Destination{ServiceID: sid(u), DeviceID: 1, RegistrationID: r, IdentityKey: u.identity.Public})
	}
	b, err := sealed.EncryptV2(rand.Reader, dests, excluded, g.content, g.sender)
	if err != nil {
		g.t.Fatal(err)
	}
	return b
}

// key is the XOR of the members' access keys.
func (g *group) key() []byte {
	k := make([]byte, 16)
	for _, u := range g.members {
		if u.uak != nil {
			subtle.XORBytes(k, k, u.uak)
		}
	}
	return k
}

func multiReq(msg, key []byte, id int) *wire.Request {
	return &wire.Request{Op: &wire.Request_SendMulti{SendMulti: &wire.SendMultiRecipient{
		Message: msg, AccessKey: key, Timestamp: 99, EnvelopeId: envID(id)}}}
}

// expectSealed waits for one delivery on u's device 1 and opens it.
func expectSealed(t *testing.T, e *env, u *user, id int) {
	t.Helper()
	p := u.dev1().nextPush()
	d := p.GetDelivery()
	if d == nil {
		t.Fatalf("%s: push %v, want a delivery", u.name, p)
	}
	if !bytes.Equal(d.Id, envID(id)) || d.Type != 6 || len(d.SourceAccount) != 0 || d.SourceDevice != 0 || d.Timestamp != 99 {
		t.Fatalf("%s: delivery %x type %d source %x/%d ts %d", u.name, d.Id, d.Type, d.SourceAccount, d.SourceDevice, d.Timestamp)
	}
	c, err := sealed.Decrypt(d.Content, u.identity, e.trustRoot.Public, time.Now(), sealed.Local{UUID: "x", DeviceID: 1})
	if err != nil {
		t.Fatalf("%s: decrypt: %v", u.name, err)
	}
	if string(c.Contents()) != "to the group" || string(c.GroupID()) != "group-1" {
		t.Fatalf("%s: got %q", u.name, c.Contents())
	}
	u.dev1().mustOK(ack(d.Id))
}

// Both ways of reading the recipients: in one call (memstore and SQLite
// have AccountsBatch) and one by one (a store without it).
func TestMultiRecipientSend(t *testing.T) {
	t.Run("batch", func(t *testing.T) { testMultiRecipientSend(t, newMemstore(t, 0)) })
	t.Run("one by one", func(t *testing.T) { testMultiRecipientSend(t, struct{ relay.Store }{newMemstore(t, 0)}) })
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "relay.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		testMultiRecipientSend(t, st)
	})
}

func testMultiRecipientSend(t *testing.T, st relay.Store) {
	e := newEnvStore(t, st, nil)
	if _, batch := st.(relay.AccountsBatch); batch == strings.HasSuffix(t.Name(), "one_by_one") {
		t.Fatalf("store %T", st)
	}
	alice := e.register("alice", 0)
	members := []*user{e.register("bob", 0), e.register("carol", 0), e.register("dave", 0)}
	for _, u := range members {
		u.dev1().mustOK(startDelivery())
		expectQueueEmpty(t, u.dev1())
	}
	g := newGroup(t, alice, members...)
	anon := e.dial(newKey(t))
	outsider := sealed.NewServiceID(sealed.KindACI, [16]byte{1, 2, 3})

	// From an anonymous channel and from an authenticated one; an excluded
	// recipient (listed without devices) needs no key and gets nothing.
	for i, c := range []*client{anon, alice.dev1()} {
		r := c.mustOK(multiReq(g.message(nil, outsider), g.key(), 10+i))
		if ms := r.GetMultiSent(); ms == nil || len(ms.QuotaExceeded) != 0 {
			t.Fatalf("result %v", r)
		}
		for _, u := range members {
			expectSealed(t, e, u, 10+i)
		}
	}

	// An unknown recipient is denied, like a wrong key.
	ghost := &user{name: "ghost", identity: alice.identity, uak: make([]byte, 16), account: make([]byte, 16)}
	withGhost := newGroup(t, alice, append(members, ghost)...)
	if r := anon.call(multiReq(withGhost.message(nil), withGhost.key(), 15)); r.Status != wire.Status_UNAUTHORIZED {
		t.Fatalf("unknown recipient: %v", r.Status)
	}
	wrong := g.key()
	wrong[3] ^= 4
	if r := anon.call(multiReq(g.message(nil), wrong, 16)); r.Status != wire.Status_UNAUTHORIZED {
		t.Fatalf("wrong key: %v", r.Status)
	}

	// A retry with the same envelope id is not delivered twice.
	msg := g.message(nil)
	anon.mustOK(multiReq(msg, g.key(), 20))
	anon.mustOK(multiReq(msg, g.key(), 20))
	for _, u := range members {
		expectSealed(t, e, u, 20)
		u.dev1().noPush(50 * time.Millisecond)
	}
}

// Access is denied alike for a wrong combined key, a key missing one
// member's share and an unknown recipient; nothing is stored.
func TestMultiRecipientAccessDenied(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.register("alice", 0)
	bob, carol := e.register("bob", 0), e.register("carol", 0)
	for _, u := range []*user{bob, carol} {
		u.dev1().mustOK(startDelivery())
		expectQueueEmpty(t, u.dev1())
	}
	g := newGroup(t, alice, bob, carol)
	anon := e.dial(newKey(t))

	wrong := g.key()
	wrong[0] ^= 1
	ghost := &user{name: "ghost", identity: bob.identity, uak: make([]byte, 16), account: make([]byte, 16)}
	ghost.account[0] = 9
	withGhost := newGroup(t, alice, bob, carol, ghost)
	pni := &user{name: "pni", identity: carol.identity, account: carol.account}

	tests := []struct {
		name     string
		msg, key []byte
	}{
		{"wrong key", g.message(nil), wrong},
		{"only bob's key", g.message(nil), bob.uak},
		{"no key", g.message(nil), make([]byte, 16)},
		{"unknown recipient", withGhost.message(nil), withGhost.key()},
		{"unknown recipient, members' key", withGhost.message(nil), g.key()},
	}
	var reasons []string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := anon.call(multiReq(tt.msg, tt.key, 30+i))
			if r.Status != wire.Status_UNAUTHORIZED || r.Result != nil {
				t.Fatalf("status %v (%s) result %v", r.Status, r.Reason, r.Result)
			}
			reasons = append(reasons, r.Reason)
		})
	}
	if len(reasons) != len(tests) || len(slices.Compact(reasons)) != 1 {
		t.Fatalf("answers differ: %q", reasons)
	}
	// A PNI is not an account here: denied like an unknown one.
	b, err := sealed.EncryptV2(rand.Reader, []sealed.Destination{
		{ServiceID: sid(bob), DeviceID: 1, RegistrationID: 1234, IdentityKey: bob.identity.Public},
		{ServiceID: sealed.NewServiceID(sealed.KindPNI, [16]byte(pni.account)), DeviceID: 1, RegistrationID: 1234, IdentityKey: carol.identity.Public},
	}, nil, g.content, g.sender)
	if err != nil {
		t.Fatal(err)
	}
	if r := anon.call(multiReq(b, g.key(), 40)); r.Status != wire.Status_UNAUTHORIZED {
		t.Fatalf("pni recipient: %v", r.Status)
	}
	bob.dev1().noPush(50 * time.Millisecond)
	carol.dev1().noPush(time.Millisecond)
}

func TestMultiRecipientUnrestricted(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.register("alice", 0), e.register("bob", 0)
	noise := newKey(t)
	c := e.dial(noise)
	ik, _ := curve.GenerateKeyPair(rand.Reader)
	reg := registerReq(t, "open", ik, noise, nil, 0)
	reg.UnrestrictedUnidentifiedAccess = true
	open := &user{name: "open", identity: ik, account: c.mustOK(&wire.Request{Op: &wire.Request_Register{Register: reg}}).GetRegistered().AccountId}
	g := newGroup(t, alice, bob, open)
	// open counts as zero: bob's key alone opens the pair.
	e.dial(newKey(t)).mustOK(multiReq(g.message(nil), bob.uak, 1))
	c.mustOK(startDelivery())
	if d := c.nextPush().GetDelivery(); d == nil || d.Type != 6 {
		t.Fatal("the open account got no delivery")
	}
}

// A stale or missing device of any member refuses the whole request with
// every member's mismatch; nothing is stored.
func TestMultiRecipientMismatch(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob, carol := e.register("alice", 0), e.register("bob", 0), e.register("carol", 0)
	for _, u := range []*user{bob, carol} {
		u.dev1().mustOK(startDelivery())
		expectQueueEmpty(t, u.dev1())
	}
	g := newGroup(t, alice, bob, carol)
	r := alice.dev1().call(multiReq(g.message(func(u *user) uint32 {
		if u == carol {
			return 77
		}
		return 1234
	}), g.key(), 1))
	mm := r.GetMultiMismatch()
	if r.Status != wire.Status_MISMATCHED_DEVICES || mm == nil || len(mm.Recipients) != 1 {
		t.Fatalf("status %v result %v", r.Status, r.Result)
	}
	got := mm.Recipients[0]
	if want := sid(carol); !bytes.Equal(got.ServiceId, want[:]) || !slices.Equal(got.Devices.Stale, []uint32{1}) ||
		len(got.Devices.Missing)+len(got.Devices.Extra) != 0 {
		t.Fatalf("mismatch %v", got)
	}
	// alice's own device in the list is "extra": a device does not send to itself.
	self := newGroup(t, alice, bob, alice)
	r = alice.dev1().call(multiReq(self.message(nil), self.key(), 2))
	if mm := r.GetMultiMismatch(); r.Status != wire.Status_MISMATCHED_DEVICES || len(mm.GetRecipients()) != 1 ||
		!slices.Equal(mm.Recipients[0].Devices.Extra, []uint32{1}) {
		t.Fatalf("self: status %v result %v", r.Status, r.Result)
	}
	bob.dev1().noPush(50 * time.Millisecond)
	carol.dev1().noPush(time.Millisecond)
}

// A malformed v2 message closes the connection that sent it with a reason;
// nothing is stored and everyone else carries on.
func TestMultiRecipientMalformed(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob, mallory := e.register("alice", 0), e.register("bob", 0), e.register("mallory", 0)
	bob.dev1().mustOK(startDelivery())
	expectQueueEmpty(t, bob.dev1())
	g := newGroup(t, alice, bob)
	good := g.message(nil)
	dup := sealed.NewServiceID(sealed.KindACI, [16]byte(bob.account))
	twice := append([]byte{0x23, 2}, dup[:]...)
	twice = append(twice, 1, 0, 1)
	twice = append(twice, make([]byte, 48)...)
	twice = append(twice, dup[:]...)
	twice = append(twice, 1, 0, 1)
	twice = append(twice, make([]byte, 48+32+16)...)

	for _, tt := range []struct {
		name string
		msg  []byte
	}{
		{"truncated in the recipient table", good[:40]},
		{"unknown version", append([]byte{0x11}, good[1:]...)},
		{"empty", nil},
		{"device listed twice", twice},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(mallory.devices[1].noise)
			c.start(multiReq(tt.msg, g.key(), 1))
			if got := c.waitClosed(); got != "malformed multi-recipient message" {
				t.Fatalf("closing reason %q", got)
			}
		})
	}
	bob.dev1().noPush(50 * time.Millisecond)
	alice.dev1().mustOK(ping())
	alice.dev1().mustOK(multiReq(good, g.key(), 2))
	expectSealed(t, e, bob, 2)

	// Bad fields around a good message are ordinary bad requests.
	r := alice.dev1().call(&wire.Request{Op: &wire.Request_SendMulti{SendMulti: &wire.SendMultiRecipient{Message: good, AccessKey: g.key()}}})
	if r.Status != wire.Status_BAD_REQUEST {
		t.Fatalf("no envelope id: %v", r.Status)
	}
	alice.dev1().mustOK(ping())
}

// One full mailbox does not hold the others' copies back: they are stored
// and the full one is named.
func TestMultiRecipientQuota(t *testing.T) {
	e := newEnvStore(t, newMemstore(t, 1), nil)
	alice, bob, carol := e.register("alice", 0), e.register("bob", 0), e.register("carol", 0)
	alice.dev1().mustOK(sendReq(bob, envID(1), "fills bob's mailbox"))
	g := newGroup(t, alice, bob, carol)
	r := alice.dev1().mustOK(multiReq(g.message(nil), g.key(), 2))
	full := r.GetMultiSent().GetQuotaExceeded()
	if want := sid(bob); len(full) != 1 || !bytes.Equal(full[0], want[:]) {
		t.Fatalf("quota exceeded for %x", full)
	}
	// Everyone full now: QUOTA_EXCEEDED.
	if r := alice.dev1().call(multiReq(g.message(nil), g.key(), 3)); r.Status != wire.Status_QUOTA_EXCEEDED || len(r.GetMultiSent().GetQuotaExceeded()) != 2 {
		t.Fatalf("all full: %v %v", r.Status, r.Result)
	}
	carol.dev1().mustOK(startDelivery())
	expectSealed(t, e, carol, 2)
	expectQueueEmpty(t, carol.dev1())
}
