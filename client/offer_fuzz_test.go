package client

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/bridge"
	"samizdat/client/internal/contentpb"
)

// FuzzBridgeOffer: an offer as it travels (a withdrawal naming its bridge
// by pin, or a full offer) is either refused by Check or decodes to an
// offer that encodes and decodes to itself.
func FuzzBridgeOffer(f *testing.F) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	good := bridge.Offer{Network: "net", RelayID: "relay-1", Address: "127.0.0.1:7600", SNI: "www.example.com", Path: "/abc/def",
		Secret: bytes.Repeat([]byte{1}, bridge.SecretSize), TLSPin: bytes.Repeat([]byte{2}, bridge.PinSize), Expires: now.Add(time.Hour)}
	for _, o := range []bridge.Offer{good, {Network: "net"}, {Network: "net", TLSPin: good.TLSPin}, {Network: "net", TLSPin: []byte{1}}} {
		b, err := proto.Marshal(offerPB(o))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var pb contentpb.BridgeOffer
		if proto.Unmarshal(b, &pb) != nil {
			return
		}
		o := offerFrom(&pb)
		if o.Check("net", now) != nil {
			return
		}
		again := offerFrom(offerPB(o))
		if again.Network != o.Network || again.RelayID != o.RelayID || again.Address != o.Address || again.SNI != o.SNI ||
			again.Path != o.Path || !bytes.Equal(again.Secret, o.Secret) || !bytes.Equal(again.TLSPin, o.TLSPin) || !again.Expires.Equal(o.Expires) {
			t.Fatalf("%+v went through as %+v", o, again)
		}
		if again.Check("net", now) != nil {
			t.Fatalf("an accepted offer is refused once re-encoded: %v", again.Check("net", now))
		}
		if o.Withdrawn() && len(o.TLSPin) != 0 && len(o.TLSPin) != bridge.PinSize {
			t.Fatalf("a withdrawal with a %d-byte pin was accepted", len(o.TLSPin))
		}
	})
}
