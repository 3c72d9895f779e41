package broadcast

import (
	"crypto/rand"
	"strings"
	"testing"
)

// BenchmarkReceivePost is a subscriber's work per post: check the admin
// key's signature, decrypt and parse (a 200-byte text).
func BenchmarkReceivePost(b *testing.B) {
	c := newTestChannel(b)
	id := c.ID()
	pid := PostID{1}
	ct, err := Seal(c.ContentKey, id, pid, Body{SentAt: 1, Text: strings.Repeat("x", 200)}, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sig := SignPost(c.Admin, id, pid, ct)
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyPost(c.AdminKey, id, pid, ct, sig) {
			b.Fatal("signature")
		}
		if _, err := Open(c.ContentKey, id, pid, ct); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
}
