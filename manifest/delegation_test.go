package manifest

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/manifest/internal/manifestpb"
)

var (
	nodeKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	nodePub  = nodeKey.Public().(ed25519.PublicKey)
	node2Key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{10}, ed25519.SeedSize))
	node2Pub = node2Key.Public().(ed25519.PublicKey)
)

// delegation certifies node for example.net from a day before testNow
// for 30 days, signed by network, after edit.
func delegation(t testing.TB, network ed25519.PrivateKey, node ed25519.PublicKey, edit func(*Delegation)) []byte {
	t.Helper()
	d := Delegation{Network: "example.net", NodeKey: node, NotBefore: testNow.Add(-24 * time.Hour), NotAfter: testNow.Add(29 * 24 * time.Hour)}
	if edit != nil {
		edit(&d)
	}
	cert, err := Delegate(d, network)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// delegated is testManifest after edit, signed by node under cert.
func delegated(t testing.TB, node ed25519.PrivateKey, cert []byte, edit func(*Manifest)) []byte {
	t.Helper()
	m := testManifest()
	if edit != nil {
		edit(m)
	}
	blob, err := SignDelegated(m, node, cert)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// forgeDelegated signs what SignDelegated refuses to, as a thief would.
func forgeDelegated(t testing.TB, m *Manifest, node ed25519.PrivateKey, cert []byte) []byte {
	t.Helper()
	body, err := encodeBody(m)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := proto.Marshal(&manifestpb.SignedManifest{Version: delegatedVersion, Body: body,
		Signature: ed25519.Sign(node, delegatedMessage(cert, body)), Delegation: cert})
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// openTestKeeper opens an empty keeper for example.net and returns it
// with its path.
func openTestKeeper(t *testing.T) (*Keeper, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest")
	k, err := OpenKeeper(path, testPub, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	return k, path
}

func TestDelegatedSignVerify(t *testing.T) {
	cert := delegation(t, testKey, nodePub, nil)
	d, err := VerifyDelegation(cert, testPub, "example.net", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !d.NodeKey.Equal(nodePub) || !d.NetworkKey.Equal(testPub) || d.Network != "example.net" {
		t.Fatalf("delegation %v", d)
	}
	m := testManifest()
	blob, err := SignDelegated(m, nodeKey, cert)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(blob, testPub, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v\nwant %+v", got, m)
	}
	_, gd, err := OpenChain(blob, testPub)
	if err != nil || !reflect.DeepEqual(gd, d) {
		t.Fatalf("chain: %v %v", gd, err)
	}
	if _, gd, _ := OpenChain(signed(t, nil), testPub); gd != nil {
		t.Fatal("a manifest signed by the network key has a delegation")
	}
	// The blob travels as one unit: an invite carries it as it is.
	text, err := MarshalInvite(Invite{NetworkKey: testPub, Manifest: blob})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInvite(text)
	if err != nil || !bytes.Equal(inv.Manifest, blob) {
		t.Fatalf("invite: %v", err)
	}
}

func TestSignDelegatedRefuses(t *testing.T) {
	cert := delegation(t, testKey, nodePub, nil)
	tests := []struct {
		name string
		key  ed25519.PrivateKey
		cert []byte
		edit func(*Manifest)
		want error
		msg  string
	}{
		{"another node's key", node2Key, cert, nil, ErrBadDelegation, "it certifies node key"},
		{"another network", nodeKey, cert, func(m *Manifest) { m.Network = "other.net" }, ErrWrongNetwork, `delegation is for "example.net"`},
		{"revokes", nodeKey, cert, func(m *Manifest) { m.Revoked = []ed25519.PublicKey{node2Pub} }, ErrInvalid, "only the network key"},
		{"issued after the delegation", nodeKey, cert, func(m *Manifest) { m.Issued = testNow.Add(40 * 24 * time.Hour); m.Expires = m.Issued.Add(time.Hour) }, ErrBadDelegation, "outside the delegation"},
		{"garbage certificate", nodeKey, []byte("nope"), nil, ErrBadDelegation, "bad delegation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testManifest()
			if tt.edit != nil {
				tt.edit(m)
			}
			blob, err := SignDelegated(m, tt.key, tt.cert)
			if blob != nil || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v; want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestDelegateRefuses(t *testing.T) {
	good := Delegation{Network: "example.net", NodeKey: nodePub, NotBefore: testNow, NotAfter: testNow.Add(time.Hour)}
	tests := []struct {
		name string
		edit func(*Delegation)
		msg  string
	}{
		{"bad network", func(d *Delegation) { d.Network = "Bad Name" }, "network name"},
		{"short node key", func(d *Delegation) { d.NodeKey = nodePub[:31] }, "node key of 31 bytes"},
		{"backwards", func(d *Delegation) { d.NotAfter = d.NotBefore }, "ends before it starts"},
		{"too long", func(d *Delegation) { d.NotAfter = d.NotBefore.Add(MaxDelegationLifetime + time.Second) }, "max"},
		{"no times", func(d *Delegation) { d.NotBefore = time.Time{} }, "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good
			tt.edit(&d)
			cert, err := Delegate(d, testKey)
			if cert != nil || !errors.Is(err, ErrBadDelegation) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v; want ErrBadDelegation containing %q", err, tt.msg)
			}
		})
	}
	if _, err := Delegate(good, testKey[:10]); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short network key: %v", err)
	}
}

// TestChainRefused: every way a chain can fail is refused by Verify, with
// the reason, and by a Keeper without changing what it holds.
func TestChainRefused(t *testing.T) {
	cert := delegation(t, testKey, nodePub, nil)
	otherNetCert := delegation(t, testKey, nodePub, func(d *Delegation) { d.Network = "other.net" })
	otherNetBlob := delegated(t, nodeKey, otherNetCert, func(m *Manifest) { m.Network = "other.net" })
	strangerCert := delegation(t, otherKey, nodePub, nil)
	laterCert := delegation(t, testKey, nodePub, func(d *Delegation) { d.NotAfter = d.NotAfter.Add(time.Hour) })
	moved := func() []byte {
		var sm manifestpb.SignedManifest
		proto.Unmarshal(delegated(t, nodeKey, cert, nil), &sm)
		sm.Delegation = laterCert // the same node key, another certificate
		b, _ := proto.Marshal(&sm)
		return b
	}()
	mixedNetwork := forgeDelegated(t, func() *Manifest { m := testManifest(); m.Network = "example.net"; return m }(), nodeKey, otherNetCert)
	nodeRevokes := forgeDelegated(t, func() *Manifest { m := testManifest(); m.Revoked = []ed25519.PublicKey{node2Pub}; return m }(), nodeKey, cert)
	wrongSigner := forgeDelegated(t, testManifest(), node2Key, cert)

	tests := []struct {
		name string
		blob []byte
		now  time.Time
		want error
		msg  string
	}{
		{"delegation expired", delegated(t, nodeKey, cert, nil), testNow.Add(29*24*time.Hour + time.Second), ErrDelegationExpired, "was delegated until 2026-12-26T12:00:00Z"},
		{"delegation not yet valid", delegated(t, nodeKey, delegation(t, testKey, nodePub, func(d *Delegation) { d.NotBefore = testNow.Add(3 * 24 * time.Hour) }),
			func(m *Manifest) { m.Issued = testNow.Add(3 * 24 * time.Hour) }), testNow, ErrNotYetValid, ""},
		{"chain for another network", otherNetBlob, testNow, ErrWrongNetwork, `manifest is for "other.net", want "example.net"`},
		{"delegation for another network", mixedNetwork, testNow, ErrWrongNetwork, `delegation is for "other.net"`},
		{"delegated by another network key", delegated(t, nodeKey, strangerCert, nil), testNow, ErrBadSignature, "is signed by the network key"},
		{"signed by an uncertified key", wrongSigner, testNow, ErrBadSignature, "by node key"},
		{"moved under another certificate", moved, testNow, ErrBadSignature, "by node key"},
		{"a node key revokes", nodeRevokes, testNow, ErrInvalid, "only the network key"},
		{"serial 2^64-1", forgeDelegated(t, func() *Manifest { m := testManifest(); m.Serial = math.MaxUint64; return m }(), nodeKey, cert), testNow, ErrSerialAhead, "too far ahead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := VerifyNetwork(tt.blob, testPub, "example.net", tt.now)
			if m != nil || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Verify: got %v, %v; want %v containing %q", m, err, tt.want, tt.msg)
			}
			k, path := openTestKeeper(t)
			held := signed(t, withSerial(0))
			if _, err := k.Offer(held, testNow); err != nil {
				t.Fatal(err)
			}
			m, err = k.Offer(tt.blob, tt.now)
			if m != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Offer: got %v, %v; want %v", m, err, tt.want)
			}
			if !bytes.Equal(k.Blob(), held) {
				t.Fatal("the keeper changed")
			}
			if stored, _ := os.ReadFile(path); !bytes.Equal(stored, held) {
				t.Fatal("the stored manifest changed")
			}
			if _, err := os.Stat(path + RevokedSuffix); err == nil {
				t.Fatal("a revoked list was written")
			}
		})
	}
}

// TestStolenKeyHighSerial: a stolen node key with a valid delegation signs
// serial 2^64-1 (or any serial far ahead): clients refuse it, and the
// honest next serial still goes through.
func TestStolenKeyHighSerial(t *testing.T) {
	cert := delegation(t, testKey, nodePub, nil)
	k, _ := openTestKeeper(t)
	now := uint64(testNow.Unix())
	if _, err := k.Offer(delegated(t, nodeKey, cert, withSerial(now)), testNow); err != nil {
		t.Fatal(err)
	}
	lead := uint64(MaxSerialLead / time.Second)
	for _, serial := range []uint64{math.MaxUint64, math.MaxUint64 / 2, now + lead + 1} {
		m, err := k.Offer(delegated(t, nodeKey, cert, withSerial(serial)), testNow)
		if m != nil || !errors.Is(err, ErrSerialAhead) || !strings.Contains(err.Error(), "too far ahead") {
			t.Fatalf("serial %d: got %v, %v; want ErrSerialAhead", serial, m, err)
		}
		if k.Current().Serial != now {
			t.Fatalf("serial %d moved the floor to %d", serial, k.Current().Serial)
		}
	}
	// The most a stolen key can do is MaxSerialLead ahead, and only
	// until the network key revokes it (TestRevocation).
	if _, err := k.Offer(delegated(t, nodeKey, cert, withSerial(now+lead)), testNow); err != nil {
		t.Fatalf("serial at the limit: %v", err)
	}
	if _, err := k.Offer(delegated(t, nodeKey, cert, withSerial(now+1)), testNow); !errors.Is(err, ErrRollback) {
		t.Fatalf("after the limit: %v", err)
	}
	// The network key's own manifests are held to the same bound.
	if _, err := k.Offer(signed(t, withSerial(math.MaxUint64)), testNow); !errors.Is(err, ErrSerialAhead) {
		t.Fatalf("serial 2^64-1 signed by the network key: %v", err)
	}
	// A clock before 1970 accepts no serial rather than wrapping.
	old := &Manifest{Serial: 1, Issued: time.Unix(-1e9, 0), Expires: testNow}
	if err := old.CheckTime(time.Unix(-int64(MaxSerialLead/time.Second)-10, 0)); !errors.Is(err, ErrSerialAhead) {
		t.Fatalf("negative limit: %v", err)
	}
}

// TestRevocation: a manifest signed by the network key revokes a node
// key; the keeper remembers it across restarts and refuses that key's
// manifests even at a higher serial, and the revoking manifest replaces
// the stolen key's whatever the serials.
func TestRevocation(t *testing.T) {
	k, path := openTestKeeper(t)
	now := uint64(testNow.Unix())
	stolen := delegation(t, testKey, nodePub, nil)
	honest := delegation(t, testKey, node2Pub, nil)
	// The thief got in first with a serial ahead of the time.
	if _, err := k.Offer(delegated(t, nodeKey, stolen, withSerial(now+3600)), testNow); err != nil {
		t.Fatal(err)
	}
	revoke := signed(t, func(m *Manifest) { m.Serial = now; m.Revoked = []ed25519.PublicKey{nodePub} })
	m, err := k.Offer(revoke, testNow)
	if err != nil {
		t.Fatalf("the revoking manifest: %v", err)
	}
	if m.Serial != now || !k.Revoked(nodePub) || k.Revoked(node2Pub) {
		t.Fatalf("serial %d, revoked %v %v", m.Serial, k.Revoked(nodePub), k.Revoked(node2Pub))
	}
	higher := delegated(t, nodeKey, stolen, withSerial(now+7200))
	if m, err := k.Offer(higher, testNow); m != nil || !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), KeyID(nodePub)) {
		t.Fatalf("revoked key's higher serial: %v, %v", m, err)
	}
	// The other nodes carry on.
	if _, err := k.Offer(delegated(t, node2Key, honest, withSerial(now+1)), testNow); err != nil {
		t.Fatal(err)
	}
	k2, err := OpenKeeper(path, testPub, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	if !k2.Revoked(nodePub) {
		t.Fatal("the revocation did not survive a restart")
	}
	if m, err := k2.Offer(higher, testNow); m != nil || !errors.Is(err, ErrRevoked) {
		t.Fatalf("after a restart: %v, %v", m, err)
	}
}

// TestRevocationFromOlderManifest: the revocation counts even when its
// manifest is older than the one held, so a thief's manifest that arrives
// later is refused.
func TestRevocationFromOlderManifest(t *testing.T) {
	k, _ := openTestKeeper(t)
	now := uint64(testNow.Unix())
	honest := delegated(t, node2Key, delegation(t, testKey, node2Pub, nil), withSerial(now))
	if _, err := k.Offer(honest, testNow); err != nil {
		t.Fatal(err)
	}
	revoke := signed(t, func(m *Manifest) { m.Serial = now - 100; m.Revoked = []ed25519.PublicKey{nodePub} })
	if m, err := k.Offer(revoke, testNow); m != nil || !errors.Is(err, ErrRollback) || !strings.Contains(err.Error(), "revocation of 1 node keys is remembered") {
		t.Fatalf("older revoking manifest: %v, %v", m, err)
	}
	if !bytes.Equal(k.Blob(), honest) {
		t.Fatal("the older manifest replaced the current one")
	}
	thief := delegated(t, nodeKey, delegation(t, testKey, nodePub, nil), withSerial(now+10))
	if m, err := k.Offer(thief, testNow); m != nil || !errors.Is(err, ErrRevoked) {
		t.Fatalf("thief: %v, %v", m, err)
	}
	// A revocation for another network changes nothing.
	other := signed(t, func(m *Manifest) {
		m.Serial = now + 5
		m.Network = "other.net"
		m.Revoked = []ed25519.PublicKey{node2Pub}
	})
	if _, err := k.Offer(other, testNow); !errors.Is(err, ErrWrongNetwork) || k.Revoked(node2Pub) {
		t.Fatalf("other network's revocation: %v, revoked %v", err, k.Revoked(node2Pub))
	}
}

// TestLapsedDelegation: a keeper whose manifest's delegation has lapsed
// keeps it and its endpoints, across restarts, and takes a newer one
// signed under a renewed delegation; one under the lapsed delegation is
// refused with the reason.
func TestLapsedDelegation(t *testing.T) {
	k, path := openTestKeeper(t)
	old := delegation(t, testKey, nodePub, func(d *Delegation) { d.NotAfter = testNow.Add(time.Hour) })
	held := delegated(t, nodeKey, old, withSerial(10))
	if _, err := k.Offer(held, testNow); err != nil {
		t.Fatal(err)
	}
	later := testNow.Add(2 * time.Hour)
	k, err := OpenKeeper(path, testPub, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	cur := k.Current()
	if cur == nil || cur.Serial != 10 || cur.CheckTime(later) != nil {
		t.Fatalf("after the lapse: %v", cur)
	}
	stale := delegated(t, nodeKey, old, withSerial(11))
	if m, err := k.Offer(stale, later); m != nil || !errors.Is(err, ErrDelegationExpired) || !strings.Contains(err.Error(), "delegated until") {
		t.Fatalf("stale: %v, %v", m, err)
	}
	renewed := delegation(t, testKey, nodePub, func(d *Delegation) { d.NotBefore = testNow.Add(30 * time.Minute) })
	if m, err := k.Offer(delegated(t, nodeKey, renewed, func(m *Manifest) { m.Serial = 12; m.Issued = later }), later); err != nil || m.Serial != 12 {
		t.Fatalf("renewed: %v, %v", m, err)
	}
}

func TestDelegationText(t *testing.T) {
	cert := delegation(t, testKey, nodePub, nil)
	text, err := MarshalDelegationText(cert)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "-----BEGIN SAMIZDAT DELEGATION-----") || !strings.Contains(string(text), KeyID(nodePub)) {
		t.Fatalf("text:\n%s", text)
	}
	for _, in := range [][]byte{text, cert} {
		got, d, err := ParseDelegationText(in)
		if err != nil || !bytes.Equal(got, cert) || !d.NodeKey.Equal(nodePub) {
			t.Fatalf("parse: %v", err)
		}
	}
	for _, bad := range []string{"", "hello", "-----BEGIN SAMIZDAT DELEGATION-----\n!!\n-----END SAMIZDAT DELEGATION-----\n", strings.Repeat("x", 5000)} {
		if _, _, err := ParseDelegationText([]byte(bad)); !errors.Is(err, ErrBadDelegation) {
			t.Fatalf("%.20q: %v", bad, err)
		}
	}
	flipped := bytes.Clone(cert)
	flipped[len(flipped)-1] ^= 1
	if _, err := ParseDelegation(flipped); !errors.Is(err, ErrBadDelegation) || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("flipped signature: %v", err)
	}

	// From a file: the text, or errors that say which file and why.
	dir := t.TempDir()
	path := filepath.Join(dir, "delegation.txt")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, d, err := ReadDelegation(path); err != nil || !bytes.Equal(got, cert) || !d.NodeKey.Equal(nodePub) {
		t.Fatalf("read: %v", err)
	}
	if _, _, err := ReadDelegation(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, append(bytes.Repeat([]byte{'#'}, maxDelegationText), text...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadDelegation(big); !errors.Is(err, ErrBadDelegation) || !strings.Contains(err.Error(), big) {
		t.Fatalf("oversized file: %v", err)
	}
}

// TestVersion1Files: manifests and invites written before node keys
// existed (testdata/v1, signed by the network key itself) still verify,
// still go through a Keeper, and Sign still writes them byte for byte.
func TestVersion1Files(t *testing.T) {
	blob, err := os.ReadFile("testdata/v1/manifest.bin")
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile("testdata/v1/invite.txt")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Sign(testManifest(), testKey); err != nil || !bytes.Equal(again, blob) {
		t.Fatalf("Sign no longer writes the version 1 blob: %v", err)
	}
	inv, err := ParseInvite(text)
	if err != nil || !bytes.Equal(inv.Manifest, blob) || !inv.NetworkKey.Equal(testPub) {
		t.Fatalf("invite: %v", err)
	}
	m, d, err := OpenChain(blob, testPub)
	if err != nil || d != nil || m.Serial != 1 {
		t.Fatalf("open: %v %v", d, err)
	}
	k, _ := openTestKeeper(t)
	if _, err := k.Offer(blob, testNow); err != nil {
		t.Fatal(err)
	}
	// A node's manifest takes over from it.
	if _, err := k.Offer(delegated(t, nodeKey, delegation(t, testKey, nodePub, nil), withSerial(2)), testNow); err != nil {
		t.Fatal(err)
	}
}
