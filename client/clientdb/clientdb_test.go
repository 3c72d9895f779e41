package clientdb

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"samizdat/session"
	"samizdat/session/curve"
	"samizdat/session/senderkey"
)

type party struct {
	db   *DB
	addr session.Address
	id   curve.KeyPair
}

func newParty(t *testing.T, name string, regID uint32) *party {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "client.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	id, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := db.Store()
	if err := st.SetMeta(ctx, MetaIdentity, id.Private.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMetaUint32(ctx, MetaRegistrationID, regID); err != nil {
		t.Fatal(err)
	}
	return &party{db: db, addr: session.Address{Name: name, DeviceID: 1}, id: id}
}

// bundle stores a fresh set of prekeys in p and returns the bundle a relay
// would hand out; oneTime and lastResort choose which keys it carries.
func (p *party) bundle(t *testing.T, base uint32, oneTime, lastResort bool) *session.PreKeyBundle {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	st := p.db.Store()
	signed, err := session.GenerateSignedPreKey(p.id, base, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kyber, err := session.GenerateKyberPreKey(p.id, base, lastResort, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StoreSignedPreKey(ctx, signed); err != nil {
		t.Fatal(err)
	}
	if err := st.StoreKyberPreKey(ctx, kyber); err != nil {
		t.Fatal(err)
	}
	reg, _ := st.LocalRegistrationID(ctx)
	b := &session.PreKeyBundle{
		RegistrationID: reg, DeviceID: p.addr.DeviceID,
		SignedPreKeyID: signed.ID, SignedPreKey: signed.KeyPair.Public, SignedPreKeySignature: signed.Signature,
		KyberPreKeyID: kyber.ID, KyberPreKey: kyber.KeyPair.Public, KyberPreKeySignature: kyber.Signature,
		IdentityKey: p.id.Public,
	}
	if oneTime {
		pks, err := session.GeneratePreKeys(base, 1, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.StorePreKey(ctx, pks[0]); err != nil {
			t.Fatal(err)
		}
		b.HasPreKey, b.PreKeyID, b.PreKey = true, pks[0].ID, pks[0].KeyPair.Public
	}
	return b
}

func TestSessionRoundTrip(t *testing.T) {
	ctx := context.Background()
	alice := newParty(t, "9d0652a3-dcc3-4d11-975f-74d61598733f", 1111)
	bob := newParty(t, "796abedb-ca4e-4f18-8803-1fde5b921f9f", 2222)
	for _, tc := range []struct {
		name                string
		oneTime, lastResort bool
	}{
		{"one-time keys", true, false},
		{"last resort only", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bob.bundle(t, uint32(len(tc.name)), tc.oneTime, tc.lastResort)
			now := time.Now()
			if err := session.ProcessPreKeyBundle(ctx, alice.db.Store().Stores(), alice.addr, bob.addr, b, now, rand.Reader); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				msg := fmt.Sprint("hello ", i)
				ct, err := session.Encrypt(ctx, alice.db.Store().Stores(), alice.addr, bob.addr, []byte(msg), now, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				var pt []byte
				// Bob decrypts inside a transaction, as the client does.
				err = bob.db.Tx(ctx, func(s *Store) error {
					m, err := session.ParseCiphertextMessage(ct.Type(), ct.Bytes())
					if err != nil {
						return err
					}
					pt, err = session.Decrypt(ctx, s.Stores(), bob.addr, alice.addr, m, rand.Reader)
					return err
				})
				if err != nil || string(pt) != msg {
					t.Fatalf("decrypt %d: %q %v", i, pt, err)
				}
				reply, err := session.Encrypt(ctx, bob.db.Store().Stores(), bob.addr, alice.addr, []byte("re "+msg), now, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				pt, err = session.Decrypt(ctx, alice.db.Store().Stores(), alice.addr, bob.addr, reply, rand.Reader)
				if err != nil || string(pt) != "re "+msg {
					t.Fatalf("reply %d: %q %v", i, pt, err)
				}
			}
			st := bob.db.Store()
			if tc.oneTime {
				if _, err := st.PreKey(ctx, b.PreKeyID); !errors.Is(err, session.ErrNoPreKey) {
					t.Errorf("one-time prekey not removed: %v", err)
				}
			}
			_, err := st.KyberPreKey(ctx, b.KyberPreKeyID)
			if tc.lastResort && err != nil {
				t.Errorf("last resort kyber key removed: %v", err)
			}
			if !tc.lastResort && !errors.Is(err, session.ErrNoPreKey) {
				t.Errorf("one-time kyber key kept: %v", err)
			}
		})
	}
}

func TestRolledBackDecryptLeavesState(t *testing.T) {
	ctx := context.Background()
	alice := newParty(t, "a", 1)
	bob := newParty(t, "b", 2)
	b := bob.bundle(t, 1, true, false)
	now := time.Now()
	if err := session.ProcessPreKeyBundle(ctx, alice.db.Store().Stores(), alice.addr, bob.addr, b, now, rand.Reader); err != nil {
		t.Fatal(err)
	}
	ct, err := session.Encrypt(ctx, alice.db.Store().Stores(), alice.addr, bob.addr, []byte("x"), now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("crash after decrypt")
	err = bob.db.Tx(ctx, func(s *Store) error {
		if _, err := session.Decrypt(ctx, s.Stores(), bob.addr, alice.addr, ct, rand.Reader); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	// Nothing committed: the redelivered message still decrypts.
	pt, err := session.Decrypt(ctx, bob.db.Store().Stores(), bob.addr, alice.addr, ct, rand.Reader)
	if err != nil || string(pt) != "x" {
		t.Fatalf("after rollback: %q %v", pt, err)
	}
	if _, err := session.Decrypt(ctx, bob.db.Store().Stores(), bob.addr, alice.addr, ct, rand.Reader); err == nil {
		t.Fatal("replay decrypted")
	}
}

func TestIdentityTOFU(t *testing.T) {
	ctx := context.Background()
	p := newParty(t, "me", 1)
	// The change is stamped with the store's time, not the wall clock's.
	changedAt := time.Date(2018, time.April, 16, 12, 0, 0, 0, time.UTC)
	p.db.now = func() time.Time { return changedAt }
	st := p.db.Store()
	k1, _ := curve.GenerateKeyPair(rand.Reader)
	k2, _ := curve.GenerateKeyPair(rand.Reader)
	addr := session.Address{Name: "peer", DeviceID: 1}
	addr2 := session.Address{Name: "peer", DeviceID: 2}
	if ok, _ := st.IsTrustedIdentity(ctx, addr, k1.Public, true); !ok {
		t.Fatal("first use not trusted")
	}
	if changed, err := st.SaveIdentity(ctx, addr, k1.Public); changed || err != nil {
		t.Fatal("first save", changed, err)
	}
	if changed, _ := st.SaveIdentity(ctx, addr2, k1.Public); changed {
		t.Fatal("same identity on another device reported as a change")
	}
	if ok, _ := st.IsTrustedIdentity(ctx, addr2, k2.Public, true); ok {
		t.Fatal("changed identity trusted for sending")
	}
	if ok, _ := st.IsTrustedIdentity(ctx, addr, k2.Public, false); !ok {
		t.Fatal("changed identity refused for receiving")
	}
	if at, _ := st.ChangedIdentity(ctx, "peer"); !at.IsZero() {
		t.Fatal("change reported before any")
	}
	if changed, _ := st.SaveIdentity(ctx, addr, k2.Public); !changed {
		t.Fatal("replacement not reported")
	}
	if at, _ := st.ChangedIdentity(ctx, "peer"); !at.Equal(changedAt) {
		t.Fatalf("change recorded at %v, want %v", at, changedAt)
	}
	got, ok, _ := st.Identity(ctx, addr2)
	if !ok || !got.Equal(k2.Public) {
		t.Fatal("identity not replaced")
	}
	if err := st.AcceptIdentity(ctx, "peer"); err != nil {
		t.Fatal(err)
	}
	if at, _ := st.ChangedIdentity(ctx, "peer"); !at.IsZero() {
		t.Fatal("accepted change still reported")
	}
}

func TestKyberLastResortReuse(t *testing.T) {
	ctx := context.Background()
	p := newParty(t, "me", 1)
	st := p.db.Store()
	k, err := session.GenerateKyberPreKey(p.id, 9, true, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StoreKyberPreKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	base, _ := curve.GenerateKeyPair(rand.Reader)
	if err := st.MarkKyberPreKeyUsed(ctx, 9, 1, base.Public); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkKyberPreKeyUsed(ctx, 9, 1, base.Public); !errors.Is(err, session.ErrReusedBaseKey) {
		t.Fatalf("reused base key: %v", err)
	}
	got, err := st.KyberPreKey(ctx, 9)
	if err != nil || !got.LastResort {
		t.Fatalf("last resort key: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	p := newParty(t, "me", 1)
	pks, err := session.GeneratePreKeys(1, 20, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, pk := range pks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := p.db.Store()
			addr := session.Address{Name: fmt.Sprint("peer", i), DeviceID: 1}
			if err := st.StorePreKey(ctx, pk); err != nil {
				t.Error(err)
			}
			if _, err := st.SaveIdentity(ctx, addr, pk.KeyPair.Public); err != nil {
				t.Error(err)
			}
			if err := st.StoreSession(ctx, addr, session.NewSessionRecord()); err != nil {
				t.Error(err)
			}
			if _, err := st.LoadSession(ctx, addr); err != nil {
				t.Error(err)
			}
			if err := p.db.Tx(ctx, func(s *Store) error { return s.RemovePreKey(ctx, pk.ID) }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, pk := range pks {
		if _, err := p.db.Store().PreKey(ctx, pk.ID); !errors.Is(err, session.ErrNoPreKey) {
			t.Fatalf("prekey %d: %v", pk.ID, err)
		}
	}
}

func TestSenderKeyStore(t *testing.T) {
	ctx := context.Background()
	p := newParty(t, "me", 1)
	st := p.db.Store()
	sender := senderkey.SenderAddress{Name: "peer", DeviceID: 3}
	var dist [16]byte
	rand.Read(dist[:])
	if r, err := st.LoadSenderKey(ctx, sender, dist); r != nil || err != nil {
		t.Fatal("empty store", r, err)
	}
	if _, err := senderkey.Create(ctx, st, sender, dist, rand.Reader); err != nil {
		t.Fatal(err)
	}
	r, err := st.LoadSenderKey(ctx, sender, dist)
	if err != nil || r == nil || len(r.ChainIDs()) != 1 {
		t.Fatal("stored record", err)
	}
}

func TestOutboxInboxContacts(t *testing.T) {
	ctx := context.Background()
	p := newParty(t, "me", 1)
	st := p.db.Store()
	var ids [3][16]byte
	for i := range ids {
		binary.BigEndian.PutUint32(ids[i][:], uint32(i+1))
		if err := st.Enqueue(ctx, Outgoing{EnvelopeID: ids[i], Peer: "bob", Content: []byte{byte(i)}, Timestamp: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Enqueue(ctx, Outgoing{EnvelopeID: ids[0], Peer: "bob"}); err == nil {
		t.Fatal("duplicate envelope id queued")
	}
	if err := st.NoteAttempt(ctx, ids[1], "relay unreachable"); err != nil {
		t.Fatal(err)
	}
	if err := st.Dequeue(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	out, err := st.Outbox(ctx)
	if err != nil || len(out) != 2 || out[0].EnvelopeID != ids[1] || out[0].Attempts != 1 || out[0].LastError != "relay unreachable" || out[1].Content[0] != 2 {
		t.Fatalf("outbox %+v %v", out, err)
	}
	if fresh, _ := st.MarkSeen(ctx, ids[0], time.Now()); !fresh {
		t.Fatal("first mark not fresh")
	}
	if fresh, _ := st.MarkSeen(ctx, ids[0], time.Now()); fresh {
		t.Fatal("second mark fresh")
	}
	if seen, _ := st.Seen(ctx, ids[0]); !seen {
		t.Fatal("not seen")
	}
	if _, err := st.MarkSeen(ctx, ids[1], time.Now().Add(-100*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := st.PruneSeen(ctx, time.Now().Add(-60*24*time.Hour)); n != 1 || err != nil {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if seen, _ := st.Seen(ctx, ids[0]); !seen {
		t.Fatal("recent id pruned")
	}
	acct := [16]byte{1, 2, 3}
	if err := st.PutContact(ctx, Contact{Username: "bob", AccountID: acct, Devices: []uint32{1, 3}, Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetContactAccessKey(ctx, acct, []byte("0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	if err := st.PutContact(ctx, Contact{Username: "bob", AccountID: acct, Devices: []uint32{1, 2, 3}, Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c, err := st.ContactByAccount(ctx, acct)
	if err != nil || c.Username != "bob" || len(c.Devices) != 3 || string(c.AccessKey) != "0123456789abcdef" {
		t.Fatalf("contact %+v %v", c, err)
	}
	if _, err := st.ContactByName(ctx, "carol"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	id, err := st.AddMessage(ctx, Message{EnvelopeID: ids[1], Peer: "bob", Outgoing: true, Body: "hi", SentAt: time.Now(), At: time.Now()})
	if err != nil || id == 0 {
		t.Fatal(err)
	}
	if ok, _ := st.SetMessageStatus(ctx, ids[1], StatusDelivered); !ok {
		t.Fatal("status not raised")
	}
	if ok, _ := st.SetMessageStatus(ctx, ids[1], StatusSent); ok {
		t.Fatal("status lowered")
	}
	h, err := st.History(ctx, "bob", 10)
	if err != nil || len(h) != 1 || h[0].Body != "hi" || h[0].Status != StatusDelivered {
		t.Fatalf("history %+v %v", h, err)
	}
}

// The manifests held are kept newest first, at most keep of them; one held
// again keeps its place.
func TestHeldManifests(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "client.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := db.Store()
	for i := range 10 {
		if err := s.HoldManifest(ctx, []byte{byte(i)}, time.Now(), 4); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.HoldManifest(ctx, []byte{8}, time.Now(), 4); err != nil {
		t.Fatal(err)
	}
	got, err := s.HeldManifests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[[9] [8] [7] [6]]" {
		t.Fatalf("held %v", got)
	}
}

// ContactsByName and GroupKeysSent read for many members at once what
// ContactByName and the group's key records hold for each.
func TestGroupReadsAtOnce(t *testing.T) {
	ctx := context.Background()
	st := newParty(t, "me", 1).db.Store()
	var names []string
	for i := range 1200 { // more than one chunk of names
		names = append(names, fmt.Sprintf("m%04d", i))
		if i%3 == 0 {
			continue // not a contact
		}
		acct := [16]byte{byte(i >> 8), byte(i)}
		if err := st.PutContact(ctx, Contact{Username: names[i], AccountID: acct, Devices: []uint32{1, uint32(i%5 + 2)}, Updated: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.ContactsByName(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 800 {
		t.Fatalf("%d contacts, want 800", len(got))
	}
	for i, n := range names {
		c, ok := got[n]
		if i%3 == 0 {
			if ok {
				t.Fatalf("%s: not a contact, but found", n)
			}
			continue
		}
		want, err := st.ContactByName(ctx, n)
		if err != nil || !ok || c.AccountID != want.AccountID || !slices.Equal(c.Devices, want.Devices) {
			t.Fatalf("%s: %+v, want %+v (%v)", n, c, want, err)
		}
	}

	var g [32]byte
	g[0] = 7
	a, b := [16]byte{1}, [16]byte{2}
	for _, m := range []struct {
		g     [32]byte
		chain uint32
		acct  [16]byte
		devs  []uint32
	}{{g, 5, a, []uint32{3, 1}}, {g, 5, b, []uint32{2}}, {g, 6, a, []uint32{9}}, {[32]byte{8}, 5, b, []uint32{4}}} {
		if err := st.MarkGroupKeySent(ctx, m.g, m.chain, m.acct, m.devs); err != nil {
			t.Fatal(err)
		}
	}
	sent, err := st.GroupKeysSent(ctx, g, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 || !slices.Equal(sent[a], []uint32{1, 3}) || !slices.Equal(sent[b], []uint32{2}) {
		t.Fatalf("keys sent on chain 5: %v", sent)
	}
}
