package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"samizdat/session"
	"samizdat/session/curve"
	"samizdat/session/kem"
)

// goParty is one device running samizdat's session package, with its own
// in-memory stores, mirroring what the harness keeps for a libsignal party.
type goParty struct {
	addr     session.Address
	identity curve.KeyPair
	regID    uint32
	store    *session.MemoryStore

	nextPreKey   uint32
	nextKyber    uint32
	signedID     uint32
	lastResortID uint32
}

func newGoParty(t testing.TB, deviceID uint32) *goParty {
	t.Helper()
	id, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	g := &goParty{
		addr:       session.Address{Name: uuidString(u), DeviceID: deviceID},
		identity:   id,
		regID:      1 + uint32(mrand.IntN(16380)),
		nextPreKey: 1,
		nextKyber:  1,
	}
	g.store = session.NewMemoryStore(id, g.regID)
	g.rotateSignedPreKey(t)
	lr, err := session.GenerateKyberPreKey(id, 0x700001, true, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.store.StoreKyberPreKey(context.Background(), lr); err != nil {
		t.Fatal(err)
	}
	g.lastResortID = lr.ID
	return g
}

func (g *goParty) peer() Peer { return Peer{Name: g.addr.Name, Device: g.addr.DeviceID} }

func (g *goParty) rotateSignedPreKey(t testing.TB) {
	t.Helper()
	g.signedID++
	spk, err := session.GenerateSignedPreKey(g.identity, g.signedID, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.store.StoreSignedPreKey(context.Background(), spk); err != nil {
		t.Fatal(err)
	}
}

// bundle hands out a bundle with fresh one-time keys, serialized the way
// the harness passes bundles to libsignal.
func (g *goParty) bundle(t testing.TB, o BundleOptions) Bundle {
	t.Helper()
	ctx := context.Background()
	if o.NewSignedPreKey {
		g.rotateSignedPreKey(t)
	}
	b := Bundle{
		RegistrationID: g.regID,
		DeviceID:       g.addr.DeviceID,
		IdentityKey:    g.identity.Public.Bytes(),
	}
	if !o.NoPreKey {
		pks, err := session.GeneratePreKeys(g.nextPreKey, 1, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		g.nextPreKey++
		if err := g.store.StorePreKey(ctx, pks[0]); err != nil {
			t.Fatal(err)
		}
		id := pks[0].ID
		b.PreKeyID = &id
		b.PreKey = pks[0].KeyPair.Public.Bytes()
	}
	spk, err := g.store.SignedPreKey(ctx, g.signedID)
	if err != nil {
		t.Fatal(err)
	}
	b.SignedPreKeyID = spk.ID
	b.SignedPreKey = spk.KeyPair.Public.Bytes()
	b.SignedPreKeySignature = spk.Signature
	kid := g.lastResortID
	if !o.LastResortKyber {
		kid = g.nextKyber
		g.nextKyber++
		k, err := session.GenerateKyberPreKey(g.identity, kid, false, time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.store.StoreKyberPreKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	k, err := g.store.KyberPreKey(ctx, kid)
	if err != nil {
		t.Fatal(err)
	}
	b.KyberPreKeyID = k.ID
	b.KyberPreKey = k.KeyPair.Public.Bytes()
	b.KyberPreKeySignature = k.Signature
	return b
}

// toSessionBundle decodes a harness bundle into the session package's form.
func toSessionBundle(b Bundle) (*session.PreKeyBundle, error) {
	var out session.PreKeyBundle
	var err error
	out.RegistrationID = b.RegistrationID
	out.DeviceID = b.DeviceID
	if b.PreKeyID != nil {
		out.HasPreKey = true
		out.PreKeyID = *b.PreKeyID
		if out.PreKey, err = curve.DecodePublicKey(b.PreKey); err != nil {
			return nil, fmt.Errorf("prekey: %w", err)
		}
	}
	out.SignedPreKeyID = b.SignedPreKeyID
	if out.SignedPreKey, err = curve.DecodePublicKey(b.SignedPreKey); err != nil {
		return nil, fmt.Errorf("signed prekey: %w", err)
	}
	out.SignedPreKeySignature = b.SignedPreKeySignature
	out.KyberPreKeyID = b.KyberPreKeyID
	if out.KyberPreKey, err = kem.DecodePublicKey(b.KyberPreKey); err != nil {
		return nil, fmt.Errorf("kyber prekey: %w", err)
	}
	out.KyberPreKeySignature = b.KyberPreKeySignature
	if out.IdentityKey, err = curve.DecodePublicKey(b.IdentityKey); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return &out, nil
}

func addrOf(p Peer) session.Address { return session.Address{Name: p.Name, DeviceID: p.Device} }

func (g *goParty) processBundle(ctx context.Context, remote Peer, b Bundle) error {
	sb, err := toSessionBundle(b)
	if err != nil {
		return err
	}
	return session.ProcessPreKeyBundle(ctx, g.store.Stores(), g.addr, addrOf(remote), sb, time.Now(), rand.Reader)
}

func (g *goParty) encrypt(ctx context.Context, remote Peer, plaintext []byte) (Ciphertext, error) {
	m, err := session.Encrypt(ctx, g.store.Stores(), g.addr, addrOf(remote), plaintext, time.Now(), rand.Reader)
	if err != nil {
		return Ciphertext{}, err
	}
	return Ciphertext{Type: m.Type(), Body: append([]byte(nil), m.Bytes()...)}, nil
}

func (g *goParty) decrypt(ctx context.Context, remote Peer, c Ciphertext) ([]byte, error) {
	m, err := session.ParseCiphertextMessage(c.Type, c.Body)
	if err != nil {
		return nil, err
	}
	return session.Decrypt(ctx, g.store.Stores(), g.addr, addrOf(remote), m, rand.Reader)
}

// endpoint lets the conversation tests treat Go and libsignal parties alike.
type endpoint interface {
	label() string
	peer() Peer
	encrypt(ctx context.Context, to Peer, plaintext []byte) (Ciphertext, error)
	decrypt(ctx context.Context, from Peer, c Ciphertext) ([]byte, error)
}

func (g *goParty) label() string { return "go" }

// lsEndpoint adapts a harness party to endpoint.
type lsEndpoint struct{ p *Party }

func (l lsEndpoint) label() string { return "libsignal" }
func (l lsEndpoint) peer() Peer    { return l.p.Peer() }
func (l lsEndpoint) encrypt(ctx context.Context, to Peer, pt []byte) (Ciphertext, error) {
	return l.p.Encrypt(ctx, to, pt)
}
func (l lsEndpoint) decrypt(ctx context.Context, from Peer, c Ciphertext) ([]byte, error) {
	return l.p.Decrypt(ctx, from, c)
}

var randReader = rand.Reader

// newLsParty starts a libsignal party named after prefix.
func newLsParty(t testing.TB, ctx context.Context, d *Driver, prefix string, o PartyOptions) *Party {
	t.Helper()
	p, err := d.NewParty(ctx, uniq(prefix), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// goOpens has g open a session with ls from a fresh libsignal bundle.
func goOpens(t testing.TB, ctx context.Context, g *goParty, ls *Party) {
	t.Helper()
	b, err := ls.Bundle(ctx, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.processBundle(ctx, ls.Peer(), b); err != nil {
		t.Fatal(err)
	}
}

// lsOpens has ls open a session with g from a fresh Go bundle.
func lsOpens(t testing.TB, ctx context.Context, ls *Party, g *goParty) {
	t.Helper()
	if err := ls.ProcessBundle(ctx, g.peer(), g.bundle(t, BundleOptions{})); err != nil {
		t.Fatal(err)
	}
}

// roundTrip sends msg from one endpoint to the other and fails the test
// unless it arrives intact; what names the step in the failure.
func roundTrip(t testing.TB, ctx context.Context, from, to endpoint, msg []byte, what string) {
	t.Helper()
	ct, err := from.encrypt(ctx, to.peer(), msg)
	if err != nil {
		t.Fatalf("%s: %s encrypt: %v", what, from.label(), err)
	}
	got, err := to.decrypt(ctx, from.peer(), ct)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("%s: %s -> %s: %d bytes back, %v", what, from.label(), to.label(), len(got), err)
	}
}
