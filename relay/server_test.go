package relay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"samizdat/internal/leaktest"
	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/session/curve"
	"samizdat/session/sealed"
)

func ping() *wire.Request { return &wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}} }

func startDelivery() *wire.Request {
	return &wire.Request{Op: &wire.Request_StartDelivery{StartDelivery: &wire.StartDelivery{}}}
}

func fetch(acct []byte, dev uint32) *wire.Request {
	return &wire.Request{Op: &wire.Request_FetchBundles{FetchBundles: &wire.FetchBundles{AccountId: acct, DeviceId: dev}}}
}

func ack(ids ...[]byte) *wire.Request {
	return &wire.Request{Op: &wire.Request_Ack{Ack: &wire.Ack{EnvelopeIds: ids}}}
}

// expectDeliveries reads pushes and checks they are the given contents in
// order.
func expectDeliveries(t *testing.T, c *client, want ...string) []*wire.Envelope {
	t.Helper()
	var got []*wire.Envelope
	for range want {
		p := c.nextPush()
		d := p.GetDelivery()
		if d == nil {
			t.Fatalf("push %v, want a delivery", p)
		}
		got = append(got, d)
	}
	for i, d := range got {
		if string(d.Content) != want[i] {
			t.Fatalf("delivery %d: %q, want %q", i, d.Content, want[i])
		}
	}
	return got
}

func expectQueueEmpty(t *testing.T, c *client) {
	t.Helper()
	if p := c.nextPush(); p.GetQueueEmpty() == nil {
		t.Fatalf("push %v, want queue empty", p)
	}
}

func TestRegisterFetchSendDeliver(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.register("alice", 2)
	bob := e.register("bob", 2)

	// Lookup and bundle fetch.
	r := alice.dev1().mustOK(&wire.Request{Op: &wire.Request_Lookup{Lookup: &wire.LookupUsername{Username: "Bob"}}})
	found := r.GetFound()
	if found == nil || !bytes.Equal(found.AccountId, bob.account) || !bytes.Equal(found.IdentityKey, bob.identity.Public.Bytes()) || !slices.Equal(found.DeviceIds, []uint32{1}) {
		t.Fatalf("lookup: %v", r)
	}
	if r := alice.dev1().call(&wire.Request{Op: &wire.Request_Lookup{Lookup: &wire.LookupUsername{Username: "nobody"}}}); r.Status != wire.Status_NOT_FOUND {
		t.Fatalf("lookup of nobody: %v", r.Status)
	}
	for i, want := range []struct{ ec, ky uint32 }{{1, 1}, {2, 2}, {0, 1000}} {
		r := alice.dev1().mustOK(fetch(bob.account, 0))
		bs := r.GetBundles().GetBundles()
		if len(bs) != 1 {
			t.Fatalf("fetch %d: %d bundles", i, len(bs))
		}
		b := bs[0]
		if b.DeviceId != 1 || b.RegistrationId != 1234 || !bytes.Equal(b.IdentityKey, bob.identity.Public.Bytes()) {
			t.Fatalf("fetch %d: bundle %v", i, b)
		}
		if !bob.identity.Public.VerifySignature(b.SignedPreKey.Signature, b.SignedPreKey.PublicKey) ||
			!bob.identity.Public.VerifySignature(b.KyberPreKey.Signature, b.KyberPreKey.PublicKey) {
			t.Fatalf("fetch %d: bad signatures", i)
		}
		if got := b.GetPreKey().GetId(); got != want.ec {
			t.Errorf("fetch %d: one-time prekey %d, want %d", i, got, want.ec)
		}
		if got := b.KyberPreKey.Id; got != want.ky {
			t.Errorf("fetch %d: kyber prekey %d, want %d", i, got, want.ky)
		}
	}
	cnt := bob.dev1().mustOK(&wire.Request{Op: &wire.Request_PreKeyCount{PreKeyCount: &wire.PreKeyCountRequest{}}}).GetPreKeyCount()
	if cnt.GetEc() != 0 || cnt.GetKyber() != 0 {
		t.Fatalf("count after fetches: %v", cnt)
	}

	// Backlog while bob is not delivering.
	for i, text := range []string{"one", "two", "three"} {
		r := alice.dev1().mustOK(sendReq(bob, envID(i), text))
		if r.GetSent() == nil {
			t.Fatalf("send: no Sent result")
		}
	}
	bob.dev1().mustOK(startDelivery())
	got := expectDeliveries(t, bob.dev1(), "one", "two", "three")
	for _, d := range got {
		if !bytes.Equal(d.SourceAccount, alice.account) || d.SourceDevice != 1 || d.Type != 2 || d.Timestamp != 42 || d.ServerTimestamp == 0 {
			t.Fatalf("delivery metadata: %v", d)
		}
	}
	expectQueueEmpty(t, bob.dev1())

	// Live.
	alice.dev1().mustOK(sendReq(bob, envID(3), "four"))
	expectDeliveries(t, bob.dev1(), "four")

	// Acked messages are gone on reconnect; unacked ones come again.
	bob.dev1().mustOK(ack(envID(0), envID(1), envID(3)))
	c2 := e.dial(bob.devices[1].noise)
	c2.mustOK(startDelivery())
	expectDeliveries(t, c2, "three")
	expectQueueEmpty(t, c2)
	c2.noPush(50 * time.Millisecond)

	// A retried send (same envelope id) is stored once.
	alice.dev1().mustOK(sendReq(bob, envID(2), "three"))
	c2.noPush(100 * time.Millisecond)
}

func TestAnonymousSession(t *testing.T) {
	e := newEnv(t, nil)
	bob := e.register("bob", 1)
	c := e.dial(newKey(t))
	if r := c.mustOK(ping()); r.GetPong().GetServerTime() == 0 {
		t.Fatalf("pong: %v", r)
	}
	for _, req := range []*wire.Request{
		fetch(bob.account, 0),
		startDelivery(),
		ack(envID(1)),
		sendReq(bob, envID(1), "x"),
		{Op: &wire.Request_Lookup{Lookup: &wire.LookupUsername{Username: "bob"}}},
		{Op: &wire.Request_SenderCertificate{SenderCertificate: &wire.GetSenderCertificate{}}},
		{Op: &wire.Request_PreKeyCount{PreKeyCount: &wire.PreKeyCountRequest{}}},
	} {
		if r := c.call(req); r.Status != wire.Status_UNAUTHENTICATED {
			t.Errorf("%T: %v, want UNAUTHENTICATED", req.Op, r.Status)
		}
	}
	// An unknown op (a newer client's) is a bad request, not a closed
	// connection.
	if r := c.call(&wire.Request{}); r.Status != wire.Status_BAD_REQUEST {
		t.Errorf("empty op: %v", r.Status)
	}
	c.mustOK(ping())
}

func TestRegisterChecks(t *testing.T) {
	e := newEnv(t, nil)
	e.register("taken", 0)
	ik, _ := curve.GenerateKeyPair(rand.Reader)
	other, _ := curve.GenerateKeyPair(rand.Reader)
	tests := []struct {
		name string
		mod  func(r *wire.Register)
		want wire.Status
	}{
		{"ok", func(r *wire.Register) {}, wire.Status_OK},
		{"taken", func(r *wire.Register) { r.Username = "taken" }, wire.Status_CONFLICT},
		{"short name", func(r *wire.Register) { r.Username = "ab" }, wire.Status_BAD_REQUEST},
		{"bad char", func(r *wire.Register) { r.Username = "a b c" }, wire.Status_BAD_REQUEST},
		{"other noise key", func(r *wire.Register) { r.NoiseStaticKey = make([]byte, 32) }, wire.Status_BAD_REQUEST},
		{"bad identity", func(r *wire.Register) { r.IdentityKey = r.IdentityKey[1:] }, wire.Status_BAD_REQUEST},
		{"zero regid", func(r *wire.Register) { r.RegistrationId = 0 }, wire.Status_BAD_REQUEST},
		{"uak length", func(r *wire.Register) { r.UnidentifiedAccessKey = []byte{1} }, wire.Status_BAD_REQUEST},
		{"no signed prekey", func(r *wire.Register) { r.SignedPreKey = nil }, wire.Status_BAD_REQUEST},
		{"signed prekey by other", func(r *wire.Register) { r.SignedPreKey = signed(t, other, 1) }, wire.Status_UNAUTHORIZED},
		{"kyber by other", func(r *wire.Register) { r.LastResortKyberPreKey = kyber(t, other, 1) }, wire.Status_UNAUTHORIZED},
		{"one-time kyber by other", func(r *wire.Register) { r.KyberPreKeys[0] = kyber(t, other, 1) }, wire.Status_UNAUTHORIZED},
		{"bad one-time key", func(r *wire.Register) { r.PreKeys[0].PublicKey = []byte{5, 1} }, wire.Status_BAD_REQUEST},
		{"bad kyber key", func(r *wire.Register) { r.LastResortKyberPreKey.PublicKey = r.LastResortKyberPreKey.PublicKey[:100] }, wire.Status_BAD_REQUEST},
		{"long identity", func(r *wire.Register) { r.IdentityKey = append(r.IdentityKey, 0) }, wire.Status_BAD_REQUEST},
		{"long one-time key", func(r *wire.Register) { r.PreKeys[0].PublicKey = append(r.PreKeys[0].PublicKey, 0) }, wire.Status_BAD_REQUEST},
		{"bad signature bytes", func(r *wire.Register) { r.SignedPreKey.Signature = r.SignedPreKey.Signature[:10] }, wire.Status_UNAUTHORIZED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noise := newKey(t)
			c := e.dial(noise)
			r := registerReq(t, "user_"+tt.name[:2], ik, noise, make([]byte, 16), 1)
			if tt.name == "ok" {
				r.Username = "fresh.user"
			}
			tt.mod(r)
			resp := c.call(&wire.Request{Op: &wire.Request_Register{Register: r}})
			if resp.Status != tt.want {
				t.Fatalf("status %v (%s), want %v", resp.Status, resp.Reason, tt.want)
			}
			if tt.want == wire.Status_OK {
				// The channel is now the device's.
				c.mustOK(&wire.Request{Op: &wire.Request_PreKeyCount{PreKeyCount: &wire.PreKeyCountRequest{}}})
				if again := c.call(&wire.Request{Op: &wire.Request_Register{Register: r}}); again.Status != wire.Status_CONFLICT {
					t.Fatalf("second register: %v", again.Status)
				}
			}
		})
	}
}

func TestDeviceMismatch(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.register("alice", 0)
	bob := e.register("bob", 1)

	// Bob links a second device.
	noise2 := newKey(t)
	r := bob.dev1().mustOK(&wire.Request{Op: &wire.Request_AddDevice{AddDevice: &wire.AddDevice{
		RegistrationId:        77,
		NoiseStaticKey:        noise2.Public[:],
		SignedPreKey:          signed(t, bob.identity, 5),
		LastResortKyberPreKey: kyber(t, bob.identity, 6),
	}}})
	if r.GetRegistered().GetDeviceId() != 2 || !bytes.Equal(r.GetRegistered().GetAccountId(), bob.account) {
		t.Fatalf("add device: %v", r)
	}
	if bs := alice.dev1().mustOK(fetch(bob.account, 0)).GetBundles().GetBundles(); len(bs) != 2 || bs[1].DeviceId != 2 || bs[1].RegistrationId != 77 {
		t.Fatalf("bundles after add device: %v", bs)
	}

	bob.devices[2] = &device{id: 2, regID: 77, noise: noise2}
	mismatch := func(req *wire.Request) *wire.DeviceMismatch {
		t.Helper()
		r := alice.dev1().call(req)
		if r.Status != wire.Status_MISMATCHED_DEVICES || r.GetMismatch() == nil {
			t.Fatalf("status %v (%s), want MISMATCHED_DEVICES", r.Status, r.Reason)
		}
		return r.GetMismatch()
	}
	m := mismatch(sendReq(bob, envID(1), "x", 1))
	if !slices.Equal(m.Missing, []uint32{2}) || len(m.Extra) != 0 || len(m.Stale) != 0 {
		t.Errorf("missing: %v", m)
	}
	m = mismatch(sendReq(bob, envID(1), "x", 1, 2, 3))
	if !slices.Equal(m.Extra, []uint32{3}) || len(m.Missing) != 0 || len(m.Stale) != 0 {
		t.Errorf("extra: %v", m)
	}
	bob.devices[2].regID = 78
	m = mismatch(sendReq(bob, envID(1), "x", 1, 2))
	if !slices.Equal(m.Stale, []uint32{2}) || len(m.Missing) != 0 || len(m.Extra) != 0 {
		t.Errorf("stale: %v", m)
	}
	bob.devices[2].regID = 77
	// Nothing was stored by the refused sends.
	bob.dev1().mustOK(startDelivery())
	expectQueueEmpty(t, bob.dev1())

	alice.dev1().mustOK(sendReq(bob, envID(2), "both", 1, 2))
	expectDeliveries(t, bob.dev1(), "both")
	c2 := e.dial(noise2)
	c2.mustOK(startDelivery())
	expectDeliveries(t, c2, "both")
	expectQueueEmpty(t, c2)

	// A device sending to its own account leaves itself out.
	if r := bob.dev1().call(sendReq(bob, envID(3), "self", 1, 2)); r.Status != wire.Status_MISMATCHED_DEVICES || !slices.Equal(r.GetMismatch().GetExtra(), []uint32{1}) {
		t.Fatalf("send to own account incl. self: %v %v", r.Status, r.GetMismatch())
	}
	bob.dev1().mustOK(sendReq(bob, envID(3), "sync", 2))
	expectDeliveries(t, c2, "sync")

	// Duplicates and unknown accounts are bad requests / not found.
	if r := alice.dev1().call(sendReq(bob, envID(4), "x", 1, 1, 2)); r.Status != wire.Status_BAD_REQUEST {
		t.Errorf("duplicate device: %v", r.Status)
	}
	ghost := &user{account: make([]byte, 16), devices: map[uint32]*device{1: {regID: 1}}}
	if r := alice.dev1().call(sendReq(ghost, envID(4), "x")); r.Status != wire.Status_NOT_FOUND {
		t.Errorf("unknown recipient: %v", r.Status)
	}
}

func TestReplacedConnection(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.register("alice", 0)
	bob := e.register("bob", 0)
	old := bob.dev1()
	old.mustOK(startDelivery())
	expectQueueEmpty(t, old)

	c2 := e.dial(bob.devices[1].noise)
	if p := old.nextPush(); p.GetReplaced() == nil {
		t.Fatalf("old connection got %v, want Replaced", p)
	}
	old.waitClosed()
	c2.mustOK(startDelivery())
	expectQueueEmpty(t, c2)
	alice.dev1().mustOK(sendReq(bob, envID(1), "hi"))
	expectDeliveries(t, c2, "hi")
}

func TestMalformedFrameClosesOnlyThatConnection(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.register("alice", 0)
	bob := e.register("bob", 0)
	mallory := e.register("mallory", 0)
	alice.dev1().mustOK(sendReq(bob, envID(1), "stored"))

	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"garbage", []byte{0xff, 0xff, 0xff, 0x01, 0x02}, "malformed frame"},
		{"empty frame", []byte{}, "malformed frame"},
		{"push from client", mustMarshal(t, &wire.Frame{Body: &wire.Frame_Push{Push: &wire.Push{Body: &wire.Push_QueueEmpty{QueueEmpty: &wire.QueueEmpty{}}}}}), "unexpected frame: a client sends only requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(mallory.devices[1].noise)
			if err := c.nc.WriteFrame(tt.frame); err != nil {
				t.Fatal(err)
			}
			if got := c.waitClosed(); got != tt.want {
				t.Fatalf("closing reason %q, want %q", got, tt.want)
			}
		})
	}
	// Everyone else carries on, and the stored message is still there.
	alice.dev1().mustOK(ping())
	bob.dev1().mustOK(startDelivery())
	expectDeliveries(t, bob.dev1(), "stored")
	expectQueueEmpty(t, bob.dev1())
	alice.dev1().mustOK(sendReq(bob, envID(2), "after"))
	expectDeliveries(t, bob.dev1(), "after")
}

func mustMarshal(t *testing.T, f *wire.Frame) []byte {
	b, err := wire.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdleConnectionClosed(t *testing.T) {
	const timeout = time.Second
	e := newEnv(t, func(c *relay.Config) { c.Limits.ReadTimeout = timeout })
	c := e.dial(newKey(t))
	// Pings back to back keep it open past the timeout (each needs the
	// answer to the one before: the gaps are round trips, not sleeps).
	for start := time.Now(); time.Since(start) < 2*timeout; {
		c.mustOK(ping())
	}
	if got := c.waitClosed(); got != "idle timeout" {
		t.Fatalf("closing reason %q", got)
	}
}

func TestSealedSender(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.register("alice", 0)
	bob := e.register("bob", 0)
	bob.dev1().mustOK(startDelivery())
	expectQueueEmpty(t, bob.dev1())
	anon := e.dial(newKey(t))

	sealedReq := func(key []byte, id int, text string) *wire.Request {
		return &wire.Request{Op: &wire.Request_SendSealed{SendSealed: &wire.SendSealed{
			Recipient:             bob.account,
			UnidentifiedAccessKey: key,
			Timestamp:             7,
			EnvelopeId:            envID(id),
			Messages:              []*wire.OutgoingMessage{{DeviceId: 1, RegistrationId: 1234, Type: 6, Content: []byte(text)}},
		}}}
	}
	wrong := bytes.Clone(bob.uak)
	wrong[15] ^= 1
	for _, tc := range []struct {
		name string
		c    *client
		key  []byte
		want wire.Status
	}{
		{"anonymous right key", anon, bob.uak, wire.Status_OK},
		{"anonymous wrong key", anon, wrong, wire.Status_UNAUTHORIZED},
		{"anonymous no key", anon, nil, wire.Status_UNAUTHORIZED},
		{"authenticated right key", alice.dev1(), bob.uak, wire.Status_OK},
		{"authenticated wrong key", alice.dev1(), wrong, wire.Status_UNAUTHORIZED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.call(sealedReq(tc.key, 1, tc.name))
			if r.Status != tc.want {
				t.Fatalf("status %v (%s), want %v", r.Status, r.Reason, tc.want)
			}
			if tc.want != wire.Status_OK {
				return
			}
			d := expectDeliveries(t, bob.dev1(), tc.name)[0]
			if len(d.SourceAccount) != 0 || d.SourceDevice != 0 || d.Type != 6 {
				t.Fatalf("sealed delivery names a source: %v", d)
			}
			bob.dev1().mustOK(ack(envID(1)))
		})
	}
	// Unknown recipients look the same as a wrong key.
	ghost := sealedReq(bob.uak, 2, "x")
	ghost.GetSendSealed().Recipient = make([]byte, 16)
	if r := anon.call(ghost); r.Status != wire.Status_UNAUTHORIZED {
		t.Fatalf("unknown recipient: %v", r.Status)
	}
	bob.dev1().noPush(50 * time.Millisecond)
}

func TestSealedSenderUnrestricted(t *testing.T) {
	e := newEnv(t, nil)
	noise := newKey(t)
	c := e.dial(noise)
	ik, _ := curve.GenerateKeyPair(rand.Reader)
	reg := registerReq(t, "open", ik, noise, nil, 0)
	reg.UnrestrictedUnidentifiedAccess = true
	acct := c.mustOK(&wire.Request{Op: &wire.Request_Register{Register: reg}}).GetRegistered().AccountId
	anon := e.dial(newKey(t))
	anon.mustOK(&wire.Request{Op: &wire.Request_SendSealed{SendSealed: &wire.SendSealed{
		Recipient:  acct,
		EnvelopeId: envID(1),
		Messages:   []*wire.OutgoingMessage{{DeviceId: 1, RegistrationId: 1234, Type: 6, Content: []byte("hi")}},
	}}})
}

func TestSenderCertificate(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, func(c *relay.Config) { c.Now = func() time.Time { return now } })
	alice := e.register("alice", 0)
	r := alice.dev1().mustOK(&wire.Request{Op: &wire.Request_SenderCertificate{SenderCertificate: &wire.GetSenderCertificate{}}})
	cert, err := sealed.ParseSenderCertificate(r.GetSenderCertificate().GetCertificate())
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.Validate(e.trustRoot.Public, now); err != nil {
		t.Fatalf("validate: %v", err)
	}
	var id relay.AccountID
	copy(id[:], alice.account)
	if cert.SenderUUID() != id.UUID() || cert.DeviceID() != 1 || !cert.Key().Equal(alice.identity.Public) {
		t.Fatalf("certificate names %s/%d", cert.SenderUUID(), cert.DeviceID())
	}
	if got := cert.Expiration().Sub(now); got != relay.DefaultCertificateTTL {
		t.Fatalf("lifetime %v", got)
	}
	if err := cert.Validate(e.trustRoot.Public, now.Add(relay.DefaultCertificateTTL+time.Second)); err == nil {
		t.Fatal("certificate valid after its expiry")
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) {
		c.Limits.Messages = relay.Rate{Burst: 2, PerSecond: 0.001}
		c.Limits.Registrations = relay.Rate{Burst: 3, PerSecond: 0.001}
		c.Limits.PreKeyUploads = relay.Rate{Burst: 1, PerSecond: 0.001}
	})
	alice := e.register("alice", 0)
	bob := e.register("bob", 0)
	carol := e.register("carol", 0)
	for i := range 2 {
		alice.dev1().mustOK(sendReq(bob, envID(i), "ok"))
	}
	r := alice.dev1().call(sendReq(bob, envID(3), "flood"))
	if r.Status != wire.Status_RATE_LIMITED || r.RetryAfterMs == 0 {
		t.Fatalf("third send: %v retry %d", r.Status, r.RetryAfterMs)
	}
	// The limit is per sender and recipient: others are unaffected.
	alice.dev1().mustOK(sendReq(carol, envID(1), "ok"))
	carol.dev1().mustOK(sendReq(bob, envID(9), "ok"))

	// Registrations per source address: three were spent above.
	noise := newKey(t)
	ik, _ := curve.GenerateKeyPair(rand.Reader)
	if r := e.dial(noise).call(&wire.Request{Op: &wire.Request_Register{Register: registerReq(t, "dave", ik, noise, nil, 0)}}); r.Status != wire.Status_RATE_LIMITED {
		t.Fatalf("fourth registration: %v", r.Status)
	}

	up := &wire.Request{Op: &wire.Request_UploadPreKeys{UploadPreKeys: &wire.UploadPreKeys{PreKeys: []*wire.OneTimePreKey{oneTime(t, 9)}}}}
	bob.dev1().mustOK(up)
	if r := bob.dev1().call(up); r.Status != wire.Status_RATE_LIMITED {
		t.Fatalf("second upload: %v", r.Status)
	}
}

func TestQuotaExceeded(t *testing.T) {
	st := newMemstore(t, 2)
	e := newEnvStore(t, st, nil)
	alice := e.register("alice", 0)
	bob := e.register("bob", 0)
	alice.dev1().mustOK(sendReq(bob, envID(1), "a"))
	alice.dev1().mustOK(sendReq(bob, envID(2), "b"))
	if r := alice.dev1().call(sendReq(bob, envID(3), "c")); r.Status != wire.Status_QUOTA_EXCEEDED {
		t.Fatalf("third send: %v", r.Status)
	}
}

func TestConcurrentFetchersNeverShareOneTimeKeys(t *testing.T) {
	const keys, fetchers, perFetcher = 40, 8, 8 // 64 fetches for 40 keys
	e := newEnv(t, nil)
	bob := e.register("bob", 0)
	up := &wire.UploadPreKeys{}
	for i := 1; i <= keys; i++ {
		up.PreKeys = append(up.PreKeys, oneTime(t, uint32(i)))
		up.KyberPreKeys = append(up.KyberPreKeys, kyber(t, bob.identity, uint32(i)))
	}
	bob.dev1().mustOK(&wire.Request{Op: &wire.Request_UploadPreKeys{UploadPreKeys: up}})

	var users []*user
	for i := range fetchers {
		users = append(users, e.register("fetcher"+string(rune('a'+i)), 0))
	}
	var mu sync.Mutex
	ec := map[uint32]int{}
	ky := map[uint32]int{}
	noEC := 0
	var wg sync.WaitGroup
	for _, u := range users {
		// Each fetcher pipelines its fetches on one connection, so they
		// run concurrently in the relay too.
		var chans []<-chan *wire.Response
		for range perFetcher {
			chans = append(chans, u.dev1().start(fetch(bob.account, 1)))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, ch := range chans {
				r := <-ch
				if r.Status != wire.Status_OK {
					t.Errorf("fetch: %v (%s)", r.Status, r.Reason)
					return
				}
				b := r.GetBundles().Bundles[0]
				mu.Lock()
				if b.PreKey != nil {
					ec[b.PreKey.Id]++
				} else {
					noEC++
				}
				ky[b.KyberPreKey.Id]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ec) != keys || noEC != fetchers*perFetcher-keys {
		t.Errorf("%d distinct one-time keys and %d fetches without, want %d and %d", len(ec), noEC, keys, fetchers*perFetcher-keys)
	}
	for id, n := range ec {
		if n != 1 {
			t.Errorf("one-time prekey %d handed out %d times", id, n)
		}
	}
	for id, n := range ky {
		if id != 1000 && n != 1 {
			t.Errorf("one-time kyber prekey %d handed out %d times", id, n)
		}
	}
	if ky[1000] != fetchers*perFetcher-keys {
		t.Errorf("last-resort kyber key handed out %d times, want %d", ky[1000], fetchers*perFetcher-keys)
	}
}

func TestCloseIsIdempotentAndEndsConnections(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.register("alice", 0)
	alice.dev1().mustOK(startDelivery())
	expectQueueEmpty(t, alice.dev1())
	bob := e.dial(newKey(t)) // anonymous
	bob.mustOK(ping())
	e.srv.Close()
	for _, c := range []*client{alice.dev1(), bob} {
		if got := c.waitClosed(); got != "relay shutting down" {
			t.Fatalf("closing reason %q", got)
		}
	}
	e.srv.Close()
	// Close waited for every goroutine of the server: none is left
	// waiting on anything, though one may still be between its deferred
	// wg.Done and its return.
	leaktest.AfterClose(t, "samizdat/relay.(*")
}

func TestBadHandshakes(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) { c.Limits.HandshakeTimeout = 300 * time.Millisecond })
	alice := e.register("alice", 0)

	closedSoon := func(name string, conn net.Conn) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(patience))
		// EOF or a reset: either way the relay hung up. A timeout means it
		// did not.
		var ne net.Error
		if _, err := io.ReadAll(conn); errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: connection not closed by the relay", name)
		}
		conn.Close()
	}
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}

	garbage := dial()
	garbage.Write(bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 100))
	closedSoon("garbage", garbage)

	closedSoon("silent", dial())

	// A client that pins another relay's key fails its handshake.
	raw := dial()
	wrong := newKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if _, err := noisechan.Client(ctx, raw, newKey(t), wrong.Public, nil); !errors.Is(err, noisechan.ErrHandshake) {
		t.Errorf("handshake with the wrong relay key: %v", err)
	}

	alice.dev1().mustOK(ping())
}

// A peer that stops reading cannot hold up the relay's shutdown.
func TestCloseWithStuckPeer(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) { c.Limits.WriteTimeout = time.Hour })
	alice := e.register("alice", 0)
	bob := e.register("bob", 0)
	big := string(bytes.Repeat([]byte("x"), 60<<10))
	for i := range 100 {
		alice.dev1().mustOK(sendReq(bob, envID(i), big))
	}
	// Bob asks for delivery on a channel nobody reads.
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	raw, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := noisechan.Client(ctx, raw, bob.devices[1].noise, e.relayKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := wire.WriteFrame(nc, &wire.Frame{Body: &wire.Frame_Request{Request: &wire.Request{Id: 1, Op: &wire.Request_StartDelivery{StartDelivery: &wire.StartDelivery{}}}}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the relay fill the socket buffers
	// The relay's write to Bob would wait out its WriteTimeout, an hour;
	// Close cuts it short.
	start := time.Now()
	closed := make(chan struct{})
	go func() { e.srv.Close(); close(closed) }()
	select {
	case <-closed:
		t.Logf("Close took %v", time.Since(start))
	case <-time.After(patience):
		t.Fatalf("Close still waiting after %v", patience)
	}
}

// A connection that floods the relay with frames is slowed down; other
// connections are not.
func TestConnectionThrottled(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) { c.Limits.ConnFrames = relay.Rate{Burst: 5, PerSecond: 5} })
	flooder := e.dial(newKey(t))
	other := e.dial(newKey(t))
	start := time.Now()
	var chans []<-chan *wire.Response
	for range 20 {
		chans = append(chans, flooder.start(ping()))
	}
	// The other connection is answered while the flooder still waits:
	// its last ping cannot be answered before 3 s have passed.
	other.mustOK(ping())
	select {
	case <-chans[len(chans)-1]:
		t.Errorf("the flooder's last ping was answered before the other connection's (after %v)", time.Since(start))
	default:
	}
	for _, ch := range chans {
		select {
		case r := <-ch:
			if r.GetPong() == nil {
				t.Fatalf("ping: %v", r)
			}
		case <-time.After(patience):
			t.Fatal("the flooder's pings were not answered")
		}
	}
	if d := time.Since(start); d < 2900*time.Millisecond {
		t.Fatalf("20 frames at 5/s after a burst of 5 took only %v", d)
	}
}
