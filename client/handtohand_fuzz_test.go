package client

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/client/internal/contentpb"
	"samizdat/manifest"
)

var (
	fuzzNetKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	fuzzNow    = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	fuzzDevice = manifest.KeySlot(bytes.Repeat([]byte{9}, 32))
)

// fuzzManifest signs a manifest of "fuzz.net" with serial and cohorts,
// its one endpoint tagged with cohort.
func fuzzManifest(f *testing.F, serial uint64, cohorts, cohort uint32) []byte {
	b, err := manifest.Sign(&manifest.Manifest{
		Network: "fuzz.net", Serial: serial, Issued: fuzzNow.Add(-time.Hour), Expires: fuzzNow.Add(time.Hour),
		Relays: []manifest.Relay{{ID: "r", NoiseKey: [32]byte{1},
			Endpoints: []manifest.Endpoint{{Transport: "tcp", Address: "192.0.2.1:443", Cohort: cohort}}}},
		Cohorts: cohorts,
	}, fuzzNetKey)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzHandedContent: whatever a contact's content says it holds or hands
// over, reading it never panics; a handed blob reaches the keeper only if
// it opens under the network key and is not another cohort's, and the
// keeper then takes it only if it is newer; the decoded content encodes
// back to the same message.
func FuzzHandedContent(f *testing.F) {
	held := fuzzManifest(f, 5, 4, 0)
	for _, c := range []*contentpb.Content{
		{Manifest: &contentpb.ManifestHeld{Serial: 4, Cohort: 2, Cohorts: 4},
			Body: &contentpb.Content_ManifestOffer{ManifestOffer: &contentpb.ManifestOffer{Blob: fuzzManifest(f, 6, 4, 0)}}},
		{Body: &contentpb.Content_ManifestOffer{ManifestOffer: &contentpb.ManifestOffer{Blob: fuzzManifest(f, 7, 4, 1)}}},
		{Body: &contentpb.Content_ManifestOffer{ManifestOffer: &contentpb.ManifestOffer{Blob: fuzzManifest(f, 7, 4, 3)}}},
		{Body: &contentpb.Content_ManifestOffer{ManifestOffer: &contentpb.ManifestOffer{Blob: held}}},
		{Manifest: &contentpb.ManifestHeld{Serial: 9}, Body: &contentpb.Content_ManifestOffer{ManifestOffer: &contentpb.ManifestOffer{}}},
		{Manifest: &contentpb.ManifestHeld{Serial: 1, Cohort: 9, Cohorts: 1}, Body: &contentpb.Content_Text{Text: &contentpb.Text{Body: "hi"}}},
	} {
		b, err := encodeContent(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pad(b))
	}
	mine, err := manifest.Open(held, fuzzNetKey.Public().(ed25519.PublicKey))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		content, err := decodeContent(data)
		if err != nil {
			return
		}
		mayHandTo(mine, fuzzDevice, content.GetManifest())
		again, err := decodeContent(pad(mustEncode(t, content)))
		if err != nil || !proto.Equal(again, content) {
			t.Fatalf("content does not survive a round trip: %v", err)
		}
		blob := content.GetManifestOffer().GetBlob()
		if len(blob) == 0 {
			return
		}
		pub := fuzzNetKey.Public().(ed25519.PublicKey)
		if err := checkHanded(blob, pub, fuzzDevice); err != nil {
			if _, oerr := manifest.Open(blob, pub); oerr == nil && !errors.Is(err, errOtherCohort) {
				t.Fatalf("a manifest that opens refused for %v", err)
			}
			return
		}
		k, err := manifest.OpenKeeper(filepath.Join(t.TempDir(), "m"), pub, "fuzz.net")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Offer(held, fuzzNow); err != nil {
			t.Fatal(err)
		}
		m, err := k.Offer(blob, fuzzNow)
		if err != nil {
			if k.Current().Serial != mine.Serial || !bytes.Equal(k.Blob(), held) {
				t.Fatal("a refused manifest changed the keeper")
			}
			return
		}
		if m.Serial <= mine.Serial || forAnotherCohort(m, fuzzDevice) {
			t.Fatalf("the keeper took serial %d over %d", m.Serial, mine.Serial)
		}
	})
}

func mustEncode(t *testing.T, c *contentpb.Content) []byte {
	b, err := encodeContent(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
