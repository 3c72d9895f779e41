package interop

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// newUUID returns a random version-4 UUID as bytes and as its string form.
func newUUID(t *testing.T) ([16]byte, string) {
	t.Helper()
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		t.Fatal(err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return u, strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}

// uuidString formats 16 bytes as a UUID string.
func uuidString(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}

// payload is a recognisable message body of about n bytes.
func payload(tag string, i, n int) []byte {
	b := fmt.Appendf(nil, "%s #%d ", tag, i)
	for len(b) < n {
		b = append(b, byte('a'+len(b)%26))
	}
	return b
}

// seeded returns a deterministic RNG for shuffles, logging the seed so a
// failure can be replayed.
func seeded(t *testing.T) *mrand.Rand {
	t.Helper()
	var s [2]uint64
	var b [16]byte
	rand.Read(b[:])
	for i := range 8 {
		s[0] = s[0]<<8 | uint64(b[i])
		s[1] = s[1]<<8 | uint64(b[8+i])
	}
	t.Logf("shuffle seed %#x %#x", s[0], s[1])
	return mrand.New(mrand.NewPCG(s[0], s[1]))
}
