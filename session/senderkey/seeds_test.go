package senderkey

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// TestWriteSeeds regenerates testdata/fuzz seeds when run with -update-seeds.
func TestWriteSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to regenerate")
	}
	ctx, a, b := pair(t)
	skdm, _ := Create(ctx, a, alice, dist, rand.Reader)
	ct := encrypt(t, ctx, a, "seed")
	mustDecrypt(t, ctx, b, encrypt(t, ctx, a, "seed2"), "seed2")
	r, _ := b.LoadSenderKey(context.Background(), alice, dist)
	rec, _ := r.Bytes()
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FuzzParseDistributionMessage", "valid", skdm.Bytes())
	write("FuzzParseDistributionMessage", "truncated", skdm.Bytes()[:40])
	write("FuzzParseMessage", "valid", ct)
	write("FuzzParseMessage", "legacy", append([]byte{0x22}, ct[1:]...))
	write("FuzzParseRecord", "valid", rec)
}
