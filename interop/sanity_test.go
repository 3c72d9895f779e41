package interop

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The sanity tests run libsignal against libsignal through the driver. They
// prove the harness before any Go-library case relies on it.

func TestHarnessSession(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	alice := newLsParty(t, ctx, d, "alice", PartyOptions{})
	bob := newLsParty(t, ctx, d, "bob", PartyOptions{DeviceID: 2})
	b, err := bob.Bundle(ctx, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.IdentityKey) != 33 || b.IdentityKey[0] != 0x05 || len(b.KyberPreKey) != 1569 || b.KyberPreKey[0] != 0x08 {
		t.Fatalf("bundle key sizes: identity %d, kyber %d", len(b.IdentityKey), len(b.KyberPreKey))
	}
	if err := alice.ProcessBundle(ctx, bob.Peer(), b); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		from, to := alice, bob
		if i%2 == 1 {
			from, to = bob, alice
		}
		msg := fmt.Appendf(nil, "message %d", i)
		ct, err := from.Encrypt(ctx, to.Peer(), msg)
		if err != nil {
			t.Fatal(err)
		}
		wantType := 2
		if i == 0 {
			wantType = 3
		}
		if ct.Type != wantType {
			t.Fatalf("message %d: type %d, want %d", i, ct.Type, wantType)
		}
		info, err := d.Inspect(ctx, ct)
		if err != nil {
			t.Fatal(err)
		}
		if info.Version != 4 {
			t.Fatalf("message %d: version %d, want 4", i, info.Version)
		}
		if ct.Type == 2 && info.PQRatchetLen == 0 {
			t.Errorf("message %d: libsignal sent no SPQR (pq_ratchet) data", i)
		}
		got, err := to.Decrypt(ctx, from.Peer(), ct)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("message %d: got %q", i, got)
		}
		if _, err := to.Decrypt(ctx, from.Peer(), ct); err == nil {
			t.Fatalf("message %d: duplicate accepted", i)
		}
	}
}

func TestHarnessSenderKey(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	alice := newLsParty(t, ctx, d, "alice", PartyOptions{})
	bob := newLsParty(t, ctx, d, "bob", PartyOptions{})
	const dist = "d1a6d1a6-0000-4000-8000-000000000001"
	skdm, err := alice.SenderKeyCreate(ctx, dist)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SenderKeyProcess(ctx, alice.Peer(), skdm); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		msg := fmt.Appendf(nil, "group %d", i)
		ct, err := alice.GroupEncrypt(ctx, dist, msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := bob.GroupDecrypt(ctx, alice.Peer(), ct)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("group %d: %q, %v", i, got, err)
		}
	}
}

func TestHarnessSealedSender(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	alice := newLsParty(t, ctx, d, "alice", PartyOptions{})
	bob := newLsParty(t, ctx, d, "bob", PartyOptions{})
	carol := newLsParty(t, ctx, d, "carol", PartyOptions{})
	if err := d.Establish(ctx, alice, bob); err != nil {
		t.Fatal(err)
	}
	if err := d.Establish(ctx, alice, carol); err != nil {
		t.Fatal(err)
	}
	setup, err := d.SealedSetup(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := d.SenderCertificate(ctx, SenderCertificateRequest{
		SenderUUID: alice.Address, SenderE164: "+15550001111", SenderDeviceID: alice.DeviceID,
		SenderKey: alice.IdentityKey, Expiration: now.Add(time.Hour).UnixMilli(),
		ServerCertificate: setup.ServerCertificate, ServerPrivate: setup.ServerPrivate,
	})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := d.ValidateSenderCertificate(ctx, cert, setup.TrustRootPublic, now)
	if err != nil || !ci.Valid {
		t.Fatalf("certificate: %+v, %v", ci, err)
	}
	// v1
	sealed, err := alice.SealedEncrypt(ctx, bob.Peer(), cert, []byte("sealed v1"))
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != 0x11 {
		t.Errorf("sealed sender v1 version byte %#x, want 0x11", sealed[0])
	}
	r, err := bob.SealedDecrypt(ctx, sealed, setup.TrustRootPublic, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Plaintext) != "sealed v1" || r.SenderUUID != alice.Address || r.DeviceID != alice.DeviceID {
		t.Fatalf("v1 result %+v", r)
	}
	// v2: alice distributes her sender key over the sessions, then one
	// multi-recipient message reaches bob and carol.
	const dist = "d1a6d1a6-0000-4000-8000-000000000002"
	skdm, err := alice.SenderKeyCreate(ctx, dist)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Party{bob, carol} {
		if err := p.SenderKeyProcess(ctx, alice.Peer(), skdm); err != nil {
			t.Fatal(err)
		}
	}
	groupID := make([]byte, 32)
	rand.Read(groupID)
	sent, err := alice.SealedGroupEncrypt(ctx, dist, []Peer{bob.Peer(), carol.Peer()}, cert, groupID, []byte("sealed v2"))
	if err != nil {
		t.Fatal(err)
	}
	split, err := d.SealedMultiSplit(ctx, sent)
	if err != nil {
		t.Fatal(err)
	}
	if len(split) != 2 {
		t.Fatalf("split into %d recipients, want 2", len(split))
	}
	for _, p := range []*Party{bob, carol} {
		part, ok := split[p.Address]
		if !ok {
			t.Fatalf("no copy for %s", p.Name)
		}
		u, err := p.SealedDecryptToUSMC(ctx, part.Message)
		if err != nil {
			t.Fatal(err)
		}
		if u.MsgType != 7 || !bytes.Equal(u.GroupID, groupID) {
			t.Fatalf("usmc type %d", u.MsgType)
		}
		got, err := p.GroupDecrypt(ctx, alice.Peer(), u.Contents)
		if err != nil || string(got) != "sealed v2" {
			t.Fatalf("v2 group decrypt: %q, %v", got, err)
		}
	}
}

func TestHarnessFingerprint(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	alice := newLsParty(t, ctx, d, "alice", PartyOptions{})
	bob := newLsParty(t, ctx, d, "bob", PartyOptions{})
	aID, bID := []byte("+14152222222"), []byte("+14153333333")
	fa, err := d.Fingerprint(ctx, aID, alice.IdentityKey, bID, bob.IdentityKey)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := d.Fingerprint(ctx, bID, bob.IdentityKey, aID, alice.IdentityKey)
	if err != nil {
		t.Fatal(err)
	}
	if fa.Displayable != fb.Displayable || len(fa.Displayable) != 60 {
		t.Fatalf("displayable %q vs %q", fa.Displayable, fb.Displayable)
	}
	if ok, err := d.FingerprintCompare(ctx, fa.Scannable, fb.Scannable); err != nil || !ok {
		t.Fatalf("scannable compare: %v, %v", ok, err)
	}
}

// TestHarnessSPQRRequired records the finding that libsignal 0.103 refuses a
// session peer without SPQR: the message is rejected by the post-quantum
// ratchet's minimum-version check, before the MAC is even looked at.
func TestHarnessSPQRRequired(t *testing.T) {
	interopCase(t)
	d := harness(t)
	p, err := d.SPQRProbe(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if p.Accepted {
		t.Fatal("libsignal accepted a forged message")
	}
	logs := strings.Join(p.Logs, "\n")
	if !strings.Contains(logs, "post-quantum ratchet error: Minimum version") {
		t.Fatalf("expected SPQR minimum-version refusal, got %q; logs:\n%s", p.Error, logs)
	}
	t.Log("libsignal 0.103 requires SPQR: a message without pq_ratchet fails with 'post-quantum ratchet error: Minimum version'")
}
