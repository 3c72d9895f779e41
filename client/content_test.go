package client

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"samizdat/client/internal/contentpb"
)

func TestPad(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{0, 159}, {1, 159}, {157, 159}, {158, 159}, {159, 319}, {318, 319}, {319, 479},
	} {
		in := bytes.Repeat([]byte{7}, tc.in)
		p := pad(in)
		if len(p) != tc.want {
			t.Errorf("pad(%d bytes) = %d bytes, want %d", tc.in, len(p), tc.want)
		}
		back, err := unpad(p)
		if err != nil || !bytes.Equal(back, in) {
			t.Errorf("unpad(pad(%d bytes)) = %d bytes, %v", tc.in, len(back), err)
		}
	}
	for _, bad := range [][]byte{nil, {}, {0, 0}, {1, 2, 3}, {0x80, 1}} {
		if _, err := unpad(bad); err == nil {
			t.Errorf("unpad(%x) accepted", bad)
		}
	}
}

func TestContentRoundTrip(t *testing.T) {
	for _, c := range []*contentpb.Content{
		{Timestamp: 1, SenderUsername: "alice", Body: &contentpb.Content_Text{Text: &contentpb.Text{Body: "hello"}}},
		{Timestamp: 2, AccessKey: bytes.Repeat([]byte{1}, 16), Body: &contentpb.Content_Receipt{Receipt: &contentpb.Receipt{EnvelopeIds: [][]byte{make([]byte, 16)}}}},
		{Timestamp: 3},
	} {
		b, err := encodeContent(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeContent(pad(b))
		if err != nil || !proto.Equal(got, c) {
			t.Fatalf("round trip of %v: %v %v", c, got, err)
		}
	}
}

// FuzzDecodeContent feeds decrypted plaintexts from a peer (untrusted) to
// the content parser: it must not panic, and what it accepts re-encodes to
// a content that decodes the same.
func FuzzDecodeContent(f *testing.F) {
	for _, c := range []*contentpb.Content{
		{Timestamp: 1, SenderUsername: "alice", Body: &contentpb.Content_Text{Text: &contentpb.Text{Body: "hello"}}},
		{Timestamp: 2, Body: &contentpb.Content_Receipt{Receipt: &contentpb.Receipt{EnvelopeIds: [][]byte{make([]byte, 16)}}}},
		{Timestamp: 3, Body: &contentpb.Content_GroupUpdate{GroupUpdate: &contentpb.GroupUpdate{Changes: [][]byte{{1, 2}, {3}}}}},
		{Timestamp: 4, Body: &contentpb.Content_GroupKey{GroupKey: &contentpb.GroupKey{GroupId: make([]byte, 32), Distribution: []byte{0x33}}}},
		{Timestamp: 5, Body: &contentpb.Content_GroupText{GroupText: &contentpb.GroupText{GroupId: make([]byte, 32), Body: "hi all"}}},
		{Timestamp: 6, Body: &contentpb.Content_GroupCiphertext{GroupCiphertext: &contentpb.GroupCiphertext{Message: []byte{0x33, 1}}}},
	} {
		b, _ := encodeContent(c)
		f.Add(pad(b))
	}
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeContent(b)
		if err != nil {
			return
		}
		enc, err := encodeContent(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeContent(pad(enc))
		if err != nil || !proto.Equal(again, c) {
			t.Fatalf("re-decoded content differs: %v", err)
		}
	})
}
