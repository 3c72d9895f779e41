package pb

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func TestUnmarshalStrict(t *testing.T) {
	tag := protowire.AppendTag
	bytesField := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(tag(b, num, protowire.BytesType), v)
	}
	varintField := func(b []byte, num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(tag(b, num, protowire.VarintType), v)
	}
	logical := bytesField(nil, 1, []byte("content"))
	tests := []struct {
		name    string
		m       proto.Message
		b       []byte
		wantErr error // nil: accepted
	}{
		{"well formed", &CombinedFingerprints{}, bytesField(varintField(nil, 1, 2), 2, logical), nil},
		{"unknown field", &CombinedFingerprints{}, varintField(nil, 9, 1), nil},
		{"top-level wrong wire type", &CombinedFingerprints{}, bytesField(nil, 1, []byte{2}), ErrWireType},
		{"nested wrong wire type", &CombinedFingerprints{}, bytesField(nil, 3, varintField(nil, 1, 5)), ErrWireType},
		{"enum out of range", &UnidentifiedSenderMessage_Message{}, varintField(nil, 4, 99), nil},
		{"enum as bytes", &UnidentifiedSenderMessage_Message{}, bytesField(nil, 1, []byte{1}), ErrWireType},
		{"fixed64 as varint", &SenderCertificate_Certificate{}, varintField(nil, 3, 1), ErrWireType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := UnmarshalStrict(tt.b, tt.m)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("UnmarshalStrict: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("UnmarshalStrict: %v, want %v", err, tt.wantErr)
			}
		})
	}
	if err := UnmarshalStrict([]byte{0xff}, &CombinedFingerprints{}); err == nil {
		t.Fatal("UnmarshalStrict accepted invalid protobuf")
	}
}
