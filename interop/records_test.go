package interop

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"samizdat/session"
	"samizdat/session/senderkey"
)

// Storage records move between the implementations: what one serializes
// the other reads, with the same public parts. (libsignal's formats are the
// storage formats of Signal's clients; matching them keeps migration open.)

// TestRecordsGoToLibsignal: records serialized by Go, read by libsignal.
func TestRecordsGoToLibsignal(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	g := newGoParty(t, 1)
	now := time.Now()

	pks, err := session.GeneratePreKeys(77, 1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pks[0].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ri, err := d.ParseRecord(ctx, "prekey", b)
	if err != nil || ri.ID != 77 || !bytes.Equal(ri.PublicKey, pks[0].KeyPair.Public.Bytes()) || !ri.PrivateMatches {
		t.Errorf("prekey record: %+v, %v", ri, err)
	}

	spk, err := session.GenerateSignedPreKey(g.identity, 12, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = spk.Marshal(); err != nil {
		t.Fatal(err)
	}
	ri, err = d.ParseRecord(ctx, "signedPrekey", b)
	if err != nil || ri.ID != 12 || !bytes.Equal(ri.PublicKey, spk.KeyPair.Public.Bytes()) ||
		!bytes.Equal(ri.Signature, spk.Signature) || ri.Timestamp != now.UnixMilli() || !ri.PrivateMatches {
		t.Errorf("signed prekey record: %+v, %v", ri, err)
	}

	kpk, err := session.GenerateKyberPreKey(g.identity, 13, false, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = kpk.Marshal(); err != nil {
		t.Fatal(err)
	}
	ri, err = d.ParseRecord(ctx, "kyberPrekey", b)
	if err != nil || ri.ID != 13 || !bytes.Equal(ri.PublicKey, kpk.KeyPair.Public.Bytes()) ||
		!bytes.Equal(ri.Signature, kpk.Signature) || ri.Timestamp != now.UnixMilli() {
		t.Errorf("kyber prekey record: id %d, %v", ri.ID, err)
	}

	ls := newLsParty(t, ctx, d, "ls-rec", PartyOptions{})
	goOpens(t, ctx, g, ls)
	rec, err := g.store.LoadSession(ctx, addrOf(ls.Peer()))
	if err != nil || rec == nil {
		t.Fatalf("Go session record: %v", err)
	}
	if b, err = rec.Marshal(); err != nil {
		t.Fatal(err)
	}
	ri, err = d.ParseRecord(ctx, "session", b)
	if err != nil || ri.LocalRegistrationID != g.regID || ri.RemoteRegistrationID != ls.RegistrationID || !ri.HasCurrent {
		t.Errorf("session record: %+v, %v", ri, err)
	}

	dist, _ := newUUID(t)
	skStore := &senderkey.MemoryStore{}
	goSK := senderkey.SenderAddress{Name: g.addr.Name, DeviceID: g.addr.DeviceID}
	if _, err := senderkey.Create(ctx, skStore, goSK, dist, rand.Reader); err != nil {
		t.Fatal(err)
	}
	skr, err := skStore.LoadSenderKey(ctx, goSK, dist)
	if err != nil || skr == nil {
		t.Fatalf("sender key record: %v", err)
	}
	if b, err = skr.Bytes(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ParseRecord(ctx, "senderKey", b); err != nil {
		t.Errorf("sender key record: %v", err)
	}
}

// TestRecordsLibsignalToGo: records serialized by libsignal, read by Go.
func TestRecordsLibsignalToGo(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	ls := newLsParty(t, ctx, d, "ls-rec", PartyOptions{})
	bundle, err := ls.Bundle(ctx, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}

	b, err := ls.ExportRecord(ctx, RecordRef{Kind: "prekey", ID: *bundle.PreKeyID})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := session.UnmarshalPreKeyRecord(b)
	if err != nil {
		t.Errorf("prekey record: %v", err)
	} else if pk.ID != *bundle.PreKeyID || !bytes.Equal(pk.KeyPair.Public.Bytes(), bundle.PreKey) ||
		!pk.KeyPair.Private.PublicKey().Equal(pk.KeyPair.Public) {
		t.Error("prekey record: public parts differ")
	}

	if b, err = ls.ExportRecord(ctx, RecordRef{Kind: "signedPrekey", ID: bundle.SignedPreKeyID}); err != nil {
		t.Fatal(err)
	}
	spk, err := session.UnmarshalSignedPreKeyRecord(b)
	if err != nil {
		t.Errorf("signed prekey record: %v", err)
	} else if spk.ID != bundle.SignedPreKeyID || !bytes.Equal(spk.KeyPair.Public.Bytes(), bundle.SignedPreKey) ||
		!bytes.Equal(spk.Signature, bundle.SignedPreKeySignature) || !spk.KeyPair.Private.PublicKey().Equal(spk.KeyPair.Public) {
		t.Error("signed prekey record: public parts differ")
	}

	if b, err = ls.ExportRecord(ctx, RecordRef{Kind: "kyberPrekey", ID: bundle.KyberPreKeyID}); err != nil {
		t.Fatal(err)
	}
	kpk, err := session.UnmarshalKyberPreKeyRecord(b)
	if err != nil {
		t.Errorf("kyber prekey record: %v", err)
	} else if kpk.ID != bundle.KyberPreKeyID || !bytes.Equal(kpk.KeyPair.Public.Bytes(), bundle.KyberPreKey) ||
		!bytes.Equal(kpk.Signature, bundle.KyberPreKeySignature) {
		t.Error("kyber prekey record: public parts differ")
	}

	g := newGoParty(t, 1)
	lsOpens(t, ctx, ls, g)
	if b, err = ls.ExportRecord(ctx, RecordRef{Kind: "session", Peer: &Peer{Name: g.addr.Name, Device: g.addr.DeviceID}}); err != nil {
		t.Fatal(err)
	}
	rec, err := session.UnmarshalSessionRecord(b)
	if err != nil {
		t.Fatalf("session record: %v", err)
	}
	if !rec.HasCurrentSession() {
		t.Error("session record: no current session")
	}
	if id, err := rec.RemoteRegistrationID(); err != nil || id != g.regID {
		t.Errorf("session record: remote registration id %d, %v", id, err)
	}
	if id, err := rec.LocalRegistrationID(); err != nil || id != ls.RegistrationID {
		t.Errorf("session record: local registration id %d, %v", id, err)
	}
	if k, err := rec.RemoteIdentityKey(); err != nil || !k.Equal(g.identity.Public) {
		t.Errorf("session record: remote identity differs (%v)", err)
	}
	if v, err := rec.SessionVersion(); err != nil || v != 4 {
		t.Errorf("session record: version %d, %v", v, err)
	}
	if len(rec.PQRatchetState()) == 0 {
		t.Error("session record: libsignal's SPQR state did not survive parsing")
	}

	_, dist := newUUID(t)
	if _, err := ls.SenderKeyCreate(ctx, dist); err != nil {
		t.Fatal(err)
	}
	lsPeer := ls.Peer()
	if b, err = ls.ExportRecord(ctx, RecordRef{Kind: "senderKey", Sender: &lsPeer, DistributionID: dist}); err != nil {
		t.Fatal(err)
	}
	skr, err := senderkey.ParseRecord(b)
	if err != nil {
		t.Errorf("sender key record: %v", err)
	} else if len(skr.ChainIDs()) != 1 {
		t.Errorf("sender key record: %d chains, want 1", len(skr.ChainIDs()))
	}
}
