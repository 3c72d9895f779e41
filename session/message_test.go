package session

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/pb"
)

// libsignal's decoder refuses a known field with the wrong wire type, which
// Go's runtime would set aside; the parsers refuse it too.
func TestParseRefusesWrongWireType(t *testing.T) {
	key := curve.PublicKey{}.Bytes()
	signalBody, err := proto.Marshal(&pb.SignalMessage{RatchetKey: key, Counter: proto.Uint32(1), Ciphertext: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	signal := append([]byte{0x44}, signalBody...)
	signal = append(signal, make([]byte, macLength)...)
	if _, err := ParseSignalMessage(signal); err != nil {
		t.Fatalf("well-formed signal message: %v", err)
	}
	// previous_counter (3) is a varint; send it as bytes.
	bad := protowire.AppendBytes(protowire.AppendTag(append([]byte{0x44}, signalBody...), 3, protowire.BytesType), []byte{1})
	bad = append(bad, make([]byte, macLength)...)
	if _, err := ParseSignalMessage(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("signal message: %v, want ErrMalformed", err)
	}

	preKeyBody, err := proto.Marshal(&pb.PreKeySignalMessage{
		SignedPreKeyId: proto.Uint32(1), KyberPreKeyId: proto.Uint32(1), KyberCiphertext: []byte{1},
		BaseKey: key, IdentityKey: key, Message: signal,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePreKeySignalMessage(append([]byte{0x44}, preKeyBody...)); err != nil {
		t.Fatalf("well-formed prekey message: %v", err)
	}
	// pre_key_id (1) is a varint; send it as bytes.
	bad = protowire.AppendBytes(protowire.AppendTag(append([]byte{0x44}, preKeyBody...), 1, protowire.BytesType), []byte{1})
	if _, err := ParsePreKeySignalMessage(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("prekey message: %v, want ErrMalformed", err)
	}
}

// Zero-value and nil messages are refused, not dereferenced.
func TestDecryptRefusesUnparsedMessages(t *testing.T) {
	alice, bob := establish(t, false)
	ctx := context.Background()
	for _, m := range []CiphertextMessage{nil, &SignalMessage{}, &PreKeySignalMessage{}, (*SignalMessage)(nil), (*PreKeySignalMessage)(nil)} {
		if _, err := Decrypt(ctx, bob.stores(), bob.addr, alice.addr, m, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decrypt(%T): %v, want ErrMalformed", m, err)
		}
	}
	// The session still works.
	bob.mustDecrypt(t, alice, alice.encrypt(t, bob, "still fine"), "still fine")
}
