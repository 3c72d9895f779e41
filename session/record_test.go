package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"samizdat/session/internal/pb"
)

func newTestState(b byte) *pb.SessionStructure {
	return &pb.SessionStructure{SessionVersion: CurrentVersion, RootKey: bytes.Repeat([]byte{b}, 32), AliceBaseKey: []byte{b}}
}

func TestSessionRecordRoundTrip(t *testing.T) {
	alice, bob := establish(t, true)
	// Give Bob an archived session too.
	b := bob.bundle(t, true, false)
	if err := ProcessPreKeyBundle(context.Background(), alice.stores(), alice.addr, bob.addr, b, testNow, alice.rand); err != nil {
		t.Fatal(err)
	}
	bob.mustDecrypt(t, alice, alice.encrypt(t, bob, "x"), "x")
	enc := bob.sessionBytes(t, alice)
	rec, err := UnmarshalSessionRecord(enc)
	if err != nil {
		t.Fatal(err)
	}
	again, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, again) {
		t.Fatal("record does not round-trip")
	}
	if len(rec.previous) != 1 || !rec.HasCurrentSession() {
		t.Fatal("record lost sessions")
	}
	if v, _ := rec.SessionVersion(); v != CurrentVersion {
		t.Fatalf("version %d", v)
	}
	if id, _ := rec.RemoteRegistrationID(); id != alice.store.registrationID {
		t.Fatalf("remote registration id %d", id)
	}
	if _, err := UnmarshalSessionRecord([]byte{0xff, 0xff}); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("garbage record: %v", err)
	}
}

func TestPreKeyRecordsRoundTrip(t *testing.T) {
	p := newParty(t, bobACI, 5)
	pks, err := GeneratePreKeys(7, 3, p.rand)
	if err != nil {
		t.Fatal(err)
	}
	for _, pk := range pks {
		b, err := pk.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalPreKeyRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != pk.ID || !got.KeyPair.Public.Equal(pk.KeyPair.Public) || !bytes.Equal(got.KeyPair.Private.Bytes(), pk.KeyPair.Private.Bytes()) {
			t.Fatal("prekey record changed")
		}
	}
	spk, err := GenerateSignedPreKey(p.store.identity, 9, testNow, p.rand)
	if err != nil {
		t.Fatal(err)
	}
	b, err := spk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	gotS, err := UnmarshalSignedPreKeyRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if gotS.ID != 9 || !gotS.Timestamp.Equal(testNow) || !bytes.Equal(gotS.Signature, spk.Signature) || !gotS.KeyPair.Public.Equal(spk.KeyPair.Public) {
		t.Fatal("signed prekey record changed")
	}
	kpk, err := GenerateKyberPreKey(p.store.identity, 11, true, testNow, p.rand)
	if err != nil {
		t.Fatal(err)
	}
	b, err = kpk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	gotK, err := UnmarshalKyberPreKeyRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if gotK.ID != 11 || !gotK.KeyPair.Public.Equal(kpk.KeyPair.Public) || !bytes.Equal(gotK.KeyPair.Secret.Bytes(), kpk.KeyPair.Secret.Bytes()) || gotK.LastResort {
		t.Fatal("kyber prekey record changed")
	}
	for _, f := range []func([]byte) error{
		func(b []byte) error { _, err := UnmarshalPreKeyRecord(b); return err },
		func(b []byte) error { _, err := UnmarshalSignedPreKeyRecord(b); return err },
		func(b []byte) error { _, err := UnmarshalKyberPreKeyRecord(b); return err },
	} {
		if err := f([]byte{0x0a, 0x03, 0x05}); !errors.Is(err, ErrMalformed) {
			t.Errorf("garbage record: %v", err)
		}
	}
}

func TestSessionRecordDoesNotPrintKeys(t *testing.T) {
	alice, bob := establish(t, false)
	rec, err := alice.store.LoadSession(context.Background(), bob.addr)
	if err != nil || rec == nil {
		t.Fatalf("LoadSession: %v", err)
	}
	rec.ArchiveCurrentState()
	rec2, err := alice.store.LoadSession(context.Background(), bob.addr)
	if err != nil {
		t.Fatal(err)
	}
	rec.promoteState(rec2.current)
	got := fmt.Sprintf("%v %+v %#v %s %x %v", rec, rec, *rec, *rec, *rec, []*SessionRecord{rec})
	if want := "session.SessionRecord{current:true previous:1}"; !strings.Contains(got, want) {
		t.Errorf("printed %q, want %q", got, want)
	}
	root := rec.current.RootKey
	if strings.Contains(got, fmt.Sprintf("%x", root)) || strings.Contains(got, fmt.Sprint(root)) || bytes.Contains([]byte(got), root) {
		t.Error("record prints its root key")
	}
}
