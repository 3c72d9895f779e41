package senderkey

import (
	"bytes"
	"crypto/rand"
	"testing"
)

// BenchmarkEncryptDecrypt measures one 1 KiB group message, sent and
// received, through memory stores.
func BenchmarkEncryptDecrypt(b *testing.B) {
	ctx, a, r := pair(b)
	pt := bytes.Repeat([]byte{'x'}, 1024)
	for b.Loop() {
		ct, err := Encrypt(ctx, a, alice, dist, pt, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decrypt(ctx, r, alice, ct); err != nil {
			b.Fatal(err)
		}
	}
}
