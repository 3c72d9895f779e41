package client

import (
	"bytes"
	"strings"
	"testing"
	"unicode"

	"google.golang.org/protobuf/proto"

	"samizdat/attachment"
	"samizdat/client/internal/contentpb"
)

// FuzzAttachmentPointer: a received pointer is refused by checkPointer or
// names a file that opens (its key, digest and size are usable) under a
// safe name: no directory, no control character, no leading dot.
func FuzzAttachmentPointer(f *testing.F) {
	good := &contentpb.AttachmentPointer{Id: bytes.Repeat([]byte{1}, 16), Key: bytes.Repeat([]byte{2}, 32),
		Digest: bytes.Repeat([]byte{3}, 32), Size: 12345, FileName: "../.ssh/id\x1b[0m.txt", ContentType: "text/plain"}
	for _, p := range []*contentpb.AttachmentPointer{good, {}, {Id: good.Id, Key: good.Key, Digest: good.Digest, Size: 1 << 40}} {
		b, err := proto.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p contentpb.AttachmentPointer
		if proto.Unmarshal(b, &p) != nil || checkPointer(&p) != nil {
			return
		}
		if _, err := attachment.NewOpener(p.Key, int64(p.Size), p.Digest); err != nil {
			t.Fatalf("a checked pointer does not open: %v", err)
		}
		name := attachment.SafeName(p.FileName)
		if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || len(name) > attachment.MaxNameBytes ||
			strings.IndexFunc(name, unicode.IsControl) >= 0 {
			t.Fatalf("unsafe name %q from %q", name, p.FileName)
		}
	})
}
