package channel_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"samizdat/manifest"
	"samizdat/manifest/channel"
	"samizdat/manifest/channel/channeltest"
)

var nodeKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))

// signByNode signs like sign, with the node key under a certificate valid
// from from to until.
func signByNode(t *testing.T, from, until time.Time, edits ...edit) []byte {
	t.Helper()
	cert, err := manifest.Delegate(manifest.Delegation{Network: "example.net", NodeKey: nodeKey.Public().(ed25519.PublicKey),
		NotBefore: from, NotAfter: until}, netKey)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.ParseUnverified(sign(t, edits...))
	if err != nil {
		t.Fatal(err)
	}
	if m.Issued.Before(from) {
		m.Issued = from
	}
	blob, err := manifest.SignDelegated(m, nodeKey, cert)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// TestLapsedDelegation: a client whose manifest's delegation has lapsed
// keeps it (its endpoints stay usable) and fetches a newer one through
// the channels it names; every channel checks the chain, so a newer
// manifest under the lapsed certificate is refused with the reason.
func TestLapsedDelegation(t *testing.T) {
	mir := channeltest.NewMirror()
	defer mir.Close()
	res := channeltest.NewDoH()
	defer res.Close()
	channels := func(m *manifest.Manifest) {
		m.Channels = []manifest.Channel{
			{Kind: "https", URL: mir.URL("/m"), TLSPin: mir.Pin()},
			{Kind: "doh", URL: res.URL(), Name: "m.example.net", TLSPin: res.Pin()},
		}
	}
	path := filepath.Join(t.TempDir(), "manifest")
	k, err := manifest.OpenKeeper(path, netPub, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	lapses := now.Add(time.Hour)
	if _, err := k.Offer(signByNode(t, now.Add(-24*time.Hour), lapses, serial(5), channels), now); err != nil {
		t.Fatal(err)
	}

	later := lapses.Add(time.Hour)
	if k, err = manifest.OpenKeeper(path, netPub, "example.net"); err != nil {
		t.Fatal(err)
	}
	cur := k.Current()
	if cur == nil || cur.Serial != 5 || cur.CheckTime(later) != nil {
		t.Fatalf("the held manifest after its delegation lapsed: %v", cur)
	}
	mir.Put("/m", signByNode(t, now.Add(-24*time.Hour), lapses, serial(6), channels))
	if err := res.SetBlob("m.example.net", signByNode(t, lapses.Add(-time.Minute), lapses.Add(30*24*time.Hour), serial(7), channels)); err != nil {
		t.Fatal(err)
	}
	sources := channel.FromManifest(cur, nil)
	m, errs := channel.FetchAll(ctxT(t), sources[:1], k, later)
	if m != nil || !errors.Is(errs[0], manifest.ErrDelegationExpired) || k.Current().Serial != 5 {
		t.Fatalf("the mirror's manifest under the lapsed delegation: %v, %v", m, errs[0])
	}
	m, errs = channel.FetchAll(ctxT(t), sources, k, later)
	if m == nil || m.Serial != 7 || k.Current().Serial != 7 || errs[1] != nil {
		t.Fatalf("got %v (%v), keeper at %d", m, errs, k.Current().Serial)
	}

	// By hand too: the import of an invite holding the lapsed chain is
	// refused with the reason, and changes nothing.
	text, err := manifest.MarshalInvite(manifest.Invite{NetworkKey: netPub, Manifest: signByNode(t, now.Add(-24*time.Hour), lapses, serial(8))})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := channel.Text(text).Fetch(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Offer(blob, later); !errors.Is(err, manifest.ErrDelegationExpired) || k.Current().Serial != 7 {
		t.Fatalf("import under the lapsed delegation: %v, keeper at %d", err, k.Current().Serial)
	}
}
