package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"samizdat/session/curve"
	"samizdat/session/sealed"
	"samizdat/session/senderkey"
)

// goDecryptToContent opens a sealed message addressed to g with the Go
// library: the validating Decrypt, cross-checked against DecryptToContent.
func goDecryptToContent(t *testing.T, g *goParty, env []byte, root curve.PublicKey, now time.Time) *sealed.Content {
	t.Helper()
	c, err := sealed.Decrypt(env, g.identity, root, now, sealed.Local{UUID: g.addr.Name, DeviceID: g.addr.DeviceID})
	if err != nil {
		t.Fatalf("Go cannot open libsignal's sealed message: %v", err)
	}
	c2, err := sealed.DecryptToContent(env, g.identity)
	if err != nil {
		t.Fatalf("Go DecryptToContent: %v", err)
	}
	if !bytes.Equal(c.Bytes(), c2.Bytes()) {
		t.Fatal("Decrypt and DecryptToContent disagree")
	}
	return c
}

func serviceID(t *testing.T, s string) sealed.ServiceID {
	t.Helper()
	id, err := sealed.ParseServiceID(s)
	if err != nil {
		t.Fatalf("service id %q: %v", s, err)
	}
	return id
}

// sealedV2GoToLibsignal: Go seals one sender-key message for two libsignal
// recipients (and excludes a third); libsignal's server-side split and Go's
// relay-side parser both cut out copies that libsignal opens.
func sealedV2GoToLibsignal(t *testing.T, ctx context.Context, d *Driver, g *goParty, ls *Party, setup goSealedSetup) {
	ls2 := newLsParty(t, ctx, d, "ls-sealed2", PartyOptions{DeviceID: 5})
	recipients := []*Party{ls, ls2}
	dist, _ := newUUID(t)
	skStore := &senderkey.MemoryStore{}
	goSK := senderkey.SenderAddress{Name: g.addr.Name, DeviceID: g.addr.DeviceID}
	dm, err := senderkey.Create(ctx, skStore, goSK, dist, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var dests []sealed.Destination
	for _, r := range recipients {
		if err := r.SenderKeyProcess(ctx, g.peer(), dm.Bytes()); err != nil {
			t.Fatal(err)
		}
		k, err := curve.DecodePublicKey(r.IdentityKey)
		if err != nil {
			t.Fatal(err)
		}
		dests = append(dests, sealed.Destination{ServiceID: serviceID(t, r.Address), DeviceID: r.DeviceID, RegistrationID: r.RegistrationID, IdentityKey: k})
	}
	_, excludedStr := newUUID(t)
	excluded := serviceID(t, excludedStr)
	inner, err := senderkey.Encrypt(ctx, skStore, goSK, dist, []byte("sealed v2 from go"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	groupID := bytes.Repeat([]byte{0x5a}, 32)
	content, err := sealed.NewContent(sealed.TypeSenderKey, setup.senderCert, inner, sealed.HintImplicit, groupID)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := sealed.EncryptV2(rand.Reader, dests, []sealed.ServiceID{excluded}, content, g.identity)
	if err != nil {
		t.Fatal(err)
	}
	split, excl, err := d.SealedMultiSplitExcluded(ctx, sent)
	if err != nil {
		t.Fatalf("libsignal cannot parse Go's sealed v2 message: %v", err)
	}
	if len(excl) != 1 || excl[0] != excludedStr {
		t.Errorf("libsignal sees excluded %v, want [%s]", excl, excludedStr)
	}
	goSplit, err := sealed.ParseSentMessage(sent)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recipients {
		part, ok := split[r.Address]
		if !ok {
			t.Fatalf("libsignal's split has no copy for %s", r.Name)
		}
		if len(part.DeviceIDs) != 1 || part.DeviceIDs[0] != r.DeviceID || part.RegistrationIDs[0] != r.RegistrationID {
			t.Errorf("libsignal's split: devices %v registrations %v", part.DeviceIDs, part.RegistrationIDs)
		}
		gr, ok := goSplit.Recipient(serviceID(t, r.Address))
		if !ok {
			t.Fatalf("Go's parser has no copy for %s", r.Name)
		}
		goCopy := goSplit.ReceivedMessage(gr)
		if !bytes.Equal(goCopy, part.Message) {
			t.Errorf("Go's and libsignal's relay-side copies for %s differ", r.Name)
		}
		for _, cp := range [][]byte{part.Message, goCopy} {
			u, err := r.SealedDecryptToUSMC(ctx, cp)
			if err != nil {
				t.Fatalf("libsignal cannot open its copy: %v", err)
			}
			if u.MsgType != 7 || u.ContentHint != 2 || !bytes.Equal(u.GroupID, groupID) || !bytes.Equal(u.SenderCertificate, setup.senderCert.Bytes()) {
				t.Fatalf("libsignal's view of the v2 content: type %d hint %d", u.MsgType, u.ContentHint)
			}
		}
		u, _ := r.SealedDecryptToUSMC(ctx, part.Message)
		pt, err := r.GroupDecrypt(ctx, g.peer(), u.Contents)
		if err != nil || string(pt) != "sealed v2 from go" {
			t.Fatalf("inner group message: %q, %v", pt, err)
		}
	}
}

// sealedV2LibsignalToGo: libsignal seals one sender-key message for two Go
// recipients (it needs sessions with them for their registration ids); the
// Go relay parser and libsignal's split agree, and Go opens its copies.
func sealedV2LibsignalToGo(t *testing.T, ctx context.Context, d *Driver, g *goParty, ls *Party, cert []byte, root curve.PublicKey, now time.Time) {
	g2 := newGoParty(t, 9)
	recipients := []*goParty{g, g2}
	for _, r := range recipients {
		lsOpens(t, ctx, ls, r)
	}
	_, distStr := newUUID(t)
	skdm, err := ls.SenderKeyCreate(ctx, distStr)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := senderkey.ParseDistributionMessage(skdm)
	if err != nil {
		t.Fatal(err)
	}
	lsSK := senderkey.SenderAddress{Name: ls.Address, DeviceID: ls.DeviceID}
	stores := make([]*senderkey.MemoryStore, len(recipients))
	for i := range recipients {
		stores[i] = &senderkey.MemoryStore{}
		if err := senderkey.Process(ctx, stores[i], lsSK, dm); err != nil {
			t.Fatal(err)
		}
	}
	groupID := bytes.Repeat([]byte{0x33}, 32)
	peers := []Peer{g.peer(), g2.peer()}
	sent, err := ls.SealedGroupEncrypt(ctx, distStr, peers, cert, groupID, []byte("sealed v2 from libsignal"))
	if err != nil {
		t.Fatal(err)
	}
	goSplit, err := sealed.ParseSentMessage(sent)
	if err != nil {
		t.Fatalf("Go cannot parse libsignal's sealed v2 message: %v", err)
	}
	split, err := d.SealedMultiSplit(ctx, sent)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recipients {
		gr, ok := goSplit.Recipient(serviceID(t, r.addr.Name))
		if !ok {
			t.Fatalf("Go's parser has no copy for recipient %d", i)
		}
		if len(gr.Devices) != 1 || uint32(gr.Devices[0].DeviceID) != r.addr.DeviceID || uint32(gr.Devices[0].RegistrationID) != r.regID {
			t.Errorf("Go's parser: devices %+v", gr.Devices)
		}
		goCopy := goSplit.ReceivedMessage(gr)
		if part, ok := split[r.addr.Name]; !ok || !bytes.Equal(part.Message, goCopy) {
			t.Errorf("Go's and libsignal's relay-side copies for recipient %d differ", i)
		}
		content := goDecryptToContent(t, r, goCopy, root, now)
		if content.Type() != sealed.TypeSenderKey || !bytes.Equal(content.GroupID(), groupID) {
			t.Fatalf("Go's view of the v2 content: type %d", content.Type())
		}
		pt, err := senderkey.Decrypt(ctx, stores[i], lsSK, content.Contents())
		if err != nil || string(pt) != "sealed v2 from libsignal" {
			t.Fatalf("inner group message: %q, %v", pt, err)
		}
	}
}
